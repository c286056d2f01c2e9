"""The ministry reports' tables: what each holds, their SQL over the warehouse, and their suppression.

``report_tables(con, rules)`` runs every table of ``TABLE_SPECS`` over every programme and
suppresses the counts of all of them together (``reports.suppression.suppress``) under the
linear relations a reader of the published tables can write down (``report_relations``);
each row's amounts and shares follow its hidden counts (``suppress_row``). A ministry's
report (``reports.ministry``) is its programmes' rows of these tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import duckdb
import pyarrow as pa

from registry.programmes import ProgrammeRules
from reports.suppression import SMALL_CELL_MIN, Relation, is_small, suppress

# a hidden count: small (1-4 people) or hidden with one so that it cannot be worked out; the two look the same,
# since telling them apart would bound the small one (a complement is 5 or more)
SUPPRESSED_TEXT = "x"
# an amount, share or other figure of a row whose count was suppressed: withheld, since it could reveal the count
WITHHELD_TEXT = "–"
SUPPRESSED_FLAG = "suppressed"
# what a column holds decides how it is suppressed, formatted and typed in the files:
# count (people; suppressed when 1-4), figure (amount, share, months: withheld with the row's small counts),
# text / month / flag (labels: never suppressed)
# change (a signed difference between two published numbers: withheld when either is hidden)
ColumnKind = Literal["count", "amount", "share", "figure", "change", "text", "month", "flag"]
WITHHELD_KINDS = frozenset({"amount", "share", "figure", "change"})
ARROW_TYPES: dict[str, pa.DataType] = {
    "count": pa.int64(),
    "amount": pa.float64(),
    "share": pa.float64(),
    "figure": pa.float64(),
    "change": pa.float64(),
    "text": pa.string(),
    "month": pa.date32(),
    "flag": pa.bool_(),
}


@dataclass(frozen=True)
class Column:
    """One column of a report table: its name in the files, its heading in the HTML, what it holds."""

    name: str
    label: str
    kind: ColumnKind
    # a share or figure computed from some counts only: withheld when one of those is small. Empty: withheld
    # when any count of the row is small (the rule for amounts, which could give any count back)
    depends_on: tuple[str, ...] = ()
    # False: in the files only (a code or id the HTML shows by name in another column)
    in_html: bool = True


@dataclass(frozen=True)
class SuppressedRow:
    """A row after suppression: ``values`` with hidden cells set to ``None``.

    ``hidden`` names the counts hidden (1-4 people, or hidden so that one cannot be worked
    out; shown "x"); ``withheld`` the amounts, shares and other figures of the same row,
    hidden because they could give a hidden count away.
    """

    values: dict[str, Any]
    hidden: frozenset[str] = frozenset()
    withheld: frozenset[str] = frozenset()

    @property
    def is_suppressed(self) -> bool:
        return bool(self.hidden or self.withheld)


def is_small_count(value: object, threshold: int = SMALL_CELL_MIN) -> bool:
    """True for a count of 1 to threshold-1 people (0 is shown: it reveals nobody)."""
    return is_small(float(value) if isinstance(value, Decimal) else value, threshold)


def suppress_row(
    row: Mapping[str, Any],
    columns: Sequence[Column],
    hidden: frozenset[str] | None = None,
    threshold: int = SMALL_CELL_MIN,
) -> SuppressedRow:
    """Hide one row's cells: the counts in ``hidden`` (by default its small counts), and what could give them back.

    ``hidden`` comes from ``reports.suppression.suppress`` run over every table (small
    counts and their complements). When any count of the row is hidden, its amounts and other
    figures become ``None`` too (an amount divided by the benefit value would give the count
    back); a share that names the counts it is computed from (``Column.depends_on``) goes
    with those, and is never shown over a denominator below the threshold. Labels stay.

    >>> cols = [Column("persons", "Persons", "count"), Column("amount", "Amount", "amount")]
    >>> suppress_row({"persons": 3, "amount": 1350.0}, cols).values
    {'persons': None, 'amount': None}
    """
    if hidden is None:
        hidden = frozenset(
            c.name for c in columns if c.kind == "count" and is_small_count(row.get(c.name), threshold)
        )
    withheld = frozenset(
        c.name for c in columns if c.kind in WITHHELD_KINDS and _withheld(c, row, hidden, threshold)
    )
    values = {c.name: (None if c.name in hidden | withheld else _plain(row.get(c.name))) for c in columns}
    return SuppressedRow(values, hidden, withheld)


def _withheld(column: Column, row: Mapping[str, Any], hidden: frozenset[str], threshold: int) -> bool:
    if not column.depends_on:
        return bool(hidden)
    if hidden & set(column.depends_on):
        return True
    # a share over fewer people than the threshold would say too much about each of them
    denominator = row.get(column.depends_on[0])
    return column.kind == "share" and denominator is not None and 0 < float(denominator) < threshold


@dataclass(frozen=True)
class Cell:
    """One formatted HTML cell."""

    text: str
    css: str = ""


@dataclass
class ReportTable:
    """One table of a ministry report: shown in the HTML, written as ``<name>.csv`` and ``.parquet``."""

    name: str
    title: str
    note: str
    columns: tuple[Column, ...]
    rows: list[SuppressedRow] = field(default_factory=list)

    def html_columns(self) -> list[Column]:
        return [c for c in self.columns if c.in_html]

    def header(self, currency: str = "") -> list[str]:
        """The HTML headings; amounts name their currency."""
        return [
            f"{c.label} ({currency})" if c.kind == "amount" and currency else c.label
            for c in self.html_columns()
        ]

    def only(self, programme_ids: Sequence[str]) -> ReportTable:
        """The rows of these programmes (a ministry's share of a table suppressed over every programme)."""
        keep = set(programme_ids)
        rows = [r for r in self.rows if r.values.get("programme_id") in keep]
        return ReportTable(self.name, self.title, self.note, self.columns, rows)

    def view(self, names: Sequence[str], **where: Any) -> ReportTable:
        """The same cells, fewer columns (``names``, in that order) and the rows whose values match ``where``:
        a second look at one table (the files are the table's own)."""
        by_name = {c.name: c for c in self.columns}
        rows = [r for r in self.rows if all(r.values.get(k) == v for k, v in where.items())]
        return ReportTable(self.name, self.title, self.note, tuple(by_name[n] for n in names), rows)

    def cells(self) -> list[list[Cell]]:
        """The rows as formatted HTML cells: "x" for a hidden count, "–" for a withheld figure."""
        return [[format_cell(column, row) for column in self.html_columns()] for row in self.rows]

    def arrow(self) -> pa.Table:
        """The rows for the files: suppressed cells are null and the ``suppressed`` column says why."""
        data: dict[str, list[Any]] = {c.name: [r.values[c.name] for r in self.rows] for c in self.columns}
        data[SUPPRESSED_FLAG] = [r.is_suppressed for r in self.rows]
        schema = pa.schema(
            [pa.field(c.name, ARROW_TYPES[c.kind]) for c in self.columns]
            + [pa.field(SUPPRESSED_FLAG, pa.bool_())]
        )
        return pa.Table.from_pydict(data, schema=schema)


TableSpec = tuple[str, str, str, tuple[Column, ...], str]
# ids and codes go to the files; the HTML names them (programme_name, area_name: added by ``_add_names``)
PROGRAMME = Column("programme_id", "Programme id", "text", in_html=False)
PROGRAMME_NAME = Column("programme_name", "Programme", "text")
PERIOD = Column("period_month", "Month", "month")
# the programmes' latest month held, and who each actively pays in it
CURRENT_ACTIVE = """
    current_active as (
        select distinct e.person_id, e.programme_id
        from registry.enrolment as e
        join registry.programme as p on p.programme_id = e.programme_id and p.latest_period_month = e.period_month
        where e.enrolment_status = 'active'
    )"""
# finding -> its words in the HTML, in the order the report lists them
FINDING_LABELS = {
    "deceased_paid": "Deceased still paid",
    "exclusive_overlap": "Exclusive overlap",
    "duplicate_enrolment": "Duplicate enrolment",
    "gap": "Eligible, not paid (gap)",
    "inclusion_error": "Inclusion error",
    "paid_not_eligible": "Paid, not eligible",
}
TABLE_SPECS: tuple[TableSpec, ...] = (
    (
        "headline",
        "Who the programmes pay",
        "People actively paid and the amount paid, in each programme's latest month held.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            PERIOD,
            Column("enrolled_persons", "Persons paid", "count"),
            Column("benefit_amount_monthly", "Amount paid (month)", "amount"),
        ),
        """
        select p.programme_id, p.latest_period_month as period_month,
            count(distinct e.person_id) as enrolled_persons,
            coalesce(sum(e.benefit_amount_monthly), 0) as benefit_amount_monthly
        from registry.programme as p
        left join registry.enrolment as e
            on e.programme_id = p.programme_id and e.period_month = p.latest_period_month
            and e.enrolment_status = 'active'
        where list_contains($ids, p.programme_id)
        group by all order by p.programme_id
        """,
    ),
    (
        "findings_summary",
        "Findings at a glance",
        "People behind each finding, by programme. One person can be behind several findings.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            Column("deceased_paid_persons", "Deceased still paid", "count"),
            Column("exclusive_overlap_persons", "Exclusive overlap", "count"),
            Column("duplicate_enrolment_persons", "Duplicate enrolment", "count"),
            Column("gap_persons", "Eligible, not paid (gap)", "count"),
            Column("inclusion_error_persons", "Inclusion error", "count"),
        ),
        """
        select p.programme_id,
            (select count(distinct person_id) from reports.deceased_paid as f where f.programme_id = p.programme_id)
                as deceased_paid_persons,
            (select count(distinct person_id) from reports.exclusive_overlap as f
                where f.programme_id = p.programme_id) as exclusive_overlap_persons,
            (select count(distinct person_id) from reports.duplicate_enrolment as f
                where f.programme_id = p.programme_id and not f.records_conflict) as duplicate_enrolment_persons,
            (select count(distinct person_id) from reports.gaps as f where f.programme_id = p.programme_id)
                as gap_persons,
            (select count(distinct person_id) from reports.inclusion_errors as f
                where f.programme_id = p.programme_id) as inclusion_error_persons
        from registry.programme as p
        where list_contains($ids, p.programme_id)
        order by p.programme_id
        """,
    ),
    (
        "confidence",
        "How sure we are of each finding",
        "A finding rests on the matching that joined each person's records across sources. Where the matching "
        "was unsure (a cluster split for being too large or holding two national ids, or a pair left for a "
        "clerk), the person is flagged for review: the more of a finding's people are flagged, the more of it "
        "may be a matching error rather than a real case. Check flagged people before acting on them.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            Column("finding", "Finding id", "text", in_html=False),
            Column("finding_label", "Finding", "text"),
            Column("persons", "Persons", "count"),
            Column("review_persons", "Of whom flagged for linkage review", "count"),
            Column("review_share", "Share flagged", "share", depends_on=("persons", "review_persons")),
        ),
        f"""
        with
        flagged as (
            select person_id, bool_or(needs_review) as needs_review
            from registry.person_source_link
            group by person_id
        ),
        {CURRENT_ACTIVE},
        judged as (
            select person_id, programme_id from reports.eligibility where is_eligible or is_undetermined
        ),
        findings as (
            select distinct 'deceased_paid' as finding, programme_id, person_id from reports.deceased_paid
            union all
            select distinct 'exclusive_overlap', programme_id, person_id from reports.exclusive_overlap
            union all
            select distinct 'duplicate_enrolment', programme_id, person_id from reports.duplicate_enrolment
            where not records_conflict
            union all
            select distinct 'gap', programme_id, person_id from reports.gaps
            union all
            select distinct 'inclusion_error', programme_id, person_id from reports.inclusion_errors
            union all
            select 'paid_not_eligible', programme_id, person_id from current_active
            anti join judged using (person_id, programme_id)
        ),
        kinds as (
            select * from (values
                (1, 'deceased_paid'), (2, 'exclusive_overlap'), (3, 'duplicate_enrolment'), (4, 'gap'),
                (5, 'inclusion_error'), (6, 'paid_not_eligible')
            ) as k(finding_order, finding)
        )
        select p.programme_id, k.finding,
            count(distinct f.person_id) as persons,
            count(distinct f.person_id) filter (where flagged.needs_review) as review_persons,
            case when count(distinct f.person_id) > 0
                then count(distinct f.person_id) filter (where flagged.needs_review) / count(distinct f.person_id)
            end as review_share
        from registry.programme as p
        cross join kinds as k
        left join findings as f on f.programme_id = p.programme_id and f.finding = k.finding
        left join flagged on flagged.person_id = f.person_id
        where list_contains($ids, p.programme_id) and (k.finding <> 'inclusion_error' or p.is_means_tested)
        group by p.programme_id, k.finding_order, k.finding
        order by p.programme_id, k.finding_order
        """,
    ),
    (
        "deceased_paid",
        "Deceased still paid",
        "People paid for months that began after their registered death (every month held).",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            Column("persons", "Persons", "count"),
            Column("persons_paid_in_latest_period", "Still paid in latest month", "count"),
            Column("months_paid_since_death", "Months paid since death", "figure"),
            Column("amount_paid_since_death", "Amount paid since death", "amount"),
        ),
        """
        select p.programme_id,
            count(distinct f.person_id) as persons,
            count(distinct f.person_id) filter (where f.is_paid_in_latest_period) as persons_paid_in_latest_period,
            coalesce(sum(f.months_paid_since_death), 0) as months_paid_since_death,
            coalesce(sum(f.amount_paid_since_death), 0) as amount_paid_since_death
        from registry.programme as p
        left join reports.deceased_paid as f on f.programme_id = p.programme_id
        where list_contains($ids, p.programme_id)
        group by all order by p.programme_id
        """,
    ),
    (
        "exclusive_overlap",
        "Exclusive overlaps",
        "People paid in one month by two programmes that may not be combined.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            Column("conflicting_programmes", "Also paid by (ids)", "text", in_html=False),
            Column("conflicting_programme_names", "Also paid by", "text"),
            PERIOD,
            Column("persons", "Persons", "count"),
            Column("benefit_amount_monthly", "Amount paid (month)", "amount"),
        ),
        """
        select programme_id, array_to_string(list_sort(conflicting_programme_ids), ', ') as conflicting_programmes,
            period_month, count(distinct person_id) as persons, sum(benefit_amount_monthly) as benefit_amount_monthly
        from reports.exclusive_overlap
        where list_contains($ids, programme_id)
        group by all order by programme_id, conflicting_programmes, period_month
        """,
    ),
    (
        "duplicate_enrolment",
        "Duplicate enrolments",
        "People with two or more active records of one programme in its latest month whose records agree. "
        "Where the records name different districts or births too far apart, the two records are more "
        "likely two people the matching joined: they are counted apart, to be checked before acting.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            PERIOD,
            Column("persons", "Persons", "count"),
            Column("active_records", "Active records", "figure"),
            Column("benefit_amount_monthly", "Amount paid (month)", "amount"),
            Column("amount_paid_beyond_one_record", "Paid beyond one record", "amount"),
            Column("persons_to_check", "Records conflict: check the match first", "count"),
        ),
        """
        select p.programme_id, p.latest_period_month as period_month,
            count(distinct f.person_id) filter (where not f.records_conflict) as persons,
            coalesce(sum(f.active_records) filter (where not f.records_conflict), 0) as active_records,
            coalesce(sum(f.benefit_amount_monthly) filter (where not f.records_conflict), 0)
                as benefit_amount_monthly,
            coalesce(sum(f.amount_paid_beyond_one_record) filter (where not f.records_conflict), 0)
                as amount_paid_beyond_one_record,
            count(distinct f.person_id) filter (where f.records_conflict) as persons_to_check
        from registry.programme as p
        left join reports.duplicate_enrolment as f on f.programme_id = p.programme_id
        where list_contains($ids, p.programme_id)
        group by all order by p.programme_id
        """,
    ),
    (
        "gaps",
        "Gaps: eligible, not paid",
        "Living people who qualify by the rules but are not paid by the programme (nor by one it excludes), "
        "split three ways that add up to the total: the programme lists them but does not pay them "
        "(suspended or exited); it does not list them and another programme pays them; it does not list "
        "them and no programme pays them.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            PERIOD,
            Column("persons", "Persons", "count"),
            Column("listed_not_paid_persons", "Listed, suspended or exited", "count"),
            Column("paid_elsewhere_persons", "Not listed, paid by another programme", "count"),
            Column("unserved_persons", "Not listed, no programme pays them", "count"),
        ),
        """
        select p.programme_id, p.latest_period_month as period_month, count(distinct f.person_id) as persons,
            count(distinct f.person_id) filter (where f.enrolment_status is not null) as listed_not_paid_persons,
            count(distinct f.person_id) filter (where f.enrolment_status is null and not f.is_unserved)
                as paid_elsewhere_persons,
            count(distinct f.person_id) filter (where f.enrolment_status is null and f.is_unserved)
                as unserved_persons
        from registry.programme as p
        left join reports.gaps as f on f.programme_id = p.programme_id
        where list_contains($ids, p.programme_id)
        group by all order by p.programme_id
        """,
    ),
    (
        "inclusion_errors",
        "Inclusion errors",
        "People paid by a means-tested programme although their declared income is above its threshold.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            PERIOD,
            Column("persons", "Persons", "count"),
            Column("benefit_amount_monthly", "Amount paid (month)", "amount"),
        ),
        """
        select p.programme_id, p.latest_period_month as period_month, count(distinct f.person_id) as persons,
            coalesce(sum(f.benefit_amount_monthly), 0) as benefit_amount_monthly
        from registry.programme as p
        left join reports.inclusion_errors as f on f.programme_id = p.programme_id
        where list_contains($ids, p.programme_id) and p.is_means_tested
        group by all order by p.programme_id
        """,
    ),
    (
        "overlap_matrix",
        "Programme overlap",
        "People paid by both programmes, each in its latest month (the diagonal: the programme alone).",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            Column("other_programme_id", "With programme (id)", "text", in_html=False),
            Column("other_programme_name", "With programme", "text"),
            Column("persons", "Persons", "count"),
            Column("benefit_amount_monthly", "Amount this programme pays them", "amount"),
            Column("is_exclusive_pair", "May not combine", "flag"),
        ),
        """
        select programme_id, other_programme_id, persons, benefit_amount_monthly, is_exclusive_pair
        from reports.programme_overlap_matrix
        where list_contains($ids, programme_id)
        order by programme_id, other_programme_id
        """,
    ),
    (
        "coverage_by_area",
        "Coverage by area",
        "Who qualifies and who is paid, by province and district, in each programme's latest month. "
        "Every paid person is in exactly one of: paid and eligible, paid and not eligible, paid and cannot be "
        "judged. Every person the rules reach is eligible (paid or not) or cannot be judged (paid or not); the "
        "not-paid counts are given for the whole country only (by area they are mostly too small to show).",
        (
            Column("area_level", "Level", "text", in_html=False),
            Column("admin1", "Province code", "text", in_html=False),
            Column("admin2", "District code", "text", in_html=False),
            Column("area_name", "Area", "text"),
            Column("admin1_name", "Province", "text", in_html=False),
            Column("admin2_name", "District", "text", in_html=False),
            PROGRAMME,
            PROGRAMME_NAME,
            Column("enrolled_persons", "Paid", "count"),
            Column("eligible_enrolled_persons", "Paid, eligible", "count"),
            Column("enrolled_not_eligible_persons", "Paid, not eligible", "count"),
            Column("enrolled_undetermined_persons", "Paid, cannot be judged", "count"),
            Column("eligible_persons", "Eligible", "count"),
            Column("eligible_not_enrolled_persons", "Eligible, not paid (country only)", "count"),
            Column("undetermined_persons", "Cannot be judged", "count"),
            Column("undetermined_not_enrolled_persons", "Cannot be judged, not paid (country only)", "count"),
            Column(
                "coverage_share",
                "Coverage (eligible who are paid)",
                "share",
                depends_on=("eligible_persons", "eligible_enrolled_persons"),
            ),
        ),
        """
        select area_level, admin1, admin2, area_name, admin1_name, admin2_name, programme_id,
            enrolled_persons, eligible_enrolled_persons, enrolled_not_eligible_persons, enrolled_undetermined_persons,
            eligible_persons, eligible_not_enrolled_persons, undetermined_persons, undetermined_not_enrolled_persons,
            coverage_share
        from reports.coverage_by_area
        where list_contains($ids, programme_id)
        order by programme_id, case area_level when 'national' then 0 when 'admin1' then 1 else 2 end,
            admin1 nulls last, admin2 nulls last
        """,
    ),
    (
        "undetermined_reasons",
        "Why some people cannot be judged",
        "People whose eligibility the rules cannot decide, by the values their golden record lacks (no source "
        "holds them): they are neither counted eligible nor not eligible, and never counted as a gap. "
        "The rows add up to the whole country's count of people who cannot be judged.",
        (
            PROGRAMME,
            PROGRAMME_NAME,
            Column("unknown_values", "Missing values (columns)", "text", in_html=False),
            Column("missing_values", "What is missing", "text"),
            Column("persons", "Cannot be judged", "count"),
            Column("enrolled_persons", "Of whom paid", "count"),
        ),
        f"""
        with
        {CURRENT_ACTIVE}
        select u.programme_id, coalesce(u.unknown_values, 'unknown') as unknown_values,
            count(*) as persons, count(current_active.person_id) as enrolled_persons
        from reports.eligibility as u
        left join current_active using (person_id, programme_id)
        where u.is_undetermined and list_contains($ids, u.programme_id)
        group by all order by u.programme_id, unknown_values
        """,
    ),
)


