"""Cross-night checks: tonight against the latest earlier night, on hand-made history.

The history each check reads is what the warehouse keeps anyway (audit.files,
raw.<source>, linkage.record_person), written here row by row. What a data team relies
on: a drop that shrinks or grows a lot, a source that suddenly sends far fewer valid
national ids, and a linkage that suddenly links far more or fewer records are flagged;
a first night, a night without a drop and small deltas are not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from core.country import Country
from core.sqlutil import read_sql
from ingest.contracts import Contract, load_contracts
from ingest.landing import ensure_schema
from quality.checks import CheckConfig
from quality.cross_night import (
    LINKAGE_DRIFT_CHECKS,
    SOURCE_CROSS_NIGHT_CHECKS,
    VOLUME_MIN_ROWS_CHANGE,
    drop_volume,
    linkage_drift,
    national_id_share,
    source_cross_night,
)

N1, N2, N3 = date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)
COUNTRY = Country(national_id_pattern="^[0-9]{10}$", national_id_check_digit="luhn")


def luhn(base: str) -> str:
    total = 0
    for position, char in enumerate(reversed(base)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit // 10 + digit % 10
    return base + str((10 - total % 10) % 10)


@pytest.fixture
def contracts(home: Path) -> dict[str, Contract]:
    return load_contracts(home / "sources")


@pytest.fixture
def audit_con(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    ensure_schema(con)
    return con


def files(con: duckdb.DuckDBPyConnection, source: str, rows_by_night: dict[date, int]) -> None:
    """One drop file per night with `rows_in` rows, as landing records it."""
    for night, rows in rows_by_night.items():
        con.execute(
            "insert into audit.files values ($1, $2, $3, null, 0, 'accepted', null, $4, $4, 0, current_timestamp)",
            [night, source, f"{source}/{night}/drop.csv", rows],
        )


# -- drop volume ------------------------------------------------------------------------------------

VOLUME_CASES = [
    ("the first drop of a source", "pension", {N1: 1000}, N1, True, 0.0),
    ("a steady drop", "pension", {N1: 1000, N2: 1100}, N2, True, 0.1),
    ("less than half of last night's rows", "pension", {N1: 1000, N2: 400}, N2, False, -0.6),
    ("exactly half is at the limit", "pension", {N1: 1000, N2: 500}, N2, True, -0.5),
    ("more than half again", "pension", {N1: 1000, N2: 1600}, N2, False, 0.6),
    ("compared with the latest earlier drop", "pension", {N1: 100, N2: 1000, N3: 1100}, N3, True, 0.1),
    ("a small drop swinging by a few rows", "pension", {N1: 10, N2: 4}, N2, True, -0.6),
    ("no drop tonight", "pension", {N1: 1000}, N2, True, 0.0),
    ("a delta after its initial full load", "registry", {N1: 18000, N2: 100}, N2, True, 0.0),
    ("a delta against the previous delta", "registry", {N1: 18000, N2: 100, N3: 40}, N3, False, -0.6),
]


@pytest.mark.parametrize(
    "description, source, history, night, passed, observed", VOLUME_CASES, ids=[c[0] for c in VOLUME_CASES]
)
def test_drop_volume(audit_con, contracts, description, source, history, night, passed, observed):
    files(audit_con, source, history)
    outcome = drop_volume(audit_con, contracts[source], night, CheckConfig())
    assert (outcome.name, outcome.passed) == ("drop_volume", passed), outcome.description
    assert outcome.observed == pytest.approx(observed, abs=1e-5)
    assert outcome.threshold == 0.5


def repeat_file(con: duckdb.DuckDBPyConnection, source: str, night: date, of_night: date) -> None:
    """Tonight's file has the bytes of the one landed on `of_night`: landing records a duplicate, 0 rows."""
    con.execute(
        "update audit.files set file_sha256 = file_path where source = $1 and night = $2", [source, of_night]
    )
    con.execute(
        "insert into audit.files select $night, source, $path, file_sha256, 0, 'duplicate', 'same bytes', "
        "0, 0, 0, current_timestamp from audit.files where source = $source and night = $of_night",
        {"night": night, "path": f"{source}/{night}/drop.csv", "source": source, "of_night": of_night},
    )


