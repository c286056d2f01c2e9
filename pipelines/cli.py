"""The `ibr` command: generate a synthetic country, run nights headless, run the demo.

Every night runs the `nightly` job of `pipelines.definitions`, the same definitions
`dg dev` loads, so what the CLI does is what the UI shows.

    ibr demo                          # synthetic country into ./data, 3 nights, summary
    ibr generate --people 100000 --nights 3 --seed 7
    ibr run --date 2026-03-01         # one night over the drops present
    ibr run --since 2026-03-01        # backfill: that night and every later one, in order
    ibr status                        # last runs, what is published, failed checks
    ibr validate-sources              # dry run: contracts, and the latest drop's files against them
    ibr prune                         # the retention policy (<home>/retention.yaml) now
    ibr backup /backups/ibr.tar       # the whole state, while no night runs; `ibr restore` puts it back
    ibr schema --out schemas/         # JSON Schemas of the configuration files, for editors
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from core.homefiles import private_umask, world_readable
from pipelines.alerts import (
    NightOutcome,
    alert_if_needed,
    audit_failed_night,
    night_counts,
    published_missing_sources,
)
from pipelines.settings import Settings, drop_nights, settings_from_env

DAGSTER_YAML = """# written by ibr (see docs/operations.md). One nightly run at a time, one step at a time on the
# working DuckDB file: nights never interleave and no two steps ever hold the file's write lock.
telemetry:
  enabled: false
run_monitoring:
  enabled: true
  # a run the daemon launched that hangs or whose worker died is failed after 4 hours (a night of a
  # million people takes about 10 minutes) and gives its pool slots back a minute after it ends
  max_runtime_seconds: 14400
  free_slots_after_run_end_seconds: 60
concurrency:
  runs:
    tag_concurrency_limits:
      - key: "ibr/nightly"
        limit: 1
      # a night launched from the UI (an asset backfill, "Materialize" of a night) runs the asset job, without
      # the tag above, but every night carries its partition: one night at a time, in the order queued
      - key: "dagster/partition"
        limit: 1
  pools:
    default_limit: 1
# the run history keeps each SQLite file open while a process runs instead of opening, committing and
# closing it for every event (pipelines/eventlog.py); it stays in $DAGSTER_HOME/history/runs/
event_log_storage:
  module: pipelines.eventlog
  class: KeptOpenSqliteEventLogStorage
