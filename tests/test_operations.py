"""Nights a data team can leave running: expected sources, partial publishes, alerts and `ibr run`'s exit codes.

A data team schedules `ibr run` (or the drop sensor) and acts on what it says: the exit code, an alert, the
`missing_sources` of published.json and the banner on every report. None of these may carry personal data.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import NIGHT, pension_csv

import pipelines.automation as automation
from pipelines.alerts import NightOutcome, send_alert
from pipelines.cli import EXIT_BLOCKED, EXIT_CONFIG, EXIT_FAILED, EXIT_PARTIAL, EXIT_WAITING, main
from pipelines.definitions import build_defs
from synthetic import generate

LATE = "disability_registry"  # the source that does not send on time in these tests
SYNTHETIC_NIGHT = "2026-02-01"


class Inbox:
    """Alerts received: a command that appends its stdin to a file, and a webhook on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / "alerts.jsonl"
        self.script = folder / "alert.py"
        self.script.write_text(
            "import sys\nwith open(sys.argv[1], 'ab') as out:\n    out.write(sys.stdin.buffer.read() + b'\\n')\n",
            encoding="utf-8",
        )
        self.posted: list[bytes] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                inbox.posted.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def command(self) -> str:
        return f"{sys.executable} {self.script} {self.file}"

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/ibr"

    def commanded(self) -> list[bytes]:
        return self.file.read_bytes().splitlines() if self.file.exists() else []

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _own_environment(tmp_path, monkeypatch):
    """`ibr` sets IBR_HOME for what it loads: give it back after each test (pipelines.definitions reads it)."""
    monkeypatch.setenv("IBR_HOME", str(tmp_path / "no-home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))


@pytest.fixture
def inbox(tmp_path, monkeypatch):
    box = Inbox(tmp_path)
    monkeypatch.setenv("IBR_ALERT_COMMAND", box.command)
    monkeypatch.setenv("IBR_ALERT_WEBHOOK", box.webhook)
    yield box
    box.close()


def _schedule(home: Path, source: str, schedule: dict[str, object]) -> None:
    path = home / "sources" / f"{source}.yaml"
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**contract, "schedule": schedule}), encoding="utf-8")


def _today(monkeypatch, day: str) -> None:
    monkeypatch.setattr(automation, "today", lambda: date.fromisoformat(day))