def test_a_snapshot_sent_again_unchanged_is_a_steady_drop(audit_con, contracts):
    """A payroll that exports its list every night, changed or not: the repeat is not a drop to nothing."""
    assert contracts["pension"].drop_mode == "snapshot"
    files(audit_con, "pension", {N1: 1000})
    repeat_file(audit_con, "pension", N2, N1)
    outcome = drop_volume(audit_con, contracts["pension"], N2, CheckConfig())
    assert (outcome.passed, outcome.observed) == (True, 0.0), outcome.description
    assert "1 file(s) repeat one already landed" in outcome.description


def test_a_file_and_its_copy_in_one_night_count_once(audit_con, contracts):
    """Two names for the same bytes in one drop: landing keeps one; the volume counts its rows once."""
    files(audit_con, "pension", {N1: 1000, N2: 1000})
    audit_con.execute("update audit.files set file_sha256 = file_path")
    audit_con.execute(
        "insert into audit.files select night, source, file_path || '.copy', file_sha256, 0, 'duplicate', "
        "'same bytes', 0, 0, 0, current_timestamp from audit.files where night = $1",
        [N2],
    )
    outcome = drop_volume(audit_con, contracts["pension"], N2, CheckConfig())
    assert (outcome.passed, outcome.observed) == (True, 0.0), outcome.description


def test_a_rejected_file_sent_again_counts_no_rows(audit_con, contracts):
    """Bytes that were rejected are no drop of their size, whoever sends them again."""
    files(audit_con, "pension", {N1: 1000, N2: 1000})
    audit_con.execute(
        "update audit.files set status = 'rejected', rows_accepted = 0, rows_rejected = rows_in "
        "where night = $1",
        [N2],
    )
    repeat_file(audit_con, "pension", N3, N2)
    outcome = drop_volume(audit_con, contracts["pension"], N3, CheckConfig())
    assert (outcome.passed, outcome.observed) == (False, -1.0), outcome.description


def test_a_delta_sent_again_brought_nothing_new(audit_con, contracts):
    """A registry that re-sends yesterday's events instead of today's: flagged, as a delta of none."""
    assert contracts["registry"].drop_mode == "delta"
    files(audit_con, "registry", {N1: 18000, N2: 100})
    repeat_file(audit_con, "registry", N3, N2)
    outcome = drop_volume(audit_con, contracts["registry"], N3, CheckConfig())
    assert (outcome.passed, outcome.observed) == (False, -1.0), outcome.description


def test_drop_volume_says_why_it_did_not_compare(audit_con, contracts):
    files(audit_con, "registry", {N1: 18000, N2: 100})
    assert "initial load" in drop_volume(audit_con, contracts["registry"], N2, CheckConfig()).description
    assert drop_volume(audit_con, contracts["registry"], N3, CheckConfig()).description == "no drop tonight"
    files(audit_con, "pension", {N1: 10, N2: 4})
    small = drop_volume(audit_con, contracts["pension"], N2, CheckConfig())
    assert f"fewer than {VOLUME_MIN_ROWS_CHANGE} rows" in small.description


# -- national id share ------------------------------------------------------------------------------


def raw_ids(con: duckdb.DuckDBPyConnection, nights: dict[date, tuple[int, int]]) -> None:
    """raw.pension rows per night: (rows, of which with a valid national id); the others have a mistyped one."""
    con.execute('create table raw.pension ("BENEF_NO" varchar, "NRC" varchar, _night date)')
    rows = []
    for night, (count, valid) in nights.items():
        for i in range(count):
            nid = luhn(f"{i:09d}")
            if i >= valid:
                nid = nid[:-1] + str((int(nid[-1]) + 1) % 10)
            rows.append([f"B{i}", nid, night])
    con.executemany("insert into raw.pension values ($1, $2, $3)", rows)


