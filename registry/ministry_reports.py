"""Ministry reports: one self-contained HTML file per ministry, with CSV and Parquet beside it.

A ministry reads the findings for its own programmes (``programmes.yaml`` says who runs
what): people enrolled and paid, deceased still paid, exclusive overlaps, duplicate
enrolments, gaps, inclusion errors, the programme overlap matrix and coverage by area.
The reports leave the restricted warehouse, so they hold **aggregates only** (counts and
amounts by programme, area and month; never a name, an id or a date of birth). Every count
of 1 to 4 people is hidden, and so is every other count that would give one back through
a total, a sub-total or the same number in another table (``registry.suppression``, run
once over every table of every ministry, so the same number is hidden everywhere); amounts
and shares beside a hidden count are withheld (``suppress_row``). The HTML and the files
carry the same cells.

The HTML opens offline: inline CSS, charts as inline SVG drawn here, no script, no link.

Example::

    paths = render_ministry_reports(con, home, date(2026, 3, 1), run_id="abc123")
    # <home>/reports/2026-03-01/ministry-of-labour.html
    # <home>/reports/2026-03-01/ministry-of-labour/gaps.csv, gaps.parquet, ...
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any, Literal

import duckdb
import jinja2
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from markupsafe import Markup

from ingest.sqlutil import table_exists
from registry.programmes import ProgrammeRules, load_programmes
from registry.suppression import SMALL_CELL_MIN, Relation, is_small, suppress

# a hidden count: small (1-4 people) or hidden with one so that it cannot be worked out; the two look the same,
# since telling them apart would bound the small one (a complement is 5 or more)
SUPPRESSED_TEXT = "x"
# an amount, share or other figure of a row whose count was suppressed: withheld, since it could reveal the count
WITHHELD_TEXT = "–"
SUPPRESSED_FLAG = "suppressed"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "ministry_report.html.j2"

# what a column holds decides how it is suppressed, formatted and typed in the files:
# count (people; suppressed when 1-4), figure (amount, share, months: withheld with the row's small counts),
# text / month / flag (labels: never suppressed)
ColumnKind = Literal["count", "amount", "share", "figure", "text", "month", "flag"]
WITHHELD_KINDS = frozenset({"amount", "share", "figure"})
ARROW_TYPES: dict[str, pa.DataType] = {
    "count": pa.int64(),
    "amount": pa.float64(),
    "share": pa.float64(),
    "figure": pa.float64(),
    "text": pa.string(),
    "month": pa.date32(),
    "flag": pa.bool_(),
}
PALETTE = ("#2f6f9f", "#d0793a", "#4b9a6a", "#a4508b", "#7d7d2f", "#5b5fb3")


@dataclass(frozen=True)
class Column:
    """One column of a report table: its name in the files, its heading in the HTML, what it holds."""

    name: str
    label: str
    kind: ColumnKind
    # a share or figure computed from some counts only: withheld when one of those is small. Empty: withheld
    # when any count of the row is small (the rule for amounts, which could give any count back)
    depends_on: tuple[str, ...] = ()


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

    ``hidden`` comes from ``registry.suppression.suppress`` run over every table (small
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

    def header(self) -> list[str]:
        return [c.label for c in self.columns]

    def only(self, programme_ids: Sequence[str]) -> ReportTable:
        """The rows of these programmes (a ministry's share of a table suppressed over every programme)."""
        keep = set(programme_ids)
        rows = [r for r in self.rows if r.values.get("programme_id") in keep]
        return ReportTable(self.name, self.title, self.note, self.columns, rows)

    def cells(self) -> list[list[Cell]]:
        """The rows as formatted HTML cells: "<5" for a small count, "–" for a withheld figure."""
        return [[_cell(column, row) for column in self.columns] for row in self.rows]

    def arrow(self) -> pa.Table:
        """The rows for the files: suppressed cells are null and the ``suppressed`` column says why."""
        data: dict[str, list[Any]] = {c.name: [r.values[c.name] for r in self.rows] for c in self.columns}
        data[SUPPRESSED_FLAG] = [r.is_suppressed for r in self.rows]
        schema = pa.schema(
            [pa.field(c.name, ARROW_TYPES[c.kind]) for c in self.columns]
            + [pa.field(SUPPRESSED_FLAG, pa.bool_())]
        )
        return pa.Table.from_pydict(data, schema=schema)


@dataclass(frozen=True)
class Bar:
    """One bar of a chart. ``value`` ``None``: nothing to draw (suppressed or no data); ``text`` says which."""

    label: str
    value: float | None
    text: str
    group: str = ""
    series: int = 0


def bar_chart_svg(
    bars: Sequence[Bar], *, title: str, legend: Sequence[str] = (), max_value: float | None = None
) -> Markup:
    """A horizontal bar chart as inline SVG (no script, no font file): one row per bar, grouped under
    ``group`` headings, coloured by ``series`` with an optional legend. Labels are escaped here."""
    width, label_w, value_w, row_h, head_h = 760, 230, 70, 18, 22
    plot_w = width - label_w - value_w
    top = max_value if max_value is not None else max((b.value or 0.0 for b in bars), default=0.0)
    top = top if top > 0 else 1.0
    parts: list[str] = []
    y = 26 + (20 if legend else 0)
    for index, name in enumerate(legend):
        x = 10 + index * 150
        parts.append(f'<rect x="{x}" y="30" width="10" height="10" fill="{PALETTE[index % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 14}" y="39" class="lg">{escape(name)}</text>')
    group = None
    for bar in bars:
        if bar.group and bar.group != group:
            group = bar.group
            parts.append(f'<text x="4" y="{y + 15}" class="gh">{escape(bar.group)}</text>')
            y += head_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" class="lb" text-anchor="end">{escape(bar.label)}</text>'
        )
        length = 0.0 if bar.value is None else max(0.0, bar.value) / top * plot_w
        colour = PALETTE[bar.series % len(PALETTE)]
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{label_w + length + 5:.1f}" y="{y + 13}" class="vl">{escape(bar.text)}</text>'
        )
        y += row_h
    height = y + 8
    return Markup(
        # inline SVG in HTML needs no namespace attribute: the file holds no URL at all
        f'<svg role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<text x="4" y="16" class="ct">{escape(title)}</text>'
        f"{''.join(parts)}</svg>"
    )


