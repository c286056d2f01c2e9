"""Nights the Dagster daemon runs are pruned too: the retention policy follows every night that publishes.

`ibr run` prunes after its own nights; a night the drop sensor or the schedule launched ends in a
run-success event, and `night_retention` queues a `retention` run that applies the same policy, never
while another night runs.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import yaml
from conftest import NIGHT

from pipelines.automation import RETENTION_JOB, retention_request
from pipelines.definitions import NIGHTLY_TAG, build_defs
from pipelines.recovery import LOCK_TAG
from pipelines.settings import Settings

QUARANTINED = ("2026-01-01", "2026-02-01", "2026-03-01")


def _published(home: Path, run_id: str) -> None:
    (home / "warehouse").mkdir(exist_ok=True)
    manifest = {"night": NIGHT, "run_id": run_id}
    (home / "warehouse" / "published.json").write_text(json.dumps(manifest), encoding="utf-8")


def _nightly_run(run_id: str, tags: dict[str, str] | None = None) -> dg.DagsterRun:
    return dg.DagsterRun(
        job_name="nightly",
        run_id=run_id,
        status=dg.DagsterRunStatus.SUCCESS,
        tags={"dagster/partition": NIGHT, **(tags or {})},
    )


def _home_to_prune(home: Path) -> None:
    """Three nights of quarantined files and a policy that keeps one."""
    for night in QUARANTINED:
        (home / "quarantine" / night).mkdir(parents=True)
    (home / "retention.yaml").write_text(yaml.safe_dump({"quarantine_nights": 1}), encoding="utf-8")


def test_a_daemon_night_that_published_queues_a_retention_run_behind_the_nights(home):
    _published(home, "run-daemon")
    defs = build_defs(Settings(home=home))
    sensor = defs.resolve_sensor_def("night_retention")
    run = _nightly_run("run-daemon", {"ibr/trigger": "drop_sensor"})
    with dg.instance_for_test() as instance:
        instance.add_run(run)
        event = dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name="nightly")
        context = dg.build_run_status_sensor_context(
            sensor_name="night_retention", dagster_event=event, dagster_instance=instance, dagster_run=run
        )
        request = sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "retention:run-daemon"
    # the retention run carries the nightly tag: the run queue never runs it beside a night
    assert defs.resolve_job_def(RETENTION_JOB).tags[NIGHTLY_TAG] == "1"


def test_no_retention_run_for_ibr_runs_own_nights_or_a_night_that_did_not_publish(home):
    settings = Settings(home=home)
    _published(home, "run-published")
    assert isinstance(retention_request(settings, _nightly_run("run-published")), dg.RunRequest)
    # ibr run prunes after its own nights, under the night lock
    headless = _nightly_run("run-published", {LOCK_TAG: "/somewhere/run.lock"})
    assert isinstance(retention_request(settings, headless), dg.SkipReason)
    # a blocking check failed: the published night is another run's, nothing to prune after this one
    assert isinstance(retention_request(settings, _nightly_run("run-blocked")), dg.SkipReason)


def test_the_retention_run_applies_the_policy(home):
    _home_to_prune(home)
    job = build_defs(Settings(home=home)).resolve_job_def(RETENTION_JOB)
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance).success
    assert sorted(p.name for p in (home / "quarantine").iterdir()) == ["2026-03-01"]


def test_the_retention_run_never_prunes_while_a_night_runs(home):
    _home_to_prune(home)
    job = build_defs(Settings(home=home)).resolve_job_def(RETENTION_JOB)
    with dg.instance_for_test() as instance:
        night = dg.DagsterRun(
            job_name="nightly", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED
        )
        instance.add_run(night)
        assert job.execute_in_process(instance=instance).success
    assert sorted(p.name for p in (home / "quarantine").iterdir()) == list(QUARANTINED)


def test_a_bad_policy_fails_the_retention_run_naming_the_file(home):
    _home_to_prune(home)
    (home / "retention.yaml").write_text(yaml.safe_dump({"quarantine_days": 1}), encoding="utf-8")
    job = build_defs(Settings(home=home)).resolve_job_def(RETENTION_JOB)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "retention.yaml" in failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert len(list((home / "quarantine").iterdir())) == len(QUARANTINED)