SHARE_CASES = [
    ("the first night", {N1: (200, 160)}, N1, True, 0.0),
    ("a small fall", {N1: (200, 160), N2: (200, 150)}, N2, True, -0.05),
    ("a fall of 20 points", {N1: (200, 160), N2: (200, 120)}, N2, False, -0.2),
    ("a rise always passes", {N1: (200, 60), N2: (200, 180)}, N2, True, 0.6),
    ("too few rows tonight to judge a share", {N1: (200, 160), N2: (20, 2)}, N2, True, 0.0),
    (
        "an earlier night too small to compare with",
        {N1: (200, 160), N2: (20, 2), N3: (200, 100)},
        N3,
        False,
        -0.3,
    ),
]


@pytest.mark.parametrize(
    "description, history, night, passed, observed", SHARE_CASES, ids=[c[0] for c in SHARE_CASES]
)
def test_national_id_share(audit_con, contracts, description, history, night, passed, observed):
    raw_ids(audit_con, history)
    outcome = national_id_share(audit_con, contracts["pension"], night, CheckConfig(), COUNTRY)
    assert (outcome.name, outcome.passed) == ("national_id_share", passed), outcome.description
    assert outcome.observed == pytest.approx(observed, abs=1e-5)
    assert outcome.threshold == 0.10


@pytest.mark.parametrize(
    "description, history, night, passed, observed", SHARE_CASES, ids=[c[0] for c in SHARE_CASES]
)
def test_national_id_share_night_after_night(
    audit_con, contracts, description, history, night, passed, observed
):
    """As a deployment runs it: each night in turn, tonight's count given by the source suite, earlier
    nights' counts read from audit.drop_stats instead of testing their ids again. Same outcomes."""
    raw_ids(audit_con, history)
    for each in sorted(n for n in history if n <= night):
        valid_tonight = history[each][1]
        outcome = national_id_share(
            audit_con, contracts["pension"], each, CheckConfig(), COUNTRY, valid_tonight
        )
    assert (outcome.passed, outcome.observed) == (passed, pytest.approx(observed, abs=1e-5)), (
        outcome.description
    )


def test_national_id_share_recounts_a_baseline_counted_under_another_rule(audit_con, contracts):
    """country.yaml gains its check digit between two nights: last night's ids are judged again by the new rule."""
    raw_ids(audit_con, {N1: (200, 160), N2: (200, 160)})
    lenient = Country(national_id_pattern="^[0-9]{10}$", national_id_check_digit="none")
    first = national_id_share(audit_con, contracts["pension"], N1, CheckConfig(), lenient)
    assert "100.0% of 200" in first.description  # without the check digit every id is valid
    outcome = national_id_share(audit_con, contracts["pension"], N2, CheckConfig(), COUNTRY)
    assert (outcome.passed, outcome.observed) == (True, pytest.approx(0.0, abs=1e-9)), outcome.description


def test_national_id_share_counts_a_relanded_baseline_again(audit_con, contracts):
    """Counts kept for a night hold only while its rows do: a night landed again with more rows is re-counted."""
    raw_ids(audit_con, {N1: (200, 160)})
    national_id_share(audit_con, contracts["pension"], N1, CheckConfig(), COUNTRY)
    audit_con.execute(
        "insert into raw.pension select 'X' || \"BENEF_NO\", 'not-an-id', _night from raw.pension where _night = $1",
        [N1],
    )
    audit_con.execute(
        'insert into raw.pension select "BENEF_NO", "NRC", $2 from raw.pension where _night = $1', [N1, N2]
    )
    outcome = national_id_share(audit_con, contracts["pension"], N2, CheckConfig(), COUNTRY)
    # N1 is now 400 rows of which 160 valid (40%); N2 copies them: no change
    assert outcome.observed == pytest.approx(0.0, abs=1e-9), outcome.description
    assert "40.0%" in outcome.description


