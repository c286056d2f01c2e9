"""Ministry reports: self-contained HTML with CSV and Parquet beside it, aggregates only, small cells suppressed.

A ministry relies on two things: the file opens anywhere (no script, no link out), and it
never lets a person be picked out (no name, id, record key or birth date; no count of 1-4 people,
shown or recoverable from the other numbers).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import night_instance

from bench.attack import ROW_KEYS, Cell, attack, published_counts, reader_relations
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings
from registry import build_registry, build_reports, load_programmes
from reports.charts import Bar, bar_chart_svg
from reports.ministry import CHANGE_MEASURES, ministry_slug, render_ministry_reports
from reports.ministry_tables import (
    NATIONAL_ONLY,
    SUPPRESSED_FLAG,
    SUPPRESSED_TEXT,
    TABLE_SPECS,
    Column,
    report_tables,
    suppress_row,
)
from reports.suppression import Relation, intervals, pinned_cells, suppress
from staging.standardise import register_functions
from synthetic import generate

COLUMNS = [
    Column("programme_id", "Programme", "text"),
    Column("persons", "Persons", "count"),
    Column("paid_persons", "Paid", "count"),
    Column("amount", "Amount", "amount"),
    Column("coverage_share", "Coverage", "share"),
]


@pytest.mark.parametrize(
    ("description", "row", "small", "values"),
    [
        (
            "0 people reveals nobody: shown",
            {"programme_id": "p", "persons": 0, "paid_persons": 0, "amount": 0, "coverage_share": None},
            set(),
            {"persons": 0, "paid_persons": 0, "amount": 0},
        ),
        (
            "1 person is suppressed, and so is the row's amount and share",
            {"programme_id": "p", "persons": 1, "paid_persons": 9, "amount": 450, "coverage_share": 0.5},
            {"persons"},
            {"persons": None, "paid_persons": 9, "amount": None, "coverage_share": None},
        ),
        (
            "4 people is the largest suppressed count",
            {"programme_id": "p", "persons": 12, "paid_persons": 4, "amount": 1800, "coverage_share": 0.3},
            {"paid_persons"},
            {"persons": 12, "paid_persons": None, "amount": None},
        ),
        (
            "5 people is shown",
            {"programme_id": "p", "persons": 5, "paid_persons": 5, "amount": 2250, "coverage_share": 1.0},
            set(),
            {"persons": 5, "paid_persons": 5, "amount": 2250, "coverage_share": 1.0},
        ),
    ],
)
def test_small_cell_rule(description, row, small, values):
    """Counts of 1-4 people are hidden; an amount beside a hidden count could give it back, so it goes too."""
    got = suppress_row(row, COLUMNS)
    assert set(got.hidden) == small, description
    assert got.is_suppressed == bool(small), description
    for name, expected in values.items():
        assert got.values[name] == expected, (description, name)
    assert got.values["programme_id"] == "p", "labels are never suppressed"


def test_chart_is_inline_svg_without_links_and_escapes_labels():
    svg = str(bar_chart_svg([Bar("<b>x</b>", None, "<5", group="g&h")], title="t"))
    assert svg.startswith("<svg") and "http" not in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "g&amp;h" in svg
    assert "&lt;5" in svg


def test_ministry_slug():
    assert ministry_slug("Ministry of Social Development") == "ministry-of-social-development"
    assert ministry_slug("Min. of Labour & Work") == "min-of-labour-work"


# ---------------------------------------------------------------------------------------------------------
# a generated country, end to end (as tests/test_registry.py builds it)

COUNTRY_NIGHTS = ("2026-02-01", "2026-03-01")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    home = tmp_path_factory.mktemp("country")
    generate(home, people=1500, nights=2, seed=11)
    (home / "linkage.yaml").write_text(yaml.safe_dump({"u_max_pairs": 200_000}), encoding="utf-8")
    job = build_defs(Settings(home=home)).resolve_job_def(NIGHTLY_JOB)
    for night in COUNTRY_NIGHTS:
        result = job.execute_in_process(
            partition_key=night, instance=night_instance(night), raise_on_error=False
        )
        assert result.success
    night = date.fromisoformat(COUNTRY_NIGHTS[-1])
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        build_registry(con, home, night)
        build_reports(con, home, night)
        # the report of the night's last run: its footer counts that run's checks
        (run_id,) = con.execute(
            "select run_id from audit.checks where night = $night order by checked_at desc limit 1",
            {"night": night},
        ).fetchall()[0]
        paths = render_ministry_reports(con, home, night, run_id=run_id)
    return home, paths


def _personal_values(home: Path) -> set[str]:
    """A few hundred real ids, names and birth dates from the warehouse, as the text a leak would show."""
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        ids = con.execute(
            "select person_id from registry.person using sample 200 rows (reservoir, 1)"
        ).fetchall()
        records = con.execute(
            "select national_id, first_name, last_name, date_of_birth from staging.person_records "
            "using sample 300 rows (reservoir, 2)"
        ).fetchall()
    values = {str(v) for (v,) in ids}
    for national_id, first_name, last_name, born in records:
        values |= {str(national_id or ""), str(born or "")}
        # short names ("li") occur inside ordinary words: look for names long enough to be a leak
        values |= {n for n in (first_name, last_name) if n and len(n) >= 6}
    # a name that is also a word our own reports and checks use ("change") is not a leak when it appears
    root = Path(__file__).resolve().parents[1]
    own_text = " ".join(
        p.read_text(encoding="utf-8").lower()
        for p in [*root.glob("*/templates/*.j2"), *root.glob("quality/*.py"), *root.glob("registry/*.py")]
    )
    own_words = set(re.findall(r"[a-z]+", own_text))
    return {v for v in values if len(v) >= 6 and v.lower() not in own_words}


def test_one_html_per_ministry_with_files_beside_it(reports):
    home, paths = reports
    rules = load_programmes(home / "programmes.yaml")
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    ministries = {p.ministry for p in rules.programmes}
    # beside them only the auditor's report, which publish renders into the same night folder
    html = {p.name for p in out.glob("*.html")}
    assert html == {f"{ministry_slug(m)}.html" for m in ministries} | {"auditor_report.html"}
    for ministry in ministries:
        folder = out / ministry_slug(ministry)
        for name, _title, _note, columns, _sql in TABLE_SPECS:
            expected = [c.name for c in columns] + [SUPPRESSED_FLAG]
            assert pa_csv.read_csv(folder / f"{name}.csv").column_names == expected, name
            assert pq.read_table(folder / f"{name}.parquet").column_names == expected, name
    assert all(p.is_file() for p in paths)


def test_html_is_self_contained(reports):
    """Every report of the night opens offline and runs nothing: no script, no link to the web."""
    home, paths = reports
    every_html = list((home / "reports" / COUNTRY_NIGHTS[-1]).glob("*.html"))
    assert len(every_html) == sum(p.suffix == ".html" for p in paths) + 1  # the ministries' and the auditor's
    for html in every_html:
        text = html.read_text(encoding="utf-8").lower()
        assert "<script" not in text, html.name
        assert "http://" not in text and "https://" not in text, html.name
    for html in (p for p in paths if p.suffix == ".html"):
        text = html.read_text(encoding="utf-8").lower()
        assert "<svg" in text and _last_run(home) in text, html.name


def test_no_personal_value_leaves_the_warehouse(reports):
    home, _ = reports
    values = _personal_values(home)
    assert len(values) > 200
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    texts = [p.read_text(encoding="utf-8") for p in [*out.glob("*.html"), *out.glob("*/*.csv")]]
    for text in texts:
        leaked = [v for v in values if v in text]
        assert not leaked, leaked[:5]


def _last_run(home: Path) -> str:
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        return str(
            con.execute(
                "select run_id from audit.checks where night = $night order by checked_at desc limit 1",
                {"night": date.fromisoformat(COUNTRY_NIGHTS[-1])},
            ).fetchall()[0][0]
        )


def test_suppressed_cells_are_shown_as_hidden(reports):
    """Every small count in the files is null with the flag set, and the HTML shows the hidden mark for each."""
    home, _ = reports
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    flagged = 0
    for folder in (p for p in out.iterdir() if p.is_dir()):
        html = (out / f"{folder.name}.html").read_text(encoding="utf-8")
        for name, _title, _note, columns, _sql in TABLE_SPECS:
            table = pq.read_table(folder / f"{name}.parquet").to_pylist()
            for row in table:
                counts = [row[c.name] for c in columns if c.kind == "count"]
                assert not any(v is not None and 0 < v < 5 for v in counts), (name, row)
                if row[SUPPRESSED_FLAG]:
                    flagged += 1
                    assert None in counts, (name, row)
        if flagged:
            assert f'class="num sup">{SUPPRESSED_TEXT}<' in html
    assert flagged > 0, "the generated country has small cells: the rule must have fired"


# ---------------------------------------------------------------------------------------------------------
# complementary suppression: the routine, then an attack on the published reports


@pytest.mark.parametrize(
    ("description", "values", "relations", "hidden"),
    [
        (
            "the issue's district: paid 29 = eligible-and-paid 26 + not eligible 3; hiding 3 alone gives it back",
            {"paid": 29, "eligible_paid": 26, "not_eligible": 3},
            [Relation("paid", ("eligible_paid", "not_eligible"))],
            {"eligible_paid", "not_eligible"},
        ),
        (
            "the complement is the smallest other non-zero cell, never a zero",
            {"t": 40, "a": 2, "b": 0, "c": 30, "d": 8},
            [Relation("t", ("a", "b", "c", "d"))],
            {"a", "d"},
        ),
        (
            "two small cells in one relation protect each other",
            {"t": 20, "a": 2, "b": 3, "c": 15},
            [Relation("t", ("a", "b", "c"))],
            {"a", "b"},
        ),
        (
            "a complement chosen in a row is protected in its column too (iterated to a fixed point)",
            # rows r1 = a1 + b1, r2 = a2 + b2; columns A = a1 + a2, B = b1 + b2
            {"r1": 12, "a1": 2, "b1": 10, "r2": 20, "a2": 8, "b2": 12, "A": 10, "B": 22},
            [
                Relation("r1", ("a1", "b1")),
                Relation("r2", ("a2", "b2")),
                Relation("A", ("a1", "a2")),
                Relation("B", ("b1", "b2")),
            ],
            {"a1", "b1", "a2", "b2"},
        ),
        (
            "the same number in two tables is hidden in both",
            {"headline": 3, "diagonal": 3, "country": 3},
            [Relation("headline", ("diagonal",)), Relation("headline", ("country",))],
            {"headline", "diagonal", "country"},
        ),
        (
            "hidden parts each at least 1 pin each other when they add up to their number: more are hidden",
            # provinces of 1, 2, 3 and 4 districts of 1 person each: hidden, each at least its district count,
            # so a shown country of 10 would pin every one of them; the country is hidden too
            {
                "country": 10,
                **{f"p{n}": n for n in range(1, 5)},
                **{f"p{n}d{i}": 1 for n in range(1, 5) for i in range(n)},
            },
            [Relation("country", ("p1", "p2", "p3", "p4"))]
            + [Relation(f"p{n}", tuple(f"p{n}d{i}" for i in range(n))) for n in range(1, 5)],
            {
                "country",
                *(f"p{n}" for n in range(1, 5)),
                *(f"p{n}d{i}" for n in range(1, 5) for i in range(n)),
            },
        ),
        (
            "relations that do not hold on the numbers: what they touch is hidden rather than trusted",
            {"t": 10, "a": 3, "b": 2, "c": 6, "d": 9},
            [Relation("t", ("a", "b", "c")), Relation("d", ("a", "b"))],
            {"a", "b", "c", "d"},
        ),
        (
            "nothing small: nothing hidden",
            {"t": 30, "a": 10, "b": 20},
            [Relation("t", ("a", "b"))],
            set(),
        ),
    ],
)
def test_complementary_suppression(description, values, relations, hidden):
    """No relation a reader can write is left with exactly one hidden cell: none can be solved for."""
    got = suppress(values, relations)
    assert set(got.hidden) == hidden, description
    for relation in relations:
        assert sum(c in got.hidden for c in relation.cells()) != 1, (description, relation)


def test_bounds_read_back_from_the_cache_are_the_bounds_worked_out_afresh():
    """`suppress` keeps each independent group's bounds between its many looks at what a reader can tell;
    a group whose hidden cells changed is worked out again, the others are read back, and every answer is
    the one a look without the cache gives."""
    import random

    rng = random.Random(15)
    values: dict[str, int] = {}
    relations: list[Relation] = []
    for table in ("a", "b", "c"):  # three tables that share no cell: three groups when cells are hidden
        provinces = []
        for p in range(4):
            districts = [f"{table}p{p}d{d}" for d in range(3)]
            for district in districts:
                values[district] = rng.randint(1, 40)
            values[f"{table}p{p}"] = sum(values[d] for d in districts)
            relations.append(Relation(f"{table}p{p}", tuple(districts)))
            provinces.append(f"{table}p{p}")
        values[table] = sum(values[p] for p in provinces)
        relations.append(Relation(table, tuple(provinces)))
    by_cell: dict[str, list[int]] = {}
    for number, relation in enumerate(relations):
        for cell in relation.cells():
            by_cell.setdefault(cell, []).append(number)
    cells = sorted(values)
    cache: dict = {}
    hidden = set(rng.sample(cells, 6))
    for _ in range(40):  # hidden sets that change a cell or two at a time, as suppress's rounds do
        hidden ^= set(rng.sample(cells, rng.randint(1, 2)))
        fresh = intervals(values, relations, hidden)
        assert intervals(values, relations, hidden, cache=cache, by_cell=by_cell) == fresh
        assert all(low <= values[c] <= high for c, (low, high) in fresh.items())
    assert 0 < len(cache) < 40 * 3  # groups were read back, not all worked out again


def test_a_cell_pinned_among_hidden_and_zero_neighbours_gets_a_complement_further_out():
    """The demo's public works, province P09: paid 80 = eligible-paid + not-eligible + 73 undetermined, and two
    districts' not-eligible cells each in a row and a column whose other cells were all hidden or 0. By linear
    programming they add up to 2, so each is 1; no neighbour could be hidden, so a cell further out must be."""
    values = {
        "p": 80, "pe": 3, "pn": 4, "pu": 73,
        "d1": 3, "d1e": 0, "d1n": 1, "d1u": 2,
        "d2": 48, "d2e": 0, "d2n": 0, "d2u": 48,
        "d4": 4, "d4e": 0, "d4n": 1, "d4u": 3,
        "d7": 25, "d7e": 3, "d7n": 2, "d7u": 20,
    }  # fmt: skip
    districts = ("d1", "d2", "d4", "d7")
    relations = [Relation(r, (f"{r}e", f"{r}n", f"{r}u")) for r in ("p", *districts)]
    relations += [Relation(f"p{c}", tuple(f"{d}{c}" for d in districts)) for c in ("", "e", "n", "u")]
    relations[-4] = Relation("p", districts)
    hidden = set(suppress(values, relations).hidden)
    assert {"d1n", "d4n"} <= hidden
    assert pinned_cells(values, relations, hidden) == set(), "a reader still works a hidden cell out"


def test_threshold_is_configurable():
    values = {"t": 30, "a": 7, "b": 23}
    assert suppress(values, [Relation("t", ("a", "b"))], threshold=10).hidden == {"a", "b"}
    assert suppress(values, [Relation("t", ("a", "b"))]).hidden == frozenset()


def test_no_share_over_a_small_or_hidden_denominator():
    """A share over 7 people with a hidden numerator gives the numerator back ("86% of 7" = 6): withheld."""
    share = Column("coverage_share", "Coverage", "share", depends_on=("eligible", "eligible_paid"))
    cols = [Column("eligible", "", "count"), Column("eligible_paid", "", "count"), share]
    row = {"eligible": 7, "eligible_paid": 6, "coverage_share": 6 / 7}
    assert suppress_row(row, cols, hidden=frozenset({"eligible_paid"})).values["coverage_share"] is None
    assert suppress_row(row, cols, hidden=frozenset()).values["coverage_share"] == 6 / 7
    assert suppress_row(row, cols, hidden=frozenset(), threshold=10).values["coverage_share"] is None


def test_no_hidden_cell_can_be_recovered_from_the_published_numbers(reports):
    """The recovery test: every relation the reports imply, solved for every hidden cell, pins none of them.

    An attacker holding every ministry's tables writes down every sum (districts to provinces to the
    country, paid = its three parts), every number repeated across tables, every "part of" inequality and
    every shown share, and bounds each hidden cell by linear programming. A cell is recovered when only
    one whole number fits."""
    home, _ = reports
    exclusive = load_programmes(home / "programmes.yaml").exclusive
    hidden, recovered = attack(home / "reports" / COUNTRY_NIGHTS[-1], exclusive)
    assert hidden > 20, "the generated country has small cells: the test must have something to attack"
    assert recovered == {}, (
        f"{len(recovered)} of {hidden} hidden cells recovered: {list(recovered.items())[:5]}"
    )


def test_the_attackers_relations_hold_on_the_true_numbers(reports):
    """The recovery test attacks with true relations: checked on the unsuppressed numbers (threshold 1)."""
    home, _ = reports
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        rules = load_programmes(home / "programmes.yaml")
        tables = report_tables(con, dataclasses.replace(rules, small_cell_min=1))
    truth: dict[Cell, float | None] = {}
    rows: dict[str, list[dict]] = {}
    for name, table in tables.items():
        table_rows = table.arrow().to_pylist()
        rows[name] = table_rows
        for row in table_rows:
            assert not row[SUPPRESSED_FLAG], (name, row)
            for column in table.columns:
                if column.kind == "count":
                    truth[(name, tuple(row[k] for k in ROW_KEYS[name]), column.name)] = row[column.name]
    facts = reader_relations(rows, load_programmes(home / "programmes.yaml").exclusive)
    for coefficients, sense in facts:
        total = sum(c * (truth.get(cell) or 0.0) for cell, c in coefficients.items())
        assert (abs(total) < 1e-6) if sense == "==" else total <= 1e-6, coefficients


def test_no_shown_share_over_a_hidden_or_small_denominator(reports):
    home, _ = reports
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    shown = 0
    for folder in (p for p in out.iterdir() if p.is_dir()):
        for row in pq.read_table(folder / "coverage_by_area.parquet").to_pylist():
            if row["coverage_share"] is not None:
                shown += 1
                assert row["eligible_persons"] is not None and row["eligible_persons"] >= 5, row
                assert row["eligible_enrolled_persons"] is not None, row
        html = (out / f"{folder.name}.html").read_text(encoding="utf-8")
        for share, denominator in re.findall(r"(\d+)% of ([\d,]+)", html):
            assert int(denominator.replace(",", "")) >= 5, (share, denominator)
    assert shown > 0


def _record_keys(home: Path) -> set[str]:
    """Every source record key the warehouse holds, bare and as source:id, and every failing key of a check."""
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        keys = {
            v
            for source, record_id in con.execute(
                "select source, source_record_id from staging.person_records"
            ).fetchall()
            for v in (str(record_id), f"{source}:{record_id}")
        }
        keys |= {
            str(k)
            for (k,) in con.execute("select distinct unnest(failing_keys) from audit.checks").fetchall()
            if k is not None
        }
    return {k for k in keys if len(k) >= 6}


def test_no_record_key_in_any_ministry_report(reports):
    """The footer once listed audit.checks' failing keys, some of another ministry's payrolls: none appear now."""
    home, _ = reports
    keys = _record_keys(home)
    assert len(keys) > 1000
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    ministries = [p for p in out.iterdir() if p.is_dir()]
    assert ministries
    for folder in ministries:
        texts = [(out / f"{folder.name}.html").read_text(encoding="utf-8")]
        texts += [p.read_text(encoding="utf-8") for p in folder.glob("*.csv")]
        texts += [str(pq.read_table(p).to_pylist()) for p in folder.glob("*.parquet")]
        found = {k for text in texts for k in re.findall(r"[A-Za-z0-9_:\-]{6,}", text) if k in keys}
        assert found == set(), (folder.name, sorted(found)[:5])


def test_footer_counts_this_runs_checks(reports):
    """The data-quality footer is a count of this run's checks by layer and severity, matching audit.checks."""
    home, _ = reports
    run_id = _last_run(home)
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        expected = con.execute(
            "select layer, severity, count(*), count(*) filter (where passed), count(*) filter (where not passed) "
            "from audit.checks where night = $night and run_id = $run group by all",
            {"night": date.fromisoformat(COUNTRY_NIGHTS[-1]), "run": run_id},
        ).fetchall()
        runs = con.execute(
            "select count(distinct run_id) from audit.checks where night = $night",
            {"night": date.fromisoformat(COUNTRY_NIGHTS[-1])},
        ).fetchall()[0][0]
    assert expected and runs >= 1
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    for html_path in out.glob("ministry-*.html"):
        html = html_path.read_text(encoding="utf-8")
        footer = html[html.index("<footer>") :]
        table = footer[
            footer.index('<table class="checks">') : footer.index(
                "</table>", footer.index('<table class="checks">')
            )
        ]
        shown = re.findall(
            r'<tr><td>([a-z_]+)</td><td>([a-z]+)</td><td class="num">([\d,]+)</td>\s*'
            r'<td class="num">([\d,]+)</td><td class="num[a-z ]*">([\d,]+)</td></tr>',
            table,
        )
        as_numbers = {
            (a, b, int(c.replace(",", "")), int(d.replace(",", "")), int(e.replace(",", "")))
            for a, b, c, d, e in shown
        }
        assert as_numbers == set(expected), html_path.name
        assert "failing_keys" not in footer and "checked_at" not in footer


