"""Publication: analysts are never blocked or broken, and the de-identified outputs carry no personal data."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.cli import run_night
from pipelines.settings import settings_from_env
from publish.deidentify import CLASSIFICATION, UnclassifiedColumnError, classification_markdown, output_name
from publish.warehouse import build_analytics, pseudonym_sql, pseudonyms, publish_all, publish_copy
from synthetic import generate

READER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("ready", flush=True)
    seen, deadline = set(), time.time() + float(sys.argv[2])
    while time.time() < deadline:
        seen.add(con.execute("select max(v) from t").fetchall()[0][0])
    print(sorted(seen))
    """
)


def small_db(path: Path, value: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select range as v from range($1)", [value])


def test_an_analyst_reading_during_publish_is_neither_blocked_nor_broken(tmp_path):
    """A read-only connection held in another process keeps working while new nights are published over it."""
    target = tmp_path / "warehouse" / "ibr.duckdb"
    small_db(tmp_path / "night1.duckdb", 10)
    publish_copy(tmp_path / "night1.duckdb", target)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(target), "3"], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    for night, value in ((2, 20), (3, 30)):
        small_db(tmp_path / f"night{night}.duckdb", value)
        publish_copy(tmp_path / f"night{night}.duckdb", target)
    output, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0
    assert output.strip() == "[9]"  # the analyst's connection kept reading the night it opened
    with duckdb.connect(str(target), read_only=True) as con:  # a new connection sees the newest night
        assert con.execute("select max(v) from t").fetchall() == [(29,)]
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def test_pseudonyms_are_keyed_and_stable():
    ids = ["P0000000001", "P0000000002"]
    first = pseudonyms(ids, b"k" * 32).column("pseudonym").to_pylist()
    assert first == pseudonyms(ids, b"k" * 32).column("pseudonym").to_pylist()
    assert first != pseudonyms(ids, b"x" * 32).column("pseudonym").to_pylist()
    assert not any(i in p for i, p in zip(ids, first, strict=True))


@pytest.mark.parametrize(
    "key", [b"k" * 16, b"0123456789abcdef" * 4, b"long key " * 20], ids=["16", "64", "180"]
)
def test_pseudonyms_made_in_duckdb_are_the_hmac_of_the_definition(key):
    """Publishing computes the pseudonyms in SQL: the same HMAC-SHA256 for any key length (RFC 2104)."""
    ids = ["P0000000001", "P0000000002", "Pé-ü 3", ""]
    expression, params = pseudonym_sql("person_id", key)
    with duckdb.connect() as con:
        con.execute("create table t (person_id varchar)")
        con.executemany("insert into t values (?)", [[i] for i in ids])
        got = dict(con.execute(f"select person_id, {expression} from t", params).fetchall())
    assert got == dict(zip(ids, pseudonyms(ids, key).column("pseudonym").to_pylist(), strict=True))


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("published")
    generate(home, people=1500, nights=1, seed=11)
    (home / "linkage.yaml").write_text(yaml.safe_dump({"u_max_pairs": 200_000}), encoding="utf-8")
    settings = settings_from_env(home)
    assert run_night(settings, date(2026, 2, 1))
    return home


