"""The drop sensor, the schedule and the failure summary: when a night is launched, and what it says when it fails."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import dagster as dg
import pytest
from conftest import NIGHT, pension_csv

from pipelines.automation import READY_MARKER, failure_summary, night_run_key, scan_drops
from pipelines.definitions import build_defs
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