def report_tables(con: duckdb.DuckDBPyConnection, rules: ProgrammeRules) -> dict[str, ReportTable]:
    """Every report table over every programme, suppressed: small counts and their complements hidden.

    The counts of all tables are suppressed together (``reports.suppression.suppress``) under
    the relations a reader can use (``report_relations``); each row's amounts and shares
    follow its hidden counts (``suppress_row``). A ministry's report is its rows of these.
    """
    raw: dict[str, list[dict[str, Any]]] = {}
    for name, _title, _note, _columns, sql in TABLE_SPECS:
        try:
            cursor = con.execute(sql, {"ids": rules.ids})
        except duckdb.CatalogException as exc:
            raise ValueError(
                f"ministry report table '{name}' needs the registry and reports of the night "
                f"(build_registry, build_reports): {str(exc).splitlines()[0]}"
            ) from None
        names = [d[0] for d in cursor.description]
        raw[name] = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    _add_names(raw, rules)
    # the not-paid categories are given for the whole country only (see NATIONAL_ONLY)
    for row in raw["coverage_by_area"]:
        if row["area_level"] != "national":
            row.update(dict.fromkeys(NATIONAL_ONLY))
    columns = {name: cols for name, _title, _note, cols, _sql in TABLE_SPECS}
    values: dict[CellKey, Any] = {
        (name, index, column.name): _plain(row.get(column.name))
        for name, rows in raw.items()
        for index, row in enumerate(rows)
        for column in columns[name]
        if column.kind == "count"
    }
    relations, unpublished = report_relations(raw)
    values = {cell: value for cell, value in values.items() if cell not in unpublished}
    hidden = set(suppress(values, relations, rules.small_cell_min, unpublished, _weights(raw, values)).hidden)
    # the country's not-paid counts: the difference of two shown counts, so they tell a reader nothing new;
    # hidden where either is hidden, and where the difference is itself 1 to 4 people
    # (the gaps hold the same number as eligible-not-paid when no programme that excludes this one pays any:
    # shown there, it is shown here too)
    gaps_shown = {
        (row["programme_id"], row["persons"])
        for index, row in enumerate(raw["gaps"])
        if ("gaps", index, "persons") not in hidden
    }
    for index, row in enumerate(raw["coverage_by_area"]):
        if row["area_level"] == "national":
            for whole, part, difference in DIFFERENCES:
                cells = {("coverage_by_area", index, c) for c in (whole, part)}
                elsewhere = (
                    difference == "eligible_not_enrolled_persons"
                    and (row["programme_id"], row[difference]) in gaps_shown
                )
                if (cells & hidden and not elsewhere) or is_small_count(
                    row[difference], rules.small_cell_min
                ):
                    hidden.add(("coverage_by_area", index, difference))
    tables = {}
    for name, title, note, cols, _sql in TABLE_SPECS:
        rows = [
            suppress_row(
                row,
                cols,
                frozenset(c.name for c in cols if (name, index, c.name) in hidden),
                rules.small_cell_min,
            )
            for index, row in enumerate(raw[name])
        ]
        tables[name] = ReportTable(name, title, note, cols, rows)
    return tables