def test_analytics_outputs_carry_no_personal_data(published):
    """Names, ids, phones, dates of birth and person ids never reach ibr_analytics.duckdb or the Parquet files."""
    with duckdb.connect(str(published / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        personal = {
            str(v)
            for row in con.execute(
                "select first_name, last_name, national_id, phone, cast(date_of_birth as varchar), source_record_id "
                "from staging.person_records using sample 400 rows (reservoir, 7)"
            ).fetchall()
            for v in row
            if v is not None
            and len(str(v)) > 3
            and not str(v).endswith("-01")  # a first of the month is not exact
        }
        personal |= {
            r[0] for r in con.execute("select distinct person_id from registry.person_source_link").fetchall()
        }
    analytics = published / "warehouse" / "ibr_analytics.duckdb"
    with duckdb.connect(str(analytics), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'analytics'"
            ).fetchall()
        ]
        assert "registry_person" in tables and "reports_gaps" in tables
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns").fetchall()}
        never = {
            "first_name",
            "last_name",
            "national_id",
            "phone",
            "date_of_birth",
            "person_id",
            "source_record_id",
        }
        assert not columns & never
        values: set[str] = set()
        for table in tables:
            for row in con.execute(f'select * from analytics."{table}"').fetchall():
                values.update(str(v) for v in row if v is not None)
    assert values & personal == set()
    parquet = sorted((published / "warehouse" / "parquet").glob("*.parquet"))
    assert {p.stem for p in parquet} == set(tables)
    assert "pseudonym" in pq.read_schema(parquet[0]).names or parquet


def test_every_table_and_column_is_documented(published):
    """Analysts read the generated data dictionary: no table or column of either warehouse lacks a comment."""
    from publish.dictionary import ANALYTICS_SKIPPED, SKIPPED_SCHEMAS, undocumented

    for name, skip in (("ibr.duckdb", SKIPPED_SCHEMAS), ("ibr_analytics.duckdb", ANALYTICS_SKIPPED)):
        with duckdb.connect(str(published / "warehouse" / name), read_only=True) as con:
            assert undocumented(con, skip) == [], name
    dictionary = (published / "warehouse" / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert "### registry.person_source_link (table)" in dictionary
    # the tables analysts and ministries use lead; the pipeline's internals come after them
    assert dictionary.index("### registry.person (table)") < dictionary.index("### reports.gaps (table)")
    assert dictionary.index("### reports.gaps (table)") < dictionary.index(
        "### staging.person_records (table)"
    )


def test_the_analytics_dictionary_says_only_what_the_classification_did(published):
    """'(cut to the month)' comes from a column's rule, never its name; aggregate tables claim no pseudonym."""
    text = (published / "warehouse" / "DATA_DICTIONARY_ANALYTICS.md").read_text(encoding="utf-8")
    assert text.index("### person (view)") < text.index("| analytics.registry_person |")
    for line in text.splitlines():
        column = line.split(" | ")[0].lstrip("| ")
        if column in ("benefit_amount_monthly", "months_paid_since_death", "is_paid_in_latest_period"):
            assert "cut to the month" not in line, line
    with duckdb.connect(str(published / "warehouse" / "ibr_analytics.duckdb"), read_only=True) as con:
        comments = dict(
            con.execute(
                "select table_name || '.' || column_name, comment from duckdb_columns() where schema_name = 'analytics'"
            ).fetchall()
        )
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'analytics'"
            ).fetchall()
        )
    for column in (
        "reports_deceased_paid.months_paid_since_death",
        "reports_deceased_paid.is_paid_in_latest_period",
        "reports_deceased_paid.date_of_death_source",
        "registry_enrolment.benefit_amount_monthly",
    ):
        assert "cut to the month" not in comments[column], column
    assert comments["registry_enrolment.period_month"].endswith("(cut to the month)")
    assert "pseudonym" not in tables["reports_programme_overlap_matrix"]
    assert "pseudonym" in tables["registry_person"] and tables["registry_person"].startswith("One row per")


# ---------------------------------------------------------------------------------------------------------
# de-identification by allowlist


def _work_db(path: Path, extra_column: str | None = None) -> Path:
    """A working database holding registry.person with its classified columns (and one more, if asked)."""
    columns = list(CLASSIFICATION[("registry", "person")])
    types = {"date_of_birth": "date", "date_of_death": "date", "age_reference_date": "date"}
    ddl = ", ".join(f"{c} {types.get(c, 'varchar')}" for c in columns)
    if extra_column:
        ddl += f", {extra_column} varchar"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema registry")
        con.execute(f"create table registry.person ({ddl})")
        con.execute("insert into registry.person (person_id, first_name) values ('P1', 'Amina')")
    return path


def test_an_unclassified_column_fails_the_publish_naming_table_and_column(tmp_path):
    """A column added to a registry table reaches analysts only once someone classified it: the publish stops."""
    home = tmp_path / "home"
    work = _work_db(tmp_path / "work.duckdb", extra_column="favourite_colour")
    with pytest.raises(UnclassifiedColumnError, match=r"registry\.person: column 'favourite_colour'"):
        build_analytics(work, home, b"k" * 32)
    with pytest.raises(UnclassifiedColumnError, match="favourite_colour"):
        publish_all(work, home)
    assert not (home / "warehouse" / "ibr_analytics.duckdb").exists()
    assert not (home / "warehouse" / "parquet").exists()


