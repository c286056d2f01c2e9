"""The auditor's report: one self-contained HTML file per night on data quality and how people were matched.

An auditor reviews what the night did and whether it can be trusted: every quality check
with its history, what was set aside and why, whether each file's rows reconcile, the
linkage model that decided who is who (its parameters and its measured accuracy), and the
exact input files (with their hashes). The report reads the ``audit.*`` tables of the
working database and the model folder of the night; a table that does not exist yet (the
first night, a night that failed half-way, a deployment without a truth) gives a section
saying "not available" instead of an error.

It carries **no personal field**: no name, national id, date of birth or phone, and never
``audit.quarantine.raw_record``. Keys (``source:source_record_id``, person ids in check
samples) and file paths are shown: the auditor is trusted staff and needs them to follow up.

The HTML opens offline: inline CSS, charts as inline SVG drawn here, no script, no URL.
The Splink charts saved beside the model (which do hold JavaScript, inlined) are linked by
relative path.

Example::

    path = render_auditor_report(con, home, date(2026, 3, 1), run_id="abc123")
    # <home>/reports/2026-03-01/auditor_report.html
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
from markupsafe import Markup

from core.sqlutil import table_exists
from matching.model_store import latest_model, model_dir
from quality.checks import LAYERS
from reports.charts import Bar, TrendPoint, bar_chart_svg, format_number, sparkline_svg, template_environment
from reports.provenance import provenance

REPORT_NAME = "auditor_report.html"
PACKAGE = "ibr-warehouse"
TEMPLATE_NAME = "auditor_report.html.j2"
# nights a check's trend goes back (the latest run of each night)
TREND_NIGHTS = 30
# the Splink charts linkage saves beside the model it trains (matching.training.save_charts)
MODEL_CHARTS = (
    ("match_weights", "Match weights of every comparison level"),
    ("m_u_parameters", "m and u probabilities"),
    ("blocking_comparisons", "Comparisons generated per blocking rule"),
)
ACCURACY_METRICS = (
    ("pairwise_precision", "Pairwise precision"),
    ("pairwise_recall", "Pairwise recall"),
    ("pairwise_f1", "Pairwise F1"),
    ("bcubed_precision", "B-cubed precision"),
    ("bcubed_recall", "B-cubed recall"),
    ("bcubed_f1", "B-cubed F1"),
    ("records", "Records scored"),
    ("true_pairs", "True pairs"),
    ("predicted_pairs", "Predicted pairs"),
    ("true_positive_pairs", "Correctly predicted pairs"),
    ("guard_splits", "Clusters the identity guard split"),
    ("guard_splits_right", "Of those, clusters that really held two people or more"),
    ("review_pairs_per_1000", "Pairs sent to clerical review per 1,000 records"),
    ("review_true_match_share", "Of those, pairs that are one person"),
)
ID_KEPT_METRIC = "persons_keeping_id"
SHARE_METRICS = frozenset(
    {
        "pairwise_precision",
        "pairwise_recall",
        "pairwise_f1",
        "bcubed_precision",
        "bcubed_recall",
        "bcubed_f1",
        "guard_splits_right",
        "review_true_match_share",
    }
)
LINKAGE_RUN_COUNTS = (
    ("records", "Source records linked"),
    ("insufficient_identifiers", "Kept out of the model (fewer than two identifying fields)"),
    ("deterministic_pairs", "Pairs linked on agreeing valid national ids"),
    (
        "comparisons",
        "Pairs the blocking rules generated tonight (Splink's blocking count: above 200,000 records estimated from "
        "a sample of about that many; on an incremental night only pairs with a new or changed record)",
    ),
    (
        "predicted_pairs",
        "Pairs at or above the match threshold (scored tonight, plus pairs carried over from earlier nights)",
    ),
    ("persons", "Persons after clustering"),
    ("flagged_clusters", "Clusters split and flagged for review"),
    ("review_queue", "Pairs queued for clerical review"),
)
# counts an incremental linkage adds to audit.linkage_runs.details, shown when present
LINKAGE_DETAIL_COUNTS = (
    ("records_scored", "Records scored this night"),
    ("carried_pairs", "Scored pairs carried over from the previous night"),
)

# ---------------------------------------------------------------------------------------------------------
# what the template shows


@dataclass(frozen=True)
class Header:
    night: str
    run_id: str
    generated_at: str
    version: str
    commit: str
    status: str
    status_css: str


@dataclass(frozen=True)
class CheckRow:
    asset: str
    check_name: str
    severity: str
    passed: bool
    observed: str
    threshold: str
    description: str
    failing_keys: list[str]
    run_id: str
    trend: Markup
    definition: str = ""

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    @property
    def css(self) -> str:
        if self.passed:
            return "pass"
        return "fail" if self.severity == "blocking" else "warn"


@dataclass(frozen=True)
class CheckGroup:
    layer: str
    rows: list[CheckRow]

    @property
    def failed(self) -> int:
        return sum(not r.passed for r in self.rows)


@dataclass
class Section:
    """A section's content, or why there is none (``missing``: shown as "not available")."""

    missing: str = ""


