"""Unattended operation: the drop sensor, the nightly schedule and the run-failure summary.

When is a source's drop complete? A drop is the folder `drops/<source>/<YYYY-MM-DD>/`.
It is complete when it holds a manifest file named `_READY` (the sender writes it last),
or, for senders that cannot write one, when no file in it has changed for a quiet period
(`IBR_DROP_QUIET_MINUTES`, default 30). Files whose name starts with `.` or `_`, or ends
in `.tmp`/`.part`, are never data (transfers in progress, markers).

The sensor launches the night of a drop once its sources' drops are complete and every source
the contracts expect by that night has arrived (ingest/schedule.py); past the deadline of a missing
source it launches the night anyway, to be published marked partial. A night that waits holds back
the nights after it (each builds on the one before). It launches again when another source of the
same night completes: a run key made of
the complete folders' file names, sizes and modification times means each new state is
launched once, and landing skips files already landed, so the rerun only adds the new
source. Runs go through the instance's run queue; `dagster.yaml` (written by `ibr`, see
the operations guide) allows one run of the nightly job at a time and one step at a time
in the `ibr_work_db` pool, so no two steps ever write the working DuckDB file at once.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from assets.common import WORK_DB_POOL
from assets.resources import IbrHome
from ingest.schedule import Schedule, readiness
from pipelines.alerts import (
    NightOutcome,
    alert_if_needed,
    audit_failed_night,
    night_counts,
    published_missing_sources,
)
from pipelines.nights import NIGHTS, add_nights, night_keys
from pipelines.recovery import LOCK_TAG, RELEASED, NightRunning, night_lock, release_dead_runs
from pipelines.retention import prune
from pipelines.settings import Settings

READY_MARKER = "_READY"
QUIET_MINUTES_DEFAULT = 30
NOT_DATA_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


@dataclass(frozen=True)
class Drop:
    source: str
    night: date
    files: tuple[tuple[str, int, int], ...]  # (name, bytes, mtime_ns)
    complete: bool
    reason: str


def _is_data(path: Path) -> bool:
    return (
        path.is_file() and not path.name.startswith((".", "_")) and not path.name.endswith(NOT_DATA_SUFFIXES)
    )


def quiet_minutes() -> float:
    raw = os.environ.get("IBR_DROP_QUIET_MINUTES", str(QUIET_MINUTES_DEFAULT))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"IBR_DROP_QUIET_MINUTES: got {raw!r}; expected a number of minutes") from None
    if value < 0:
        raise ValueError(f"IBR_DROP_QUIET_MINUTES: got {raw!r}; expected a number of minutes >= 0")
    return value


def scan_drops(drops_dir: Path, now: float | None = None, quiet: float | None = None) -> list[Drop]:
    """Every drop folder under `drops_dir`, with whether it is complete (a `_READY` file, or quiet long enough)."""
    now = time.time() if now is None else now
    quiet = quiet_minutes() if quiet is None else quiet
    found: list[Drop] = []
    if not drops_dir.is_dir():
        return found
    for folder in sorted(drops_dir.glob("*/*")):
        if not folder.is_dir():
            continue
        try:
            night = date.fromisoformat(folder.name)
        except ValueError:
            continue
        data = sorted(p for p in folder.iterdir() if _is_data(p))
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in data]
        if (folder / READY_MARKER).is_file():
            complete, reason = bool(data), "manifest" if data else "manifest but no data files"
        elif not data:
            complete, reason = False, "empty"
        else:
            newest = max(m for _, _, m in stats) / 1e9
            complete = now - newest >= quiet * 60
            reason = "quiet" if complete else f"changed {int(now - newest)}s ago"
        found.append(Drop(folder.parent.name, night, tuple(stats), complete, reason))
    return found


def night_run_key(drops: list[Drop]) -> str:
    """One key per state of a night's complete drops: a new or changed file gives a new key."""
    digest = hashlib.sha256()
    for drop in sorted(drops, key=lambda d: d.source):
        for name, size, mtime in drop.files:
            digest.update(f"{drop.source}/{name}:{size}:{mtime}\n".encode())
    night = drops[0].night.isoformat()
    return f"drops:{night}:{digest.hexdigest()[:16]}"