# a golden-record column a rule reads -> what a reader calls it when it is missing
MISSING_VALUE_WORDS = {
    "age_years": "age (no date of birth)",
    "household_size": "household size",
    "sex": "sex",
    "admin1": "province",
    "admin2": "district",
    "is_deceased": "whether alive",
    "unknown": "a value the rule reads",
}


def _add_names(raw: Mapping[str, list[dict[str, Any]]], rules: ProgrammeRules) -> None:
    """Put the names beside the ids and codes: programmes (programmes.yaml), findings, missing values."""

    def name(programme_id: object) -> str:
        programme = rules.by_id.get(str(programme_id))
        return programme.name if programme else str(programme_id)

    for rows in raw.values():
        for row in rows:
            if "programme_id" in row:
                row["programme_name"] = name(row["programme_id"])
            if "other_programme_id" in row:
                row["other_programme_name"] = name(row["other_programme_id"])
            if "conflicting_programmes" in row:
                ids = str(row["conflicting_programmes"] or "").split(", ")
                row["conflicting_programme_names"] = ", ".join(name(i) for i in ids if i)
            if "finding" in row:
                row["finding_label"] = FINDING_LABELS.get(str(row["finding"]), str(row["finding"]))
            if "unknown_values" in row:
                columns = str(row["unknown_values"]).split(", ")
                row["missing_values"] = ", ".join(
                    MISSING_VALUE_WORDS.get(c, c.replace("_", " ")) for c in columns
                )


