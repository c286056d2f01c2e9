"""Findings: where the delivery system fails people or pays wrongly, one ``reports`` table each.

Built on the registry (``registry.build_registry`` first) and the rules of
``<home>/programmes.yaml``. Each finding table has ``person_id`` and ``programme_id``;
current findings look at each programme's latest month as of the night
(``registry.programme.latest_period_month``), ``deceased_paid`` at every month held.

``reports.eligibility``               who qualifies for what by the rules, and whom the data cannot judge
``reports.deceased_paid``             paid for months that began after a registered death
``reports.exclusive_overlap``         paid by two programmes one person may not combine, in one month
``reports.duplicate_enrolment``       two or more active records of one programme in one month
``reports.gaps``                      qualifies, alive, not paid by the programme (nor by one it excludes)
``reports.inclusion_errors``          paid by a means-tested programme with income above the threshold
``reports.programme_overlap_matrix``  programme x programme: people paid by both and amounts
``reports.coverage_by_area``          area x programme: qualify, paid, coverage share

Example::

    counts = build_reports(con, home, date(2026, 4, 1))
    con.sql("select programme_id, count(*) from reports.gaps group by all")
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from core.sqlutil import read_sql, render_sql
from registry.build import check_inputs, table_counts
from registry.programmes import NULL_MEANS_NONE, ProgrammeRules, check_rules, load_programmes

# kind of finding (as the synthetic truth names it) -> its reports table
FINDING_TABLES: dict[str, str] = {
    "deceased_paid": "deceased_paid",
    "exclusive_overlap": "exclusive_overlap",
    "duplicate_enrolment": "duplicate_enrolment",
    "gap": "gaps",
    "inclusion_error": "inclusion_errors",
}
# in dependency order, after reports.eligibility
REPORT_MODELS = (
    "deceased_paid",
    "exclusive_overlap",
    "duplicate_enrolment",
    "gaps",
    "inclusion_errors",
    "programme_overlap_matrix",
    "coverage_by_area",
)
REQUIRED_INPUTS = (
    ("registry", "as_of"),
    ("registry", "person"),
    ("registry", "enrolment"),
    ("registry", "programme"),
    ("registry", "programme_exclusive"),
    ("registry", "person_source_link"),
    ("staging", "enrolment"),
)


def build_reports(
    con: duckdb.DuckDBPyConnection, home: Path, night: date, rules: ProgrammeRules | None = None
) -> dict[str, int]:
    """Rebuild every ``reports`` table for ``night``; return the row count of each.

    ``rules`` defaults to ``<home>/programmes.yaml``; its eligibility expressions are
    validated on load and then rendered into sql/reports/eligibility.sql.j2. The registry
    must be built for the same night: ``night`` is checked against ``registry.as_of``.
    """
    if rules is None:
        rules = load_programmes(home / "programmes.yaml")
    # the expressions become SQL below: checked again here, whoever built the rules
    rule_columns = check_rules(rules)
    check_inputs(con, REQUIRED_INPUTS)
    built = con.execute("select night from registry.as_of").fetchall()
    if built and built[0][0] != night:
        raise ValueError(f"registry was built for night {built[0][0]}, not {night}: run build_registry first")
    registered = {pid for (pid,) in con.execute("select programme_id from registry.programme").fetchall()}
    if registered != set(rules.ids):
        raise ValueError(
            f"registry.programme holds {sorted(registered)} but {rules.path} has {sorted(rules.ids)}: "
            "rebuild the registry with the same rules"
        )
    con.execute("create schema if not exists reports")
    rendered_rules = [
        {
            "programme_id": p.programme_id,
            "eligibility": p.eligibility,
            "unknown_columns": [c for c in rule_columns[p.programme_id] if c not in NULL_MEANS_NONE],
        }
        for p in rules.programmes
    ]
    con.execute(render_sql("reports/eligibility.sql.j2", rules=rendered_rules))
    for model in REPORT_MODELS:
        con.execute(read_sql(f"reports/{model}.sql"))
    return table_counts(con, "reports", ("eligibility", *REPORT_MODELS))