def test_the_same_table_fully_classified_publishes(tmp_path):
    home = tmp_path / "home"
    publish_all(_work_db(tmp_path / "work.duckdb"), home)
    with duckdb.connect(str(home / "warehouse" / "ibr_analytics.duckdb"), read_only=True) as con:
        columns = [r[0] for r in con.execute("describe analytics.registry_person").fetchall()]
    assert "pseudonym" in columns and "birth_year" in columns
    assert "first_name" not in columns and "person_id" not in columns


def test_an_exact_date_can_never_be_kept(monkeypatch):
    from publish import deidentify

    rules = dict(deidentify.CLASSIFICATION[("registry", "enrolment")])
    rules["enrolment_date"] = deidentify.Rule(deidentify.QUASI, "keep")
    monkeypatch.setitem(deidentify.CLASSIFICATION, ("registry", "enrolment"), rules)
    with pytest.raises(UnclassifiedColumnError, match="enrolment_date.*never published"):
        deidentify.column_rules("registry", "enrolment", [("enrolment_date", "DATE")])


def test_classification_names_exactly_the_columns_of_the_working_tables(published):
    """No column is published unclassified, and no stale entry describes a column that is gone."""
    with duckdb.connect(str(published / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        for (schema, table), rules in CLASSIFICATION.items():
            columns = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where table_schema = $1 and table_name = $2",
                    [schema, table],
                ).fetchall()
            ]
            assert set(columns) == set(rules), (schema, table, set(columns) ^ set(rules))
    with duckdb.connect(str(published / "warehouse" / "ibr_analytics.duckdb"), read_only=True) as con:
        for (schema, table), rules in CLASSIFICATION.items():
            got = [r[0] for r in con.execute(f'describe analytics."{schema}_{table}"').fetchall()]
            assert got == [n for c, r in rules.items() if (n := output_name(c, r)) is not None], (
                schema,
                table,
            )


def _flatten(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flatten(item)]
    if isinstance(value, list | tuple):
        return [v for item in value for v in _flatten(item)]
    return [str(value)]