@pytest.fixture(scope="module")
def country(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("country")
    generate(home, people=500, nights=1, seed=15)
    (home / "linkage.yaml").write_text(yaml.safe_dump({"u_max_pairs": 200_000}), encoding="utf-8")
    # the disability registry is due on the 1st, late from the 4th, and has not sent
    _schedule(home, LATE, {"cadence": "monthly", "day": 1, "late_after_days": 3})
    shutil.rmtree(home / "drops" / LATE / SYNTHETIC_NIGHT)
    return home


def _personal_values(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select first_name, last_name, national_id, phone, cast(date_of_birth as varchar), source_record_id "
            "from staging.person_records"
        ).fetchall()
    return {str(v) for row in rows for v in row if v is not None and len(str(v)) >= 4}


def _strings(payload: object) -> list[str]:
    if isinstance(payload, dict):
        return [s for k, v in payload.items() for s in (k, *_strings(v))]
    if isinstance(payload, list):
        return [s for v in payload for s in _strings(v)]
    return [str(payload)]


def test_a_night_with_a_late_source_waits_then_publishes_only_as_partial_naming_it(
    country, tmp_path, monkeypatch, inbox
):
    """Before the deadline nothing runs (exit 5); after it the night publishes marked partial (exit 4), and
    published.json, every report and the alert name the missing source and since when."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    run = ["--home", str(country), "run", "--date", SYNTHETIC_NIGHT, "--no-progress"]

    _today(monkeypatch, "2026-02-02")
    assert main(run) == EXIT_WAITING
    assert not (country / "warehouse" / "published.json").exists()

    _today(monkeypatch, "2026-02-05")
    assert main(run) == EXIT_PARTIAL
    published = json.loads((country / "warehouse" / "published.json").read_text(encoding="utf-8"))
    missing = [{"source": LATE, "expected": "2026-02-01", "late_since": "2026-02-04"}]
    assert (published["night"], published["partial"], published["missing_sources"]) == (
        SYNTHETIC_NIGHT,
        True,
        missing,
    )

    reports = sorted((country / "reports" / SYNTHETIC_NIGHT).glob("*.html"))
    assert any(p.name == "auditor_report.html" for p in reports) and len(reports) >= 2
    for report in reports:
        html = report.read_text(encoding="utf-8")
        # the auditor reads the source's id; a ministry its name (a registry in words)
        named = (
            f"<code>{LATE}</code>"
            if report.name == "auditor_report.html"
            else f'<strong title="source {LATE}">Disability registry</strong>'
        )
        assert "Partial night" in html and f"{named} (due 2026-02-01, late since 2026-02-04)" in html, (
            report.name
        )

    (alert,) = [json.loads(a) for a in inbox.commanded()]
    assert [json.loads(p) for p in inbox.posted] == [alert]
    assert (alert["status"], alert["published"], alert["missing_sources"]) == ("partial", True, missing)
    assert alert["counts"]["files"] > 0


def test_a_failed_night_alerts_with_no_personal_value(country, tmp_path, monkeypatch, inbox):
    """A step that fails gives exit 1 and an alert naming the step, with counts: no name, id, date or key."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    _today(monkeypatch, "2026-02-05")
    import assets.publish

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(assets.publish, "publish_all", broken)
    run = ["--home", str(country), "run", "--date", SYNTHETIC_NIGHT, "--no-progress", "--allow-partial"]
    assert main(run) == EXIT_FAILED

    (raw,) = inbox.commanded()
    alert = json.loads(raw)
    assert (alert["status"], alert["published"], alert["failed_steps"]) == (
        "failed",
        False,
        ["warehouse__ibr"],
    )
    personal = _personal_values(country / "state" / "work.duckdb")
    assert len(personal) > 1000
    leaves = _strings(alert)
    assert not [s for s in leaves if s in personal]
    assert not [v for v in personal if len(v) >= 6 and v in raw.decode()]


def test_a_blocked_night_alerts_by_check_name_without_the_marked_values(
    home, drop, tmp_path, monkeypatch, inbox
):
    """Values planted in the drop (names, ids, a record key) never reach the alert; the check's name does."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    markers = ["Zqxfirstmark", "Zqxlastmark", "ZQXKEY0001", "9876543210"]
    drop(
        "pension",
        "pay.csv",
        pension_csv(
            f"{markers[2]};{markers[0]};{markers[1]};01/02/1950;2;{markers[3]};P01;2026-01;100",
            f"{markers[2]};Ann;Lee;1950;2;;P01;2026-01;100",  # the same record id twice: a blocking check fails
        ),
    )
    assert main(["--home", str(home), "run", "--date", NIGHT, "--no-progress"]) == EXIT_BLOCKED
    (raw,) = inbox.commanded()
    alert = json.loads(raw)
    assert alert["status"] == "blocked"
    assert "raw/pension: record_id_unique_in_drop" in alert["failed_checks"]
    assert inbox.posted == [raw]
    for marker in markers:
        assert marker.lower() not in raw.decode().lower()


def test_bad_configuration_and_nothing_to_run_have_their_own_exit_codes(
    home, drop, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["--home", str(home), "run"]) == EXIT_WAITING  # no drop yet
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"))
    _schedule(home, "registry", {"cadence": "yearly"})
    assert main(["--home", str(home), "run", "--date", NIGHT]) == EXIT_CONFIG
    assert "'schedule.cadence': got 'yearly'" in capsys.readouterr().err


def test_an_undeliverable_alert_is_reported_not_raised(tmp_path):
    outcome = NightOutcome(night=NIGHT, run_id="r1", status="failed", failed_steps=["x"])
    errors = send_alert(
        outcome.payload(), command=f"{tmp_path}/no-such-command", webhook="http://127.0.0.1:9/"
    )
    assert [e.split(":")[0] for e in errors] == ["IBR_ALERT_COMMAND", "IBR_ALERT_WEBHOOK"]
    assert send_alert(outcome.payload(), command="", webhook="ftp://x") == [
        "IBR_ALERT_WEBHOOK: not an http(s) URL"
    ]


def test_the_sensor_waits_for_an_expected_source_until_its_deadline(home, drop, monkeypatch):
    """The drop sensor holds a night (and the nights after it) while an expected source is not late yet."""
    import dagster as dg

    from pipelines.automation import READY_MARKER
    from pipelines.settings import Settings

    _schedule(home, "registry", {"cadence": "monthly", "day": 1, "late_after_days": 2})
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"))
    (home / "drops" / "pension" / NIGHT / READY_MARKER).touch()
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"), night="2026-02-02")
    (home / "drops" / "pension" / "2026-02-02" / READY_MARKER).touch()
    sensor = build_defs(Settings(home=home)).resolve_sensor_def("drop_sensor")

    def launched(day: str) -> list[tuple[str | None, str | None]]:
        _today(monkeypatch, day)
        with dg.instance_for_test() as instance:
            result = sensor(dg.build_sensor_context(instance=instance))
        return [(r.partition_key, r.tags.get("ibr/missing_sources")) for r in result.run_requests]

    assert launched("2026-02-02") == []
    assert launched("2026-02-03") == [(NIGHT, "registry"), ("2026-02-02", "registry")]
    drop("registry", "events.parquet", b"x", night=NIGHT)
    (home / "drops" / "registry" / NIGHT / READY_MARKER).touch()
    assert launched("2026-02-02") == [(NIGHT, None), ("2026-02-02", None)]


def test_status_json_shows_pending_drops_expected_sources_runs_and_automation(
    home, drop, tmp_path, monkeypatch, capsys
):
    """Monitoring reads `ibr status --json`: what waits to land, what each night misses, and whether a daemon runs."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    _today(monkeypatch, NIGHT)
    _schedule(home, "registry", {"cadence": "weekly", "day": "sunday", "late_after_days": 1})
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"))
    assert main(["--home", str(home), "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["published"] is None
    (pending,) = report["pending_drops"]
    assert (pending["source"], pending["night"], pending["files"], pending["landed"]) == (
        "pension",
        NIGHT,
        1,
        False,
    )
    # 2026-02-01 is a Sunday: the registry is due and has not sent
    assert report["pending_nights"] == [
        {
            "night": NIGHT,
            "state": "waiting",
            "missing_sources": [{"source": "registry", "expected": NIGHT, "late_since": "2026-02-02"}],
        }
    ]
    assert report["expected_sources"][0] | {"latest_drop": None} == {
        "source": "registry",
        "cadence": "weekly",
        "day": 7,
        "late_after_days": 1,
        "last_due": NIGHT,
        "latest_drop": None,
    }
    assert report["nights"] == []
    assert report["automation"]["daemon"] == "not running"
    assert report["automation"]["drop_sensor"]["status"] == "stopped"
    assert report["automation"]["night_failure_summary"]["status"] == "running"

    assert main(["--home", str(home), "status"]) == 0
    human = capsys.readouterr().out
    assert (
        "pending drops (not landed yet): 1" in human
        and "night 2026-02-01: waiting; missing registry" in human
    )
    assert "daemon: not running" in human


def _evaluation(check: str, passed: bool, blocking: bool):
    from types import SimpleNamespace

    import dagster as dg

    severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN
    return SimpleNamespace(
        asset_key=dg.AssetKey(["raw", "pension"]), check_name=check, passed=passed, severity=severity
    )


class _Result:
    """What `night_outcome` reads of an in-process run's result."""

    def __init__(self, evaluations: list[object], failed_step: str | None = None) -> None:
        from types import SimpleNamespace

        self.run_id = "run-1"
        self.success = failed_step is None
        self.evaluations = evaluations
        self.all_events = [SimpleNamespace(is_step_failure=True, step_key=failed_step)] if failed_step else []

    def get_asset_check_evaluations(self) -> list[object]:
        return self.evaluations


@pytest.mark.parametrize(
    ("description", "evaluations", "failed_step", "status", "alerted"),
    [
        ("every check passed", [_evaluation("drop_volume", True, False)], None, "ok", False),
        ("a warning over its threshold", [_evaluation("drop_volume", False, False)], None, "warning", True),
        (
            "a blocking check failed",
            [_evaluation("rows_reconcile", False, True)],
            "raw__pension",
            "blocked",
            True,
        ),
        ("a step failed", [], "record_linkage", "failed", True),
    ],
)
def test_a_night_s_status_and_whether_it_alerts(
    home, inbox, description, evaluations, failed_step, status, alerted
):
    from pipelines.cli import night_outcome
    from pipelines.settings import Settings

    outcome = night_outcome(Settings(home=home), date(2026, 2, 1), _Result(evaluations, failed_step), 0.0)
    assert outcome.status == status, description
    assert len(inbox.commanded()) == int(alerted), description
    if status == "warning":
        assert json.loads(inbox.commanded()[0])["warning_checks"] == ["raw/pension: drop_volume"]


def test_a_daemon_night_published_partial_is_read_from_published_json(home):
    """night_outcome_alert: the run that published names its missing sources in published.json."""
    from types import SimpleNamespace

    import dagster as dg

    from pipelines.automation import published_outcome
    from pipelines.settings import Settings

    missing = [{"source": "registry", "expected": NIGHT, "late_since": "2026-02-02"}]
    (home / "warehouse").mkdir()
    (home / "warehouse" / "published.json").write_text(
        json.dumps({"night": NIGHT, "run_id": "run-1", "missing_sources": missing}), encoding="utf-8"
    )
    run = SimpleNamespace(run_id="run-1", tags={"dagster/partition": NIGHT, "ibr/trigger": "drop_sensor"})
    with dg.instance_for_test() as instance:
        outcome = published_outcome(Settings(home=home), run, instance)  # type: ignore[arg-type]
        other = published_outcome(
            Settings(home=home), SimpleNamespace(run_id="run-2", tags=run.tags), instance
        )  # type: ignore[arg-type]
    assert (outcome.status, outcome.missing_sources, outcome.trigger) == ("partial", missing, "drop_sensor")
    assert other.status == "ok"


def test_pending_runs_every_night_after_the_published_one_in_order(home, drop, monkeypatch):
    """`ibr run --pending` (the timer's command): the nights after published.json's, stopping where one waits."""
    import pipelines.cli as cli

    for night in ("2026-01-01", NIGHT, "2026-03-01", "2026-04-01"):
        drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"), night=night)
    (home / "warehouse").mkdir()
    (home / "warehouse" / "published.json").write_text(json.dumps({"night": "2026-01-01"}), encoding="utf-8")
    ran: list[str] = []

    def fake_run_night(settings, night, **kwargs):
        ran.append(night.isoformat())
        missing = [{"source": "registry", "expected": "x", "late_since": "y"}] if night.month == 2 else []
        return NightOutcome(night.isoformat(), "r", "partial" if missing else "ok", missing_sources=missing)

    monkeypatch.setattr(cli, "run_night", fake_run_night)
    monkeypatch.setattr(cli, "night_summary", lambda settings, night: "")
    _today(monkeypatch, "2026-05-01")
    assert main(["--home", str(home), "run", "--pending"]) == EXIT_PARTIAL
    assert ran == [NIGHT, "2026-03-01", "2026-04-01"]

    # the registry becomes expected daily: the newest night is not late yet and waits; the ones before it run
    ran.clear()
    _schedule(home, "registry", {"cadence": "daily", "late_after_days": 1})
    _today(monkeypatch, "2026-04-01")
    assert main(["--home", str(home), "run", "--pending"]) == EXIT_WAITING
    assert ran == [NIGHT, "2026-03-01"]
