"""The drop sensor, the schedule and the failure summary: when a night is launched, and what it says when it fails."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from conftest import NIGHT, pension_csv

from pipelines.automation import READY_MARKER, failure_summary, night_run_key, scan_drops
from pipelines.definitions import build_defs
from pipelines.recovery import LOCK_TAG, release_dead_runs, run_lock
from pipelines.settings import Settings


def _age(path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_a_drop_is_complete_with_a_manifest_or_after_a_quiet_period(home, drop):
    fresh = drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"))
    (drops,) = scan_drops(home / "drops", quiet=30)
    assert (drops.complete, drops.reason.startswith("changed")) == (False, True)

    _age(fresh, 31 * 60)
    (drops,) = scan_drops(home / "drops", quiet=30)
    assert (drops.complete, drops.reason) == (True, "quiet")

    os.utime(fresh)  # touched again: still being written
    (fresh.parent / READY_MARKER).touch()
    (drops,) = scan_drops(home / "drops", quiet=30)
    assert (drops.complete, drops.reason) == (True, "manifest")


def test_transfers_in_progress_and_markers_are_not_data(home, drop):
    drop("pension", "pay.csv.part", b"half a file")
    drop("pension", ".pay.csv.swp", b"x")
    (home / "drops" / "pension" / NIGHT / READY_MARKER).touch()
    (drops,) = scan_drops(home / "drops", quiet=0)
    assert drops.files == ()
    assert not drops.complete
    assert drops.reason == "manifest but no data files"


def test_a_new_file_gives_the_night_a_new_run_key(home, drop):
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"))
    first = night_run_key(scan_drops(home / "drops", quiet=0))
    assert first == night_run_key(scan_drops(home / "drops", quiet=0))
    drop("registry", "births.csv", b"x\n")
    second = night_run_key(scan_drops(home / "drops", quiet=0))
    assert second != first and second.startswith(f"drops:{NIGHT}:")


def test_the_sensor_launches_each_complete_night_once_per_state(home, drop):
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"))
    drop("pension", "later.csv", pension_csv("B2;Bo;Lee;1950;2;;P01;2026-02;100"), night="2026-03-01")
    (home / "drops" / "pension" / NIGHT / READY_MARKER).touch()
    defs = build_defs(Settings(home=home))
    sensor = defs.resolve_sensor_def("drop_sensor")
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
    # the night with a manifest is launched; the one written a moment ago waits for its quiet period
    assert [r.partition_key for r in result.run_requests] == [NIGHT]
    assert result.run_requests[0].tags["ibr/sources"] == "pension"


def test_the_schedule_runs_the_latest_drop_up_to_yesterday(home, drop):
    drop("pension", "a.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"), night="2026-02-01")
    drop("pension", "b.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-02;100"), night="2026-03-01")
    schedule = build_defs(Settings(home=home)).resolve_schedule_def("nightly_schedule")
    on = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    request = schedule(dg.build_schedule_context(scheduled_execution_time=on))
    assert request.partition_key == "2026-02-01"
    skipped = schedule(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 1, 1, 2, tzinfo=UTC))
    )
    assert isinstance(skipped, dg.SkipReason)


@pytest.mark.parametrize("with_checks", [True, False])
def test_the_failure_summary_names_the_night_the_step_and_the_way_back(with_checks):
    run = dg.DagsterRun(job_name="nightly", run_id="abcdef0123456789", tags={"dagster/partition": NIGHT})
    text = failure_summary(
        run,
        [("record_linkage", "blocking rule 'l.last_name = r.last_name' would make 300,000,000 comparisons")],
        ["raw/pension: record_id_unique_in_drop"] if with_checks else [],
    )
    assert f"# Night {NIGHT} failed" in text
    assert "record_linkage" in text and "unchanged" in text
    assert f"ibr run --date {NIGHT}" in text
    assert ("record_id_unique_in_drop" in text) == with_checks


def _started_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    run = dg.DagsterRun(
        job_name="nightly", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED, tags=tags
    )
    return instance.add_run(run)


def test_a_run_whose_process_died_is_failed_and_its_slots_freed_before_the_next_launch(home, drop, tmp_path):
    """A killed `ibr run` left its run STARTED, holding the work database's pool slot: the next night would wait
    forever. The sensor (as `ibr run` and the schedule) marks it failed and frees the slot. A run whose process
    holds its lock, a run without a lock (launched by the daemon) and a run whose lock file is gone are kept."""
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster")) as instance:
        # a process that died: its lock file is left behind, and nobody holds the lock
        with run_lock(instance, "dead-run") as dead_tags:
            pass
        Path(dead_tags[LOCK_TAG]).write_text("left by a killed process\n", encoding="utf-8")
        dead_run = _started_run(instance, dead_tags)
        no_lock_run = _started_run(instance, {})
        gone_run = _started_run(instance, {LOCK_TAG: str(tmp_path / "nowhere.lock")})
        instance.event_log_storage.set_concurrency_slots("ibr_work_db", 1)
        claim = instance.event_log_storage.claim_concurrency_slot(
            "ibr_work_db", dead_run.run_id, "record_linkage"
        )
        assert claim.is_claimed

        drop("pension", "a.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"), night=NIGHT)
        sensor = build_defs(Settings(home=home)).resolve_sensor_def("drop_sensor")
        with run_lock(instance, "live-run") as live_tags:  # a night running in this very process
            live_run = _started_run(instance, live_tags)
            sensor(dg.build_sensor_context(instance=instance))

            assert instance.get_run_by_id(dead_run.run_id).status == dg.DagsterRunStatus.FAILURE
            for kept in (live_run, no_lock_run, gone_run):
                assert instance.get_run_by_id(kept.run_id).status == dg.DagsterRunStatus.STARTED
            assert instance.event_log_storage.get_concurrency_info("ibr_work_db").active_slot_count == 0
            assert not Path(dead_tags[LOCK_TAG]).exists()
            # nothing left to release: a second evaluation changes nothing
            assert release_dead_runs(instance) == []