@dataclass
class ChecksSection(Section):
    groups: list[CheckGroup] = field(default_factory=list)
    blocking_failed: int = 0
    warnings_failed: int = 0
    total: int = 0


@dataclass(frozen=True)
class QuarantineGroup:
    source: str
    field: str
    column: str
    reason: str
    rows: int
    files: int


@dataclass
class QuarantineSection(Section):
    groups: list[QuarantineGroup] = field(default_factory=list)
    rows: int = 0
    chart: Markup = Markup("")
    rejected_files: list[dict[str, Any]] = field(default_factory=list)
    rejected_missing: str = ""
    # unreadable values of optional fields, set to null with their rows kept (audit.field_issues)
    nulled: list[dict[str, Any]] = field(default_factory=list)
    nulled_values: int = 0


@dataclass
class FilesSection(Section):
    files: list[dict[str, Any]] = field(default_factory=list)
    earlier: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unreconciled(self) -> int:
        return sum(not f["reconciles"] for f in self.files)


@dataclass(frozen=True)
class Level:
    label: str
    m: str
    u: str
    weight: float | None
    note: str

    @property
    def weight_text(self) -> str:
        return "–" if self.weight is None else f"{self.weight:+.2f}"


@dataclass(frozen=True)
class ComparisonModel:
    name: str
    description: str
    levels: list[Level]


@dataclass
class ModelSection(Section):
    note: str = ""
    path: str = ""
    used_night: str = ""
    trained_night: str = ""
    prior: str = ""
    prior_weight: str = ""
    comparisons: list[ComparisonModel] = field(default_factory=list)
    blocking_rules: list[str] = field(default_factory=list)
    chart: Markup = Markup("")
    chart_links: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RunSection(Section):
    run_id: str = ""
    mode: str = ""
    mode_reason: str = ""
    counts: list[tuple[str, str]] = field(default_factory=list)
    trained: bool | None = None
    blocking: list[dict[str, Any]] = field(default_factory=list)
    seconds: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class MetricRow:
    label: str
    value: str
    trend: Markup
    low: str
    high: str


@dataclass
class MetricsSection(Section):
    rows: list[MetricRow] = field(default_factory=list)


@dataclass
class FindingsSection(Section):
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IdsSection(Section):
    kept: str = ""
    trend: Markup = Markup("")
    changes: list[tuple[str, int]] = field(default_factory=list)
    changes_missing: str = ""


# ---------------------------------------------------------------------------------------------------------
# the report


