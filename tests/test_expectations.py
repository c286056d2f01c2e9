"""The GX suites: a clean drop passes every check, each kind of bad row fails the check named after it.

Drops are landed with the real lander into an in-memory DuckDB (conftest's home), so the
suites see exactly what a night leaves in `raw.<source>`; the registry suite runs on
hand-made registry tables. What a data team relies on: the check names are stable
(Dagster declares them before anything runs), a failure names the failing records by
key, and no outcome carries a name, a date of birth or a national id.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NIGHT, pension_csv

from core.country import Country, load_country
from ingest.contracts import Contract, load_contracts
from ingest.landing import Lander
from quality.checks import DEFAULT_THRESHOLDS, CheckConfig
from quality.expectations import (
    registry_check_names,
    registry_checks,
    run_registry_suite,
    run_source_suite,
    source_check_names,
    source_checks,
)
from quality.reconcile import CheckOutcome
from registry.programmes import load_programmes

TONIGHT = date.fromisoformat(NIGHT)


def luhn(base: str) -> str:
    """`base` with its Luhn check digit appended: a national id the synthetic country accepts."""
    total = 0
    for position, char in enumerate(reversed(base)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return base + str((10 - total % 10) % 10)


NID_1, NID_2, NID_3 = luhn("123456789"), luhn("987654321"), luhn("555000111")
CLEAN_ROWS = (
    f"B1;José;Durán;01/02/1950;1;{NID_1};Nórte;2026-01;100",
    f"B2;Ann;Lee;1951;2;{NID_2};P02;2026-01;100.50",
    "B3;Mpho;Banda;17/11/1948;1;;P01;2026-01;0",
)


def land(con: duckdb.DuckDBPyConnection, home: Path, night: str = NIGHT) -> dict[str, Contract]:
    contracts = load_contracts(home / "sources")
    lander = Lander(con, home, date.fromisoformat(night))
    for contract in contracts.values():
        lander.land_source(contract)
    return contracts


def failed(outcomes: list[CheckOutcome]) -> dict[str, list[str]]:
    return {o.name: o.failing_keys for o in outcomes if not o.passed}


# -- check names ------------------------------------------------------------------------------------


def test_check_names_come_from_the_contract_alone(home):
    """Dagster declares one asset check per name at load time: the names are fixed by the contract."""
    contracts = load_contracts(home / "sources")
    assert source_check_names(contracts["pension"]) == [
        "record_id_not_null",
        "record_id_unique_in_drop",
        "last_name_not_null",
        "period_not_null",
        "benefit_amount_not_null",
        "sex_in_codes",
        "date_of_birth_not_in_future",
        "date_of_birth_not_before_1900",
        "benefit_amount_not_negative",
        "period_not_after_night",
        "national_id_matches_pattern",
    ]
    assert list(source_checks(contracts["registry"])) == [
        "record_id_not_null",
        "record_id_unique_in_drop",
        "full_name_not_null",
        "sex_in_codes",
        "event_type_in_codes",
        "date_of_birth_not_in_future",
        "date_of_birth_not_before_1900",
        "date_of_death_not_in_future",
        "birth_before_death",
        "national_id_matches_pattern",
    ]


# -- source suites ----------------------------------------------------------------------------------


def test_a_clean_drop_passes_every_check(con, home, drop):
    drop("pension", "pay.csv", pension_csv(*CLEAN_ROWS))
    contracts = land(con, home)
    result = run_source_suite(con, contracts["pension"], TONIGHT, CheckConfig(), load_country(home))
    assert [o.name for o in result.outcomes] == source_check_names(contracts["pension"])
    assert failed(result.outcomes) == {}
    assert result.rows == 3
    assert result.seconds_to_pandas >= 0 and result.seconds_validate > 0
    by_name = {o.name: o for o in result.outcomes}
    assert by_name["national_id_matches_pattern"].observed == 0.0


def test_checks_do_not_pay_for_gx_batch_fingerprints(con, home, drop, monkeypatch):
    """GX hashes every row of a batch for a marker nothing reads (4 s a night at a million people): switched off."""
    from great_expectations.execution_engine import pandas_execution_engine

    def no_hashing(frame: Any) -> str:
        raise AssertionError("GX hashed a whole batch")

    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", no_hashing)
    drop("pension", "pay.csv", pension_csv(*CLEAN_ROWS, "B4;Ann;Lee;03/05/2027;2;;P01;2026-01;100"))
    contracts = land(con, home)
    result = run_source_suite(con, contracts["pension"], TONIGHT, CheckConfig(), load_country(home))
    assert failed(result.outcomes) == {"date_of_birth_not_in_future": ["pension:B4"]}


BAD_ROWS = [
    (
        "a date of birth after the night",
        ["B4;Ann;Lee;03/05/2027;2;;P01;2026-01;100"],
        {"date_of_birth_not_in_future": ["pension:B4"]},
        1,
    ),
    (
        "a date of birth before 1900",
        ["B4;Ann;Lee;1888;2;;P01;2026-01;100"],
        {"date_of_birth_not_before_1900": ["pension:B4"]},
        1,
    ),
    (
        "the same record id twice in one drop",
        ["B1;Ann;Lee;1951;2;;P01;2026-01;100"],
        {"record_id_unique_in_drop": ["pension:B1"]},
        2,  # both rows that share the id
    ),
    (
        "a negative benefit amount",
        ["B4;Ann;Lee;1951;2;;P01;2026-01;-25.00"],
        {"benefit_amount_not_negative": ["pension:B4"]},
        1,
    ),
    (
        "a period after the night's month",
        ["B4;Ann;Lee;1951;2;;P01;2026-03;100"],
        {"period_not_after_night": ["pension:B4"]},
        1,
    ),
]


@pytest.mark.parametrize("spark_first", [False, True], ids=["duckdb night", "spark night"])
def test_checks_run_in_a_process_whose_main_has_no_file(spark_first):
    """`python -c` (a scheduler's one-liner, a test worker): GX offers Spark batches when pyspark is installed, and
    importing Spark Connect there ends the process with exit status 0, as if the night had succeeded. GX is never
    shown Spark Connect, also when a Spark night has imported pyspark before the checks run."""
    import subprocess
    import sys

    code = (
        "import pyspark\n" if spark_first else ""
    ) + "from quality.expectations import _import_gx\n_import_gx()\nprint('checks ready')\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "checks ready" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("description, rows, expected, observed", BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_a_bad_row_fails_its_check_and_only_names_its_key(
    con, home, drop, description, rows, expected, observed
):
    """Each bad row lands (it is well-formed) and fails exactly the check about it, keyed source:record id."""
    drop("pension", "pay.csv", pension_csv(*CLEAN_ROWS, *rows))
    contracts = land(con, home)
    result = run_source_suite(con, contracts["pension"], TONIGHT, CheckConfig(), load_country(home))
    assert failed(result.outcomes) == expected, description
    [failure] = [o for o in result.outcomes if not o.passed]
    assert (failure.observed, failure.threshold) == (observed, 0.0)


def test_a_code_landing_let_through_fails_in_codes(con, home, drop):
    """Landing quarantines unknown codes; should one reach raw anyway (a contract edited later), GX sees it."""
    drop("pension", "pay.csv", pension_csv(*CLEAN_ROWS))
    contracts = land(con, home)
    con.execute(
        "insert into raw.pension select * replace ('B9' as \"BENEF_NO\", 'X' as \"GENDER\") "
        "from raw.pension where \"BENEF_NO\" = 'B1'"
    )
    result = run_source_suite(con, contracts["pension"], TONIGHT, CheckConfig(), load_country(home))
    assert failed(result.outcomes) == {"sex_in_codes": ["pension:B9"]}


def test_death_before_birth_and_death_in_the_future_fail_on_a_registry_drop(con, home, drop, tmp_path):
    table = pa.table(
        {
            "reg_no": ["R1", "R2", "R3", "R4"],
            "name": ["Ana Phiri", "Ben Tembo", "Chi Zulu", "Dan Banda"],
            "born": ["1950-01-01", "1960-05-05", "1970-07-07", "2025-12-01"],
            "sex": ["F", "M", "M", "M"],
            "nid": [NID_1, None, None, None],
            "province": ["P01", "P01", "P02", "P02"],
            "event": ["death", "death", "death", "birth"],
            "died": ["2020-01-01", "1959-12-31", "2030-01-01", None],
        }
    )
    pq.write_table(table, tmp_path / "reg.parquet")
    drop("registry", "reg.parquet", (tmp_path / "reg.parquet").read_bytes())
    contracts = land(con, home)
    result = run_source_suite(con, contracts["registry"], TONIGHT, CheckConfig(), load_country(home))
    assert failed(result.outcomes) == {
        "birth_before_death": ["registry:R2"],
        "date_of_death_not_in_future": ["registry:R3"],
    }

    # a few mistyped years are data, reported but let through up to `implausible_dates_share_max`
    # of all the drop's records (the birth registration counts too)
    lenient = CheckConfig(thresholds={**DEFAULT_THRESHOLDS, "implausible_dates_share_max": 0.3})
    result = run_source_suite(con, contracts["registry"], TONIGHT, lenient, load_country(home))
    outcome = {o.name: o for o in result.outcomes}["birth_before_death"]
    assert (outcome.passed, outcome.observed, outcome.threshold) == (
        True,
        pytest.approx(1 / 4, abs=1e-6),
        0.3,
    )
    assert outcome.description.startswith("1 of 4 row(s) fail (25.0%), within the tolerated 30%")
    stricter = CheckConfig(thresholds={**DEFAULT_THRESHOLDS, "implausible_dates_share_max": 0.2})
    result = run_source_suite(con, contracts["registry"], TONIGHT, stricter, load_country(home))
    assert failed(result.outcomes)["birth_before_death"] == ["registry:R2"]


def test_mistyped_national_ids_are_tolerated_up_to_the_configured_share(con, home, drop):
    """`national_id_invalid_share_max` is the share of ids allowed to fail; 1.0 tolerates every id."""
    mistyped = NID_3[:-1] + str((int(NID_3[-1]) + 1) % 10)
    drop("pension", "pay.csv", pension_csv(*CLEAN_ROWS, f"B4;Ann;Lee;1951;2;{mistyped};P01;2026-01;100"))
    contracts = land(con, home)
    country = load_country(home)

    lenient = CheckConfig(thresholds={**DEFAULT_THRESHOLDS, "national_id_invalid_share_max": 1.0})
    tolerated = run_source_suite(con, contracts["pension"], TONIGHT, lenient, country)
    nid = {o.name: o for o in tolerated.outcomes}["national_id_matches_pattern"]
    assert (nid.passed, nid.observed, nid.threshold) == (True, pytest.approx(1 / 3, abs=1e-6), 1.0)

    strict = CheckConfig()  # the default tolerates 10 %
    result = run_source_suite(con, contracts["pension"], TONIGHT, strict, country)
    assert failed(result.outcomes) == {"national_id_matches_pattern": ["pension:B4"]}

    # without a country.yaml an id only has to be letters and digits
    result = run_source_suite(con, contracts["pension"], TONIGHT, strict, Country())
    assert failed(result.outcomes) == {}


def test_a_night_without_a_drop_passes_every_check(con, home, drop):
    contracts = land(con, home)  # nothing landed yet: no raw table at all
    result = run_source_suite(con, contracts["pension"], TONIGHT, CheckConfig(), Country())
    assert {(o.passed, o.observed, o.description) for o in result.outcomes} == {
        (True, 0.0, "no drop tonight")
    }
    assert [o.name for o in result.outcomes] == source_check_names(contracts["pension"])

    drop("pension", "pay.csv", pension_csv(*CLEAN_ROWS), night="2026-01-01")
    land(con, home, night="2026-01-01")
    result = run_source_suite(con, contracts["pension"], TONIGHT, CheckConfig(), Country())
    assert {(o.passed, o.observed, o.description) for o in result.outcomes} == {
        (True, 0.0, "no drop tonight")
    }
    assert result.rows == 0


def test_no_personal_value_reaches_any_outcome(con, home, drop, monkeypatch, tmp_path):
    """Outcomes go to logs, Dagster metadata and audit.checks: keys only, never a name, a date or an id.

    Also: GX runs in memory, it writes no `gx/` folder (nor anything else) where it runs.
    """
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    bad = [
        f"B1;Zanele;Mwansa-Okafor;03/05/2027;2;{NID_3[:-1]}0;P01;2026-07;-25.00",
        "B5;Thandiwe;Chilufya;1888;1;12345;P02;2026-01;100",
    ]
    drop("pension", "pay.csv", pension_csv(*CLEAN_ROWS, *bad))
    contracts = land(con, home)
    strict = CheckConfig(thresholds={**DEFAULT_THRESHOLDS, "national_id_invalid_share_max": 0.0})
    result = run_source_suite(con, contracts["pension"], TONIGHT, strict, load_country(home))
    assert len(failed(result.outcomes)) >= 5
    personal = [
        "Zanele",
        "zanele",
        "Mwansa",
        "Thandiwe",
        "Chilufya",
        "Durán",
        "José",
        "03/05/2027",
        "2027-05-03",
        "2027",
        "1888",
        NID_1,
        NID_3[:-1],
        "12345",
        "-25",
    ]
    text = repr(result.outcomes)
    assert [value for value in personal if value in text] == []
    assert {key for o in result.outcomes for key in o.failing_keys} <= {"pension:B1", "pension:B5"}
    assert list(cwd.iterdir()) == []


# -- registry suite ---------------------------------------------------------------------------------

REGISTRY_TABLES = """
create schema if not exists registry;
create table registry.person (person_id varchar, first_name varchar, date_of_birth date, date_of_death date);
create table registry.person_source_link (person_id varchar, source varchar, source_record_id varchar);
create table registry.enrolment (
    person_id varchar, programme_id varchar, period_month date, enrolment_status varchar,
    benefit_amount_monthly decimal(38, 2), source_records bigint
);
insert into registry.person values
    ('P1', 'ana', date '1950-01-01', null),
    ('P2', 'ben', date '1940-03-03', date '2026-01-10'),
    ('P3', 'chi', null, null);
insert into registry.person_source_link values
    ('P1', 'pension', 'B1'), ('P1', 'registry', 'R1'), ('P2', 'pension', 'B2'), ('P3', 'registry', 'R3');
insert into registry.enrolment values
    ('P1', 'pension', date '2026-01-01', 'active', 100, 1),
    ('P2', 'pension', date '2026-01-01', 'active', 200, 2),
    ('P2', 'pension', date '2025-12-01', 'suspended', 0, 1);
"""

REGISTRY_CASES: list[tuple[str, str, dict[str, list[str]]]] = [
    (
        "an enrolment whose person is not in registry.person",
        "insert into registry.enrolment values ('P9', 'pension', date '2026-01-01', 'active', 100, 1)",
        {"enrolment_person_exists": ["P9"]},
    ),
    (
        "a source record linked to two persons",
        "insert into registry.person_source_link values ('P3', 'pension', 'B1')",
        {"source_record_unique_in_links": ["pension:B1"]},
    ),
    (
        "two golden records with one person id",
        "insert into registry.person values ('P1', 'ann', date '1950-01-02', null)",
        {"person_id_unique": ["P1"]},
    ),
    (
        "a golden record without a person id",
        "insert into registry.person values (null, 'dee', date '1950-01-02', null)",
        {"person_id_not_null": ["<no person id>"]},
    ),
    (
        "a person who died before being born",
        "update registry.person set date_of_death = date '1930-01-01' where person_id = 'P1'",
        {"birth_before_death": ["P1"]},
    ),
    (
        "a negative amount",
        "update registry.enrolment set benefit_amount_monthly = -5 where person_id = 'P1'",
        {"benefit_amount_not_negative": ["P1"], "benefit_amount_in_range_pension": ["P1"]},
    ),
    (
        "an amount per record above the programme's monthly value",
        "update registry.enrolment set benefit_amount_monthly = 250 where person_id = 'P2' and source_records = 2",
        {"benefit_amount_in_range_pension": ["P2"]},
    ),
    (
        "a programme not in programmes.yaml",
        "insert into registry.enrolment values ('P3', 'bus_pass', date '2026-01-01', 'active', 9999, 1)",
        {"programme_id_in_programmes": ["P3"]},
    ),
    (
        "a status that is not a code",
        "update registry.enrolment set enrolment_status = 'paid' where person_id = 'P1'",
        {"enrolment_status_in_codes": ["P1"]},
    ),
    (
        "a month paid after the night",
        "insert into registry.enrolment values ('P3', 'pension', date '2026-03-01', 'active', 100, 1)",
        {"period_not_after_night": ["P3"]},
    ),
]


@pytest.fixture
def registry_con(home: Path) -> Any:
    con = duckdb.connect()
    con.execute(REGISTRY_TABLES)
    yield con
    con.close()


def test_a_clean_registry_passes_every_check(registry_con, home):
    programmes = load_programmes(home / "programmes.yaml")
    result = run_registry_suite(registry_con, programmes, TONIGHT, CheckConfig())
    assert [o.name for o in result.outcomes] == registry_check_names(programmes)
    assert failed(result.outcomes) == {}
    assert result.rows == 3 + 4 + 3


@pytest.mark.parametrize("description, change, expected", REGISTRY_CASES, ids=[c[0] for c in REGISTRY_CASES])
def test_a_broken_registry_fails_the_check_about_it(registry_con, home, description, change, expected):
    programmes = load_programmes(home / "programmes.yaml")
    registry_con.execute(change)
    result = run_registry_suite(registry_con, programmes, TONIGHT, CheckConfig())
    assert failed(result.outcomes) == expected, description
    assert "ana" not in repr(result.outcomes) and "1950" not in repr(result.outcomes)


def test_registry_check_names_follow_the_programmes(home):
    checks = registry_checks(load_programmes(home / "programmes.yaml"))
    assert all(checks.values())  # each has its description for the Dagster check spec
    names = list(checks)
    assert "benefit_amount_in_range_pension" in names
    assert {"enrolment_person_exists", "benefit_amount_not_negative", "birth_before_death"} <= set(names)
    assert len(names) == len(set(names))
