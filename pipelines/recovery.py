"""Runs whose process died (SIGKILL, OOM kill, power cut) must not block the nights after them.

A night run headless (`ibr run`) executes in its own process and holds the `ibr_work_db` pool's one
slot while a step runs. Killed, it never frees the slot and its run stays `STARTED` in Dagster's
run storage, so the next night would wait for the slot forever.

So every `ibr run` holds an exclusive lock (`flock`) on a file of its own,
`$DAGSTER_HOME/run_locks/<run_id>.lock`, from before the run starts until it has ended, and
tags the run with that path. The kernel releases the lock when the process dies, however it
dies. Before a new night, a run still unfinished whose lock file exists and can be locked has
lost its process: it is marked failed and its slots are freed. Anything ambiguous (no lock
file, a file that cannot be opened, a lock held) counts as alive: the new night then waits.
This holds across containers and users sharing `DAGSTER_HOME`, unlike process ids.

Runs the daemon launches (`dg dev`, `dagster-daemon`) carry no lock; Dagster's run monitoring
fails them after `max_runtime_seconds` (see docs/operations.md).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import dagster as dg

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are then never judged dead
    fcntl = None  # type: ignore[assignment]

LOCK_TAG = "ibr/run_lock"
HOST_TAG = "ibr/host"

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _locks_dir(instance: dg.DagsterInstance) -> Path:
    return Path(instance.root_directory) / "run_locks"


@contextlib.contextmanager
def run_lock(instance: dg.DagsterInstance, run_id: str) -> Iterator[dict[str, str]]:
    """Hold the run's lock while the block runs; yields the tags that point other processes at it.

    The daemon's run monitoring must not time such a run out (its own process is watched here):
    `dagster/max_runtime` 0 switches the limit off for it.
    """
    path = _locks_dir(instance) / f"{run_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(f"{socket.gethostname()} {os.getpid()}\n")
        handle.flush()
        try:
            yield {LOCK_TAG: str(path), HOST_TAG: socket.gethostname(), "dagster/max_runtime": "0"}
        finally:
            path.unlink(missing_ok=True)


def _lock_if_dead(path: Path) -> IO[str] | None:
    """The run's lock, now held by us, when its process is gone; None when it may be alive."""
    if fcntl is None or not path.is_file():
        return None
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: the run's process is alive
        handle.close()
        return None
    return handle


# what `ibr run`, the sensor and the schedule say of each run `release_dead_runs` released
RELEASED = "its process is gone (killed or crashed); marked failed"


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished runs whose process is gone as failed and free their pool slots; their ids."""
    released = []
    for run in instance.get_runs(dg.RunsFilter(statuses=_UNFINISHED)):
        if LOCK_TAG not in run.tags:
            continue
        path = Path(run.tags[LOCK_TAG])
        held = _lock_if_dead(path)
        if held is None:
            continue
        with held:
            current = instance.get_run_by_id(run.run_id)
            if current is None or current.status not in _UNFINISHED:
                continue  # it ended between the two reads
            instance.report_run_failed(
                current,
                f"the process that ran this night (on {run.tags.get(HOST_TAG, '?')}) is gone: it was killed or "
                "crashed. Marked failed and its concurrency slots freed so the next run can start.",
            )
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            released.append(run.run_id)
        path.unlink(missing_ok=True)
    return released


class NightRunning(RuntimeError):
    """A night is running (or a backup, restore or prune holds the home): try again when it has ended."""


@contextlib.contextmanager
def night_lock(home: Path, wait: bool = True) -> Iterator[None]:
    """Hold the home's night lock (`state/night.lock`) while the block runs.

    `ibr run` holds it for a whole night (and the retention that follows it); `ibr backup`, `ibr
    restore` and `ibr prune` take it without waiting (`wait=False`: `NightRunning` when held), so
    they never see a half-written night. The kernel drops it when the holder dies.
    """
    path = home / "state" / "night.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise NightRunning(
                    f"{path} is held: a night (or a backup, restore or prune) is running"
                ) from None
        yield


def unfinished_nights(instance: dg.DagsterInstance) -> list[str]:
    """Ids of runs not yet ended, once the runs whose process is gone are released.

    The daemon's runs (sensor, schedule, UI) do not take the night lock: this is how a backup or a
    prune sees them.
    """
    release_dead_runs(instance)
    return [
        run.run_id
        for run in instance.get_runs(dg.RunsFilter(statuses=[*_UNFINISHED, dg.DagsterRunStatus.QUEUED]))
    ]