def ministry_slug(ministry: str) -> str:
    """File-name form of a ministry: ``Ministry of Social Development`` -> ``ministry-of-social-development``."""
    slug = re.sub(r"[^a-z0-9]+", "-", ministry.lower()).strip("-")
    if not slug:
        raise ValueError(f"ministry {ministry!r} gives an empty file name; use letters or digits in its name")
    return slug


def render_ministry_reports(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    night: date,
    run_id: str = "",
    missing_sources: Sequence[Mapping[str, str]] = (),
) -> list[Path]:
    """Write ``<home>/reports/<night>/<ministry-slug>.html`` for every ministry of ``programmes.yaml``, and
    ``<ministry-slug>/<table>.csv`` and ``.parquet`` for each table it shows; return every path written.

    ``missing_sources`` (``published.json``'s list: source, expected, late_since) puts a banner on a partial
    night's reports naming each expected source that had not arrived.

    ``con`` holds ``registry.*``, ``reports.*`` (``build_reports`` for ``night``) and ``audit.*``.
    Only aggregates leave: small counts and their complements are hidden (``report_tables``).
    """
    rules = load_programmes(home / "programmes.yaml")
    out_dir = home / "reports" / night.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    footer = _footer(con, night, run_id)
    template = _environment().get_template(TEMPLATE_NAME)
    # suppression runs once over every programme: a number two ministries both see is hidden in both
    every_table = report_tables(con, rules)
    written: list[Path] = []
    for ministry, programme_ids in _ministries(rules).items():
        slug = ministry_slug(ministry)
        tables = {name: table.only(programme_ids) for name, table in every_table.items()}
        files_dir = out_dir / slug
        files_dir.mkdir(exist_ok=True)
        for table in tables.values():
            arrow = table.arrow()
            csv_path, parquet_path = files_dir / f"{table.name}.csv", files_dir / f"{table.name}.parquet"
            pa_csv.write_csv(arrow, csv_path)
            pq.write_table(arrow, parquet_path)
            written += [csv_path, parquet_path]
        html = template.render(
            ministry=ministry,
            night=night.isoformat(),
            run_id=run_id,
            programmes=[rules.by_id[p] for p in programme_ids],
            tables=tables,
            files_dir=slug,
            charts=_charts(tables, rules),
            matrix=_matrix(tables["overlap_matrix"], rules),
            footer=footer.for_programmes(programme_ids),
            suppressed_text=SUPPRESSED_TEXT,
            withheld_text=WITHHELD_TEXT,
            small_cell_min=rules.small_cell_min,
            missing_sources=missing_sources,
        )
        html_path = out_dir / f"{slug}.html"
        html_path.write_text(html, encoding="utf-8")
        written.append(html_path)
    return written


