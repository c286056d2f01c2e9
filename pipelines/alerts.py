"""Alerts: a night's outcome sent to a command or a webhook when it needs a person.

An alert goes when a night fails, is blocked by a check, is published partial (an expected source missing),
or publishes with a warning-level check over its threshold. Where it goes is set in the environment of
`ibr run` or of the Dagster daemon (docs/operations.md, "Alerts"):

- `IBR_ALERT_COMMAND`: a command line (split like a shell would, never run through one), given the JSON
  summary on its standard input, e.g. `/usr/local/bin/ibr-alert --to data-team`;
- `IBR_ALERT_WEBHOOK`: an http(s) URL the JSON summary is POSTed to (`Content-Type: application/json`).

Both may be set; neither means no alert. The summary names the night, the run, the status, the step keys
and check names that failed, counts of files and rows, and missing sources: never a field value, a record
key, a file's content or an error message (which might quote one). An alert that cannot be delivered is
reported on stderr and in the log; it never fails the night.

    {"ibr_alert": 1, "night": "2026-03-01", "run_id": "...", "status": "failed", "failed_steps": ["record_linkage"],
     "failed_checks": [], "warning_checks": [], "missing_sources": [], "counts": {"files": 8, ...}, ...}
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pipelines.settings import Settings

ALERT_COMMAND_ENV = "IBR_ALERT_COMMAND"
ALERT_WEBHOOK_ENV = "IBR_ALERT_WEBHOOK"
ALERT_TIMEOUT_SECONDS = 30

Status = Literal["ok", "warning", "partial", "blocked", "failed"]


@dataclass
class NightOutcome:
    """How a night ended, with names and counts only. True when the night published (complete or partial)."""

    night: str
    run_id: str
    status: Status
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)  # "asset: check", blocking checks that failed
    warning_checks: list[str] = field(
        default_factory=list
    )  # "asset: check", warning-level checks over threshold
    missing_sources: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    duration_seconds: float | None = None
    trigger: str = "ibr run"

    def __bool__(self) -> bool:
        return self.published

    @property
    def published(self) -> bool:
        return self.status in ("ok", "warning", "partial")

    @property
    def needs_alert(self) -> bool:
        return self.status != "ok"

    def payload(self, home: Path | None = None) -> dict[str, Any]:
        """The alert's JSON body: names and counts only."""
        return {
            "ibr_alert": 1,
            "night": self.night,
            "run_id": self.run_id,
            "status": self.status,
            "published": self.published,
            "trigger": self.trigger,
            "failed_steps": sorted(self.failed_steps),
            "failed_checks": sorted(self.failed_checks),
            "warning_checks": sorted(self.warning_checks),
            "missing_sources": self.missing_sources,
            "counts": self.counts,
            "duration_seconds": None if self.duration_seconds is None else round(self.duration_seconds, 1),
            "home": str(home) if home else None,
            "next": NEXT_STEPS[self.status],
        }


NEXT_STEPS: dict[str, str] = {
    "ok": "nothing to do",
    "warning": "published; read the warning checks in the night's auditor report and confirm the change is real",
    "partial": "published without the missing sources; when their drops arrive, run that night (ibr run --date D)",
    "blocked": "not published (the last good night stays); read the auditor report, fix the drop or contract, "
    "rerun the night",
    "failed": "not published (the last good night stays); `ibr status`, state/failures/, fix, rerun the night",
}


def night_counts(work_db: Path, night: str) -> dict[str, int]:
    """Files and rows of the night from audit.files (counts only); empty when the database is not readable."""
    import duckdb

    from core.sqlutil import table_exists

    if not work_db.exists():
        return {}
    try:
        with duckdb.connect(str(work_db), read_only=True) as con:
            if not table_exists(con, "audit", "files"):
                return {}
            row = con.execute(
                "select count(*), count(*) filter (where status = 'rejected'), coalesce(sum(rows_in), 0), "
                "coalesce(sum(rows_accepted), 0), coalesce(sum(rows_rejected), 0) from audit.files where night = $1",
                [night],
            ).fetchall()[0]
    except duckdb.Error:
        return {}
    keys = ("files", "files_rejected", "rows_in", "rows_accepted", "rows_quarantined")
    return {key: int(value) for key, value in zip(keys, row, strict=True)}


def published_missing_sources(home: Path, run_id: str) -> list[dict[str, str]]:
    """The missing sources warehouse/published.json names when `run_id` is the run it published; else []."""
    manifest = home / "warehouse" / "published.json"
    if not manifest.is_file():
        return []
    published = json.loads(manifest.read_text(encoding="utf-8"))
    return list(published.get("missing_sources") or []) if published.get("run_id") == run_id else []


def send_alert(payload: dict[str, Any], command: str | None = None, webhook: str | None = None) -> list[str]:
    """Deliver `payload` to the configured command and webhook (default: the environment); return the errors.

    Errors name the target and the kind of failure, never the payload.
    """
    command = os.environ.get(ALERT_COMMAND_ENV) if command is None else command
    webhook = os.environ.get(ALERT_WEBHOOK_ENV) if webhook is None else webhook
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    errors = []
    if command:
        try:
            done = subprocess.run(  # noqa: S603 (the operator's own command, split without a shell)
                shlex.split(command),
                input=body,
                capture_output=True,
                timeout=ALERT_TIMEOUT_SECONDS,
                check=False,
            )
            if done.returncode != 0:
                errors.append(f"{ALERT_COMMAND_ENV}: exited {done.returncode}")
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            errors.append(f"{ALERT_COMMAND_ENV}: {type(exc).__name__}")
    if webhook:
        if not webhook.startswith(("http://", "https://")):
            errors.append(f"{ALERT_WEBHOOK_ENV}: not an http(s) URL")
        else:
            request = urllib.request.Request(
                webhook, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=ALERT_TIMEOUT_SECONDS) as response:  # noqa: S310
                    response.read()
            except urllib.error.HTTPError as exc:
                errors.append(f"{ALERT_WEBHOOK_ENV}: HTTP {exc.code}")
            except (OSError, ValueError) as exc:
                errors.append(f"{ALERT_WEBHOOK_ENV}: {type(exc).__name__}")
    return errors


def alert_if_needed(outcome: NightOutcome, home: Path | None = None) -> list[str]:
    """Send the outcome when it needs a person (anything but a clean night); return delivery errors."""
    if not outcome.needs_alert:
        return []
    return send_alert(outcome.payload(home))


def audit_failed_night(
    settings: Settings, night: date, run_id: str, started_by: str = "ibr run"
) -> Path | None:
    """The auditor's report of a night that did not publish, from the working database; None if unreadable."""
    import duckdb

    from reports.auditor import render_auditor_report

    try:
        with duckdb.connect(str(settings.work_db)) as con:
            return render_auditor_report(
                con, settings.home, night, run_id, tags={"ibr/started_by": f"{started_by} (failed night)"}
            )
    except (duckdb.Error, OSError) as exc:
        print(f"  could not write the auditor report: {type(exc).__name__}", file=sys.stderr)
        return None
