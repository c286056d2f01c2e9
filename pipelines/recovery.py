"""Runs whose process died (SIGKILL, OOM kill, power cut) must not block the nights after them.

A night run headless (`ibr run`) executes in its own process and holds the `ibr_work_db` pool's one
slot while a step runs. Killed, it never frees the slot and its run stays `STARTED` in Dagster's
run storage, so the next night would wait for the slot forever. Every run we start records the
host, its process id and that process's start time as tags; before a new night, runs of this host
whose process is gone are marked failed and their slots freed. A run whose process is alive (a
night still running in another terminal) is left alone: the new night then waits for it.

Runs the daemon launches (`dg dev`, `dagster-daemon`) are watched by Dagster's own run monitoring,
switched on in the dagster.yaml `ibr` writes (see docs/operations.md).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

HOST_TAG = "ibr/host"
PID_TAG = "ibr/pid"
PROCESS_STARTED_TAG = "ibr/process_started"

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _process_started(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc), "" where /proc is missing; None if no such process."""
    if Path("/proc/self/stat").exists():
        try:
            text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        # the command name (field 2) may hold spaces: the fields after its closing parenthesis are fixed
        return text.rsplit(")", 1)[1].split()[19]  # field 22: starttime
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a run executed in it."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PROCESS_STARTED_TAG: _process_started(pid) or "",
    }


def _is_alive(run: dg.DagsterRun) -> bool:
    pid = int(run.tags[PID_TAG])
    started = _process_started(pid)
    # a process id the system has since given to another process counts as gone
    return started is not None and started == run.tags.get(PROCESS_STARTED_TAG, started)


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark this host's unfinished runs whose process is gone as failed and free their pool slots; their ids."""
    runs = instance.get_runs(dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: socket.gethostname()}))
    released = []
    for run in runs:
        if PID_TAG not in run.tags or _is_alive(run):
            continue
        instance.report_run_failed(
            run,
            f"the process that ran this night (pid {run.tags[PID_TAG]}) is gone: it was killed or crashed. "
            "Marked failed and its concurrency slots freed so the next run can start.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released
