"""What a schema of the test bed is made of: its sources, how they write values, and their contracts.

`schemas.py` (people drawn one by one from Faker's locales) and `sp.py` (social-protection
households) both build `Schema`s from these pieces; `schemas.py` registers them all and writes homes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bench.linkbed.corrupt import Noise

DROP_DATE = date(2026, 1, 15)
Row = dict[str, Any]
# (person id, file row) per source: what a schema's draw gives before records are shuffled and numbered
DrawnRows = dict[str, list[tuple[int, Row]]]


@dataclass(frozen=True)
class Source:
    """One source of a schema: which people it holds, how it corrupts and writes them, and its contract."""

    name: str
    prefix: str  # of its record ids
    share: float  # chance that a person (a household, with `whole_household`) is in this source at all
    write: Callable[[Any, Row, random.Random], Row]  # (person, observed record, rng) -> file row
    contract: dict[str, Any]
    noise: Noise = field(default_factory=Noise)
    delimiter: str = ","
    encoding: str = "utf-8"
    latin_share: float = 0.0  # records written in Latin letters (non-Latin schema)
    moved_share: float = 0.0  # records at another address than the person's first one
    takes: Callable[[Any], bool] | None = None  # who may be in it at all (households schemas: by age, role)
    whole_household: bool = False  # a roster: a household is in it or not, with every member it takes


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    locales: tuple[str, ...]
    sources: tuple[Source, ...]
    records_per_person: tuple[tuple[int, float], ...]  # (records in one source, weight)
    country: dict[str, Any] | None = None
    # who is drawn and which rows each source writes of them; None: people one by one (schemas.generate)
    draw: Callable[[Schema, int, int, random.Random], DrawnRows] | None = None


# -- how sources write values ---------------------------------------------------------------------


def written_date(record: Row, fmt: str) -> str:
    """The date of birth as the source writes it; a year alone or a malformed date as the source had it."""
    if record["born_text"] is not None:
        return str(record["born_text"])
    return record["born"].strftime(fmt) if record["born"] else ""


def plain(value: Any) -> str:
    return "" if value is None else str(value)


def phone_text(digits: str | None, rng: random.Random, country_code: str = "44") -> str:
    """A phone number in one of four ways people write it: 0..., +CC ..., dashed, 00CC..."""
    if digits is None:
        return ""
    style = rng.randrange(4)
    if style == 0:
        return "0" + digits
    if style == 1:
        return f"+{country_code} {digits[:4]} {digits[4:]}"
    if style == 2:
        return f"0{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return f"00{country_code}{digits}"


def id_text(value: str | None, rng: random.Random) -> str:
    """National ids as clerks key them: plain, or grouped with spaces or dashes."""
    if value is None:
        return ""
    style = rng.randrange(5)
    if style == 3:
        return f"{value[:3]} {value[3:6]} {value[6:]}"
    if style == 4:
        return f"{value[:5]}-{value[5:]}"
    return value


def contract(
    name: str, description: str, record_id: str, columns: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """A source contract as docs/contracts.md shows it (a CSV file with a header; `kind` social_registry
    unless given; `delimiter` and `encoding` go into `file`)."""
    return {
        "name": name,
        "kind": extra.pop("kind", "social_registry"),
        "description": description,
        "drop_mode": "snapshot",
        "file": {
            "format": "csv",
            "encoding": extra.pop("encoding", "utf-8"),
            "delimiter": extra.pop("delimiter", ","),
            "header": True,
        },
        "record_id": record_id,
        "columns": columns,
        **extra,
    }