def _release_dead_runs(context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext) -> None:
    """Free what runs of killed processes hold before launching another (pipelines/recovery.py)."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # evaluated without an instance: a preview or a unit test
        return
    for run_id in release_dead_runs(instance):
        context.log.warning(f"run {run_id}: {RELEASED}")


def _add_night(context: dg.ScheduleEvaluationContext, night: date) -> None:
    """The night's partition key in the instance, so the run the schedule requests can target it."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # evaluated without an instance: a preview or a unit test
        return
    for key in add_nights(instance, [night]):
        context.log.info(f"night {key} added to the nights partitions")


def today() -> date:
    """The date deadlines are measured against (UTC); tests replace it."""
    return datetime.now(UTC).date()


def build_drop_sensor(
    settings: Settings, job: dg.UnresolvedAssetJobDefinition, schedules: dict[str, Schedule] | None = None
) -> dg.SensorDefinition:
    @dg.sensor(
        name="drop_sensor",
        job=job,
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Launches a night when a source's drop folder is complete: a _READY file in it, or no change "
            "for IBR_DROP_QUIET_MINUTES (default 30)."
        ),
    )
    def drop_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        _release_dead_runs(context)
        by_night: dict[date, list[Drop]] = defaultdict(list)
        waiting = []
        for drop in scan_drops(settings.drops_dir):
            if drop.complete:
                by_night[drop.night].append(drop)
            else:
                waiting.append(f"{drop.source}/{drop.night}: {drop.reason}")
        if waiting:
            context.log.info("waiting for: " + "; ".join(waiting[:20]))
        arrived = {(d.source, d.night) for drops in by_night.values() for d in drops}
        requests = []
        for night, drops in sorted(by_night.items()):
            ready = readiness(schedules or {}, arrived, night, today())
            if ready.waiting:
                # the nights after it wait too: each builds on the one before
                context.log.info(f"waiting for expected sources until their deadline: {ready.describe()}")
                break
            tags = {"ibr/trigger": "drop_sensor", "ibr/sources": ",".join(sorted(d.source for d in drops))}
            if ready.missing:
                tags["ibr/missing_sources"] = ",".join(m.source for m in ready.missing)
            requests.append(
                dg.RunRequest(run_key=night_run_key(drops), partition_key=night.isoformat(), tags=tags)
            )
        # the nights' partition keys are added before their runs are launched (pipelines/nights.py)
        keys = night_keys(r.partition_key for r in requests if r.partition_key)
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[NIGHTS.build_add_request(keys)] if keys else None,
        )

    return drop_sensor


def build_nightly_schedule(
    settings: Settings, job: dg.UnresolvedAssetJobDefinition, schedules: dict[str, Schedule] | None = None
) -> dg.ScheduleDefinition:
    cron = os.environ.get("IBR_SCHEDULE_CRON", "0 2 * * *")
    timezone = os.environ.get("IBR_SCHEDULE_TIMEZONE", "UTC")

    @dg.schedule(
        name="nightly_schedule",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Every night ({cron}, {timezone}): runs the latest drop date up to yesterday, whatever the sensor did "
            "(landing skips what is already landed). IBR_SCHEDULE_CRON and IBR_SCHEDULE_TIMEZONE change it."
        ),
    )
    def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        _release_dead_runs(context)
        latest = context.scheduled_execution_time.date() - timedelta(days=1)
        nights = sorted({d.night for d in scan_drops(settings.drops_dir, quiet=0) if d.night <= latest})
        if not nights:
            return dg.SkipReason(f"no drops up to {latest} under {settings.drops_dir}")
        night = nights[-1]
        arrived = {(d.source, d.night) for d in scan_drops(settings.drops_dir, quiet=0)}
        ready = readiness(schedules or {}, arrived, night, today())
        if ready.waiting:
            return dg.SkipReason(f"waiting for expected sources until their deadline: {ready.describe()}")
        # a schedule cannot return partition requests (dagster-io/dagster#14921): the key goes in directly
        _add_night(context, night)
        return dg.RunRequest(
            run_key=f"schedule:{context.scheduled_execution_time.date()}",
            partition_key=night.isoformat(),
            tags={"ibr/trigger": "schedule"},
        )

    return nightly_schedule