def test_footer_lists_only_the_ministrys_own_drops_and_the_shared_registries(reports):
    """Another ministry's payroll files are counted, not named, in a ministry's footer."""
    home, _ = reports
    rules = load_programmes(home / "programmes.yaml")
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        paying = con.execute("select distinct source, programme_id from registry.enrolment").fetchall()
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    for ministry in {p.ministry for p in rules.programmes}:
        mine = {p.programme_id for p in rules.programmes if p.ministry == ministry}
        others = {s for s, p in paying if p not in mine} - {s for s, p in paying if p in mine}
        html = (out / f"{ministry_slug(ministry)}.html").read_text(encoding="utf-8")
        drops = html[html.index("<h3>Drops used</h3>") : html.index("<h3>Data quality</h3>")]
        shown = set(re.findall(r'<tr><td title="source ([a-z_]+)">', drops))
        assert shown and not shown & others, (ministry, shown & others)
        assert "civil_registry" in shown


# ---------------------------------------------------------------------------------------------------------
# every count a ministry reads reconciles with the warehouse


def _warehouse_counts(home: Path) -> dict[Cell, int]:
    """Every count the ministry reports publish, worked out again from the warehouse's person-level tables
    (registry.enrolment, registry.person, registry.person_source_link and the reports.* finding tables), in
    Python, apart from the report's own SQL: the numbers an official checks against the registry."""
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:

        def rows(sql: str) -> list[tuple]:
            return con.execute(sql).fetchall()

        latest = dict(rows("select programme_id, latest_period_month from registry.programme"))
        means_tested = {
            p for (p,) in rows("select programme_id from registry.programme where is_means_tested")
        }
        active: dict[str, set[str]] = {p: set() for p in latest}
        for person, programme, month in rows(
            "select person_id, programme_id, period_month from registry.enrolment where enrolment_status = 'active'"
        ):
            if month == latest[programme]:
                active[programme].add(person)
        area = {
            person: (a1, a2)
            for person, a1, a2 in rows("select person_id, admin1, admin2 from registry.person")
        }
        flagged = {p for (p,) in rows("select person_id from registry.person_source_link where needs_review")}
        eligible: dict[str, set[str]] = {p: set() for p in latest}
        unjudged: dict[str, dict[str, str]] = {p: {} for p in latest}
        for person, programme, is_eligible, is_undetermined, why in rows(
            "select person_id, programme_id, is_eligible, is_undetermined, unknown_values from reports.eligibility"
        ):
            if is_eligible:
                eligible[programme].add(person)
            elif is_undetermined:
                unjudged[programme][person] = why or "unknown"

        def persons(sql: str) -> dict[str, set[str]]:
            found: dict[str, set[str]] = {p: set() for p in latest}
            for programme, person in rows(sql):
                found[programme].add(person)
            return found

        deceased = persons("select programme_id, person_id from reports.deceased_paid")
        deceased_latest = persons(
            "select programme_id, person_id from reports.deceased_paid where is_paid_in_latest_period"
        )
        overlap = persons("select programme_id, person_id from reports.exclusive_overlap")
        overlap_rows: dict[tuple, set[str]] = {}
        for programme, others, month, person in rows(
            "select programme_id, array_to_string(list_sort(conflicting_programme_ids), ', '), period_month, "
            "person_id from reports.exclusive_overlap"
        ):
            overlap_rows.setdefault((programme, others, month), set()).add(person)
        duplicate = persons(
            "select programme_id, person_id from reports.duplicate_enrolment where not records_conflict"
        )
        to_check = persons(
            "select programme_id, person_id from reports.duplicate_enrolment where records_conflict"
        )
        gaps = persons("select programme_id, person_id from reports.gaps")
        listed = persons(
            "select programme_id, person_id from reports.gaps where enrolment_status is not null"
        )
        inclusion = persons("select programme_id, person_id from reports.inclusion_errors")

    paid_anywhere = set().union(*active.values())
    expected: dict[Cell, int] = {}
    for p in latest:
        expected[("headline", (p,), "enrolled_persons")] = len(active[p])
        not_eligible = active[p] - eligible[p] - set(unjudged[p])
        findings = {
            "deceased_paid": deceased[p],
            "exclusive_overlap": overlap[p],
            "duplicate_enrolment": duplicate[p],
            "gap": gaps[p],
            "inclusion_error": inclusion[p],
            "paid_not_eligible": not_eligible,
        }
        for finding, people in findings.items():
            if finding != "paid_not_eligible":
                expected[("findings_summary", (p,), f"{finding}_persons")] = len(people)
            if finding != "inclusion_error" or p in means_tested:
                expected[("confidence", (p, finding), "persons")] = len(people)
                expected[("confidence", (p, finding), "review_persons")] = len(people & flagged)
        expected[("deceased_paid", (p,), "persons")] = len(deceased[p])
        expected[("deceased_paid", (p,), "persons_paid_in_latest_period")] = len(deceased_latest[p])
        expected[("duplicate_enrolment", (p,), "persons")] = len(duplicate[p])
        expected[("duplicate_enrolment", (p,), "persons_to_check")] = len(to_check[p])
        unlisted = gaps[p] - listed[p]
        expected[("gaps", (p,), "persons")] = len(gaps[p])
        expected[("gaps", (p,), "listed_not_paid_persons")] = len(listed[p])
        expected[("gaps", (p,), "paid_elsewhere_persons")] = len(unlisted & paid_anywhere)
        expected[("gaps", (p,), "unserved_persons")] = len(unlisted - paid_anywhere)
        if p in means_tested:
            expected[("inclusion_errors", (p,), "persons")] = len(inclusion[p])
        for other in latest:
            expected[("overlap_matrix", (p, other), "persons")] = len(active[p] & active[other])
        for why in set(unjudged[p].values()):
            people = {person for person, w in unjudged[p].items() if w == why}
            expected[("undetermined_reasons", (p, why), "persons")] = len(people)
            expected[("undetermined_reasons", (p, why), "enrolled_persons")] = len(people & active[p])
        # coverage: every area level, from each person's own area
        reached = active[p] | eligible[p] | set(unjudged[p])
        groups: dict[tuple, set[str]] = {}
        for person in reached:
            a1, a2 = area[person]
            for key in (("national", None, None, p), ("admin1", a1, None, p), ("admin2", a1, a2, p)):
                groups.setdefault(key, set()).add(person)
        for key, people in groups.items():
            e, u, a = eligible[p] & people, set(unjudged[p]) & people, active[p] & people
            cells = {
                "eligible_persons": e,
                "eligible_enrolled_persons": e & a,
                "eligible_not_enrolled_persons": e - a,
                "enrolled_persons": a,
                "enrolled_not_eligible_persons": a - e - u,
                "undetermined_persons": u,
                "enrolled_undetermined_persons": u & a,
                "undetermined_not_enrolled_persons": u - a,
            }
            for column, members in cells.items():
                if key[0] == "national" or column not in NATIONAL_ONLY:
                    expected[("coverage_by_area", key, column)] = len(members)
    for (programme, others, month), people in overlap_rows.items():
        expected[("exclusive_overlap", (programme, others, month), "persons")] = len(people)
    return expected


