"""Resources: the working database, opened through dagster-duckdb's resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from matching.standardise import register_functions


class WorkDatabase(DuckDBResource):
    """The pipeline's working DuckDB file, with our SQL macros registered on every connection."""

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.get_connection() as con:
            register_functions(con)
            yield con


class IbrHome(dg.ConfigurableResource):
    """The deployment's home folder (IBR_HOME)."""

    path: str
