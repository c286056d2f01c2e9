"""Publication: analysts are never blocked or broken, and the de-identified outputs carry no personal data."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.cli import run_night
from pipelines.settings import settings_from_env
from quality.publish import PERSONAL_COLUMNS, pseudonym_sql, pseudonyms, publish_copy
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
    assert run_night(settings, settings.first_night.replace(year=2026, month=2, day=1))
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
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        assert "registry_person" in tables and "reports_gaps" in tables
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns").fetchall()}
        assert not columns & PERSONAL_COLUMNS
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
    from quality.dictionary import undocumented

    for name in ("ibr.duckdb", "ibr_analytics.duckdb"):
        with duckdb.connect(str(published / "warehouse" / name), read_only=True) as con:
            assert undocumented(con) == [], name
    dictionary = (published / "warehouse" / "DATA_DICTIONARY.md").read_text(encoding="utf-8")
    assert "## registry.person_source_link (table)" in dictionary
    assert "## registry.person (table)" in dictionary