def failure_summary(run: dg.DagsterRun, step_errors: list[tuple[str, str]], failed_checks: list[str]) -> str:
    """A short markdown account of a failed night: what failed and what to do. Keys and messages only."""
    night = run.tags.get("dagster/partition", "?")
    lines = [
        f"# Night {night} failed",
        "",
        f"- run: {run.run_id}",
        f"- job: {run.job_name}",
        "- the published warehouse is unchanged: it still holds the last good night",
        "",
    ]
    if step_errors:
        lines += ["## Steps that failed", ""]
        lines += [f"- `{step}`: {message}" for step, message in step_errors]
        lines.append("")
    if failed_checks:
        lines += ["## Blocking checks that failed", ""]
        lines += [f"- {check}" for check in failed_checks]
        lines.append("")
    lines += [
        "## What next",
        "",
        "Read the auditor report of the night (reports/<night>/auditor_report.html), fix the drop or the "
        f"contract, then rerun the night: `ibr run --date {night}` (or re-execute the run in the UI).",
    ]
    return "\n".join(lines) + "\n"


def build_failure_sensor(settings: Settings, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="night_failure_summary",
        monitored_jobs=[job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Writes state/failures/<night>_<run>.md and the auditor report when a night fails.",
    )
    def night_failure_summary(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        step_errors = []
        for event in context.get_step_failure_events():
            error = event.step_failure_data.error
            step_errors.append(
                (event.step_key or "?", error.message.strip() if error else event.message or "")
            )
        records = context.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        failed_checks = []
        for record in records:
            evaluation = record.event_log_entry.dagster_event.asset_check_evaluation_data  # type: ignore[union-attr]
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                failed_checks.append(f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}")
        folder = settings.home / "state" / "failures"
        folder.mkdir(parents=True, exist_ok=True)
        night = run.tags.get("dagster/partition", "unknown")
        path = folder / f"{night}_{run.run_id[:8]}.md"
        path.write_text(failure_summary(run, step_errors, failed_checks), encoding="utf-8")
        context.log.info(f"failure summary written to {path}")
        if night != "unknown":
            audit_failed_night(settings, date.fromisoformat(night), run.run_id)
        if LOCK_TAG not in run.tags:  # `ibr run` alerts on its own nights
            outcome = NightOutcome(
                night=night,
                run_id=run.run_id,
                status="blocked" if failed_checks else "failed",
                failed_steps=sorted({step for step, _ in step_errors}),
                failed_checks=failed_checks,
                counts=night_counts(settings.work_db, night),
                trigger=run.tags.get("ibr/trigger", "dagster"),
            )
            for problem in alert_if_needed(outcome, settings.home):
                context.log.warning(f"alert not delivered: {problem}")

    return night_failure_summary


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, bool, bool]]:
    """(asset: check, passed, blocking) of every check the run evaluated."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    found = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.asset_check_evaluation_data  # type: ignore[union-attr]
        found.append(
            (
                f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}",
                evaluation.passed,
                evaluation.severity == dg.AssetCheckSeverity.ERROR,
            )
        )
    return found


def published_outcome(settings: Settings, run: dg.DagsterRun, instance: dg.DagsterInstance) -> NightOutcome:
    """A night the daemon ran that succeeded: partial when published.json (of this run) names missing sources,
    warning when a warning-level check is over its threshold, else ok."""
    night = run.tags.get("dagster/partition", "unknown")
    evaluations = _check_evaluations(instance, run.run_id)
    warnings = [name for name, passed, blocking in evaluations if not passed and not blocking]
    missing = published_missing_sources(settings.home, run.run_id)
    return NightOutcome(
        night=night,
        run_id=run.run_id,
        status="partial" if missing else "warning" if warnings else "ok",
        warning_checks=warnings,
        missing_sources=missing,
        counts=night_counts(settings.work_db, night),
        trigger=run.tags.get("ibr/trigger", "dagster"),
    )


def build_night_outcome_sensor(
    settings: Settings, job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name="night_outcome_alert",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Sends an alert (IBR_ALERT_COMMAND / IBR_ALERT_WEBHOOK) when a night the daemon ran published partial "
            "or with a warning-level check over its threshold. Failed nights alert from night_failure_summary."
        ),
    )
    def night_outcome_alert(context: dg.RunStatusSensorContext) -> None:
        run = context.dagster_run
        if LOCK_TAG in run.tags:  # `ibr run` alerts on its own nights
            return
        outcome = published_outcome(settings, run, context.instance)
        for error in alert_if_needed(outcome, settings.home):
            context.log.warning(f"alert not delivered: {error}")

    return night_outcome_alert


# What the daemon's nights do after they publish. `ibr run` prunes in its own process once its night has
# ended (pipelines/cli.py, under the night lock); a night the daemon launched (sensor, schedule, UI) ends in
# a run-success event, and the retention policy runs as a run of its own: `night_retention` asks for a
# `retention` run, which carries the nightly job's tag, so the instance's run queue (one `ibr/nightly` run
# at a time, dagster.yaml) never lets it overlap a night: pruning and compacting the working DuckDB file
# while a night writes it would lose that night's work. A step inside the night would not need the queue,
# but it would make housekeeping an asset of every night in the lineage graph, and a failed prune would mark
# the night failed; as its own run it shows in the UI's run list, and its failure alone is red.
RETENTION_JOB = "retention"
_RUNNING = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def build_retention_job(tags: dict[str, str]) -> dg.JobDefinition:
    """The `retention` job: the policy of `<home>/retention.yaml` applied once (pipelines/retention.py)."""

    @dg.op(
        name="apply_retention",
        pool=WORK_DB_POOL,
        description="Prunes the history the retention policy (<home>/retention.yaml) no longer keeps.",
    )
    # `context` is an OpExecutionContext, unannotated: Dagster rejects the string annotation __future__ makes
    def apply_retention(context, ibr_home: IbrHome) -> None:  # type: ignore[no-untyped-def]
        home = Path(ibr_home.path)
        release_dead_runs(context.instance)
        running = [
            r.run_id
            for r in context.instance.get_runs(dg.RunsFilter(statuses=_RUNNING))
            if r.run_id != context.run_id
        ]
        if running:  # the queue should have prevented it: never prune under a night
            context.log.warning(
                f"retention not applied: run(s) {', '.join(r[:8] for r in running)} not ended; "
                "it applies after the next night"
            )
            return
        try:
            with night_lock(home, wait=False):
                summary = prune(home, instance=context.instance)
        except NightRunning as exc:  # `ibr run`, `ibr backup` or `ibr prune` holds the home
            context.log.warning(f"retention not applied: {exc}; it applies after the next night")
            return
        except (ValueError, OSError) as exc:  # a bad retention.yaml, a full disk: this run fails, no night
            raise dg.Failure(description=f"retention not applied: {exc}") from exc
        context.log.info("retention:\n" + "\n".join(summary.lines()))

    @dg.job(
        name=RETENTION_JOB,
        tags=tags,
        executor_def=dg.in_process_executor,
        description="The retention policy after a night the daemon ran and published (night_retention).",
    )
    def retention() -> None:
        apply_retention()

    return retention


def published_by(home: Path, run_id: str) -> bool:
    """True when warehouse/published.json was written by the run `run_id`."""
    import json

    manifest = home / "warehouse" / "published.json"
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("run_id") == run_id
    except (OSError, ValueError):
        return False


def retention_request(settings: Settings, run: dg.DagsterRun) -> dg.RunRequest | dg.SkipReason:
    """The `retention` run to ask for after the nightly run `run` succeeded, or why none."""
    if LOCK_TAG in run.tags:
        return dg.SkipReason("ibr run applies the retention policy to its own nights")
    if not published_by(settings.home, run.run_id):
        return dg.SkipReason(
            f"run {run.run_id[:8]} did not publish (a blocking check failed): nothing pruned"
        )
    return dg.RunRequest(
        run_key=f"retention:{run.run_id}",
        tags={"ibr/trigger": "night_retention", "ibr/after_run": run.run_id},
    )


def build_retention_sensor(
    settings: Settings, job: dg.UnresolvedAssetJobDefinition, retention: dg.JobDefinition
) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name="night_retention",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[job],
        request_job=retention,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "After a night the daemon ran publishes, queues a `retention` run: the retention policy "
            "(<home>/retention.yaml), never while a night runs. `ibr run` prunes its own nights."
        ),
    )
    def night_retention(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
        return retention_request(settings, context.dagster_run)

    return night_retention
