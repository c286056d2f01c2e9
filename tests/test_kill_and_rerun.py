"""A night killed mid-run (SIGKILL: a power cut, an OOM kill) and run again gives the warehouse a clean run gives.

Two homes get the same generated drops (the generator is deterministic). One runs the night once;
the other runs it as `ibr run` in a child process that is killed while it links, then runs it again.
Their published warehouses must hold the same rows, run ids and timestamps aside.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from synthetic import generate

NIGHT = "2026-02-01"
# columns that name the run, the clock or the deployment folder, not the data (audit.linkage_runs' details
# hold step seconds and the model file's hash, whose last float digits vary from run to run)
VOLATILE = {
    "run_id",
    "landed_at",
    "_ingested_at",
    "checked_at",
    "created_at",
    "recorded_at",
    "generated_at",
    "model_path",
    "details",
}
# tables whose rows are per run by design: the killed run's rows stay as its record
PER_RUN = {("audit", "checks")}


def _ibr(home: Path, *args: str) -> subprocess.Popen[bytes]:
    """`ibr` in a child process; its output goes to a file (a pipe nobody reads would stall it)."""
    env = {**os.environ, "IBR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    log = (home / "ibr.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], env=env, stdout=log, stderr=log)


def _contents(warehouse: Path) -> dict[str, str]:
    """A digest of every table's rows, without the run's own ids and clock."""
    digests = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            if (schema, table) in PER_RUN:
                continue
            columns = [
                (name, data_type)
                for name, data_type in con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = $1 and table_name = $2 order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in VOLATILE and not data_type.startswith("TIMESTAMP")
            ]
            # DuckDB sums in parallel: training's floats may differ in the last bits between two clean runs
            select = ", ".join(
                f'round("{name}", 9)' if data_type == "DOUBLE" else f'"{name}"' for name, data_type in columns
            )
            rows = con.execute(f'select {select} from "{schema}"."{table}" order by all').fetchall()
            digests[f"{schema}.{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_night_killed_while_linking_and_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for home in (clean, killed):
        generate(home, people=1500, nights=1, seed=5)

    assert _ibr(clean, "run", "--date", NIGHT).wait(timeout=600) == 0

    child = _ibr(killed, "run", "--date", NIGHT)
    spill = killed / "state" / "spill"  # made when linkage starts: landing and staging are done
    deadline = time.monotonic() + 300
    while not spill.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the night ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert not (killed / "warehouse" / "ibr.duckdb").exists()  # nothing was published

    rerun = _ibr(killed, "run", "--date", NIGHT)
    assert rerun.wait(timeout=600) == 0, (killed / "ibr.log").read_text(encoding="utf-8")[-2000:]
    # the killed run held the working database's pool slot: the rerun found its process gone and freed it
    assert "its process is gone" in (killed / "ibr.log").read_text(encoding="utf-8")

    assert _contents(killed / "warehouse" / "ibr.duckdb") == _contents(clean / "warehouse" / "ibr.duckdb")