# coverage counts given for the whole country only, and only as the difference of two shown counts: as
# cells of their own (by area they are most often 1 to 4 people) their protection hid half the coverage shares
# and the child grant's gaps; a reader still subtracts eligible-and-paid from eligible where both are shown,
# as before these columns existed (an open question for the suppression rules)
NATIONAL_ONLY = ("eligible_not_enrolled_persons", "undetermined_not_enrolled_persons")
DIFFERENCES = (
    ("eligible_persons", "eligible_enrolled_persons", "eligible_not_enrolled_persons"),
    ("undetermined_persons", "enrolled_undetermined_persons", "undetermined_not_enrolled_persons"),
)
# a count cell of the report tables: (table name, row number, column name)
CellKey = tuple[str, int, str]
COVERAGE_COUNTS = (
    "eligible_persons",
    "eligible_enrolled_persons",
    "eligible_not_enrolled_persons",
    "enrolled_persons",
    "enrolled_not_eligible_persons",
    "undetermined_persons",
    "enrolled_undetermined_persons",
    "undetermined_not_enrolled_persons",
)
# confidence finding -> the findings_summary column holding the same number
CONFIDENCE_SUMMARY = {
    "deceased_paid": "deceased_paid_persons",
    "exclusive_overlap": "exclusive_overlap_persons",
    "duplicate_enrolment": "duplicate_enrolment_persons",
    "gap": "gap_persons",
    "inclusion_error": "inclusion_error_persons",
}
# findings_summary column -> the table whose `persons` count is the same number
FINDING_TABLES = {
    "deceased_paid_persons": "deceased_paid",
    "duplicate_enrolment_persons": "duplicate_enrolment",
    "gap_persons": "gaps",
    "inclusion_error_persons": "inclusion_errors",
}


