"""Splink's scratch DuckDB and moving tables into and out of it, and the timing of a night's steps.

Splink works in its own in-memory connection so that its intermediate tables never reach the
warehouse; records and results cross between the two as Arrow (`copy_result`). Training,
scoring and clustering each open one with `scratch_connection`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb

from core.sqlutil import literal
from matching.config import LinkageConfig

log = logging.getLogger(__name__)


def copy_result(
    source: duckdb.DuckDBPyConnection,
    query: str,
    target: duckdb.DuckDBPyConnection,
    table: str,
    temp: bool = False,
) -> None:
    """Move a query's result into a table of another connection, as Arrow."""
    arrow = source.sql(query).to_arrow_table()
    target.register("_arrow_transfer", arrow)
    try:
        target.execute(
            f"create or replace {'temp ' if temp else ''}table {table} as select * from _arrow_transfer"
        )
    finally:
        target.unregister("_arrow_transfer")


def scratch_connection(config: LinkageConfig, home: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for Splink's intermediate tables, capped so a big block spills instead of swelling.

    Spill files go under `<home>/state/spill/` (restricted data: never the working directory).
    """
    spill = home / "state" / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    scratch = duckdb.connect()
    scratch.execute(f"set memory_limit = {literal(config.memory_limit)}")
    scratch.execute(f"set temp_directory = {literal(str(spill))}")
    scratch.execute("set preserve_insertion_order = false")
    return scratch


class Timer:
    """Seconds per step of a night (audit.linkage_runs' `details.seconds`), each logged as it ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._start, 2)
        self._start = now
        log.info("linkage: %s done in %.1fs", name.replace("_", " "), self.seconds[name])