"""
# dagster.yaml files that earlier versions of ibr wrote (sha256); one still unedited is written again
_EARLIER_DAGSTER_YAML = {
    "fb038f180defd3f8b2e474055b4df87a600ae042d8ea174342302f77dd9ae1f7",
    "33f0deaeb2e1f8df1c68b0ccd929b95e326891d62cd10ab8b2f9c2ee89382872",
    "545a265ba14fc395eec560e18d528f3e15e98f50ef950e5170757132da421f58",
    "d05b3bb18e92498dbb7d9628c94e1cdd37764f4f5ab84e565783be86cd881fd1",
}


def warn_readable_by_others(home: Path) -> int:
    """Warn (stderr) when the home or anything in it can be read by other users of the machine.

    Names the paths, never what they hold; returns how many there are.
    """
    if not home.exists():
        return 0
    found, total = world_readable(home)
    if total:
        shown = "\n".join(f"    {p}" for p in found)
        more = f"\n    ... and {total - len(found):,} more" if total > len(found) else ""
        print(
            f"warning: {total:,} path(s) under {home} can be read by other users of this machine "
            f"(everything there is private unless meant for analysts; `chmod -R o-rwx {home}`, "
            f"see docs/operations.md):\n{shown}{more}",
            file=sys.stderr,
        )
    return total


def _prepare_dagster_home(settings: Settings) -> None:
    """Headless runs keep their history under <home>/dagster unless DAGSTER_HOME says otherwise."""
    if "DAGSTER_HOME" not in os.environ:
        os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or hashlib.sha256(config.read_bytes()).hexdigest() in _EARLIER_DAGSTER_YAML:
        config.write_text(DAGSTER_YAML, encoding="utf-8")


class _Progress:
    """Prints one line per step as it ends, with its time, while a night runs in this process.

    Steps are read from the run's event log by a background thread (the run itself is not touched);
    lines go to stderr with the time of day, so a nightly cron log shows where a night spends its time.
    """

    STEP_EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_UP_FOR_RETRY")

    def __init__(self, instance: Any, run_id: str) -> None:
        import threading

        self.instance = instance
        self.run_id = run_id
        self.started: dict[str, float] = {}
        self.cursor: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="ibr-progress", daemon=True)

    def __enter__(self) -> _Progress:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            with contextlib.suppress(OSError):  # a closed stderr must not fail a night that has run
                self._print_new()

    def _watch(self) -> None:
        while not self.stop.wait(1.0):
            self._print_new()

    def _print_new(self) -> None:
        import dagster as dg

        try:
            records = self.instance.get_records_for_run(
                self.run_id,
                cursor=self.cursor,
                of_type={dg.DagsterEventType(name) for name in self.STEP_EVENTS},
            )
        except Exception:  # the run may not have begun writing yet; progress never stops a night
            return
        self.cursor = records.cursor
        for record in records.records:
            entry = record.event_log_entry
            step, kind = entry.step_key or "?", entry.dagster_event_type.value
            clock = time.strftime("%H:%M:%S", time.localtime(entry.timestamp))
            if kind == "STEP_START":
                self.started[step] = entry.timestamp
            else:
                took = entry.timestamp - self.started.get(step, entry.timestamp)
                verdict = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_UP_FOR_RETRY": "retrying"}[
                    kind
                ]
                self._say(f"  {clock}  {step:<40} {verdict} in {took:6.1f}s")

    @staticmethod
    def _say(line: str) -> None:
        with contextlib.suppress(OSError):
            print(line, file=sys.stderr, flush=True)


# libraries whose warnings and progress go to the night's log file instead of the screen
LOGGED_LIBRARIES = ("splink", "dagster", "matching", "ingest", "registry", "quality", "py.warnings")


@contextlib.contextmanager
def night_log(path: Path) -> Iterator[Path]:
    """Send library logging (Splink's "unable to train m value", Dagster's and Python's warnings, linkage's
    stages) to `path` while a night runs, instead of the screen."""
    import logging

    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in LOGGED_LIBRARIES]
    saved = [(lg, lg.level, lg.propagate) for lg in loggers]
    logging.captureWarnings(True)
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield path
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        logging.captureWarnings(False)
        handler.close()


def run_night(
    settings: Settings,
    night: date,
    quiet: bool = True,
    retrain: bool = False,
    progress: bool = False,
    started_by: str = "ibr run",
) -> NightOutcome:
    """Run the nightly job for one drop date; the outcome is true when the night published (every step and
    blocking check passed), and says whether it is partial or has warnings; an alert goes when it needs one.

    `progress` prints each step's start and end (and linkage's stages) to stderr as the night goes.
    """
    import uuid
    from contextlib import nullcontext

    import dagster as dg

    from pipelines.definitions import NIGHTLY_JOB, build_defs
    from pipelines.nights import add_nights, adopt_published_nights
    from pipelines.recovery import RELEASED, night_lock, release_dead_runs, run_lock

    _prepare_dagster_home(settings)
    started = time.perf_counter()
    defs = build_defs(settings)
    job = defs.resolve_job_def(NIGHTLY_JOB)
    run_config: dict[str, object] = {
        # quiet: Dagster's own warnings stay in its event log (dg dev) and the night's log file, not the screen
        "loggers": {"console": {"config": {"log_level": "ERROR" if quiet else "INFO"}}},
        "ops": {"record_linkage": {"config": {"retrain": retrain}}},
    }
    with night_lock(settings.home), dg.DagsterInstance.get() as instance:
        for run_id in release_dead_runs(instance):
            print(f"  run {run_id[:8]}: {RELEASED}", file=sys.stderr)
        adopt_published_nights(instance)  # the nights earlier versions ran under daily partitions
        add_nights(instance, [night])  # the night's partition key (pipelines/nights.py)
        run_id = str(uuid.uuid4())
        log_file = settings.home / "state" / "logs" / f"{night.isoformat()}_{run_id[:8]}.log"
        with (
            night_log(log_file) if quiet else nullcontext(log_file),
            run_lock(instance, run_id) as lock_tags,
            _Progress(instance, run_id) if progress else nullcontext(),
        ):
            result = job.execute_in_process(
                partition_key=night.isoformat(),
                instance=instance,
                run_config=run_config,
                tags={**lock_tags, "ibr/started_by": f"{started_by} (headless, in process)"},
                run_id=run_id,
                raise_on_error=False,
            )
        blocked = any(
            not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
            for e in result.get_asset_check_evaluations()
        )
        if result.success and not blocked:  # published: the history the policy no longer keeps goes
            apply_retention(settings, instance, progress)
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    failed_checks = [e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
    for evaluation in failed:
        label = "check failed" if evaluation.severity == dg.AssetCheckSeverity.ERROR else "warning"
        print(
            f"  {label}: {evaluation.asset_key.to_user_string()} {evaluation.check_name}: "
            f"{evaluation.description or ''}",
            file=sys.stderr,
        )
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = error.message.strip() if error else "unknown error"
            print(f"  step failed: {event.step_key}: {message}", file=sys.stderr)
    ok = bool(result.success) and not failed_checks
    if quiet and log_file.exists():
        print(f"  log (library warnings, linkage stages): {log_file}", file=sys.stderr)
    if not ok:
        report = audit_failed_night(settings, night, result.run_id, started_by)
        if report:
            print(f"  auditor report of the failed night: {report}", file=sys.stderr)
        print("  the published warehouse is unchanged (last good night)", file=sys.stderr)
    return night_outcome(settings, night, result, started)


def apply_retention(settings: Settings, instance: Any, say: bool = True) -> None:
    """The retention policy after a night that ran (pipelines/retention.py); a failure to prune never fails it."""
    from pipelines.retention import prune

    try:
        summary = prune(settings.home, instance=instance)
    except (ValueError, OSError) as exc:  # a bad retention.yaml or a full disk: say so, the night stands
        print(f"  retention not applied: {exc}", file=sys.stderr)
        return
    if say and (summary.rows_deleted and any(summary.rows_deleted.values()) or summary.folders_deleted):
        print("  retention:\n" + "\n".join(summary.lines()), file=sys.stderr)


# the exit codes of `ibr run` (docs/operations.md, "Exit codes"): cron and systemd act on them
EXIT_OK = 0  # every night asked for published, complete
EXIT_FAILED = 1  # a step failed: nothing published, the last good night stays
EXIT_CONFIG = (
    2  # bad configuration or arguments (a contract, programmes.yaml, checks.yaml, a date): nothing run
)
EXIT_BLOCKED = 3  # a blocking check failed: nothing published, the last good night stays
EXIT_PARTIAL = 4  # published, but marked partial: an expected source is missing (published.json names it)
EXIT_WAITING = 5  # nothing run: no drop yet, or an expected source has not arrived and is not late yet


def night_outcome(settings: Settings, night: date, result: Any, started: float) -> NightOutcome:
    """What a finished in-process run means, by names and counts; sends an alert when it needs a person."""
    import dagster as dg

    def label(evaluation: Any) -> str:
        return f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}"

    evaluations = [e for e in result.get_asset_check_evaluations() if not e.passed]
    failed_checks = [label(e) for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR]
    warnings = [label(e) for e in evaluations if e.severity != dg.AssetCheckSeverity.ERROR]
    failed_steps = sorted({e.step_key or "?" for e in result.all_events if e.is_step_failure})
    missing: list[dict[str, str]] = []
    if failed_checks:
        status = "blocked"
    elif failed_steps or not result.success:
        status = "failed"
    else:
        missing = published_missing_sources(settings.home, result.run_id)  # what the publish step found
        status = "partial" if missing else "warning" if warnings else "ok"
    outcome = NightOutcome(
        night=night.isoformat(),
        run_id=result.run_id,
        status=status,  # type: ignore[arg-type]
        failed_steps=failed_steps,
        failed_checks=failed_checks,
        warning_checks=warnings,
        missing_sources=missing,
        counts=night_counts(settings.work_db, night.isoformat()),
        duration_seconds=time.perf_counter() - started,
    )
    for error in alert_if_needed(outcome, settings.home):
        print(f"  alert not delivered: {error}", file=sys.stderr)
    return outcome


def night_summary(settings: Settings, night: date) -> str:
    """A few lines on what the night landed; counts and paths only, no personal data.

    Read from the working database, the night's own state: a night that failed before publish is
    counted too (the published warehouse still holds the last good night).
    """
    import duckdb

    from core.sqlutil import table_exists

    if not settings.work_db.exists():
        return "  (nothing landed yet)"
    try:
        con = duckdb.connect(str(settings.work_db), read_only=True)
    except duckdb.Error as exc:
        return f"  (no summary: the working database could not be opened: {type(exc).__name__})"
    with con:

        def rows(sql: str, schema: str, table: str, empty: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            return con.execute(sql, [night]).fetchall() if table_exists(con, schema, table) else empty

        files = rows(
            "select count(*), coalesce(sum(rows_in), 0), coalesce(sum(rows_accepted), 0), "
            "coalesce(sum(rows_rejected), 0), count(*) filter (where status = 'rejected') "
            "from audit.files where night = $1",
            "audit",
            "files",
            [(0, 0, 0, 0, 0)],
        )[0]
        records, sources = (
            con.execute("select count(*), count(distinct source) from staging.person_records").fetchall()[0]
            if table_exists(con, "staging", "person_records")
            else (0, 0)
        )
        linkage = rows(
            "select persons, comparisons, review_queue, flagged_clusters from audit.linkage_runs where night = $1",
            "audit",
            "linkage_runs",
            [],
        )
        metrics = dict(
            rows(
                "select metric, value from audit.linkage_metrics where night = $1",
                "audit",
                "linkage_metrics",
                [],
            )
        )
        findings = (
            con.execute(
                "select kind, precision, recall, expected, found from audit.finding_metrics "
                "where night = $1 order by kind",
                [night],
            ).fetchall()
            if table_exists(con, "audit", "finding_metrics")
            else []
        )
    lines = [
        f"  files {files[0]} ({files[4]} rejected), rows in {files[1]:,}, accepted {files[2]:,}, "
        f"quarantined {files[3]:,}; staged person records {records:,} from {sources} sources"
    ]
    if linkage:
        persons, comparisons, review, flagged = linkage[0]
        lines.append(
            f"  linkage: {persons:,} persons, {comparisons:,} comparisons, {review:,} pairs to review, "
            f"{flagged} clusters split and flagged"
        )
    if "pairwise_precision" in metrics:
        lines.append(
            f"  accuracy vs truth: pairwise precision {metrics['pairwise_precision']:.4f}, "
            f"recall {metrics['pairwise_recall']:.4f}, F1 {metrics['pairwise_f1']:.4f}; "
            f"B-cubed F1 {metrics['bcubed_f1']:.4f}"
        )
    for kind, precision, recall, expected, found in findings:
        lines.append(
            f"  planted {kind:<20} precision {precision:.3f}, recall {recall:.3f} (expected {expected}, found {found})"
        )
    if "persons_keeping_id" in metrics:
        lines.append(
            f"  person ids kept from the previous night: {metrics['persons_keeping_id']:.2%} of persons"
        )
    return "\n".join(lines)


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from synthetic import generate

    started = time.perf_counter()
    summary = generate(
        settings.home, people=args.people, nights=args.nights, seed=args.seed, noise=args.noise
    )
    print(
        f"generated {args.people:,} people, {args.nights} nights into {settings.home} ({time.perf_counter() - started:.1f}s)"
    )
    records = summary.get("records_per_source", {})
    for source, count in sorted(records.items()):
        print(f"  {source}: {count:,} records")
    return 0


def _drop_date(text: str) -> date:
    """A drop date argument, YYYY-MM-DD; anything else is a usage error naming it."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the nights asked for, in order; the exit code says how they ended (EXIT_* above)."""
    present = drop_nights(settings)
    if args.since:
        since = args.since
        nights = [n for n in present if n >= since]
        if not nights:
            print(f"no drops on or after {since} under {settings.drops_dir}: nothing to run", file=sys.stderr)
            return EXIT_CONFIG
    elif args.date:
        nights = [args.date]
    elif args.pending:
        nights = pending_nights(settings, present)
        if not nights:
            print("no drop date after the published night: nothing to run", file=sys.stderr)
            return EXIT_WAITING
    elif present:
        nights = [present[-1]]
    else:
        print(f"no drops under {settings.drops_dir}: nothing to run", file=sys.stderr)
        return EXIT_WAITING
    from pipelines.retention import earliest_rerunnable

    earliest = earliest_rerunnable(settings.work_db)
    if earliest is not None and nights[0] < earliest:
        print(
            f"night {nights[0]} cannot be run again: the retention policy (retention.yaml) pruned the linkage "
            f"history it carries person ids from; the oldest night that can be rerun is {earliest}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    partial = False
    for night in nights:
        gate = _expected_sources_gate(settings, night, args.allow_partial)
        if gate is not None:
            return gate
        started = time.perf_counter()
        try:
            outcome = run_night(
                settings, night, quiet=not args.verbose, retrain=args.retrain, progress=not args.no_progress
            )
        except CONFIG_ERRORS as exc:
            print(f"invalid configuration: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        verdict = {"ok": "ok", "warning": "ok (warnings)", "partial": "PARTIAL", "blocked": "BLOCKED"}
        print(
            f"night {night}: {verdict.get(outcome.status, 'FAILED')} in {time.perf_counter() - started:.1f}s"
        )
        print(night_summary(settings, night))
        if not outcome.published:
            if len(nights) > 1:
                print(f"stopped: the nights after {night} were not run (each builds on the one before)")
            return EXIT_BLOCKED if outcome.status == "blocked" else EXIT_FAILED
        if outcome.missing_sources:
            partial = True
            names = ", ".join(
                f"{m['source']} (late since {m['late_since']})" for m in outcome.missing_sources
            )
            print(f"  published PARTIAL: missing {names}")
    print()
    print(closing_summary(settings))
    return EXIT_PARTIAL if partial else EXIT_OK


def pending_nights(settings: Settings, present: list[date]) -> list[date]:
    """Every drop date after the published night (all of them when nothing is published yet), in order."""
    import json

    manifest = settings.home / "warehouse" / "published.json"
    night = json.loads(manifest.read_text(encoding="utf-8")).get("night") if manifest.is_file() else None
    return [n for n in present if not night or n > date.fromisoformat(night)]


def _config_errors() -> tuple[type[Exception], ...]:
    from ingest.contracts import ContractError
    from quality.checks import CheckConfigError
    from registry.programmes import ProgrammesError

    return (ContractError, ProgrammesError, CheckConfigError)


CONFIG_ERRORS = _config_errors()


def _expected_sources_gate(settings: Settings, night: date, allow_partial: bool) -> int | None:
    """None when `night` may run now; else the exit code (a source expected by the night has not arrived
    and is not late yet, or the contracts do not load). Past the deadline, or with --allow-partial, it runs
    and publishes marked partial."""
    from ingest.expected import night_readiness
    from pipelines.automation import today

    try:
        ready = night_readiness(settings.home, night, today())
    except CONFIG_ERRORS as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if ready.waiting and not allow_partial:
        print(
            f"{ready.describe()}; nothing run: the night waits until the deadline, then publishes marked "
            "partial (`ibr run --allow-partial` publishes it partial now)",
            file=sys.stderr,
        )
        return EXIT_WAITING
    if ready.missing:
        print(f"  running partial: {ready.describe()}", file=sys.stderr)
    return None


AUTOMATION = {
    "nightly_schedule": "stopped",
    "drop_sensor": "stopped",
    "night_failure_summary": "running",
    "night_outcome_alert": "running",
    "night_retention": "running",
}  # each one's default status in code (pipelines/automation.py): the UI's toggle overrides it
DAEMON_FRESH_SECONDS = 300


def status_report(settings: Settings, runs: int = 10, now: float | None = None) -> dict[str, Any]:
    """What `ibr status` shows, as data (`ibr status --json`): counts, names and dates; no personal data.

    - `published`: warehouse/published.json (night, run, when, `partial` and `missing_sources`), or None;
    - `pending_drops`: drop folders not landed yet (complete or still arriving), with the night's expected sources;
    - `expected_sources`: each scheduled source, its schedule and latest drop;
    - `nights`: the last runs (night, status, start, duration, trigger);
    - `automation`: the daemon (`not running` unless it has ever run) and the schedule and sensors' states;
    - `failed_checks`: the checks that failed in the latest run of each recent night.
    """
    import json

    import dagster as dg
    import duckdb

    from core.sqlutil import table_exists
    from ingest.expected import night_readiness
    from pipelines.automation import scan_drops, today

    now = time.time() if now is None else now
    _prepare_dagster_home(settings)
    report: dict[str, Any] = {"home": str(settings.home), "generated_at": _utc(now)}
    manifest = settings.home / "warehouse" / "published.json"
    report["published"] = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None

    landed: set[tuple[str, str]] | None = set()
    failed_checks: list[dict[str, Any]] = []
    work_db_state = "absent"
    if settings.work_db.exists():
        try:
            con = duckdb.connect(str(settings.work_db), read_only=True)
        except duckdb.IOException:
            landed, work_db_state = None, "busy (a night is running)"
        else:
            work_db_state = "ok"
            with con:
                if table_exists(con, "audit", "files"):
                    rows = con.execute(
                        "select distinct source, cast(night as varchar) from audit.files"
                    ).fetchall()
                    landed = {(str(a), str(b)) for a, b in rows}
                if table_exists(con, "audit", "checks"):
                    failed_checks = [
                        dict(
                            zip(
                                ("night", "severity", "asset", "check", "description"),
                                (str(r[0]), *r[1:]),
                                strict=True,
                            )
                        )
                        for r in con.execute(
                            """
                            with latest as (
                                select night, arg_max(run_id, checked_at) as run_id from audit.checks group by night
                            )
                            select c.night, c.severity, c.asset, c.check_name, c.description
                            from audit.checks c join latest using (night, run_id)
                            where not c.passed
                            order by c.night desc, c.severity, c.asset, c.check_name
                            limit 30
                            """
                        ).fetchall()
                    ]
    report["work_db"] = work_db_state

    contracts: dict[str, Any] = {}
    try:
        from ingest.contracts import load_contracts

        contracts = load_contracts(settings.sources_dir) if settings.sources_dir.is_dir() else {}
    except CONFIG_ERRORS as exc:
        report["configuration_error"] = str(exc)
    drops = scan_drops(settings.drops_dir, now=now)
    pending = [d for d in drops if landed is None or (d.source, d.night.isoformat()) not in landed]
    ready_by_night = {}
    for night in sorted({d.night for d in pending}):
        ready = night_readiness(settings.home, night, today(), contracts=contracts)
        ready_by_night[night] = {
            "night": night.isoformat(),
            "state": ready.state,
            "missing_sources": [m.as_json() for m in ready.missing],
        }
    report["pending_drops"] = [
        {
            "source": d.source,
            "night": d.night.isoformat(),
            "files": len(d.files),
            "bytes": sum(size for _, size, _ in d.files),
            "complete": d.complete,
            "reason": d.reason,
            "landed": None if landed is None else False,
        }
        for d in pending
    ]
    report["pending_nights"] = list(ready_by_night.values())
    latest_drop: dict[str, str] = {}
    for d in drops:
        latest_drop[d.source] = max(latest_drop.get(d.source, ""), d.night.isoformat())
    report["expected_sources"] = [
        {
            "source": name,
            "cadence": c.schedule.cadence,
            "day": None if c.schedule.cadence == "daily" else c.schedule.day,
            "late_after_days": c.schedule.late_after_days,
            "last_due": c.schedule.due_on_or_before(today()).isoformat(),
            "latest_drop": latest_drop.get(name),
        }
        for name, c in sorted(contracts.items())
        if c.schedule is not None
    ]

    with dg.DagsterInstance.get() as instance:
        nights = []
        for run in instance.get_runs(limit=runs):
            stats = instance.get_run_stats(run.run_id)
            nights.append(
                {
                    "run_id": run.run_id,
                    "night": run.tags.get("dagster/partition"),
                    "status": run.status.value,
                    "started_at": _utc(stats.start_time) if stats.start_time else None,
                    "duration_seconds": round(stats.end_time - stats.start_time, 1)
                    if stats.start_time and stats.end_time
                    else None,
                    "trigger": run.tags.get(
                        "ibr/trigger", "ibr run" if "ibr/run_lock" in run.tags else "manual"
                    ),
                }
            )
        report["nights"] = nights
        report["automation"] = _automation_state(instance, now)
    report["failed_checks"] = failed_checks
    failures = sorted((settings.home / "state" / "failures").glob("*.md"))
    report["failure_summaries"] = {"count": len(failures), "newest": str(failures[-1]) if failures else None}
    return report


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _automation_state(instance: Any, now: float) -> dict[str, Any]:
    """The daemon's last heartbeat and the schedule and sensors' states, as the instance stores them."""
    beats = instance.get_daemon_heartbeats()
    last = max((b.timestamp for b in beats.values()), default=None)
    if last is None:
        daemon = "not running"
    elif now - last <= DAEMON_FRESH_SECONDS:
        daemon = "running"
    else:
        daemon = f"not running (last heartbeat {_utc(last)})"
    stored = {state.instigator_name: state for state in instance.all_instigator_state()}
    instigators = {}
    for name, default in AUTOMATION.items():
        state = stored.get(name)
        status = (
            default
            if state is None or state.status.value == "DECLARED_IN_CODE"
            else state.status.value.lower()
        )
        data = getattr(state, "instigator_data", None) if state is not None else None
        tick = getattr(data, "last_tick_timestamp", None)
        instigators[name] = {
            "status": status,
            "effective": status if daemon == "running" else "not running (no daemon)",
            "last_tick": _utc(tick) if tick else None,
        }
    return {"daemon": daemon, "daemon_last_heartbeat": _utc(last) if last else None, **instigators}


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Pending drops, the last nights, what is published, schedule and sensor state, failed checks (or --json)."""
    import json

    report = status_report(settings, runs=args.runs)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"home: {report['home']}")
    published = report["published"]
    if published:
        print(
            f"published: night {published.get('night') or '?'} (run {str(published.get('run_id'))[:8]}) "
            f"at {published.get('published_at')}; {settings.warehouse_db}"
        )
        for m in published.get("missing_sources") or []:
            print(f"  PARTIAL: {m['source']} missing (due {m['expected']}, late since {m['late_since']})")
    else:
        print("published: nothing yet")
    print(f"pending drops (not landed yet): {len(report['pending_drops'])}")
    for d in report["pending_drops"][:30]:
        state = "complete" if d["complete"] else "arriving"
        print(
            f"  {d['night']}  {d['source']:<24} {d['files']} file(s), {d['bytes']:,} bytes, {state} ({d['reason']})"
        )
    for n in report["pending_nights"]:
        missing = ", ".join(f"{m['source']} (late since {m['late_since']})" for m in n["missing_sources"])
        print(f"  night {n['night']}: {n['state']}" + (f"; missing {missing}" if missing else ""))
    if report["expected_sources"]:
        print("expected sources:")
        for e in report["expected_sources"]:
            when = e["cadence"] + (f" on day {e['day']}" if e["day"] else "")
            print(
                f"  {e['source']:<24} {when}, late after {e['late_after_days']} day(s); last due {e['last_due']}, "
                f"latest drop {e['latest_drop'] or 'none'}"
            )
    automation = report["automation"]
    print(f"daemon: {automation['daemon']}")
    for name in AUTOMATION:
        item = automation[name]
        tick = f", last tick {item['last_tick']}" if item["last_tick"] else ""
        print(
            f"  {name:<22} {item['status']}{'' if automation['daemon'] == 'running' else ' (no daemon)'}{tick}"
        )
    print(f"last {len(report['nights'])} run(s):")
    for run in report["nights"]:
        took = f"{run['duration_seconds']:.0f}s" if run["duration_seconds"] is not None else "running"
        print(
            f"  {run['run_id'][:8]}  night {run['night'] or '-':<10}  {run['status']:<9}  "
            f"started {run['started_at'] or '-'}  {took}  {run['trigger']}"
        )
    if report["work_db"].startswith("busy"):
        print("checks: the working database is busy (a night is running); try again later")
    else:
        print("checks failed in the latest run of each night:" + ("" if report["failed_checks"] else " none"))
        for c in report["failed_checks"]:
            print(f"  {c['night']}  {c['severity']:<8}  {c['asset']}  {c['check']}: {c['description'] or ''}")
    if report.get("configuration_error"):
        print(f"configuration error: {report['configuration_error']}")
    if report["failure_summaries"]["count"]:
        summaries = report["failure_summaries"]
        print(f"failure summaries: {summaries['count']}, newest {summaries['newest']}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    cmd_generate(args, settings)
    ok = True
    nights = drop_nights(settings)
    for night in nights:
        started = time.perf_counter()
        print(f"night {night}:", flush=True)
        night_ok = run_night(settings, night, progress=True, started_by="ibr demo")
        ok = ok and bool(night_ok)
        print(f"night {night}: {'ok' if night_ok else 'FAILED'} in {time.perf_counter() - started:.1f}s")
        print(night_summary(settings, night))
    print()
    print(closing_summary(settings))
    return 0 if ok else 1


def _ibr_command(settings: Settings) -> str:
    """How to call ibr again from here: the venv's script when it is there, with the home when not the default."""
    command = ".venv/bin/ibr" if Path(".venv/bin/ibr").exists() else "ibr"
    if settings.home.resolve() != Path("data").resolve():
        command = f"{command} --home {settings.home}"
    return command


def closing_summary(settings: Settings) -> str:
    """Where each user's output is, for the night now published, with the command that opens it."""
    import json

    home = settings.home
    published = home / "warehouse" / "published.json"
    try:
        night = json.loads(published.read_text(encoding="utf-8")).get("night", "")
    except (OSError, ValueError):
        night = ""
    if not night:
        return f"nothing published yet under {home}: see the messages above and `{_ibr_command(settings)} status`"
    reports = home / "reports" / night
    ministries = sorted(p for p in reports.glob("*.html") if p.name != "auditor_report.html")
    ibr = _ibr_command(settings)
    lines = [
        f"published night {night} under {home}:",
        "  ministries (one report each, CSV and Parquet beside it):",
        *(f"    {p}" for p in ministries),
        f"  auditor:      {reports / 'auditor_report.html'}",
        f"  analysts:     {home / 'warehouse' / 'ibr_analytics.duckdb'} (de-identified)",
        f"                open it:    {ibr} sql        then e.g.  select * from person limit 5;",
        f"                dictionary: {home / 'warehouse' / 'DATA_DICTIONARY_ANALYTICS.md'}",
        f"                Parquet:    {home / 'warehouse' / 'parquet'}",
        f"  restricted:   {settings.warehouse_db} (personal data)",
        f"                open it:    {ibr} sql --restricted",
        f"  data team:    quarantined files {home / 'quarantine'}, logs {home / 'state' / 'logs'}",
        f"                {ibr} status;  in the UI: IBR_HOME={home} .venv/bin/dg dev",
    ]
    return "\n".join(lines)


def cmd_validate_sources(args: argparse.Namespace, settings: Settings) -> int:
    """A dry run: every contract, then every drop file of the chosen nights through the real landing checks,
    into a scratch in-memory database. Nothing of the deployment is written; the exit code is 1 when a
    contract is invalid or a file would be rejected whole, 0 otherwise (rows that would be quarantined are
    counted, as a night would)."""
    import duckdb

    from ingest.contracts import ContractError, load_contracts
    from ingest.landing import Lander
    from staging.standardise import register_functions

    try:
        contracts = load_contracts(settings.sources_dir)
    except ContractError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    from registry.programmes import ProgrammesError, load_programmes

    programmes_path = settings.home / "programmes.yaml"
    try:
        known = set(load_programmes(programmes_path).by_id) if programmes_path.is_file() else set()
    except ProgrammesError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    from ingest.landing import Limits

    try:
        limits = Limits.from_env()
    except ValueError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    present = drop_nights(settings)
    for name, contract in sorted(contracts.items()):
        drops = sorted(p.name for p in (settings.drops_dir / name).glob("*") if p.is_dir())
        print(
            f"{name}: {contract.kind}, {contract.file.format}, {len(contract.columns)} fields, {len(drops)} drop(s)"
        )
        if contract.programme_id and contract.programme_id not in known:
            print(
                f"  note: programme_id {contract.programme_id!r} is not in {programmes_path.name}: its enrolments "
                "are kept, but no eligibility, exclusion or means-test rule applies to it and the registry check "
                "programme_id_in_programmes warns every night"
            )
    if args.all:
        nights = present
    elif args.date:
        nights = [args.date]
    else:
        nights = present[-1:]
    rejected = 0
    for night in nights:
        print(f"night {night} (dry run: nothing is landed or moved)")
        with (
            tempfile.TemporaryDirectory(prefix="ibr-validate-") as scratch,
            duckdb.connect(":memory:") as con,
        ):
            con.execute(
                "set temp_directory = $dir", {"dir": scratch}
            )  # spill, if any, away from the deployment
            register_functions(con)
            lander = Lander(con, settings.home, night, dry_run=True, limits=limits)
            results = [r for c in contracts.values() for r in lander.land_source(c)]
            results += lander.land_unknown(set(contracts))
        if not results:
            print("  no drop files")
        for result in results:
            rejected += result.status == "rejected"
            detail = f": {result.reason}" if result.reason else ""
            print(
                f"  {result.file_path}: {result.status}, {result.rows_in:,} rows in, "
                f"{result.rows_accepted:,} accepted, {result.rows_rejected:,} to quarantine{detail}"
            )
    if rejected:
        print(f"{rejected} file(s) would be rejected whole", file=sys.stderr)
    return 1 if rejected else 0


def _quiet_home(settings: Settings, command: str) -> tuple[Any, str | None]:
    """The Dagster instance, and why `command` cannot run now (a night unfinished), or None."""
    import dagster as dg

    from pipelines.recovery import unfinished_nights

    _prepare_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    busy = unfinished_nights(instance)
    if busy:
        return instance, (
            f"ibr {command}: {len(busy)} Dagster run(s) not ended ({', '.join(r[:8] for r in busy[:5])}): "
            "try again when no night runs"
        )
    return instance, None


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    """The retention policy now (it also runs after every night that publishes)."""
    from pipelines.recovery import NightRunning, night_lock
    from pipelines.retention import prune

    try:
        with night_lock(settings.home, wait=False):
            instance, busy = _quiet_home(settings, "prune")
            with instance:
                if busy:
                    print(busy, file=sys.stderr)
                    return EXIT_WAITING
                summary = prune(settings.home, instance=instance)
    except NightRunning as exc:
        print(f"ibr prune: {exc}", file=sys.stderr)
        return EXIT_WAITING
    except ValueError as exc:
        print(f"ibr prune: {exc}", file=sys.stderr)
        return 2
    print("pruned:\n" + "\n".join(summary.lines()))
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    """The whole state into one file, while no night runs."""
    from pipelines.backup import backup
    from pipelines.recovery import NightRunning, night_lock

    try:
        with night_lock(settings.home, wait=False):
            instance, busy = _quiet_home(settings, "backup")
            with instance:
                if busy:
                    print(busy, file=sys.stderr)
                    return EXIT_WAITING
            summary = backup(
                settings.home, Path(args.path), with_secrets=args.with_secrets, with_drops=not args.no_drops
            )
    except NightRunning as exc:
        print(f"ibr backup: {exc}", file=sys.stderr)
        return EXIT_WAITING
    except (ValueError, OSError) as exc:
        print(f"ibr backup: {exc}", file=sys.stderr)
        return 2
    night = (summary.published or {}).get("night", "nothing")
    print(
        f"backup of {settings.home} in {summary.path}: {summary.files:,} files, {summary.bytes / 2**20:,.1f} MiB; "
        f"published night {night}"
    )
    if not args.with_secrets:
        print("the pseudonymisation key (secrets/) is not in it: back it up separately (docs/security.md)")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """A backup put in the home's place (the home must hold no state, or --force keeps it aside)."""
    import tarfile
    from contextlib import nullcontext

    from pipelines.backup import restore
    from pipelines.recovery import NightRunning, night_lock

    home = settings.home
    try:
        with night_lock(home, wait=False) if (home / "state").is_dir() else nullcontext():
            aside = restore(Path(args.path), home, force=args.force)
    except NightRunning as exc:
        print(f"ibr restore: {exc}", file=sys.stderr)
        return EXIT_WAITING
    except (ValueError, OSError, tarfile.TarError) as exc:
        print(f"ibr restore: {exc}", file=sys.stderr)
        return 2
    print(f"restored {args.path} into {home}" + (f"; the previous home is kept as {aside}" if aside else ""))
    return 0


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    """JSON Schemas of the configuration files, for editors (README: "Editing the configuration")."""
    from pipelines.config_schema import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def cmd_rotate_pseudonym_key(args: argparse.Namespace, settings: Settings) -> int:
    """A new key in secrets/pseudonym.key; the analytics database and Parquet files republished under it."""
    from publish.warehouse import rotate_pseudonym_key

    try:
        published = rotate_pseudonym_key(settings.home)
    except ValueError as exc:
        print(f"ibr rotate-pseudonym-key: {exc}", file=sys.stderr)
        return 2
    print(
        f"new key in {settings.home / 'secrets' / 'pseudonym.key'}; republished "
        f"{settings.home / 'warehouse' / 'ibr_analytics.duckdb'} and {published.parquet_files} Parquet files: "
        "every pseudonym changed, so analysts' saved person-level extracts no longer join to the new files"
    )
    return 0


def cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.sqlshell import open_shell

    database = (
        settings.warehouse_db if args.restricted else settings.home / "warehouse" / "ibr_analytics.duckdb"
    )
    return open_shell(database, args.command_text, restricted=args.restricted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ibr", description="Integrated beneficiary registry warehouse")
    parser.add_argument("--home", help="deployment folder (default: $IBR_HOME or ./data)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_generate_options(p: argparse.ArgumentParser, people: int) -> None:
        p.add_argument("--people", type=int, default=people)
        p.add_argument("--nights", type=int, default=3)
        p.add_argument("--seed", type=int, default=42)
        p.add_argument(
            "--noise",
            choices=["default", "hard", "clean"],
            default="default",
            help="clean: no typos or bad rows (every check passes); hard: 2-3 times the default noise",
        )

    add_generate_options(sub.add_parser("generate", help="write a synthetic country into <home>"), 20_000)
    add_generate_options(
        sub.add_parser("demo", help="generate a synthetic country and run its nights"), 20_000
    )
    run = sub.add_parser("run", help="run one night headless")
    run.add_argument(
        "--date", type=_drop_date, help="drop date YYYY-MM-DD (default: the latest drop present)"
    )
    run.add_argument(
        "--since",
        type=_drop_date,
        help="backfill: rerun this drop date and every later one present, in order (stops at the first failure)",
    )
    run.add_argument(
        "--pending",
        action="store_true",
        help="every drop date after the published night, in order (what a timer or cron runs)",
    )
    run.add_argument("--verbose", action="store_true", help="show Dagster's step log")
    run.add_argument(
        "--no-progress", action="store_true", help="do not print each step's start and end as the night goes"
    )
    run.add_argument(
        "--retrain", action="store_true", help="retrain the linkage model instead of reusing the saved one"
    )
    run.add_argument(
        "--allow-partial",
        action="store_true",
        help="run and publish now even if an expected source has not arrived and is not late yet (marked partial)",
    )
    validate = sub.add_parser(
        "validate-sources",
        help="dry run: check the source contracts and every drop file against them (nothing is landed)",
    )
    validate.add_argument(
        "--date", type=_drop_date, help="the drop date to check (default: the latest present)"
    )
    validate.add_argument("--all", action="store_true", help="check every drop date present")
    sub.add_parser(
        "rotate-pseudonym-key",
        help="new pseudonymisation key; the analytics files of the published night are rebuilt under it",
    )
    sql = sub.add_parser("sql", help="open the analytics warehouse read-only in a SQL shell")
    sql.add_argument("-c", dest="command_text", metavar="SQL", help="run one statement, print it, and exit")
    sql.add_argument(
        "--restricted",
        action="store_true",
        help="open warehouse/ibr.duckdb instead (personal data: a warning)",
    )
    sub.add_parser("prune", help="apply the retention policy (<home>/retention.yaml) now; no night may run")
    backup_cmd = sub.add_parser("backup", help="the whole state into one file (a tar), while no night runs")
    backup_cmd.add_argument("path", help="the backup file to write (outside the home)")
    backup_cmd.add_argument(
        "--with-secrets", action="store_true", help="include secrets/ (the pseudonym key)"
    )
    backup_cmd.add_argument("--no-drops", action="store_true", help="leave drops/ out (backed up elsewhere)")
    restore_cmd = sub.add_parser("restore", help="put a backup in the home's place")
    restore_cmd.add_argument("path", help="the backup file")
    restore_cmd.add_argument(
        "--force",
        action="store_true",
        help="the home holds state: keep it aside as <home>.before-restore-<time>",
    )
    schema = sub.add_parser("schema", help="write JSON Schemas of the configuration files, for editors")
    schema.add_argument("--out", default="schemas", help="folder to write them into (default: ./schemas)")
    status = sub.add_parser("status", help="last runs, what is published, failed checks")
    status.add_argument("--runs", type=int, default=10, help="how many recent runs to list")
    status.add_argument("--json", action="store_true", help="the same as JSON, for monitoring")
    status.description = (
        "Pending drops (and what each pending night waits for), the last nights, what is published, the daemon, "
        "schedule and sensor state, and the checks that failed."
    )

    args = parser.parse_args(argv)
    # everything ibr creates under the home is private to its owner; publish shares the analysts' files
    private_umask()
    settings = settings_from_env(args.home)
    os.environ["IBR_HOME"] = str(settings.home)
    warn_readable_by_others(settings.home)
    commands = {
        "generate": cmd_generate,
        "demo": cmd_demo,
        "run": cmd_run,
        "validate-sources": cmd_validate_sources,
        "status": cmd_status,
        "rotate-pseudonym-key": cmd_rotate_pseudonym_key,
        "sql": cmd_sql,
        "prune": cmd_prune,
        "backup": cmd_backup,
        "restore": cmd_restore,
        "schema": cmd_schema,
    }
    return commands[args.command](args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