def test_no_record_id_national_id_or_name_in_any_analytics_table_or_parquet_file(published):
    """Scan every value of every analytics table and Parquet file against every source record id (bare and
    as source:id), national id and name of the restricted warehouse: none may appear."""
    with duckdb.connect(str(published / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        secret = {
            v
            for row in con.execute(
                "select source_record_id, source || ':' || source_record_id, national_id, "
                "first_name, middle_name, last_name, full_name from staging.person_records"
            ).fetchall()
            for v in row
            if v
        }
        secret |= {
            v
            for row in con.execute(
                "select first_name, middle_name, last_name, national_id from registry.person"
            ).fetchall()
            for v in row
            if v
        }
    assert len(secret) > 3000
    leaked: dict[str, set[str]] = {}
    analytics = published / "warehouse" / "ibr_analytics.duckdb"
    with duckdb.connect(str(analytics), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'analytics'"
            ).fetchall()
        ]
        for table in tables:
            values = {
                v
                for row in con.execute(f'select * from analytics."{table}"').fetchall()
                for v in _flatten(row)
            }
            if values & secret:
                leaked[table] = values & secret
    parquet = sorted((published / "warehouse" / "parquet").glob("*.parquet"))
    assert len(parquet) == len(tables) == len(CLASSIFICATION)
    with duckdb.connect(
        str(analytics), read_only=True
    ) as con:  # the analysts' views add names and flags only
        for (view,) in con.execute(
            "select view_name from duckdb_views() where schema_name = 'main'"
        ).fetchall():
            values = {v for row in con.execute(f'select * from "{view}"').fetchall() for v in _flatten(row)}
            if values & secret:
                leaked[view] = values & secret
    for path in parquet:
        values = {v for row in pq.read_table(path).to_pylist() for v in _flatten(row)}
        if values & secret:
            leaked[path.name] = values & secret
    assert leaked == {}, {k: sorted(v)[:5] for k, v in leaked.items()}


def test_security_doc_carries_the_classification():
    """docs/security.md shows the classification the code applies (regenerate with classification_markdown())."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text(encoding="utf-8")
    assert classification_markdown() in doc


def test_rotating_the_pseudonym_key_leaves_no_old_pseudonym_in_the_home(tmp_path, monkeypatch):
    """`ibr rotate-pseudonym-key`: a new key file (0600), the analytics files rebuilt from the published night
    under it, and no file of the warehouse left holding a pseudonym made with the old key."""
    from pipelines.cli import main

    monkeypatch.delenv("IBR_PSEUDONYM_KEY", raising=False)
    home = tmp_path / "home"
    work = _work_db(tmp_path / "work.duckdb")
    publish_all(work, home)
    publish_all(work, home)  # two publishes: the previous Parquet version is kept beside the current one
    key_file = home / "secrets" / "pseudonym.key"
    old_key = key_file.read_bytes()

    def pseudonyms_everywhere() -> set[str]:
        with duckdb.connect(str(home / "warehouse" / "ibr_analytics.duckdb"), read_only=True) as con:
            found = {r[0] for r in con.execute("select pseudonym from analytics.registry_person").fetchall()}
        for path in (home / "warehouse" / ".parquet").rglob("*.parquet"):
            table = pq.read_table(path)
            if "pseudonym" in table.column_names:
                found |= set(table.column("pseudonym").to_pylist())
        return found

    before = pseudonyms_everywhere()
    assert len(before) == 1
    assert main(["--home", str(home), "rotate-pseudonym-key"]) == 0
    assert key_file.read_bytes() != old_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    after = pseudonyms_everywhere()
    assert after and not after & before
    assert pseudonyms(["P1"], key_file.read_text().strip().encode()).column("pseudonym").to_pylist() == list(
        after
    )
    assert len(list((home / "warehouse" / ".parquet").iterdir())) == 1  # only the version now published
    for path in [
        home / "warehouse" / "ibr_analytics.duckdb",
        *(home / "warehouse" / "parquet").glob("*.parquet"),
    ]:
        assert oct(path.stat().st_mode & 0o777) == "0o640", (
            path
        )  # the analysts' group reads them, as after a publish

    monkeypatch.setenv("IBR_PSEUDONYM_KEY", "x" * 32)
    assert (
        main(["--home", str(home), "rotate-pseudonym-key"]) == 2
    )  # the environment's key is not ours to change


def _readme_query(marker: str) -> str:
    """The SQL block of the README that holds `marker` (the README's queries are tested, not just shown)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```sql\n")[1:]]
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, marker
    return found[0]


def test_readme_child_grant_children_without_civil_registry_record(published):
    """An analyst answers "child-grant children with no civil-registry record" from the analytics file alone,
    with the README's query on plain names; the answer equals the same question put to the restricted warehouse."""
    query = _readme_query("not in_civil_registry")
    with duckdb.connect(str(published / "warehouse" / "ibr_analytics.duckdb"), read_only=True) as con:
        rows = con.execute(query).fetchall()
        assert con.execute("select count(*) from person").fetchall()[0][0] > 1000  # unqualified names work
        flags = {r[0] for r in con.execute("describe person").fetchall()}
    assert {"in_civil_registry", "in_tax_registry", "in_child_grant", "admin1_name", "admin2_name"} <= flags
    with duckdb.connect(str(published / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        expected = con.execute(
            """
            with known as (
                select l.person_id, r.source_kind, r.programme_id
                from registry.person_source_link l join staging.person_records r using (source, source_record_id)
            )
            select count(distinct person_id) from known where programme_id = 'child_grant'
              and person_id not in (select person_id from known where source_kind = 'civil_registry')
            """
        ).fetchall()[0][0]
    assert expected > 0
    assert sum(r[-1] for r in rows) == expected
    assert all(r[0] is not None for r in rows)  # province names, not codes only