def report_relations(raw: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[list[Relation], set[CellKey]]:
    """The linear relations between the report tables' counts that a reader can write down, and the
    unpublished cells they use (each at least 0) to write what a reader knows as inequalities.

    - coverage by area: districts add up to their province, provinces to the country, for
      every count; and on every row paid = eligible and paid + paid, not eligible + paid,
      cannot be judged;
    - one programme's paid persons: the headline, the country's coverage row and the overlap
      matrix's diagonal hold the same number;
    - the findings summary repeats the persons of the deceased, duplicate, gap and
      inclusion-error tables, and of the exclusive-overlap table where it has one row;
    - the overlap matrix is symmetric: (a, b) and (b, a) count the same people;
    - eligible = paid + not paid, cannot be judged = paid + not paid (every row of coverage by area),
      and a gap is listed-not-paid + paid elsewhere + unserved;
    - the confidence table repeats each finding's persons (paid, not eligible: the country's
      coverage row), and the reasons nobody can judge add up to the country's undetermined counts;
    - a part is at most its whole: still paid <= deceased paid, flagged for review <= the finding's
      persons, paid <= a reason's persons, paid by both <= paid by one, each exclusive-overlap row <=
      the programme's overlap persons <= the rows' sum.
    """
    relations: list[Relation] = []
    unpublished: set[CellKey] = set()

    def at_most(part: CellKey, whole: CellKey) -> None:
        """part <= whole, as whole = part + an unpublished remainder."""
        remainder = (f"~{whole[0]}", whole[1], f"{whole[2]}-{part[0]}-{part[1]}-{part[2]}")
        unpublished.add(remainder)
        relations.append(Relation(whole, (part, remainder)))

    by_programme: dict[str, dict[str, list[int]]] = {}
    for name, table_rows in raw.items():
        for index, row in enumerate(table_rows):
            by_programme.setdefault(str(row.get("programme_id")), {}).setdefault(name, []).append(index)

    coverage = raw.get("coverage_by_area", [])
    for programme, tables in by_programme.items():
        rows = tables.get("coverage_by_area", [])
        national = [i for i in rows if coverage[i]["area_level"] == "national"]
        provinces = [i for i in rows if coverage[i]["area_level"] == "admin1"]
        districts = [i for i in rows if coverage[i]["area_level"] == "admin2"]
        for column in COVERAGE_COUNTS:
            cell = ("coverage_by_area", column)
            for n in national:
                relations.append(Relation(_key(cell, n), tuple(_key(cell, a) for a in provinces)))
            for a in provinces:
                parts = [d for d in districts if coverage[d]["admin1"] == coverage[a]["admin1"]]
                relations.append(Relation(_key(cell, a), tuple(_key(cell, d) for d in parts)))
        for i in rows:
            # not suppressed as cells of their own: the country's are shown as differences (``report_tables``)
            unpublished.update(("coverage_by_area", i, c) for c in NATIONAL_ONLY)
            for whole, categories in (
                ("eligible_persons", ("eligible_enrolled_persons", "eligible_not_enrolled_persons")),
                (
                    "undetermined_persons",
                    ("enrolled_undetermined_persons", "undetermined_not_enrolled_persons"),
                ),
            ):
                relations.append(
                    Relation(
                        ("coverage_by_area", i, whole), tuple(("coverage_by_area", i, c) for c in categories)
                    )
                )
            relations.append(
                Relation(
                    ("coverage_by_area", i, "enrolled_persons"),
                    tuple(
                        ("coverage_by_area", i, c)
                        for c in (
                            "eligible_enrolled_persons",
                            "enrolled_not_eligible_persons",
                            "enrolled_undetermined_persons",
                        )
                    ),
                )
            )
        headline = [("headline", i, "enrolled_persons") for i in tables.get("headline", [])]
        same_paid = headline + [("coverage_by_area", n, "enrolled_persons") for n in national]
        same_paid += [
            ("overlap_matrix", i, "persons")
            for i in tables.get("overlap_matrix", [])
            if raw["overlap_matrix"][i]["other_programme_id"] == programme
        ]
        relations += [Relation(same_paid[0], (other,)) for other in same_paid[1:]]
        for summary in tables.get("findings_summary", []):
            for column, table in FINDING_TABLES.items():
                relations += [
                    Relation(("findings_summary", summary, column), ((table, i, "persons"),))
                    for i in tables.get(table, [])
                ]
            overlaps = tables.get("exclusive_overlap", [])
            overlap_total = ("findings_summary", summary, "exclusive_overlap_persons")
            if len(overlaps) == 1:
                relations.append(Relation(overlap_total, (("exclusive_overlap", overlaps[0], "persons"),)))
            elif overlaps:
                # distinct people over the rows: at least any one row, at most their sum
                rows_sum = ("~exclusive_overlap", summary, "persons-sum")
                unpublished.add(rows_sum)
                relations.append(
                    Relation(rows_sum, tuple(("exclusive_overlap", i, "persons") for i in overlaps))
                )
                at_most(overlap_total, rows_sum)
                for i in overlaps:
                    at_most(("exclusive_overlap", i, "persons"), overlap_total)
        for i in tables.get("deceased_paid", []):
            at_most(("deceased_paid", i, "persons_paid_in_latest_period"), ("deceased_paid", i, "persons"))
        for i in tables.get("gaps", []):
            relations.append(
                Relation(
                    ("gaps", i, "persons"),
                    tuple(
                        ("gaps", i, c)
                        for c in ("listed_not_paid_persons", "paid_elsewhere_persons", "unserved_persons")
                    ),
                )
            )
            # the gaps are among the country's eligible people not paid (all of them, when no exclusive
            # programme pays any): a reader knows one from the other, so they are protected together
            for n in national:
                gap, unpaid = ("gaps", i, "persons"), ("coverage_by_area", n, "eligible_not_enrolled_persons")
                if raw["gaps"][i]["persons"] == coverage[n]["eligible_not_enrolled_persons"]:
                    relations.append(Relation(unpaid, (gap,)))
                else:
                    at_most(gap, unpaid)
        # the confidence table repeats each finding's persons; its flagged persons are a part of them
        for i in tables.get("confidence", []):
            finding = str(raw["confidence"][i]["finding"])
            at_most(("confidence", i, "review_persons"), ("confidence", i, "persons"))
            same: list[CellKey] = []
            if finding in CONFIDENCE_SUMMARY:
                same = [
                    ("findings_summary", s, CONFIDENCE_SUMMARY[finding])
                    for s in tables.get("findings_summary", [])
                ]
            elif finding == "paid_not_eligible":
                same = [("coverage_by_area", n, "enrolled_not_eligible_persons") for n in national]
            relations += [Relation(("confidence", i, "persons"), (other,)) for other in same]
        # the reasons add up to the country's people who cannot be judged, and its paid ones
        reasons = tables.get("undetermined_reasons", [])
        for n in national if reasons else []:
            for total, part in (
                ("undetermined_persons", "persons"),
                ("enrolled_undetermined_persons", "enrolled_persons"),
            ):
                relations.append(
                    Relation(
                        ("coverage_by_area", n, total),
                        tuple(("undetermined_reasons", i, part) for i in reasons),
                    )
                )
        for i in reasons:
            at_most(("undetermined_reasons", i, "enrolled_persons"), ("undetermined_reasons", i, "persons"))
    matrix = raw.get("overlap_matrix", [])
    position = {(r["programme_id"], r["other_programme_id"]): i for i, r in enumerate(matrix)}
    for (mine, other), i in position.items():
        j = position.get((other, mine))
        if j is not None and i < j:
            relations.append(Relation(("overlap_matrix", i, "persons"), (("overlap_matrix", j, "persons"),)))
        alone = position.get((mine, mine))
        if alone is not None and alone != i:
            at_most(("overlap_matrix", i, "persons"), ("overlap_matrix", alone, "persons"))
    return relations, unpublished


# the coverage share's numerator and denominator: hiding either withholds the share, the figure a ministry reads
# first, so a complement is taken among the other counts of the row (paid, its categories) at up to this price
SHARE_COUNTS = ("eligible_enrolled_persons", "eligible_persons")
SHARE_WEIGHT = 4.0


def _weights(
    raw: Mapping[str, Sequence[Mapping[str, Any]]], values: Mapping[CellKey, Any]
) -> dict[CellKey, float]:
    """What hiding a cell costs a reader, beyond its size: the programme's own totals are the dearest
    (the headline, the country's coverage row, the overlap diagonal, the findings), provinces next;
    within a coverage row, the two counts of its share (``SHARE_COUNTS``) cost more than the others."""
    weights: dict[CellKey, float] = {}
    for name, index, column in values:
        row = raw[name][index]
        if name in ("headline", "findings_summary") or (
            name == "overlap_matrix" and row["programme_id"] == row["other_programme_id"]
        ):
            weights[(name, index, column)] = 1000.0
        elif name == "coverage_by_area":
            weights[(name, index, column)] = {"national": 1000.0, "admin1": 10.0}.get(
                str(row["area_level"]), 1.0
            ) * (SHARE_WEIGHT if column in SHARE_COUNTS else 1.0)
    return weights


def _key(cell: tuple[str, str], index: int) -> CellKey:
    return (cell[0], index, cell[1])


def _plain(value: object) -> Any:
    """DuckDB values as plain Python for the files: decimals become floats."""
    return float(value) if isinstance(value, Decimal) else value


def format_cell(column: Column, row: SuppressedRow) -> Cell:
    if column.name in row.hidden:
        return Cell(SUPPRESSED_TEXT, "num sup")
    if column.name in row.withheld:
        return Cell(WITHHELD_TEXT, "num sup")
    value = row.values[column.name]
    if value is None:
        return Cell("", "num" if column.kind in ("count", *WITHHELD_KINDS) else "")
    if column.kind == "count":
        return Cell(f"{int(value):,}", "num")
    if column.kind == "amount":
        return Cell(f"{float(value):,.0f}", "num")
    if column.kind == "figure":
        return Cell(f"{float(value):,.0f}", "num")
    if column.kind == "change":
        return Cell(f"{float(value):+,.0f}" if value else "0", "num")
    if column.kind == "share":
        return Cell(f"{float(value):.0%}", "num")
    if column.kind == "month":
        return Cell(value.strftime("%Y-%m") if isinstance(value, date) else str(value))
    if column.kind == "flag":
        return Cell("yes" if value else "")
    return Cell(str(value))
