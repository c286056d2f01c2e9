"""Ministry reports: self-contained HTML with CSV and Parquet beside it, aggregates only, small cells suppressed.

A ministry relies on two things: the file opens anywhere (no script, no link out), and it
never lets a person be picked out (no name, id or birth date; no count of 1-4 people).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import yaml

from matching.standardise import register_functions
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings
from registry import build_registry, build_reports, load_programmes
from registry.ministry_reports import (
    SUPPRESSED_FLAG,
    SUPPRESSED_TEXT,
    TABLE_SPECS,
    Bar,
    Column,
    bar_chart_svg,
    ministry_slug,
    render_ministry_reports,
    suppress_row,
)
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
    assert set(got.small) == small, description
    assert got.is_suppressed == bool(small), description
    for name, expected in values.items():
        assert got.values[name] == expected, (description, name)
    assert got.values["programme_id"] == "p", "labels are never suppressed"


def test_chart_is_inline_svg_without_links_and_escapes_labels():
    svg = str(bar_chart_svg([Bar("<b>x</b>", None, SUPPRESSED_TEXT, group="g&h")], title="t"))
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
            partition_key=night, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )
        assert result.success
    night = date.fromisoformat(COUNTRY_NIGHTS[-1])
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        build_registry(con, home, night)
        build_reports(con, home, night)
        paths = render_ministry_reports(con, home, night, run_id="test-run-1")
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
        assert "<svg" in text and "test-run-1" in text, html.name


def test_no_personal_value_leaves_the_warehouse(reports):
    home, _ = reports
    values = _personal_values(home)
    assert len(values) > 200
    out = home / "reports" / COUNTRY_NIGHTS[-1]
    texts = [p.read_text(encoding="utf-8") for p in [*out.glob("*.html"), *out.glob("*/*.csv")]]
    for text in texts:
        leaked = [v for v in values if v in text]
        assert not leaked, leaked[:5]


def test_suppressed_cells_are_shown_as_less_than_five(reports):
    """Every small count in the files is null with the flag set, and the HTML shows "<5" for each."""
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
            assert "&lt;5" in html
    assert flagged > 0, "the generated country has small cells: the rule must have fired"
