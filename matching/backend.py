"""Where Splink runs tonight: DuckDB (the scratch connection itself) or Apache Spark (tables as Parquet).

The linkage code keeps its working tables in a scratch DuckDB connection (matching.scratch). A
`Backend` moves them to Splink's database and brings Splink's results back, so the steps above read
the same on both backends:

- `register(scratch, table)`: a scratch table as a Splink frame. On DuckDB the table itself; on
  Spark the table is written as Parquet under `<home>/state/spark/` and read back as a Spark view;
- `to_scratch(scratch, frame, name)`: a Splink result as a scratch table (on Spark, through Parquet);
- `cluster(scratch, nodes, edges, name)`: Splink's connected components of scratch tables, back in
  scratch as `name(record_key, cluster_id)`;
- `run(scratch, inputs, steps, fetch)` (Spark only): our own SQL (the stable-id rules) over scratch
  tables, its results back in scratch.

The exchange folder holds personal data: it is private to its owner and `close()` removes it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from core.sqlutil import literal
from matching.dialect import DUCKDB, Dialect, dialect


@dataclass
class Backend:
    """Splink's database (`db`), the dialect of our hand-written SQL, and on Spark the session and the
    folder through which tables go in and results come back as Parquet."""

    dialect: Dialect
    db: Any
    spark: Any = None
    exchange: Path | None = None

    @property
    def name(self) -> str:
        return self.dialect.name

    def register(self, scratch: duckdb.DuckDBPyConnection, table: str) -> Any:
        """Scratch table `table` as a Splink frame of this backend (a Spark view of the same name on Spark)."""
        if self.exchange is None:
            return self.db.register(table)
        # Spark skips files whose name starts with "_" or "." as hidden: our temp tables' names (_clusters) do
        path = self.exchange / f"in-{table}.parquet"
        scratch.execute(f"copy {table} to {literal(str(path))} (format parquet)")
        # a view replaced each night: one long-lived session (the Dagster resource's) links night after night
        self.spark.read.parquet(str(path)).createOrReplaceTempView(table)
        return self.db.register(table)

    def to_scratch(self, scratch: duckdb.DuckDBPyConnection, frame: Any, name: str) -> str:
        """A table of scratch holding a Splink result: the table itself on DuckDB, read from Parquet on Spark."""
        if self.exchange is None:
            return str(frame.physical_name)
        return self._fetch(scratch, frame.as_spark_dataframe(), name)

    def _fetch(self, scratch: duckdb.DuckDBPyConnection, dataframe: Any, name: str) -> str:
        """A Spark DataFrame as scratch table `name`, through Parquet in the exchange folder."""
        assert self.exchange is not None
        folder = self.exchange / f"out-{name}"
        dataframe.write.mode("overwrite").parquet(str(folder))
        scratch.execute(
            f"create or replace table {name} as select * from read_parquet({literal(str(folder / '*.parquet'))})"
        )
        return name

    def run(
        self,
        scratch: duckdb.DuckDBPyConnection,
        inputs: list[str],
        steps: list[tuple[str, str]],
        fetch: list[str],
    ) -> None:
        """Our own SQL on Spark: the scratch tables `inputs` go out, each `(name, select)` of `steps` becomes a
        checkpointed view `name` in order, and the views named in `fetch` come back as scratch tables."""
        assert self.spark is not None, (
            "run() is for the Spark backend; on DuckDB the SQL runs in scratch itself"
        )
        for table in inputs:
            self.register(scratch, table)
        for name, select in steps:
            # checkpointed: a step read by several later ones is computed once, not once per reader
            self.spark.sql(select).checkpoint().createOrReplaceTempView(name)
        for name in fetch:
            self._fetch(scratch, self.spark.table(name), name)

    def cluster(self, scratch: duckdb.DuckDBPyConnection, nodes: str, edges: str, name: str) -> str:
        """Connected components of scratch tables `nodes(record_key)` and `edges(record_key_l, record_key_r, ...)`,
        every edge a link, as scratch table `name(record_key, cluster_id)`."""
        from splink import DuckDBAPI
        from splink.clustering import cluster_pairwise_predictions_at_threshold

        if self.exchange is None:
            db = DuckDBAPI(connection=scratch)  # the clustering's own scratch, not the scoring's
            frames = db.register(nodes), db.register(edges)
        else:
            db = self.db
            frames = self.register(scratch, nodes), self.register(scratch, edges)
        clusters = cluster_pairwise_predictions_at_threshold(
            *frames, db, node_id_column_name="record_key", threshold_match_probability=None
        )
        if self.exchange is None:
            scratch.execute(
                f"create or replace table {name} as select record_key, cluster_id from {clusters.physical_name}"
            )
            return name
        fetched = self.to_scratch(scratch, clusters, f"{name}_spark")
        scratch.execute(
            f"create or replace table {name} as select record_key, cluster_id from {fetched}; drop table {fetched}"
        )
        return name

    def close(self) -> None:
        """Remove the exchange folder (records, clusters and Splink's checkpoints: restricted data)."""
        if self.exchange is not None:
            shutil.rmtree(self.exchange, ignore_errors=True)


def open_backend(
    backend: str,
    scratch: duckdb.DuckDBPyConnection,
    home: Path,
    spark: Any = None,
    spark_config: dict[str, Any] | None = None,
) -> Backend:
    """The backend named in linkage.yaml; on DuckDB Splink works in `scratch`. On Spark `spark` is the session
    (one is started from linkage.yaml's `spark:` section when None) and `<home>/state/spark/` the exchange."""
    if backend == "duckdb":
        from splink import DuckDBAPI

        return Backend(DUCKDB, DuckDBAPI(connection=scratch))
    from splink import SparkAPI

    from matching import spark as spark_lib

    if spark is None:
        spark = spark_lib.session(spark_lib.SparkConfig.from_dict(spark_config))
    exchange = home / "state" / "spark"
    shutil.rmtree(exchange, ignore_errors=True)  # what a killed night left
    exchange.mkdir(parents=True, mode=0o700)
    spark.sparkContext.setCheckpointDir(str(exchange / "checkpoints"))
    return Backend(
        dialect("spark"), SparkAPI(spark_session=spark, break_lineage_method="parquet"), spark, exchange
    )
