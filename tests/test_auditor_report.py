"""The auditor's report: one offline HTML file per night with every check, its trend, the quarantine, the
reconciliation, the linkage model and its accuracy, and the input files.

An auditor relies on it opening anywhere (no script, no URL), on listing every check of the night with the
status of its latest run, and on never showing a personal value (the quarantined rows stay in the
restricted warehouse). A night that lacks some tables (the first, a failed one, one without a truth) still
gets its report, with "not available" sections.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from core.sqlutil import read_sql
from reports.auditor import reason_kind, render_auditor_report
from reports.charts import Bar, TrendPoint, bar_chart_svg, format_number, sparkline_svg

NIGHT = date(2026, 3, 1)
RUN = "run-night-3"
PLANTED_NAME = "ZZTESTNAME"


def _check(night: date, check_name: str, passed: bool, observed: float, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "run_id": f"run-{night.isoformat()}",
        "night": night,
        "asset": "raw/pension",
        "check_name": check_name,
        "layer": "source",
        "severity": "blocking",
        "passed": passed,
        "observed": observed,
        "threshold": 0.0,
        "description": f"{check_name} on {night}",
        "failing_keys": [],
        "checked_at": datetime(2026, 1, 1) + timedelta(days=(night - date(2026, 1, 1)).days),
    }
    row.update(kw)
    return row


CHECKS = [
    # rows_reconcile: three nights up to NIGHT, and one after it that the report of NIGHT must not show
    _check(date(2026, 1, 1), "rows_reconcile", True, 0.0),
    _check(date(2026, 2, 1), "rows_reconcile", True, 0.0),
    _check(NIGHT, "rows_reconcile", True, 0.0, run_id=RUN),
    _check(date(2026, 4, 1), "rows_reconcile", False, 9.0),
    # a rerun of NIGHT: the earlier run failed, the later one (RUN) passed; only the later one counts
    _check(
        NIGHT, "record_id_unique_in_drop", False, 2.0, run_id="run-early", checked_at=datetime(2026, 3, 1, 1)
    ),
    _check(NIGHT, "record_id_unique_in_drop", True, 0.0, run_id=RUN, checked_at=datetime(2026, 3, 1, 2)),
    # a blocking failure with its failing keys, on another layer
    _check(
        NIGHT,
        "birth_before_death",
        False,
        2.0,
        run_id=RUN,
        asset="registry/life_event",
        layer="registry",
        failing_keys=["civil:CR-0001", "civil:CR-0002"],
    ),
    # a failed warning
    _check(
        NIGHT,
        "drop_volume_change",
        False,
        0.8,
        run_id=RUN,
        layer="cross_night",
        severity="warning",
        threshold=0.5,
    ),
]


@pytest.fixture
def audit_con() -> Iterator[duckdb.DuckDBPyConnection]:
    """A working database with the audit schema and a hand-made night: two files, quarantined rows, checks."""
    con = duckdb.connect()
    con.execute(read_sql("audit/schema.sql"))
    landed = datetime(2026, 3, 1, 2, 0)
    con.executemany(
        "insert into audit.files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                NIGHT,
                "pension",
                "pension/2026-03-01/pay.csv",
                "a" * 64,
                1234,
                "partial",
                "2 row(s) quarantined; first: row 3: sex (column GENDER): not one of the codes F, M",
                10,
                8,
                2,
                landed,
            ],
            [
                NIGHT,
                "pension",
                "pension/2026-03-01/broken.csv",
                "b" * 64,
                99,
                "rejected",
                "missing column(s) SURNAME; the file has: BENEF_NO, FIRST",
                4,
                0,
                4,
                landed,
            ],
            # rows that do not add up: the reconciliation must say so
            [
                NIGHT,
                "registry",
                "registry/2026-03-01/reg.parquet",
                "c" * 64,
                5000,
                "accepted",
                None,
                7,
                5,
                0,
                landed,
            ],
            [
                date(2026, 2, 1),
                "registry",
                "registry/2026-02-01/reg.parquet",
                "d" * 64,
                4000,
                "accepted",
                None,
                3,
                3,
                0,
                landed,
            ],
        ],
    )
    con.executemany(
        "insert into audit.quarantine values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                NIGHT,
                "pension",
                "pension/2026-03-01/pay.csv",
                3,
                "P-1",
                "sex",
                "sex (column GENDER): not one of the codes F, M",
                f'{{"FIRST": "{PLANTED_NAME}"}}',
                landed,
            ],
            [
                NIGHT,
                "pension",
                "pension/2026-03-01/pay.csv",
                7,
                "P-5",
                "sex",
                "sex (column GENDER): not one of the codes F, M",
                f"P-5;{PLANTED_NAME};x",
                landed,
            ],
        ],
    )
    columns = list(CHECKS[0])
    con.executemany(
        f"insert into audit.checks ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [[row[c] for c in columns] for row in CHECKS],
    )
    yield con
    con.close()


def _render(con: duckdb.DuckDBPyConnection, home: Path) -> str:
    path = render_auditor_report(con, home, NIGHT, RUN)
    assert path == home / "reports" / NIGHT.isoformat() / "auditor_report.html"
    return path.read_text(encoding="utf-8")


def _check_row(html: str, asset: str, check_name: str) -> str:
    match = re.search(
        rf'<tr class="\w+" id="check-{re.escape(asset.replace("/", "-"))}-{check_name}">(.*?)</tr>',
        html,
        re.S,
    )
    assert match, f"no row for {asset} {check_name}"
    return match.group(1)


def test_report_opens_offline_and_lists_every_check_with_its_status(audit_con, tmp_path):
    html = _render(audit_con, tmp_path)
    assert "<script" not in html.lower()
    assert not re.search(r"https?://", html), "the report must not point outside itself"
    for asset, check_name, status in [
        ("raw/pension", "rows_reconcile", "passed"),
        ("raw/pension", "record_id_unique_in_drop", "passed"),  # the later run of the night wins
        ("registry/life_event", "birth_before_death", "failed"),
        ("raw/pension", "drop_volume_change", "failed"),
    ]:
        row = _check_row(html, asset, check_name)
        assert f">{status}</span>" in row, (check_name, status)
    assert "1 blocking check(s) failed" in html and "1 warning(s) of 4 checks" in html
    assert "civil:CR-0001" in html, "a failing check shows its sample of keys"


def test_trend_has_one_point_per_night_up_to_the_report_night(audit_con, tmp_path):
    html = _render(audit_con, tmp_path)
    row = _check_row(html, "raw/pension", "rows_reconcile")
    assert row.count("<circle") == 3, "three nights up to the report's, the later night left out"
    assert "2026-04-01" not in row
    rerun = _check_row(html, "raw/pension", "record_id_unique_in_drop")
    assert rerun.count("<circle") == 1, "a rerun of the night is one point, not two"


def test_quarantine_counts_rows_by_reason_and_never_shows_the_rows(audit_con, tmp_path):
    html = _render(audit_con, tmp_path)
    assert PLANTED_NAME not in html, "raw_record is personal data: it never leaves the restricted warehouse"
    quarantine = html[html.index('id="quarantine"') : html.index('id="reconciliation"')]
    assert re.search(
        r"<code>GENDER</code></td><td>not one of the codes F, M</td>\s*<td class=\"num\">2</td>", quarantine
    )
    assert "pension/2026-03-01/broken.csv" in quarantine and "missing column(s) SURNAME" in quarantine


def test_values_set_to_null_are_counted_by_field_and_rule(audit_con, tmp_path):
    """An auditor sees how many optional values were unreadable and nulled (rows kept), by source, field and rule."""
    issue = "insert into audit.field_issues values (?, 'pension', ?, ?, ?, 'date_of_birth', 'DOB', 'not_a_date', ?, ?)"
    reason = "date_of_birth (column DOB): not a date in %d/%m/%Y"
    landed = datetime(2026, 3, 1, 2, 0)
    audit_con.executemany(
        issue,
        [[NIGHT, "pension/2026-03-01/pay.csv", row, f"B{row}", reason, landed] for row in (4, 5, 9)]
        + [[NIGHT - timedelta(days=1), "pension/2026-02-28/pay.csv", 2, "B2", reason, landed]],
    )
    html = _render(audit_con, tmp_path)
    section = html[html.index("Values set to null, rows kept") : html.index("Whole files rejected")]
    assert re.search(
        r"<code>date_of_birth</code></td><td><code>DOB</code></td><td>not_a_date</td>\s*<td class=\"num\">3</td>",
        section,
    )
    assert "B4" not in section  # record keys and values stay in the restricted audit.field_issues


def test_a_file_reason_keeps_the_line_it_names(audit_con, tmp_path):
    """An auditor follows a rejected file's reason to its line: "line N" is kept per file (only the grouping
    of quarantined rows by fault drops row numbers)."""
    audit_con.execute(
        "insert into audit.files values ($1, 'pension', 'pension/2026-03-01/bad.csv', $2, 10, 'rejected', "
        "'not valid utf-8 (the contract''s file.encoding): line 3, byte 120', 2, 0, 2, $3)",
        [NIGHT, "e" * 64, datetime(2026, 3, 1, 2, 0)],
    )
    html = _render(audit_con, tmp_path)
    quarantine = html[html.index('id="quarantine"') : html.index('id="reconciliation"')]
    reconciliation = html[html.index('id="reconciliation"') : html.index('id="linkage"')]
    for section in (quarantine, reconciliation):
        assert "line 3, byte 120" in section
    assert "first: row 3: sex (column GENDER)" in reconciliation


def test_reconciliation_marks_files_whose_rows_do_not_add_up(audit_con, tmp_path):
    html = _render(audit_con, tmp_path)
    section = html[html.index('id="reconciliation"') : html.index('id="linkage"')]
    assert section.count("✓") == 2 and section.count("✗") == 1
    assert 'title="' + "a" * 64 + '">' + "a" * 12 + "<" in section, (
        "the hash is shortened, whole in its title"
    )
    inputs = html[html.index('id="inputs"') :]
    assert "b" * 64 in inputs and "d" * 64 in inputs, (
        "every input file with its full hash, earlier nights too"
    )


def test_missing_tables_give_not_available_sections(tmp_path):
    """The first night, or a night that failed before linking: the report still comes out."""
    with duckdb.connect() as con:
        html = _render(con, tmp_path)
        assert "Status unknown" in html
        assert html.count("Not available.") >= 6
        assert "audit.checks does not exist" in html and "audit.linkage_runs does not exist" in html
        con.execute(read_sql("audit/schema.sql"))
        html = _render(con, tmp_path)
        assert "No check was recorded for this night." in html
        assert (
            "audit.linkage_metrics does not exist" in html and "audit.finding_metrics does not exist" in html
        )


def _model_settings() -> dict[str, object]:
    """The shape of a model saved by Splink's save_model_to_json (as matching.scoring saves it)."""
    return {
        "link_type": "link_and_dedupe",
        "probability_two_random_records_match": 0.0001,
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": "l.phone = r.phone", "sql_dialect": "duckdb"}
        ],
        "comparisons": [
            {
                "output_column_name": "phone",
                "comparison_description": "ExactMatch",
                "comparison_levels": [
                    {
                        "sql_condition": '"phone_l" IS NULL OR "phone_r" IS NULL',
                        "label_for_charts": "phone is NULL",
                        "is_null_level": True,
                    },
                    {
                        "sql_condition": '"phone_l" = "phone_r"',
                        "label_for_charts": "Exact match on phone",
                        "m_probability": 0.9,
                        "u_probability": 0.01,
                    },
                    {
                        "sql_condition": "ELSE",
                        "label_for_charts": "All other comparisons",
                        "m_probability": 0.1,
                        "u_probability": 0.99,
                    },
                ],
            }
        ],
    }


