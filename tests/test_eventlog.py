"""The run history ibr's dagster.yaml selects: every event kept, readable by other processes as it is
written, and a UI following a running run still sees each event arrive (pipelines/eventlog.py)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import dagster as dg
import pytest

from pipelines import cli
from pipelines.eventlog import KEEP, KeptOpenSqliteEventLogStorage
from pipelines.settings import Settings


@dg.op
def say() -> int:
    return 1


@dg.job
def tiny() -> None:
    say()


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    cli._prepare_dagster_home(Settings(home=tmp_path / "ibr"))
    return home


def instance(home: Path) -> dg.DagsterInstance:
    """An instance of its own on the home, as another process (the UI, the daemon) would have."""
    return dg.DagsterInstance.from_config(str(home))


def test_ibrs_dagster_yaml_keeps_the_run_history_where_dagsters_default_puts_it(dagster_home):
    with instance(dagster_home) as writer:
        assert isinstance(writer.event_log_storage, KeptOpenSqliteEventLogStorage)
        result = tiny.execute_in_process(instance=writer)
        written = writer.all_logs(result.run_id)
        # read while the writer still holds its connections open, then after it has closed them
        with instance(dagster_home) as reader:
            assert [e.dagster_event_type for e in reader.all_logs(result.run_id)] == [
                e.dagster_event_type for e in written
            ]
    assert (dagster_home / "history" / "runs" / f"{result.run_id}.db").exists()
    with instance(dagster_home) as reader:
        assert len(reader.all_logs(result.run_id)) == len(written) > 5
        assert reader.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS


def test_a_process_watching_a_running_run_sees_each_new_event(dagster_home):
    with instance(dagster_home) as writer, instance(dagster_home) as watcher:
        run = writer.create_run_for_job(tiny)
        writer.report_engine_event("first", run)
        seen: list[str] = []
        arrived = threading.Event()

        def callback(entry: dg.EventLogEntry, _cursor: str) -> None:
            seen.append(entry.message)
            if entry.message == "second":
                arrived.set()

        watcher.watch_event_logs(run.run_id, None, callback)
        writer.report_engine_event("second", run)
        assert arrived.wait(10), f"the watcher saw {seen}"
        watcher.end_watch_event_logs(run.run_id, callback)


def test_a_process_reading_many_runs_keeps_only_the_latest_open(dagster_home):
    with instance(dagster_home) as writer:
        run_ids = [tiny.execute_in_process(instance=writer).run_id for _ in range(KEEP + 2)]
        storage = writer.event_log_storage
        assert isinstance(storage, KeptOpenSqliteEventLogStorage)
        assert len(storage._engines) == KEEP + 1  # the run databases and the index
        assert run_ids[0] not in storage._engines and run_ids[-1] in storage._engines
        assert all(writer.get_run_by_id(r).status == dg.DagsterRunStatus.SUCCESS for r in run_ids)
        assert all(len(writer.all_logs(r)) > 5 for r in run_ids)
        # `dagster instance wipe` deletes the run databases; an event written after it to a run whose database
        # was open must land in a new file, not in the deleted one
        last = writer.get_run_by_id(run_ids[-1])
        writer.wipe()
        writer.report_engine_event("after the wipe", last)
        with instance(dagster_home) as reader:
            assert [e.message for e in reader.all_logs(run_ids[-1])] == ["after the wipe"]


def test_a_dagster_yaml_an_earlier_ibr_wrote_is_renewed_and_an_edited_one_kept(tmp_path, monkeypatch):
    earlier = (
        "# written by ibr (see docs/operations.md). One nightly run at a time, one step at a time on the\n"
        "# working DuckDB file: nights never interleave and no two steps ever hold the file's write lock.\n"
    )
    for name, text in (("unedited", None), ("edited", "telemetry:\n  enabled: true\n")):
        home = tmp_path / name
        home.mkdir()
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        (home / "dagster.yaml").write_text(text or _earlier_text(), encoding="utf-8")
        cli._prepare_dagster_home(Settings(home=tmp_path / "ibr"))
        written = (home / "dagster.yaml").read_text(encoding="utf-8")
        assert written == (cli.DAGSTER_YAML if text is None else text)
    assert cli.DAGSTER_YAML.startswith(earlier)


def _earlier_text() -> str:
    """The dagster.yaml ibr wrote before the run history kept its files open and partitions queued one by one."""
    text = cli.DAGSTER_YAML[: cli.DAGSTER_YAML.index("# the run history keeps")]
    text = text.replace(text[text.index("      # a night launched from the UI") : text.index("  pools:")], "")
    assert hashlib.sha256(text.encode()).hexdigest() in cli._EARLIER_DAGSTER_YAML
    return text
