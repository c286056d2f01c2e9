"""Where a deployment keeps its things: everything lives under one home folder.

`IBR_HOME` (default `./data`) holds `sources/`, `programmes.yaml`, `country.yaml`,
`reference/`, `drops/`, `warehouse/`, `reports/`, `quarantine/` and the pipeline's
working state in `state/`. Dagster's partitions are the drop dates launched (pipelines/nights.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
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
    return Settings(
        home=Path(raw_home).expanduser().resolve(),
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