def test_linkage_model_parameters_accuracy_and_chart_links(audit_con, tmp_path):
    audit_con.execute(read_sql("registry/schema.sql"))
    trained, reused = tmp_path / "models" / "2026-02-01", tmp_path / "models" / NIGHT.isoformat()
    for folder in (trained, reused):
        folder.mkdir(parents=True)
        (folder / "model.json").write_text(json.dumps(_model_settings()), encoding="utf-8")
    (trained / "match_weights.html").write_text("<html></html>", encoding="utf-8")
    (reused / "reused_from.txt").write_text("2026-02-01\n", encoding="utf-8")
    audit_con.execute(
        "insert into audit.linkage_runs (night, run_id, records, insufficient_identifiers, deterministic_pairs, "
        "comparisons, predicted_pairs, persons, flagged_clusters, review_queue, model_path, details, finished_at) "
        "values ($1, $2, 120, 3, 40, 900, 55, 80, 1, 6, $3, $4, now())",
        [
            NIGHT,
            RUN,
            str(reused / "model.json"),
            json.dumps(
                {
                    "blocking": [{"name": "phone", "sql": "l.phone = r.phone", "comparisons": 900}],
                    "seconds": {"predict": 1.5},
                    "trained": False,
                }
            ),
        ],
    )
    audit_con.executemany(
        "insert into audit.linkage_metrics values (?, ?, ?, ?, now())",
        [
            [date(2026, 2, 1), "r2", "pairwise_precision", 0.97],
            [NIGHT, RUN, "pairwise_precision", 0.991],
            [NIGHT, RUN, "persons_keeping_id", 0.995],
        ],
    )
    html = _render(audit_con, tmp_path)
    linkage = html[html.index('id="linkage"') : html.index('id="accuracy"')]
    assert "trained on night" in linkage and "2026-02-01" in linkage
    assert "+6.49" in linkage, "exact match on phone: log2(0.9 / 0.01)"
    assert "-3.31" in linkage, "all other comparisons: log2(0.1 / 0.99)"
    assert 'href="../../models/2026-02-01/match_weights.html"' in linkage, (
        "charts live with the trained model"
    )
    accuracy = html[html.index('id="accuracy"') : html.index('id="inputs"')]
    assert "99.10%" in accuracy and "99.50%" in accuracy
    assert "No findings were scored" in accuracy or "audit.finding_metrics does not exist" in accuracy