def test_every_count_on_a_ministry_report_reconciles_with_the_warehouse(reports):
    """An official who queries the registry finds every number the report shows: each count of each ministry's
    files (which the HTML shows cell for cell) equals a count over the warehouse's person-level tables, and
    every table of the report is checked."""
    home, _ = reports
    expected = _warehouse_counts(home)
    cells, _rows = published_counts(home / "reports" / COUNTRY_NIGHTS[-1])
    shown = {cell: value for cell, value in cells.items() if value is not None}
    assert len(shown) > 200
    assert {cell[0] for cell in shown} == set(ROW_KEYS), "every report table has counts to reconcile"
    wrong = {
        cell: (value, expected.get(cell)) for cell, value in shown.items() if expected.get(cell) != value
    }
    assert wrong == {}, list(wrong.items())[:10]
    # and the other way: no count the warehouse has (above the threshold) is missing from the reports
    assert all(cell in cells for cell, value in expected.items() if value >= 5), [
        cell for cell, value in expected.items() if value >= 5 and cell not in cells
    ][:10]


def test_changes_put_the_last_reports_numbers_beside_tonights(reports):
    """What changed since the last report: tonight's column repeats this report's cells, the last report's
    column the previous night's files, and a change is given only where both are shown."""
    home, _ = reports
    tonight, before = (home / "reports" / n for n in (COUNTRY_NIGHTS[-1], COUNTRY_NIGHTS[0]))
    cells, _rows = published_counts(tonight)
    earlier, _ = published_counts(before)
    compared = 0
    for folder in (p for p in tonight.iterdir() if p.is_dir()):
        html = (tonight / f"{folder.name}.html").read_text(encoding="utf-8")
        assert f"Compared with the report of night <strong>{COUNTRY_NIGHTS[0]}</strong>" in html
        for row in pq.read_table(folder / "changes.parquet").to_pylist():
            programme, measure = row["programme_id"], row["measure"]
            table = next(name for name, column, _label in CHANGE_MEASURES if column == measure)
            key = ("national", None, None, programme) if table == "coverage_by_area" else (programme,)
            assert row["persons"] == cells[(table, key, measure)], row
            assert row["previous_persons"] == earlier[(table, key, measure)], row
            if row["persons"] is None or row["previous_persons"] is None:
                assert row["change_persons"] is None, row
            else:
                compared += 1
                assert row["change_persons"] == row["persons"] - row["previous_persons"], row
    assert compared > 10