def test_national_id_share_of_a_source_without_ids(audit_con, contracts):
    no_ids = replace(contracts["pension"], columns={"last_name": "SURNAME"}, required=())
    outcome = national_id_share(audit_con, no_ids, N1, CheckConfig(), COUNTRY)
    assert (outcome.passed, outcome.description) == (True, "national_id not mapped by the contract")


def test_source_cross_night_reports_both_checks_by_name(audit_con, contracts):
    files(audit_con, "pension", {N1: 200, N2: 80})
    raw_ids(audit_con, {N1: (200, 160), N2: (200, 160)})
    outcomes = source_cross_night(audit_con, contracts["pension"], N2, CheckConfig(), COUNTRY)
    assert [o.name for o in outcomes] == list(SOURCE_CROSS_NIGHT_CHECKS)
    assert [o.passed for o in outcomes] == [False, True]


# -- linkage drift ----------------------------------------------------------------------------------


def clusters(sizes: list[int]) -> list[str]:
    """Person ids for records: one person per entry of `sizes`, with that many records."""
    return [f"P{person}" for person, size in enumerate(sizes) for _ in range(size)]


@pytest.fixture
def linkage_con(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con.execute(read_sql("registry/schema.sql"))
    con.execute(
        "create table registry.person_source_link (person_id varchar, source varchar, source_record_id varchar)"
    )
    return con


def linked(con: duckdb.DuckDBPyConnection, night: date, persons: list[str], tonight: bool) -> None:
    """One record per entry of `persons`, linked to it on `night` (and tonight's links in the registry)."""
    con.executemany(
        "insert into linkage.record_person (night, record_key, source, source_record_id, person_id) "
        "values ($1, $2, 's', $3, $4)",
        [[night, f"s:{i}", str(i), person] for i, person in enumerate(persons)],
    )
    if tonight:
        con.executemany(
            "insert into registry.person_source_link values ($1, 's', $2)",
            [[person, str(i)] for i, person in enumerate(persons)],
        )


# 100 records each night: 60 in pairs and 40 singletons, then variations
STEADY = [2] * 30 + [1] * 40
DRIFT_CASES = [
    ("the first linked night", [], STEADY, (True, True), (0.0, 0.0)),
    ("a steady night", STEADY, [2] * 31 + [1] * 38, (True, True), (0.02, 0.0)),
    ("far fewer records linked", STEADY, [2] * 20 + [1] * 60, (False, True), (-0.2, 0.0)),
    ("large clusters appear", STEADY, [5] * 12 + [1] * 40, (True, False), (0.0, 12 / 52)),
]


@pytest.mark.parametrize(
    "description, before, tonight, passed, observed", DRIFT_CASES, ids=[c[0] for c in DRIFT_CASES]
)
def test_linkage_drift(linkage_con, description, before, tonight, passed, observed):
    if before:
        linked(linkage_con, N1, clusters(before), tonight=False)
    linked(linkage_con, N2, clusters(tonight), tonight=True)
    outcomes = linkage_drift(linkage_con, N2, CheckConfig())
    assert [o.name for o in outcomes] == list(LINKAGE_DRIFT_CHECKS)
    assert tuple(o.passed for o in outcomes) == passed, [o.description for o in outcomes]
    assert tuple(o.observed for o in outcomes) == pytest.approx(observed, abs=1e-5)
    assert tuple(o.threshold for o in outcomes) == (0.05, 0.02)


def test_linkage_drift_compares_with_the_latest_earlier_night(linkage_con):
    linked(linkage_con, N1, clusters([1] * 100), tonight=False)
    linked(linkage_con, N2, clusters(STEADY), tonight=False)
    linked(linkage_con, N3, clusters(STEADY), tonight=True)
    linked(linkage_con, N3 + timedelta(days=1), clusters([5] * 20), tonight=False)  # a later night: ignored
    outcomes = linkage_drift(linkage_con, N3, CheckConfig())
    assert [o.passed for o in outcomes] == [True, True]
    assert str(N2) in outcomes[0].description
