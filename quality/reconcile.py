"""Reconciliation checks: nothing is lost between the drop files and the tables.

Plain functions over a DuckDB connection, returning a `CheckOutcome` that any
orchestrator can report. Failing samples carry keys only (file paths, source and
record ids), never personal fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from core.sqlutil import literal, qualified, quote_ident, table_exists, tables_in


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    observed: float
    threshold: float
    description: str
    failing_keys: list[str] = field(default_factory=list)
    # how the check is computed (a GX expectation with its arguments, or the rule in words), for the auditor
    definition: str = ""


def zero_tolerance(name: str, failing_keys: list[str], passed: str, failed: str) -> CheckOutcome:
    """A check that passes only when nothing fails; a sample of 20 failing keys is kept."""
    return CheckOutcome(
        name=name,
        passed=not failing_keys,
        observed=float(len(failing_keys)),
        threshold=0.0,
        description=failed if failing_keys else passed,
        failing_keys=failing_keys[:20],
    )


def files_reconcile(con: duckdb.DuckDBPyConnection, source: str, night: date) -> CheckOutcome:
    """For every file of the night: rows_in = accepted + rejected, accepted = rows in raw, rejected = quarantined."""
    raw_counts = (
        f"select _file, count(*) as n from {qualified('raw', source)} where _night = $night group by _file"
        if table_exists(con, "raw", source)
        else "select cast(null as varchar) as _file, 0 as n where false"
    )
    rows = con.execute(
        f"""
        with raw_counts as ({raw_counts}),
        quarantined as (
            select file_path, count(*) as n from audit.quarantine
            where source = $source and night = $night group by file_path
        )
        select f.file_path
        from audit.files f
        left join raw_counts r on r._file = f.file_path
        left join quarantined q on q.file_path = f.file_path
        where f.source = $source and f.night = $night and (
            f.rows_in <> f.rows_accepted + f.rows_rejected
            or f.rows_accepted <> coalesce(r.n, 0)
            or (f.status in ('accepted', 'partial', 'empty') and f.rows_rejected <> coalesce(q.n, 0))
        )
        order by f.file_path
        """,
        {"source": source, "night": night},
    ).fetchall()
    totals = con.execute(
        "select count(*), coalesce(sum(rows_in), 0) from audit.files where source = $1 and night = $2",
        [source, night],
    ).fetchall()[0]
    bad = [r[0] for r in rows]
    return zero_tolerance(
        "rows_reconcile",
        bad,
        passed=f"{totals[0]} file(s), {totals[1]} row(s) in: every row is in raw or quarantine",
        failed=f"{len(bad)} file(s) whose rows do not reconcile",
    )


def staging_complete(con: duckdb.DuckDBPyConnection, night: date, record_ids: dict[str, str]) -> CheckOutcome:
    """Every distinct (source, record id) in raw up to the night has exactly one staging.person_records row.

    `record_ids` maps each source to its record-id column (from its contract); raw is read
    directly, so a bug in staging cannot hide its own losses.
    """
    landed = tables_in(con, "raw")
    parts = [
        f"select distinct {literal(source)} as source, nullif(trim({quote_ident(column)}), '') as source_record_id "
        f"from {qualified('raw', source)} where _night <= $night"
        for source, column in sorted(record_ids.items())
        if source in landed
    ]
    raw_keys = (
        " union all ".join(parts)
        if parts
        # no raw table yet (a first night whose every file was rejected); $night is still bound
        else "select null::varchar as source, null::varchar as source_record_id where $night::date is null and false"
    )
    keys = [
        r[0]
        for r in con.execute(
            f"""
            with raw_keys as ({raw_keys}),
            staged as (select source, source_record_id, count(*) as n from staging.person_records group by all)
            select coalesce(r.source, s.source) || ':' || coalesce(r.source_record_id, s.source_record_id, '<null>')
            from raw_keys r full join staged s using (source, source_record_id)
            where s.n is null or r.source is null or s.n > 1
            order by 1
            limit 20
            """,
            {"night": night},
        ).fetchall()
    ]
    total = con.execute("select count(*) from staging.person_records").fetchall()[0][0]
    return zero_tolerance(
        "one_row_per_source_record",
        keys,
        passed=f"{total} staged records: each landed source record exactly once",
        failed="staging lost, doubled or invented source records",
    )


def every_record_linked_once(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Every staged source record has exactly one person in registry.person_source_link, and no link is orphaned."""
    keys = [
        r[0]
        for r in con.execute(
            """
            with links as (
                select source, source_record_id, count(*) as n from registry.person_source_link group by all
            )
            select coalesce(s.source, l.source) || ':' || coalesce(s.source_record_id, l.source_record_id)
            from staging.person_records s
            full join links l using (source, source_record_id)
            where l.n is null or l.n > 1 or s.source is null
            order by 1
            limit 20
            """
        ).fetchall()
    ]
    persons = con.execute("select count(distinct person_id) from registry.person_source_link").fetchall()[0][
        0
    ]
    return zero_tolerance(
        "every_record_linked_once",
        keys,
        passed=f"every staged record maps to exactly one of {persons} persons",
        failed="records unlinked, linked twice, or links to records not staged",
    )