def render_auditor_report(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    night: date,
    run_id: str,
    tags: Mapping[str, str] | None = None,
    missing_sources: Sequence[Mapping[str, str]] = (),
) -> Path:
    """Write ``<home>/reports/<night>/auditor_report.html`` and return its path.

    ``missing_sources`` (``published.json``'s list: source, expected, late_since) puts a banner on a partial
    night's report naming each expected source that had not arrived.

    ``con`` is the pipeline's working database; every ``audit.*`` table it lacks gives a
    "not available" section. ``tags`` are the run's Dagster tags (what started it: a schedule, a
    sensor, ``ibr run``, a person), shown with the host, the code's state and the configuration hashes. The file is written beside its target and renamed over it, so
    a reader never opens half a report.
    """
    out_dir = home / "reports" / night.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    checks = _checks(con, night)
    version, commit = code_version()
    header = Header(
        night=night.isoformat(),
        run_id=run_id,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=version,
        commit=commit,
        status=_status_text(checks),
        status_css=_status_css(checks),
    )
    html = (
        template_environment()
        .get_template(TEMPLATE_NAME)
        .render(
            header=header,
            checks=checks,
            quarantine=_quarantine(con, night),
            files=_files(con, night),
            run=_linkage_run(con, night),
            model=_model(con, home, night, out_dir),
            metrics=_accuracy(con, night),
            trend_nights=TREND_NIGHTS,
            findings=_findings(con, night),
            ids=_ids(con, night),
            provenance=provenance(home, Path(__file__).resolve().parent, tags, latest_model(home, night)),
            runs=_runs_of_night(con, night),
            missing_sources=missing_sources,
        )
    )
    path = out_dir / REPORT_NAME
    _write_atomically(path, html)
    return path


def _runs_of_night(con: duckdb.DuckDBPyConnection, night: date) -> list[dict[str, Any]]:
    """Every run that checked this night, oldest first: when, how many checks, how many failed."""
    if not table_exists(con, "audit", "checks"):
        return []
    rows = con.execute(
        """
        select run_id, min(checked_at), max(checked_at), count(*),
            count(*) filter (where not passed and severity = 'blocking'),
            count(*) filter (where not passed and severity <> 'blocking')
        from audit.checks where night = $night group by run_id order by min(checked_at)
        """,
        {"night": night},
    ).fetchall()
    return [
        {
            "run_id": r[0],
            "started": f"{r[1]:%Y-%m-%d %H:%M:%S}",
            "finished": f"{r[2]:%H:%M:%S}",
            "checks": r[3],
            "blocking_failed": r[4],
            "warnings_failed": r[5],
        }
        for r in rows
    ]


