"""Ministry reports: one self-contained HTML file per ministry, with CSV and Parquet beside it.

A ministry reads the findings for its own programmes (``programmes.yaml`` says who runs
what): people enrolled and paid, deceased still paid, exclusive overlaps, duplicate
enrolments, gaps, inclusion errors, the programme overlap matrix and coverage by area.
The reports leave the restricted warehouse, so they hold **aggregates only** (counts and
amounts by programme, area and month; never a name, an id or a date of birth). Every count
of 1 to 4 people is hidden, and so is every other count that would give one back through
a total, a sub-total or the same number in another table (``reports.suppression``, run
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
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from markupsafe import Markup

from core.country import load_country
from core.sqlutil import table_exists
from registry.programmes import ProgrammeRules, load_programmes
from reports.charts import Bar, bar_chart_svg, template_environment
from reports.ministry_tables import (
    PROGRAMME,
    PROGRAMME_NAME,
    SUPPRESSED_FLAG,
    SUPPRESSED_TEXT,
    WITHHELD_TEXT,
    Cell,
    Column,
    ReportTable,
    SuppressedRow,
    format_cell,
    report_tables,
)

TEMPLATE_NAME = "ministry_report.html.j2"


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
    currency = load_country(home).currency
    out_dir = home / "reports" / night.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    footer = _footer(con, night, run_id, rules)
    template = template_environment().get_template(TEMPLATE_NAME)
    # suppression runs once over every programme: a number two ministries both see is hidden in both
    every_table = report_tables(con, rules)
    written: list[Path] = []
    for ministry, programme_ids in _ministries(rules).items():
        slug = ministry_slug(ministry)
        tables = {name: table.only(programme_ids) for name, table in every_table.items()}
        previous = previous_report(home, night, slug)
        tables["changes"] = changes_table(tables, previous[1] if previous else None)
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
            currency=currency,
            currency_label=currency or "currency units",
            previous_night=previous[0].isoformat() if previous else "",
            coverage_summary=tables["coverage_by_area"].view(COVERAGE_SUMMARY, area_level="national"),
            missing_sources=[
                {**m, "name": source_name(str(m.get("source")), footer.source_programmes, rules)}
                for m in missing_sources
            ],
        )
        html_path = out_dir / f"{slug}.html"
        html_path.write_text(html, encoding="utf-8")
        written.append(html_path)
    return written


def _ministries(rules: ProgrammeRules) -> dict[str, list[str]]:
    """Ministry -> its programme ids, in file order."""
    by_ministry: dict[str, list[str]] = {}
    for programme in rules.programmes:
        by_ministry.setdefault(programme.ministry, []).append(programme.programme_id)
    return by_ministry


# the whole country's coverage row, every category in its group (the template's two-row heading): paid (all,
# eligible, not eligible, cannot be judged), eligible (all, paid, not paid), cannot be judged (all, paid, not paid)
COVERAGE_SUMMARY = (
    "programme_name",
    "enrolled_persons",
    "eligible_enrolled_persons",
    "enrolled_not_eligible_persons",
    "enrolled_undetermined_persons",
    "eligible_persons",
    "eligible_enrolled_persons",
    "eligible_not_enrolled_persons",
    "undetermined_persons",
    "enrolled_undetermined_persons",
    "undetermined_not_enrolled_persons",
    "coverage_share",
)
# (table, column, what it counts): on the programme's row (coverage: the whole country's row)
CHANGE_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("headline", "enrolled_persons", "Persons paid"),
    ("coverage_by_area", "eligible_persons", "Eligible"),
    ("coverage_by_area", "eligible_not_enrolled_persons", "Eligible, not paid"),
    ("coverage_by_area", "enrolled_not_eligible_persons", "Paid, not eligible"),
    ("coverage_by_area", "undetermined_persons", "Cannot be judged"),
    ("findings_summary", "deceased_paid_persons", "Deceased still paid"),
    ("findings_summary", "exclusive_overlap_persons", "Exclusive overlap"),
    ("findings_summary", "duplicate_enrolment_persons", "Duplicate enrolment"),
    ("findings_summary", "gap_persons", "Eligible, not paid (gap)"),
    ("findings_summary", "inclusion_error_persons", "Inclusion error"),
)
CHANGE_COLUMNS = (
    PROGRAMME,
    PROGRAMME_NAME,
    Column("measure", "Column", "text", in_html=False),
    Column("measure_label", "Count", "text"),
    Column("previous_persons", "Last report", "count"),
    Column("persons", "This report", "count"),
    Column("change_persons", "Change", "change"),
)


def previous_report(home: Path, night: date, slug: str) -> tuple[date, Path] | None:
    """The newest earlier night with this ministry's report files in ``<home>/reports/``, and their folder."""
    found: list[tuple[date, Path]] = []
    for folder in (home / "reports").glob("*/"):
        try:
            earlier = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if earlier < night and (folder / slug / "headline.parquet").is_file():
            found.append((earlier, folder / slug))
    return max(found) if found else None


