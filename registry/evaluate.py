"""Score the findings against a known truth (the synthetic country's planted errors).

The unit is the person: a finding is (kind, true person). Each warehouse ``person_id``
stands for the true person most of its linked records belong to
(``truth/records.parquet`` + ``registry.person_source_link``; ties go to the smallest
id), so a linkage error shows here as a missed or a false finding, as it would for a
ministry. The programme is left out of the match on purpose: the truth lists one row
per programme for some kinds (both programmes of an exclusive overlap, every programme
a gap person qualifies for), and a person rightly flagged for the wrong one of two
programmes is still a person the ministry has to look at. ``truth/planted.parquet``
rows of the evaluated night are the expected findings; every report row counts as
found, whatever its review flag, with two scopings. The truth's ``gap`` is a person no
programme reaches (eligible, alive, active in none of the programmes they qualify
for), so it is scored against the rows of ``reports.gaps`` flagged ``is_unserved``;
the other rows (qualifies for a programme, receives another one) are per-programme
gaps the truth does not list. A ``reports.duplicate_enrolment`` row whose records
conflict (different districts, or births further apart than the usual slips) is a
suspected false match sent to linkage review, not a duplicate the ministry is told to
stop paying, so it is scored as not found.

Results go to ``audit.finding_metrics`` (a rerun replaces the night's rows) and are
returned::

    evaluate_findings(con, home, date(2026, 4, 1))["deceased_paid"]
    # {"expected": 29, "found": 29, "true_positives": 29, "precision": 1.0, "recall": 1.0}
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import duckdb

from core.sqlutil import read_sql, render_sql
from registry.build import check_inputs
from registry.findings import FINDING_TABLES

log = logging.getLogger(__name__)

# kind -> (flag column of its report, value) that restricts it to what the truth calls that kind
TRUTH_SCOPE: dict[str, tuple[str, bool]] = {
    "gap": ("is_unserved", True),
    "duplicate_enrolment": ("records_conflict", False),
}


def evaluate_findings(
    con: duckdb.DuckDBPyConnection, home: Path, night: date
) -> dict[str, dict[str, float | int]]:
    """Per kind of finding: expected, found, true_positives, precision, recall for ``night``.

    Returns ``{}`` (and writes nothing) when ``<home>/truth`` has no records or planted
    file: a real deployment has no truth to score against.
    """
    records = home / "truth" / "records.parquet"
    planted = home / "truth" / "planted.parquet"
    if not (records.is_file() and planted.is_file()):
        log.info("no truth in %s: findings not scored", home / "truth")
        return {}
    check_inputs(
        con,
        (("registry", "person_source_link"), *(("reports", table) for table in FINDING_TABLES.values())),
    )
    con.execute(
        "create or replace temp table _truth_records as "
        "select source, source_record_id, true_person_id from read_parquet($path)",
        {"path": str(records)},
    )
    con.execute(
        "create or replace temp table _truth_planted as "
        "select kind, true_person_id, programme_id from read_parquet($path) where night = $night",
        {"path": str(planted), "night": night.isoformat()},
    )
    unknown = [
        str(kind)
        for (kind,) in con.execute("select distinct kind from _truth_planted order by kind").fetchall()
        if kind not in FINDING_TABLES
    ]
    if unknown:
        log.warning("truth kinds without a report, not scored: %s", ", ".join(unknown))
    findings = [
        {
            "kind": kind,
            "table": table,
            "flag": TRUTH_SCOPE[kind][0] if kind in TRUTH_SCOPE else None,
            "flag_value": "true" if TRUTH_SCOPE.get(kind, ("", True))[1] else "false",
        }
        for kind, table in FINDING_TABLES.items()
    ]
    rows = con.execute(render_sql("reports/finding_metrics.sql.j2", findings=findings)).fetchall()

    con.execute(read_sql("reports/finding_metrics_table.sql"))
    con.execute("delete from audit.finding_metrics where night = $1", [night])
    con.executemany(
        "insert into audit.finding_metrics "
        "values ($1, $2, $3, $4, $5, $6, $7, current_timestamp at time zone 'UTC')",
        [[night, *row] for row in rows],
    )
    return {
        str(kind): {
            "expected": int(expected),
            "found": int(found),
            "true_positives": int(true_positives),
            "precision": float(precision),
            "recall": float(recall),
        }
        for kind, expected, found, true_positives, precision, recall in rows
    }