def code_version() -> tuple[str, str]:
    """(package version, git commit of the code's checkout or ""): what produced the report, failing soft."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    here = Path(__file__).resolve().parent
    if "site-packages" in here.parts:
        # an installed copy: a git repository around it (a virtualenv inside a project) is not its source
        return version, ""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return version, ""
    commit = result.stdout.strip()
    return version, commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else ""


def reason_kind(reason: str) -> str:
    """A quarantine or file reason without its row or line numbers, so that rows with one fault group.

    >>> reason_kind("row 12: sex (column SEX): empty, but the contract requires it")
    'sex (column SEX): empty, but the contract requires it'
    """
    stripped = re.sub(r"\b(?:rows?|lines?)\s+\d+(?:\s*(?:-|to|and)\s*\d+)?\s*:?\s*", "", reason, flags=re.I)
    return re.sub(r"\s{2,}", " ", stripped).strip(" ;:,") or reason


# ---------------------------------------------------------------------------------------------------------
# 1-3: the checks of the night and their trend


def _checks(con: duckdb.DuckDBPyConnection, night: date) -> ChecksSection:
    if not table_exists(con, "audit", "checks"):
        return ChecksSection(missing="audit.checks does not exist in this database: no check was recorded.")
    has_definition = bool(
        con.execute(
            "select 1 from duckdb_columns() where database_name = current_database() and schema_name = 'audit' "
            "and table_name = 'checks' and column_name = 'definition'"
        ).fetchall()
    )
    definition = "definition" if has_definition else "cast(null as varchar) as definition"
    latest = f"""
        select run_id, night, asset, check_name, layer, severity, passed, observed, threshold, description,
            failing_keys, {definition}
        from audit.checks
        where night <= $night
        qualify row_number() over (partition by night, asset, check_name order by checked_at desc, run_id desc) = 1
    """
    tonight = con.execute(
        f"select * from ({latest}) where night = $night order by asset, check_name", {"night": night}
    ).fetchall()
    if not tonight:
        return ChecksSection(missing="No check was recorded for this night.")
    history: dict[tuple[str, str], list[TrendPoint]] = {}
    for asset, check_name, night_, passed, observed in con.execute(
        f"""
        select asset, check_name, night, passed, observed from (
            select *, row_number() over (partition by asset, check_name order by night desc) as nights_back
            from ({latest})
        ) where nights_back <= $nights
        order by asset, check_name, night
        """,
        {"night": night, "nights": TREND_NIGHTS},
    ).fetchall():
        history.setdefault((asset, check_name), []).append(
            TrendPoint(night_, None if observed is None else float(observed), bool(passed))
        )
    by_layer: dict[str, list[CheckRow]] = {layer: [] for layer in LAYERS}
    for (
        row_run,
        _night,
        asset,
        check_name,
        layer,
        severity,
        passed,
        observed,
        threshold,
        description,
        keys,
        check_definition,
    ) in tonight:
        points = history.get((asset, check_name), [])
        by_layer.setdefault(layer, []).append(
            CheckRow(
                asset=asset,
                check_name=check_name,
                severity=severity,
                passed=bool(passed),
                observed=format_number(observed),
                threshold=format_number(threshold),
                description=description or "",
                failing_keys=[str(k) for k in keys or []],
                run_id=row_run,
                definition=check_definition or "",
                trend=sparkline_svg(
                    points,
                    title=f"{check_name} on {asset}: observed over the last {len(points)} night(s)",
                    threshold=None if threshold is None else float(threshold),
                ),
            )
        )
    groups = [
        CheckGroup(
            layer, sorted(rows, key=lambda r: (r.passed, r.severity != "blocking", r.asset, r.check_name))
        )
        for layer, rows in by_layer.items()
    ]
    rows = [r for g in groups for r in g.rows]
    return ChecksSection(
        groups=groups,
        blocking_failed=sum(not r.passed and r.severity == "blocking" for r in rows),
        warnings_failed=sum(not r.passed and r.severity != "blocking" for r in rows),
        total=len(rows),
    )


def _status_text(checks: ChecksSection) -> str:
    if checks.missing:
        return "Status unknown: no quality check recorded for this night"
    blocking = (
        "All blocking checks passed"
        if not checks.blocking_failed
        else f"{checks.blocking_failed} blocking check(s) failed: not fit to publish"
    )
    return f"{blocking}; {checks.warnings_failed} warning(s) of {checks.total} checks"


def _status_css(checks: ChecksSection) -> str:
    if checks.missing:
        return "unknown"
    return "fail" if checks.blocking_failed else ("warn" if checks.warnings_failed else "pass")


# ---------------------------------------------------------------------------------------------------------
# 4: quarantine


def _quarantine(con: duckdb.DuckDBPyConnection, night: date) -> QuarantineSection:
    section = QuarantineSection()
    if table_exists(con, "audit", "quarantine"):
        # raw_record (the row as landed: personal data) is never read here
        counted: dict[tuple[str, str, str, str], tuple[int, set[str]]] = {}
        for source, field_, reason, file_path, rows in con.execute(
            """
            select source, coalesce(field, ''), reason, file_path, count(*)
            from audit.quarantine where night = $night
            group by all
            """,
            {"night": night},
        ).fetchall():
            key = (source, field_, *_split_column(field_, reason_kind(reason)))
            total, files = counted.get(key, (0, set()))
            counted[key] = (total + int(rows), files | {file_path})
        section.groups = sorted(
            (QuarantineGroup(s, f, c, r, n, len(paths)) for (s, f, c, r), (n, paths) in counted.items()),
            key=lambda g: (g.source, -g.rows, g.field, g.reason),
        )
        section.rows = sum(g.rows for g in section.groups)
        per_source: dict[str, int] = {}
        for group in section.groups:
            per_source[group.source] = per_source.get(group.source, 0) + group.rows
        if per_source:
            section.chart = bar_chart_svg(
                [Bar(s, float(n), f"{n:,}") for s, n in sorted(per_source.items())],
                title="Rows quarantined this night, by source",
                label_width=200,
            )
    else:
        section.missing = "audit.quarantine does not exist in this database."
    if table_exists(con, "audit", "files"):
        section.rejected_files = [
            # one row per file: its reason whole, with the line it names (reason_kind is for grouping rows)
            {"source": s, "file_path": p, "reason": r or "", "rows_in": n}
            for s, p, r, n in con.execute(
                "select source, file_path, reason, rows_in from audit.files "
                "where night = $night and status = 'rejected' order by source, file_path",
                {"night": night},
            ).fetchall()
        ]
    else:
        section.rejected_missing = "audit.files does not exist in this database."
    if table_exists(con, "audit", "field_issues"):
        section.nulled = [
            {"source": s, "field": f, "column": c, "rule": r, "rows": n, "files": k}
            for s, f, c, r, n, k in con.execute(
                "select source, field, source_column, rule, count(*), count(distinct file_path) "
                "from audit.field_issues where night = $night group by all order by source, count(*) desc, field",
                {"night": night},
            ).fetchall()
        ]
        section.nulled_values = sum(int(g["rows"]) for g in section.nulled)
    return section


def _split_column(field_: str, reason: str) -> tuple[str, str]:
    """(source column, what is wrong) from ``<field> (column <col>): <what>``; ("", reason) otherwise."""
    match = re.match(rf"{re.escape(field_)} \(column ([^)]*)\): (.+)", reason, flags=re.S) if field_ else None
    return (match.group(1), match.group(2)) if match else ("", reason)


# ---------------------------------------------------------------------------------------------------------
# 5 and 7: the files of the night, their reconciliation and hashes


def _files(con: duckdb.DuckDBPyConnection, night: date) -> FilesSection:
    if not table_exists(con, "audit", "files"):
        return FilesSection(missing="audit.files does not exist in this database: no drop was landed.")
    columns = (
        "source, file_path, file_sha256, file_bytes, status, reason, rows_in, rows_accepted, rows_rejected, "
        "landed_at, night"
    )
    section = FilesSection(
        files=_file_rows(
            con.execute(
                f"select {columns} from audit.files where night = $night order by source, file_path",
                {"night": night},
            )
        ),
        # staging is rebuilt from raw as of the night: every earlier file landed can still feed tonight's records
        earlier=_file_rows(
            con.execute(
                f"select {columns} from audit.files where night < $night and status in ('accepted', 'partial') "
                "order by night desc, source, file_path",
                {"night": night},
            )
        ),
    )
    if not section.files:
        section.missing = "No drop file was seen for this night."
    return section


def _file_rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = []
    for (
        source,
        path,
        sha,
        size,
        status,
        reason,
        rows_in,
        accepted,
        rejected,
        landed_at,
        night,
    ) in cursor.fetchall():
        rows.append(
            {
                "source": source,
                "file_path": path,
                "sha256": sha or "",
                "sha256_short": (sha or "")[:12],
                "bytes": format_number(size),
                "status": status,
                "reason": reason or "",
                "rows_in": format_number(rows_in),
                "rows_accepted": format_number(accepted),
                "rows_rejected": format_number(rejected),
                "reconciles": rows_in == accepted + rejected,
                "landed_at": landed_at.strftime("%Y-%m-%d %H:%M:%S") if landed_at else "",
                "night": night.isoformat() if night else "",
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------------
# 6: the linkage: its run, the model, its accuracy, the ids kept


def _linkage_run(con: duckdb.DuckDBPyConnection, night: date) -> RunSection:
    if not table_exists(con, "audit", "linkage_runs"):
        return RunSection(missing="audit.linkage_runs does not exist in this database: no linkage has run.")
    # every column, read by name: a database from before a column was added (mode) still reports
    cursor = con.execute(
        "select * from audit.linkage_runs where night = $night order by finished_at desc limit 1",
        {"night": night},
    )
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if not rows:
        return RunSection(missing="No linkage was recorded for this night.")
    run = dict(zip(names, rows[0], strict=True))
    details = _json_object(run.get("details"))
    counts = [(label, format_number(run.get(name))) for name, label in LINKAGE_RUN_COUNTS]
    for name, label in LINKAGE_DETAIL_COUNTS:
        if isinstance(details.get(name), int | float):
            counts.append((label, format_number(details[name])))
    changes = details.get("changes")
    if isinstance(changes, dict) and changes.get("previous_night"):
        counts.append(
            (
                f"Records new / changed / removed since {changes['previous_night']}",
                " / ".join(format_number(changes.get(k)) for k in ("new", "changed", "removed")),
            )
        )
    blocking = [
        {
            "name": str(b.get("name", "")),
            "sql": str(b.get("sql", "")),
            # counted alone, or (all rules fitting the night's budget) as the pairs it adds to the rules above
            "comparisons": format_number(b.get("comparisons")) + ("" if b.get("alone", True) else " added"),
            "recall": "–" if b.get("recall_estimate") is None else f"{float(b['recall_estimate']):.1%}",
            "only": "–" if b.get("links_only_it_finds") is None else format_number(b["links_only_it_finds"]),
            "kept": (
                "left out (over the budget)"
                if not b.get("kept", True)
                else f"covered by {b['covered_by']} (its pairs are that rule's)"
                if b.get("covered_by")
                else "kept"
            ),
        }
        for b in details.get("blocking", [])
        if isinstance(b, dict)
    ]
    seconds = details.get("seconds", {})
    trained = details.get("trained")
    return RunSection(
        run_id=str(run.get("run_id") or ""),
        mode=str(run.get("mode") or details.get("mode") or ""),
        mode_reason=str(details.get("mode_reason") or ""),
        counts=counts,
        trained=trained if isinstance(trained, bool) else None,
        blocking=blocking,
        seconds=[(str(k), f"{float(v):.1f} s") for k, v in seconds.items()]
        if isinstance(seconds, dict)
        else [],
    )


def _model(con: duckdb.DuckDBPyConnection, home: Path, night: date, out_dir: Path) -> ModelSection:
    """The model used that night: the path audit.linkage_runs names, else the newest saved up to the night."""
    recorded: Path | None = None
    note = ""
    if table_exists(con, "audit", "linkage_runs"):
        rows = con.execute(
            "select model_path from audit.linkage_runs where night = $night order by finished_at desc limit 1",
            {"night": night},
        ).fetchall()
        if rows and not rows[0][0]:
            return ModelSection(
                missing="No model was used this night: too few records to train one, so only records with "
                "agreeing valid national ids were linked."
            )
        if rows:
            recorded = Path(rows[0][0]) if Path(rows[0][0]).is_absolute() else home / rows[0][0]
    tonight = model_dir(home, night) / "model.json"
    if recorded is not None and recorded.is_file():
        path: Path | None = recorded
    elif tonight.is_file():
        # the home folder was moved since the run: the path recorded no longer exists, the night's folder does
        path = tonight
    else:
        path = latest_model(home, night)
        if path is not None:
            note = (
                f"No linkage is recorded for this night: this is the newest model saved up to it "
                f"({path.parent.name}), which the next linkage would use."
            )
    if path is None:
        shown = _shown_path(recorded, home) if recorded else f"models/{night.isoformat()}/model.json"
        return ModelSection(missing=f"No saved model found ({shown}).")
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
        comparisons = [_comparison(c) for c in settings["comparisons"]]
        prior = float(settings["probability_two_random_records_match"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return ModelSection(
            missing=f"The model file {_shown_path(path, home)} could not be read as a Splink model: "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        )
    folder = path.parent
    charts_dir = _trained_in(folder, home)
    prior_weight = math.log2(prior / (1 - prior)) if 0 < prior < 1 else None
    bars = [Bar("two random records match", prior_weight, _weight_text(prior_weight), group="prior")]
    bars += [
        Bar(level.label, level.weight, level.weight_text, group=comparison.name)
        for comparison in comparisons
        for level in comparison.levels
    ]
    return ModelSection(
        note=note,
        path=_shown_path(path, home),
        used_night=folder.name,
        trained_night=charts_dir.name,
        prior=format_number(prior),
        prior_weight=_weight_text(prior_weight),
        comparisons=comparisons,
        blocking_rules=[
            str(r.get("blocking_rule", r)) if isinstance(r, dict) else str(r)
            for r in settings.get("blocking_rules_to_generate_predictions", [])
        ],
        chart=bar_chart_svg(
            bars, title="Match weight of each comparison level (log2 of m/u)", label_width=440
        ),
        chart_links=[
            (label, quote(Path(os.path.relpath(charts_dir / f"{name}.html", out_dir)).as_posix()))
            for name, label in MODEL_CHARTS
            if (charts_dir / f"{name}.html").is_file()
        ],
    )


def _trained_in(folder: Path, home: Path) -> Path:
    """The model folder of the night that trained the model: a reused model names it in ``reused_from.txt``,
    night after night, and only the training night holds the charts."""
    seen = {folder}
    while (folder / "reused_from.txt").is_file():
        earlier = home / "models" / (folder / "reused_from.txt").read_text(encoding="utf-8").strip()
        if earlier in seen or not earlier.is_dir():
            break
        seen.add(earlier)
        folder = earlier
    return folder


def _comparison(settings: dict[str, Any]) -> ComparisonModel:
    levels = []
    for level in settings["comparison_levels"]:
        label = str(level.get("label_for_charts") or level.get("sql_condition", ""))
        notes = []
        if level.get("tf_adjustment_column"):
            notes.append(f"term-frequency adjusted on {level['tf_adjustment_column']}")
        if level.get("fix_m_probability") or level.get("fix_u_probability"):
            notes.append("fixed, not trained")
        if level.get("is_null_level"):
            levels.append(Level(label, "–", "–", None, "null: no evidence either way"))
            continue
        m, u = level.get("m_probability"), level.get("u_probability")
        weight = (
            math.log2(m / u)
            if isinstance(m, int | float) and isinstance(u, int | float) and m > 0 and u > 0
            else None
        )
        if weight is None:
            notes.append("not estimated")
        levels.append(Level(label, format_number(m), format_number(u), weight, "; ".join(notes)))
    return ComparisonModel(
        str(settings.get("output_column_name", "")), str(settings.get("comparison_description", "")), levels
    )


def _accuracy(con: duckdb.DuckDBPyConnection, night: date) -> MetricsSection:
    if not table_exists(con, "audit", "linkage_metrics"):
        return MetricsSection(missing="audit.linkage_metrics does not exist in this database.")
    history = _metric_history(con, night, [name for name, _ in ACCURACY_METRICS])
    rows = []
    for name, label in ACCURACY_METRICS:
        points = history.get(name, [])
        if not points or points[-1].night != night:
            continue
        values = [p.value for p in points if p.value is not None]
        rows.append(
            MetricRow(
                label,
                _metric_text(name, points[-1].value),
                sparkline_svg(points, title=f"{label} over the last {len(points)} night(s)"),
                _metric_text(name, min(values, default=None)),
                _metric_text(name, max(values, default=None)),
            )
        )
    if not rows:
        return MetricsSection(
            missing="No accuracy was measured for this night: it needs a known truth "
            "(truth/records.parquet, or a clerically reviewed sample)."
        )
    return MetricsSection(rows=rows)


def _ids(con: duckdb.DuckDBPyConnection, night: date) -> IdsSection:
    section = IdsSection()
    if not table_exists(con, "audit", "linkage_metrics"):
        section.missing = "audit.linkage_metrics does not exist in this database."
    else:
        points = _metric_history(con, night, [ID_KEPT_METRIC]).get(ID_KEPT_METRIC, [])
        if points and points[-1].night == night and points[-1].value is not None:
            section.kept = f"{points[-1].value:.2%}"
            section.trend = sparkline_svg(
                points, title=f"Persons keeping their id over {len(points)} night(s)"
            )
        else:
            section.missing = "Not measured this night (the first night has no earlier ids to keep)."
    if table_exists(con, "registry", "person_id_history"):
        section.changes = [
            (str(kind), int(n))
            for kind, n in con.execute(
                "select kind, count(*) from registry.person_id_history where night = $night group by kind order by kind",
                {"night": night},
            ).fetchall()
        ]
    else:
        section.changes_missing = "registry.person_id_history does not exist in this database."
    return section


def _metric_history(
    con: duckdb.DuckDBPyConnection, night: date, metrics: list[str]
) -> dict[str, list[TrendPoint]]:
    history: dict[str, list[TrendPoint]] = {}
    for metric, night_, value in con.execute(
        """
        select metric, night, value from (
            select metric, night, value,
                row_number() over (partition by metric order by night desc) as nights_back
            from audit.linkage_metrics
            where night <= $night and list_contains($metrics, metric)
            qualify row_number() over (partition by night, metric order by computed_at desc) = 1
        ) where nights_back <= $nights
        order by metric, night
        """,
        {"night": night, "metrics": metrics, "nights": TREND_NIGHTS},
    ).fetchall():
        history.setdefault(metric, []).append(TrendPoint(night_, None if value is None else float(value)))
    return history


def _findings(con: duckdb.DuckDBPyConnection, night: date) -> FindingsSection:
    if not table_exists(con, "audit", "finding_metrics"):
        return FindingsSection(missing="audit.finding_metrics does not exist in this database.")
    rows = [
        {
            "kind": kind,
            "expected": format_number(expected),
            "found": format_number(found),
            "true_positives": format_number(tp),
            "precision": f"{precision:.1%}",
            "recall": f"{recall:.1%}",
        }
        for kind, expected, found, tp, precision, recall in con.execute(
            'select kind, expected, found, true_positives, "precision", recall from audit.finding_metrics '
            "where night = $night order by kind",
            {"night": night},
        ).fetchall()
    ]
    if not rows:
        return FindingsSection(missing="No findings were scored for this night: it needs the planted truth.")
    return FindingsSection(rows=rows)


# ---------------------------------------------------------------------------------------------------------
# helpers


def _metric_text(name: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2%}" if name in SHARE_METRICS else format_number(value)


def _weight_text(weight: float | None) -> str:
    return "–" if weight is None else f"{weight:+.2f}"


def _shown_path(path: Path, home: Path) -> str:
    """A path relative to the home folder when it lies inside it (the report may be read elsewhere)."""
    try:
        return path.resolve().relative_to(home.resolve()).as_posix()
    except ValueError:
        return str(path)


def _json_object(value: object) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value)) if value is not None else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _write_atomically(path: Path, text: str) -> None:
    """Write beside ``path`` and rename over it: a reader sees the old file or the new one, never half.

    The file gets the usual permissions (the umask's), as the ministry reports beside it do.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