def test_names_not_codes_in_the_html(reports):
    """An official reads names: programmes by their programmes.yaml name, areas by reference/admin_areas.csv."""
    home, _ = reports
    rules = load_programmes(home / "programmes.yaml")
    areas = pa_csv.read_csv(home / "reference" / "admin_areas.csv").to_pylist()
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    for ministry in {p.ministry for p in rules.programmes}:
        html = (out / f"{ministry_slug(ministry)}.html").read_text(encoding="utf-8")
        body = html[: html.index("<footer>")]
        for programme in rules.programmes:
            assert programme.programme_id not in body, (ministry, programme.programme_id)
        assert all(
            p.name.replace("(", "") in body.replace("(", "")
            for p in rules.programmes
            if p.ministry == ministry
        )
        assert not re.search(r">P\d\d(D\d\d)?<", body), "an area code shown alone"
        assert any(f"{a['admin1_name']} / {a['admin2_name']}" in body for a in areas), (
            "district rows name the province"
        )
        assert "XTS" in body, "amounts name their currency (country.yaml)"
        assert 'id="method"' in body and "Cannot be judged" in body
        # the drops are named as the reader knows them: a programme's payroll by the programme, a registry in words
        sources = re.findall(r'<td title="source ([a-z_]+)">([^<]+)</td>', html[html.index("<footer>") :])
        assert sources, "the footer lists the night's drops"
        for source_id, name in sources:
            assert name != source_id and "_" not in name, (source_id, name)
        assert "Civil registry" in {name for _, name in sources}
