"""Partitions keyed by the drops that exist: the UI lists the nights there are, not every day since 2020.

A data team opens the Dagster UI and sees one partition per night that was launched (by the drop sensor,
the schedule, `ibr run` or `ibr demo`), and a backfill over those nights still runs.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import dagster as dg
from conftest import NIGHT, pension_csv

from pipelines.automation import READY_MARKER
from pipelines.cli import EXIT_OK, main
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.nights import NIGHTS, PUBLISHED, add_nights, adopt_published_nights
from pipelines.settings import Settings

ROW = "B1;Ann;Lee;1950;2;;P01;2026-01;100"


def test_every_asset_is_partitioned_by_the_nights_launched_not_by_day(home):
    defs = build_defs(Settings(home=home))
    job = defs.resolve_job_def(NIGHTLY_JOB)
    assert job.partitions_def == NIGHTS
    with dg.instance_for_test() as instance:
        assert job.partitions_def.get_partition_keys(dynamic_partitions_store=instance) == []
        assert add_nights(instance, ["2026-03-01", "2026-02-01", "2026-03-01"]) == [
            "2026-02-01",
            "2026-03-01",
        ]
        assert add_nights(instance, ["2026-02-01"]) == []  # adding a known night again adds nothing
        assert job.partitions_def.get_partition_keys(dynamic_partitions_store=instance) == [
            "2026-02-01",
            "2026-03-01",
        ]


def test_the_drop_sensor_adds_the_night_it_launches(home, drop):
    drop("pension", "pay.csv", pension_csv(ROW))
    (home / "drops" / "pension" / NIGHT / READY_MARKER).touch()
    later = drop("pension", "later.csv", pension_csv(ROW), night="2026-03-01")  # still arriving: not launched
    os.utime(later, (time.time(), time.time()))
    sensor = build_defs(Settings(home=home)).resolve_sensor_def("drop_sensor")
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
    assert [r.partition_key for r in result.run_requests] == [NIGHT]
    assert result.dynamic_partitions_requests == [dg.AddDynamicPartitionsRequest("nights", [NIGHT])]


def test_a_sensor_tick_with_nothing_to_launch_adds_no_night(home, drop):
    drop("pension", "pay.csv", pension_csv(ROW))  # written a moment ago: waits for its quiet period
    sensor = build_defs(Settings(home=home)).resolve_sensor_def("drop_sensor")
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
    assert result.run_requests == []
    assert not result.dynamic_partitions_requests


def test_the_schedule_adds_the_night_before_requesting_it(home, drop):
    drop("pension", "a.csv", pension_csv(ROW), night="2026-02-01")
    schedule = build_defs(Settings(home=home)).resolve_schedule_def("nightly_schedule")
    on = datetime(2026, 3, 1, 2, tzinfo=UTC)
    # the context opens its own instance from the test's: `with` closes it again, as the daemon does
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=on) as context,
    ):
        request = schedule(context)
        assert request.partition_key == "2026-02-01"
        assert instance.get_dynamic_partitions("nights") == ["2026-02-01"]


def test_ibr_run_of_a_night_adds_exactly_that_night(home, drop, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    drop("pension", "pay.csv", pension_csv(ROW))
    drop("pension", "later.csv", pension_csv(ROW), night="2026-03-01")
    assert main(["--home", str(home), "run", "--date", NIGHT, "--no-progress"]) == EXIT_OK
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("nights") == [NIGHT]
        (run,) = instance.get_runs()
        assert run.tags["dagster/partition"] == NIGHT


def test_nights_published_under_the_old_daily_partitions_are_listed_again(home, drop, tmp_path, monkeypatch):
    """A home upgraded from daily partitions: its published nights keep their place in the UI."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    main(["--home", str(home), "status"])  # writes dagster.yaml, as any ibr command does
    with dg.DagsterInstance.get() as instance:
        for old in ("2025-12-01", "2026-01-01"):  # a daily key of the earlier versions, materialized
            instance.report_runless_asset_event(dg.AssetMaterialization(PUBLISHED, partition=old))
        instance.report_runless_asset_event(
            dg.AssetMaterialization(dg.AssetKey(["raw", "pension"]), partition="2025-11-01")
        )
    drop("pension", "pay.csv", pension_csv(ROW))
    assert main(["--home", str(home), "run", "--date", NIGHT, "--no-progress"]) == EXIT_OK
    with dg.DagsterInstance.get() as instance:
        # a night that landed a source but never published is not a night the warehouse knows
        assert instance.get_dynamic_partitions("nights") == ["2025-12-01", "2026-01-01", NIGHT]
        assert adopt_published_nights(instance) == []  # once adopted, nothing more
