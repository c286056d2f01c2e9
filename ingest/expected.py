"""A deployment's expected sources for a night: its contracts' schedules against the drop folders there are.

>>> night_readiness(home, date(2026, 3, 2), today=date(2026, 3, 3)).state
'waiting'
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from ingest.contracts import Contract, load_contracts
from ingest.schedule import Readiness, Schedule, drop_folders, readiness


def schedules_of(contracts: dict[str, Contract]) -> dict[str, Schedule]:
    """The sources that say when their drops come; the others are never waited for."""
    return {name: c.schedule for name, c in contracts.items() if c.schedule is not None}


def night_readiness(
    home: Path,
    night: date,
    today: date,
    arrived: Iterable[tuple[str, date]] | None = None,
    contracts: dict[str, Contract] | None = None,
) -> Readiness:
    """Whether `night` may run on `today` (ingest/schedule.py). `arrived` defaults to every drop folder with data."""
    contracts = load_contracts(home / "sources") if contracts is None else contracts
    found = drop_folders(home / "drops") if arrived is None else arrived
    return readiness(schedules_of(contracts), found, night, today)