# ---------------------------------------------------------------------------------------------------------
# the tables: one aggregate query each, scoped to the ministry's programmes ($ids)

TableSpec = tuple[str, str, str, tuple[Column, ...], str]

PROGRAMME = Column("programme_id", "Programme", "text")
PERIOD = Column("period_month", "Month", "month")

TABLE_SPECS: tuple[TableSpec, ...] = (
    (
        "headline",
        "Who the programmes pay",
        "People actively paid and the amount paid, in each programme's latest month held.",
        (
            PROGRAMME,
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
        "People behind each finding, by programme.",
        (
            PROGRAMME,
            Column("deceased_paid_persons", "Deceased still paid", "count"),
            Column("exclusive_overlap_persons", "Exclusive overlap", "count"),
            Column("duplicate_enrolment_persons", "Duplicate enrolment", "count"),
            Column("gap_persons", "Eligible, not enrolled", "count"),
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
        "deceased_paid",
        "Deceased still paid",
        "People paid for months that began after their registered death (every month held).",
        (
            PROGRAMME,
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
            Column("conflicting_programmes", "Also paid by", "text"),
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
        "Gaps: eligible, not enrolled",
        "Living people who qualify by the rules but are not paid by the programme (nor by one it excludes).",
        (
            PROGRAMME,
            PERIOD,
            Column("persons", "Persons", "count"),
            Column("unserved_persons", "Of whom no programme pays", "count"),
            Column("listed_not_paid_persons", "Of whom listed, suspended or exited", "count"),
        ),
        """
        select p.programme_id, p.latest_period_month as period_month, count(distinct f.person_id) as persons,
            count(distinct f.person_id) filter (where f.is_unserved) as unserved_persons,
            count(distinct f.person_id) filter (where f.enrolment_status is not null) as listed_not_paid_persons
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
            Column("other_programme_id", "With programme", "text"),
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
        "Paid = eligible and paid + paid, not eligible + paid, cannot be judged.",
        (
            Column("area_level", "Level", "text"),
            Column("admin1", "Province", "text"),
            Column("admin2", "District", "text"),
            PROGRAMME,
            Column("eligible_persons", "Eligible", "count"),
            Column("eligible_enrolled_persons", "Eligible and paid", "count"),
            Column("enrolled_persons", "Paid", "count"),
            Column("enrolled_not_eligible_persons", "Paid, not eligible", "count"),
            Column("undetermined_persons", "Cannot be judged", "count"),
            Column("enrolled_undetermined_persons", "Paid, cannot be judged", "count"),
            Column(
                "coverage_share",
                "Coverage",
                "share",
                depends_on=("eligible_persons", "eligible_enrolled_persons"),
            ),
        ),
        """
        select area_level, admin1, admin2, programme_id, eligible_persons, eligible_enrolled_persons,
            enrolled_persons, enrolled_not_eligible_persons, undetermined_persons, enrolled_undetermined_persons,
            coverage_share
        from reports.coverage_by_area
        where list_contains($ids, programme_id)
        order by programme_id, case area_level when 'national' then 0 when 'admin1' then 1 else 2 end,
            admin1 nulls last, admin2 nulls last
        """,
    ),
)


def report_tables(con: duckdb.DuckDBPyConnection, rules: ProgrammeRules) -> dict[str, ReportTable]:
    """Every report table over every programme, suppressed: small counts and their complements hidden.

    The counts of all tables are suppressed together (``registry.suppression.suppress``) under
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
    columns = {name: cols for name, _title, _note, cols, _sql in TABLE_SPECS}
    values: dict[CellKey, Any] = {
        (name, index, column.name): _plain(row.get(column.name))
        for name, rows in raw.items()
        for index, row in enumerate(rows)
        for column in columns[name]
        if column.kind == "count"
    }
    relations, unpublished = report_relations(raw)
    hidden = suppress(values, relations, rules.small_cell_min, unpublished, _weights(raw, values)).hidden
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


# a count cell of the report tables: (table name, row number, column name)
CellKey = tuple[str, int, str]
COVERAGE_COUNTS = (
    "eligible_persons",
    "eligible_enrolled_persons",
    "enrolled_persons",
    "enrolled_not_eligible_persons",
    "undetermined_persons",
    "enrolled_undetermined_persons",
)
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
    - a part is at most its whole: eligible and paid <= eligible, paid and undetermined <=
      undetermined, still paid <= deceased paid, unserved or listed <= gaps, paid by both <=
      paid by one, each exclusive-overlap row <= the programme's overlap persons <= the rows' sum.
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
            at_most(
                ("coverage_by_area", i, "eligible_enrolled_persons"),
                ("coverage_by_area", i, "eligible_persons"),
            )
            at_most(
                ("coverage_by_area", i, "enrolled_undetermined_persons"),
                ("coverage_by_area", i, "undetermined_persons"),
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
            at_most(("gaps", i, "unserved_persons"), ("gaps", i, "persons"))
            at_most(("gaps", i, "listed_not_paid_persons"), ("gaps", i, "persons"))
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


def _weights(
    raw: Mapping[str, Sequence[Mapping[str, Any]]], values: Mapping[CellKey, Any]
) -> dict[CellKey, float]:
    """What hiding a cell costs a reader, beyond its size: the programme's own totals are the dearest
    (the headline, the country's coverage row, the overlap diagonal, the findings), provinces next."""
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
            )
    return weights


def _key(cell: tuple[str, str], index: int) -> CellKey:
    return (cell[0], index, cell[1])


def _ministries(rules: ProgrammeRules) -> dict[str, list[str]]:
    """Ministry -> its programme ids, in file order."""
    by_ministry: dict[str, list[str]] = {}
    for programme in rules.programmes:
        by_ministry.setdefault(programme.ministry, []).append(programme.programme_id)
    return by_ministry


# ---------------------------------------------------------------------------------------------------------
# charts and the matrix


def _charts(tables: Mapping[str, ReportTable], rules: ProgrammeRules) -> dict[str, Markup]:
    names = {p.programme_id: p.name for p in rules.programmes}
    finding_columns = [c for c in tables["findings_summary"].columns if c.kind == "count"]
    finding_bars = [
        Bar(
            column.label,
            _bar_value(row, column.name),
            _bar_text(row, column.name),
            group=names.get(str(row.values["programme_id"]), str(row.values["programme_id"])),
            series=index,
        )
        for row in tables["findings_summary"].rows
        for index, column in enumerate(finding_columns)
    ]
    coverage_rows = [
        r for r in tables["coverage_by_area"].rows if r.values["area_level"] in ("national", "admin1")
    ]
    coverage_bars = [
        Bar(
            "Whole country" if r.values["area_level"] == "national" else str(r.values["admin1"] or "unknown"),
            None if r.values["coverage_share"] is None else float(r.values["coverage_share"]),
            _coverage_text(r),
            group=names.get(str(r.values["programme_id"]), str(r.values["programme_id"])),
            series=0 if r.values["area_level"] == "admin1" else 1,
        )
        for r in coverage_rows
    ]
    return {
        "findings": bar_chart_svg(finding_bars, title="Persons per finding, by programme"),
        "coverage": bar_chart_svg(
            coverage_bars, title="Coverage: share of eligible people who are paid, by province", max_value=1.0
        ),
    }


def _bar_value(row: SuppressedRow, name: str) -> float | None:
    value = row.values[name]
    return None if value is None else float(value)


def _bar_text(row: SuppressedRow, name: str) -> str:
    if name in row.hidden:
        return SUPPRESSED_TEXT
    value = row.values[name]
    return "no data" if value is None else f"{int(value):,}"


def _coverage_text(row: SuppressedRow) -> str:
    if "coverage_share" in row.withheld:
        return "withheld: too few people, or hidden to protect a small count"
    share, eligible = row.values["coverage_share"], row.values["eligible_persons"]
    return "nobody eligible" if share is None else f"{float(share):.0%} of {int(eligible):,}"


@dataclass(frozen=True)
class Matrix:
    """The overlap matrix as a grid: ministry programmes down, every programme across."""

    columns: list[str]
    rows: list[tuple[str, list[Cell]]]


def _matrix(table: ReportTable, rules: ProgrammeRules) -> Matrix:
    columns = rules.ids
    grid: dict[str, dict[str, Cell]] = {}
    for row in table.rows:
        mine, other = str(row.values["programme_id"]), str(row.values["other_programme_id"])
        cell = _cell(Column("persons", "", "count"), row)
        css = " ".join(
            x
            for x in (
                cell.css,
                "excl" if row.values["is_exclusive_pair"] else "",
                "diag" if mine == other else "",
            )
            if x
        )
        grid.setdefault(mine, {})[other] = Cell(cell.text, css)
    return Matrix(columns, [(mine, [grid[mine].get(c, Cell("")) for c in columns]) for mine in grid])


# ---------------------------------------------------------------------------------------------------------
# footer: the drops used and the data-quality status of the night


LAYER_ORDER = ("source", "staging", "linkage", "registry", "reports", "cross_night")


@dataclass(frozen=True)
class CheckCount:
    """The checks of one layer and severity in this run: how many ran, passed and failed."""

    layer: str
    severity: str
    checks: int
    passed: int
    failed: int


@dataclass(frozen=True)
class Footer:
    files: list[dict[str, Any]]
    checks: list[CheckCount]
    checks_recorded: bool
    quarantined_rows: int | None
    rejected_files: int | None
    # source -> the programmes it pays (sources that pay nobody, the registries, are every ministry's input)
    source_programmes: dict[str, set[str]] = field(default_factory=dict)
    other_files: int = 0

    def for_programmes(self, programme_ids: Sequence[str]) -> Footer:
        """The footer a ministry sees: the drops of its own programmes and of the shared registries only."""
        mine = set(programme_ids)

        def shown(source: str) -> bool:
            paid = self.source_programmes.get(source)
            return not paid or bool(paid & mine)

        files = [f for f in self.files if shown(str(f["source"]))]
        return dataclasses.replace(self, files=files, other_files=len(self.files) - len(files))


def _footer(con: duckdb.DuckDBPyConnection, night: date, run_id: str) -> Footer:
    files: list[dict[str, Any]] = []
    rejected: int | None = None
    if table_exists(con, "audit", "files"):
        for source, path, status, rows_in, accepted, rejected_rows, sha in con.execute(
            "select source, file_path, status, rows_in, rows_accepted, rows_rejected, file_sha256 "
            "from audit.files where night = $night order by source, file_path",
            {"night": night},
        ).fetchall():
            files.append(
                {
                    "source": source,
                    "file": Path(str(path)).name,
                    "status": status,
                    "rows_in": rows_in,
                    "rows_accepted": accepted,
                    "rows_rejected": rejected_rows,
                    "sha256": (sha or "")[:12],
                }
            )
        rejected = sum(1 for f in files if f["status"] == "rejected")
    quarantined: int | None = None
    if table_exists(con, "audit", "quarantine"):
        quarantined = int(
            con.execute(
                "select count(*) from audit.quarantine where night = $night", {"night": night}
            ).fetchall()[0][0]
        )
    checks = check_summary(con, night, run_id)
    source_programmes: dict[str, set[str]] = {}
    if table_exists(con, "registry", "enrolment"):
        for source, programme_id in con.execute(
            "select distinct source, programme_id from registry.enrolment"
        ).fetchall():
            source_programmes.setdefault(str(source), set()).add(str(programme_id))
    return Footer(files, checks, bool(checks), quarantined, rejected, source_programmes)


def check_summary(con: duckdb.DuckDBPyConnection, night: date, run_id: str) -> list[CheckCount]:
    """This run's data-quality checks, counted by layer and severity: numbers only, never a key or a check's details.

    Only the run that wrote the report counts (a rerun of the night has its own rows in
    ``audit.checks``); empty when the run recorded no check.
    """
    if not table_exists(con, "audit", "checks"):
        return []
    rows = con.execute(
        """
        select layer, severity, count(*) as checks,
            count(*) filter (where passed) as passed, count(*) filter (where not passed) as failed
        from audit.checks
        where night = $night and run_id = $run_id
        group by layer, severity
        """,
        {"night": night, "run_id": run_id},
    ).fetchall()
    order = {layer: i for i, layer in enumerate(LAYER_ORDER)}
    counts = [CheckCount(str(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in rows]
    return sorted(counts, key=lambda c: (order.get(c.layer, len(order)), c.layer, c.severity))


# ---------------------------------------------------------------------------------------------------------
# formatting


def _plain(value: object) -> Any:
    """DuckDB values as plain Python for the files: decimals become floats."""
    return float(value) if isinstance(value, Decimal) else value


def _cell(column: Column, row: SuppressedRow) -> Cell:
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
    if column.kind == "share":
        return Cell(f"{float(value):.0%}", "num")
    if column.kind == "month":
        return Cell(value.strftime("%Y-%m") if isinstance(value, date) else str(value))
    if column.kind == "flag":
        return Cell("yes" if value else "")
    return Cell(str(value))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
