"""A night killed mid-run (SIGKILL: a power cut, an OOM kill) and run again gives the warehouse a clean run gives.

Two homes get the same generated drops (the generator is deterministic). One runs the night once;
the other runs it as `ibr run` in a child process that is killed while it links, then runs it again.
Their published warehouses must hold the same rows, run ids and timestamps aside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from warehouse_digest import warehouse_digest

from synthetic import generate

NIGHT = "2026-02-01"


def _ibr(home: Path, *args: str) -> subprocess.Popen[bytes]:
    """`ibr` in a child process; its output goes to a file (a pipe nobody reads would stall it)."""
    env = {**os.environ, "IBR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    log = (home / "ibr.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], env=env, stdout=log, stderr=log)


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

    assert warehouse_digest(killed / "warehouse" / "ibr.duckdb") == warehouse_digest(
        clean / "warehouse" / "ibr.duckdb"
    )