REPORT_TOTALS_DEFINITION = (
    "SQL: for every programme, the national row of reports.coverage_by_area counts the persons that "
    "registry.enrolment pays (status active, the programme's latest month) and that reports.eligibility finds "
    "eligible; the province rows add up to the national row; everyone in reports.deceased_paid is deceased in "
    "registry.person"
)


def report_totals_match_registry(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """The reports layer agrees with the registry: what a ministry reads adds up to what the warehouse holds.

    Failing keys name the report, the programme and the two totals (no person is named).
    """
    needed = [("reports", "coverage_by_area"), ("reports", "eligibility"), ("registry", "enrolment")]
    if not all(table_exists(con, s, t) for s, t in needed):
        return CheckOutcome(
            "report_totals_match_registry",
            True,
            0.0,
            0.0,
            "no reports built yet",
            definition=REPORT_TOTALS_DEFINITION,
        )
    failing = [
        f"coverage_by_area:{programme}:{what}: report {reported}, registry {expected}"
        for programme, what, reported, expected in con.execute(
            """
            with programmes as (select programme_id, latest_period_month from registry.programme),
            national as (
                select programme_id, enrolled_persons, eligible_persons
                from reports.coverage_by_area where area_level = 'national'
            ),
            provinces as (
                select programme_id, sum(enrolled_persons) as enrolled_persons, sum(eligible_persons) as eligible_persons
                from reports.coverage_by_area where area_level = 'admin1' group by programme_id
            ),
            paid as (
                select e.programme_id, count(distinct e.person_id) as persons
                from registry.enrolment e join programmes p
                    on p.programme_id = e.programme_id and p.latest_period_month = e.period_month
                where e.enrolment_status = 'active' group by e.programme_id
            ),
            eligible as (
                select programme_id, count(distinct person_id) as persons
                from reports.eligibility where is_eligible group by programme_id
            ),
            compared as (
                select p.programme_id, 'paid' as what, coalesce(n.enrolled_persons, 0) as reported,
                    coalesce(paid.persons, 0) as expected
                from programmes p left join national n using (programme_id) left join paid using (programme_id)
                union all
                select p.programme_id, 'eligible', coalesce(n.eligible_persons, 0), coalesce(eligible.persons, 0)
                from programmes p left join national n using (programme_id) left join eligible using (programme_id)
                union all
                select n.programme_id, 'provinces add up (paid)', coalesce(pr.enrolled_persons, 0), n.enrolled_persons
                from national n left join provinces pr using (programme_id)
                union all
                select n.programme_id, 'provinces add up (eligible)', coalesce(pr.eligible_persons, 0),
                    n.eligible_persons
                from national n left join provinces pr using (programme_id)
            )
            select programme_id, what, reported, expected from compared where reported <> expected
            order by programme_id, what
            """
        ).fetchall()
    ]
    if table_exists(con, "reports", "deceased_paid") and table_exists(con, "registry", "person"):
        alive = con.execute(
            "select count(*) from reports.deceased_paid d join registry.person p using (person_id) "
            "where not coalesce(p.is_deceased, false)"
        ).fetchall()[0][0]
        if alive:
            failing.append(
                f"deceased_paid: {alive} row(s) of persons registry.person does not hold as deceased"
            )
    return CheckOutcome(
        name="report_totals_match_registry",
        passed=not failing,
        observed=float(len(failing)),
        threshold=0.0,
        description=(
            f"{len(failing)} report total(s) disagree with the registry"
            if failing
            else "every coverage total and deceased-paid row agrees with the registry"
        ),
        failing_keys=failing[:20],
        definition=REPORT_TOTALS_DEFINITION,
    )