def test_rerender_replaces_the_file_and_leaves_nothing_beside_it(audit_con, tmp_path):
    _render(audit_con, tmp_path)
    _render(audit_con, tmp_path)
    assert sorted(p.name for p in (tmp_path / "reports" / NIGHT.isoformat()).iterdir()) == [
        "auditor_report.html"
    ]


@pytest.mark.parametrize(
    ("description", "reason", "kind"),
    [
        (
            "a field fault stays whole",
            "sex (column SEX): empty, but the contract requires it",
            "sex (column SEX): empty, but the contract requires it",
        ),
        ("a row number goes", "row 12: sex (column SEX): not a number", "sex (column SEX): not a number"),
        (
            "within a sentence too",
            "2 row(s) quarantined; first: row 889: x (column X): not a number",
            "2 row(s) quarantined; first: x (column X): not a number",
        ),
        (
            "an unreadable CSV row keeps its words",
            "CSV row unreadable: CAST at column AMOUNT",
            "CSV row unreadable: CAST at column AMOUNT",
        ),
    ],
)
def test_reason_kind(description, reason, kind):
    assert reason_kind(reason) == kind, description


def test_charts_are_escaped_inline_svg():
    bars = bar_chart_svg([Bar("<b>x</b>", -2.0, "-2.00", group="g&h"), Bar("y", 3.0, "+3.00")], title="t")
    assert str(bars).startswith("<svg") and "<b>" not in bars and "&lt;b&gt;" in bars and "g&amp;h" in bars
    spark = sparkline_svg(
        [TrendPoint(date(2026, 1, 1), 1.0, True), TrendPoint(date(2026, 2, 1), None, False)], title="<t>"
    )
    assert spark.count("<circle") == 2 and 'class="pt fail"' in spark and "&lt;t&gt;" in spark