def changes_table(tables: Mapping[str, ReportTable], previous: Path | None) -> ReportTable:
    """Tonight's counts beside the last report's, as both were published (suppressed): a change is given only
    where both numbers are shown, so it tells nothing the two reports do not already say."""
    note = (
        "Each programme's counts in this report beside the same counts in the last report sent, as both "
        "were published. A change is given only where both numbers are shown; a blank is a count the last "
        "report did not have."
    )
    table = ReportTable("changes", "What changed since the last report", note, CHANGE_COLUMNS)
    before: dict[str, dict[str, dict[str, Any]]] = {}
    for name in {m[0] for m in CHANGE_MEASURES}:
        path = previous / f"{name}.parquet" if previous else None
        rows = pq.read_table(path).to_pylist() if path and path.is_file() else []
        before[name] = {
            str(r["programme_id"]): r
            for r in rows
            if name != "coverage_by_area" or r.get("area_level") == "national"
        }
    for programme in tables["headline"].rows:
        programme_id = programme.values["programme_id"]
        for name, column, label in CHANGE_MEASURES:
            now = next(
                (
                    r
                    for r in tables[name].rows
                    if r.values["programme_id"] == programme_id
                    and (name != "coverage_by_area" or r.values["area_level"] == "national")
                ),
                None,
            )
            then = before[name].get(str(programme_id))
            hidden = set()
            now_value = None if now is None else now.values[column]
            if now is not None and column in now.hidden:
                hidden.add("persons")
            then_value = None if then is None else then.get(column)
            if then is not None and column in then and then_value is None and then.get(SUPPRESSED_FLAG):
                hidden.add("previous_persons")
            change = None if now_value is None or then_value is None else int(now_value) - int(then_value)
            values = {
                "programme_id": programme_id,
                "programme_name": programme.values["programme_name"],
                "measure": column,
                "measure_label": label,
                "previous_persons": then_value,
                "persons": now_value,
                "change_persons": change,
            }
            withheld = frozenset({"change_persons"}) if hidden else frozenset()
            table.rows.append(SuppressedRow(values, frozenset(hidden), withheld))
    return table


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
            str(r.values["area_name"]),
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


def _count_text(row: SuppressedRow, name: str) -> str:
    return SUPPRESSED_TEXT if name in row.hidden else f"{int(row.values[name] or 0):,}"


def _coverage_text(row: SuppressedRow) -> str:
    """What a coverage bar says, with what stands beside the share: a share withheld still names the
    counts that are shown, and people paid whom the rules cannot judge are never left out."""
    values = row.values
    eligible = _count_text(row, "eligible_persons")
    if "coverage_share" in row.withheld:
        text = f"{eligible} eligible, share withheld (a count under 5 or hidden)"
    elif values["coverage_share"] is None:
        text = "nobody eligible"
    else:
        text = f"{float(values['coverage_share']):.0%} of {eligible} eligible paid"
    unjudged = values["enrolled_undetermined_persons"]
    if "enrolled_undetermined_persons" in row.hidden or unjudged:
        text += f"; {_count_text(row, 'enrolled_undetermined_persons')} paid cannot be judged"
    return text


@dataclass(frozen=True)
class Matrix:
    """The overlap matrix as a grid: ministry programmes down, every programme across."""

    columns: list[str]
    rows: list[tuple[str, list[Cell]]]


def _matrix(table: ReportTable, rules: ProgrammeRules) -> Matrix:
    columns = rules.ids
    names = {p.programme_id: p.name for p in rules.programmes}
    grid: dict[str, dict[str, Cell]] = {}
    for row in table.rows:
        mine, other = str(row.values["programme_id"]), str(row.values["other_programme_id"])
        cell = format_cell(Column("persons", "", "count"), row)
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
    return Matrix(
        [names[c] for c in columns],
        [(names.get(mine, mine), [grid[mine].get(c, Cell("")) for c in columns]) for mine in grid],
    )


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


def source_name(source: str, source_programmes: Mapping[str, set[str]], rules: ProgrammeRules) -> str:
    """What a reader calls a source: the programme it pays, by name (``programmes.yaml``), when it pays one;
    otherwise its id in words (``civil_registry`` -> ``Civil registry``).

    >>> source_name("tax_registry", {}, ProgrammeRules(Path("p.yaml"), (), ()))
    'Tax registry'
    """
    paid = sorted(source_programmes.get(source, ()))
    if len(paid) == 1 and paid[0] in rules.by_id:
        return rules.by_id[paid[0]].name
    words = source.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _footer(con: duckdb.DuckDBPyConnection, night: date, run_id: str, rules: ProgrammeRules) -> Footer:
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
    for entry in files:
        entry["source_name"] = source_name(str(entry["source"]), source_programmes, rules)
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
