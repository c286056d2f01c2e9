"""Dagster's SQLite run history, with each database file kept open while a process runs.

Dagster's own ``SqliteEventLogStorage`` opens a database for every event it stores, commits and closes it
again. The run history is in WAL mode, and closing a WAL database's last connection checkpoints it: the
WAL is synced, copied into the database, the database synced and the WAL deleted. A near-empty night logs
several hundred events (each step's, each of the 140 check evaluations, the planned-asset events at the
start), so the 1,000-person floor night spent more of its time there than in its own work: 15 of 36
seconds under py-spy, 37 s wall against 21 s with the files kept open, on the same loaded machine.

Here each database keeps its connection (SQLAlchemy's pool) for as long as the process runs, so a commit
appends to the WAL and SQLite checkpoints on its own every 1,000 pages. ``synchronous=NORMAL``: a commit
is not synced either; a power cut can lose the last events of the run history, and corrupts nothing
(SQLite's guarantee for WAL at this level). The warehouse and the working database are DuckDB files and
are not touched by this.

Dagster's UI follows a running run by watching the run's ``.db`` file for changes; the writes now land
in the ``-wal`` file beside it, so after a transaction that wrote something the ``.db`` file's time is
touched, and the UI sees the change as before. A UI process reads many runs: the ``KEEP`` most recently
used run databases stay open, older ones are closed.

``ibr`` selects this class in the ``dagster.yaml`` it writes (pipelines/cli.py), with no ``base_dir``:
the run history then stays where Dagster's default puts it, ``$DAGSTER_HOME/history/runs/``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import Connection, Engine, create_engine, event

# run databases a process keeps open besides the index (a UI process reads many runs)
KEEP = 8


def _normal_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("pragma synchronous=normal")


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one open connection per database file (module docstring)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> KeptOpenSqliteEventLogStorage:
        base_dir = config_value.get("base_dir") or os.path.join(
            os.environ["DAGSTER_HOME"], "history", "runs", ""
        )
        return cls(base_dir=base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, most recently used last; the least recently used run database is closed
        when more than ``KEEP`` are open."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                pool_size=1,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            event.listen(engine, "connect", _normal_sync)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in runs[: max(len(runs) - KEEP, 0)]:
            self._engines.pop(name).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:  # type: ignore[override]
        with self._db_lock, self._engine(shard).connect() as conn:
            sqlite = conn.connection.dbapi_connection
            before = sqlite.total_changes  # type: ignore[union-attr]
            with conn.begin():
                yield conn
            wrote = sqlite.total_changes != before  # type: ignore[union-attr]
        if wrote and shard != INDEX_SHARD_NAME:
            os.utime(self.path_for_shard(shard))

    def wipe(self) -> None:
        """Dagster's wipe deletes the run databases' files: their open connections are closed first."""
        with self._db_lock:
            for name in [name for name in self._engines if name != INDEX_SHARD_NAME]:
                self._engines.pop(name).dispose()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
