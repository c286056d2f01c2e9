"""Resources: the working database, opened through dagster-duckdb's resource; the Spark session linkage
runs on when linkage.yaml says `backend: spark`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from staging.standardise import register_functions

# dagster-duckdb already retries a locked file for about 100 s with exponential backoff; a step that still
# finds it locked (another process holds it: an analyst opened the working file read-write, a stray run)
# is retried whole, up to 3 times, 2 minutes apart. Other errors are not transient and fail at once.
LOCK_RETRIES = 3
LOCK_RETRY_SECONDS = 120


class WorkDatabase(DuckDBResource):
    """The pipeline's working DuckDB file, with our SQL macros registered on every connection."""

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            connection = self.get_connection()
            con = connection.__enter__()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            raise dg.RetryRequested(max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_SECONDS) from exc
        try:
            register_functions(con)
            yield con
        finally:
            connection.__exit__(None, None, None)


class IbrHome(dg.ConfigurableResource):
    """The deployment's home folder (IBR_HOME)."""

    path: str


class SparkSessionResource(dg.ConfigurableResource):
    """The Spark session of a `backend: spark` night, started on first use and kept for the process.

    linkage.yaml's `spark:` section says where (local[N] by default, `spark://host:7077` or
    `yarn` on a cluster) and how big; `master` here overrides it for one deployment (e.g. a
    cluster in production, local[2] on a laptop) without editing the home. A DuckDB night never
    asks, so no JVM starts. Ours rather than dagster-pyspark's PySparkResource: the session needs
    the Java shim and Splink's jar (matching.spark), which that resource would not add.
    """

    master: str | None = None

    def get_session(self, linkage_spark: dict[str, Any] | None) -> Any:
        from matching.spark import SparkConfig, session

        raw = dict(linkage_spark or {})
        if self.master:
            raw["master"] = self.master
        return session(SparkConfig.from_dict(raw))
