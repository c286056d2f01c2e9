"""Where a deployment keeps its things: everything lives under one home folder.

`IBR_HOME` (default `./data`) holds `sources/`, `programmes.yaml`, `country.yaml`,
`reference/`, `drops/`, `warehouse/`, `reports/`, `quarantine/` and the pipeline's
working state in `state/`. `IBR_FIRST_NIGHT` (default 2020-01-01) is the first drop
date the daily partitions offer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    first_night: date = date(2020, 1, 1)
    spark_master: str | None = (
        None  # IBR_SPARK_MASTER: a cluster for `backend: spark` linkage, over linkage.yaml's
    )

    @property
    def sources_dir(self) -> Path:
        return self.home / "sources"

    @property
    def drops_dir(self) -> Path:
        return self.home / "drops"

    @property
    def work_db(self) -> Path:
        """The pipeline's own database: only the pipeline writes it; analysts use the published copies."""
        return self.home / "state" / "work.duckdb"

    @property
    def warehouse_db(self) -> Path:
        return self.home / "warehouse" / "ibr.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def settings_from_env(home: str | Path | None = None) -> Settings:
    raw_home = home if home is not None else os.environ.get("IBR_HOME", "data")
    first = os.environ.get("IBR_FIRST_NIGHT", "2020-01-01")
    try:
        first_night = date.fromisoformat(first)
    except ValueError:
        raise ValueError(f"IBR_FIRST_NIGHT: got {first!r}; expected a date like 2020-01-01") from None
    return Settings(
        home=Path(raw_home).expanduser().resolve(),
        first_night=first_night,
        spark_master=os.environ.get("IBR_SPARK_MASTER") or None,
    )


def drop_nights(settings: Settings) -> list[date]:
    """Every drop date that has a folder under drops/<source>/, sorted."""
    nights: set[date] = set()
    if settings.drops_dir.is_dir():
        for folder in settings.drops_dir.glob("*/*"):
            try:
                nights.add(date.fromisoformat(folder.name))
            except ValueError:
                continue
    return sorted(nights)