@pytest.mark.parametrize(
    ("value", "text"), [(None, "–"), (0.0, "0"), (12345.0, "12,345"), (0.98765, "0.9877"), (1234.5, "1,234")]
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_report_says_who_ran_it_with_which_configuration_reviews_and_earlier_runs(audit_con, tmp_path):
    """An auditor sees what started the night, on which host, whether the code was changed, the hashes of the
    configuration, the clerical decisions in force and who made them, every run of the night, and each check's
    definition."""
    import hashlib

    (tmp_path / "programmes.yaml").write_text("programmes: []\n", encoding="utf-8")
    (tmp_path / "reviews").mkdir()
    (tmp_path / "reviews" / "2026-02.csv").write_text(
        "source_l,source_record_id_l,source_r,source_record_id_r,decision,reviewer,note\n"
        "pension,B1,civil,CR-9,must_link,amina,same person per ID card\n",
        encoding="utf-8",
    )
    audit_con.execute(
        "update audit.checks set definition = 'gx.expectations.ExpectColumnValuesToBeUnique(column=record_id) "
        "on records' where check_name = 'record_id_unique_in_drop'"
    )
    path = render_auditor_report(audit_con, tmp_path, NIGHT, RUN, tags={"dagster/schedule_name": "nightly"})
    html = path.read_text(encoding="utf-8")
    assert "schedule nightly" in html
    assert "Uncommitted code changes" in html and "Operator account and host" in html
    assert hashlib.sha256(b"programmes: []\n").hexdigest() in html
    assert "checks.yaml" in html and "absent (defaults)" in html  # no checks.yaml: the defaults, said so
    assert "civil:CR-9" in html and "amina" in html and "must_link" in html
    runs = re.search(r'<section id="runs">(.*?)</section>', html, re.S)
    assert runs and RUN in runs.group(1)
    row = _check_row(html, "raw/pension", "record_id_unique_in_drop")
    assert "ExpectColumnValuesToBeUnique(column=record_id)" in row
