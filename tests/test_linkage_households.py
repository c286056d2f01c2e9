"""Linkage on registries as social-protection programmes keep them: names written as chains of given
names, birth dates a source does not know, households that share a phone, ids with digits exchanged.

Each test feeds a few hand-made rows through one piece of the linkage (the link input, the default-day
SQL, the household measure, the identity guard's ladder) and checks what comes out.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from matching import model as model_lib
from matching.backend import open_backend
from matching.clustering import cluster, split_ladder
from matching.config import LinkageConfig
from matching.link_input import prepare_input
from matching.linkage import ensure_schema
from matching.review import write_review_queue
from staging.standardise import register_functions

COLUMNS = {
    "source": "varchar",
    "source_record_id": "varchar",
    "source_kind": "varchar",
    "first_name": "varchar",
    "middle_name": "varchar",
    "last_name": "varchar",
    "father_name": "varchar",
    "grandfather_name": "varchar",
    "second_last_name": "varchar",
    "date_of_birth": "date",
    "dob_precision": "varchar",
    "birth_year": "integer",
    "sex": "varchar",
    "national_id": "varchar",
    "national_id_valid": "boolean",
    "civil_registration_number": "varchar",
    "phone": "varchar",
    "locality": "varchar",
}


def _staged(rows: list[dict[str, object]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register_functions(con)
    con.execute("create schema staging")
    ensure_schema(con)
    con.execute(
        "create table staging.person_records (" + ", ".join(f"{c} {t}" for c, t in COLUMNS.items()) + ")"
    )
    for row in rows:
        values = {c: row.get(c) for c in COLUMNS}
        if isinstance(values["date_of_birth"], date):
            values["birth_year"] = values["date_of_birth"].year  # type: ignore[union-attr]
            values["dob_precision"] = values["dob_precision"] or "day"
        con.execute(
            f"insert into staging.person_records values ({', '.join('?' for _ in COLUMNS)})",
            list(values.values()),
        )
    prepare_input(con)
    return con


def _input(con: duckdb.DuckDBPyConnection, key: str) -> dict[str, object]:
    cursor = con.execute("select * from _link_input where record_key = ?", [key])
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))


def test_a_name_written_as_a_chain_or_in_another_order_has_the_same_parts():
    """A patronymic chain (given, father, grandfather), the same chain cut short as a child's list writes it
    (the father's name as the surname), and a name in the other order: the link input holds the given name
    apart, the father's name first among the others, and the parts sorted, so the model sees them agree."""
    con = _staged(
        [
            {"source": "roster", "source_record_id": "1", "first_name": "amina", "father_name": "hassan",
             "grandfather_name": "omar"},
            {"source": "school", "source_record_id": "2", "first_name": "amina", "last_name": "hassan"},
            {"source": "pension", "source_record_id": "3", "first_name": "perez", "last_name": "juan"},
            {"source": "civil", "source_record_id": "4", "first_name": "juan", "last_name": "perez"},
        ]
    )  # fmt: skip
    chain, child = _input(con, "roster:1"), _input(con, "school:2")
    assert chain["given_name"] == child["given_name"] == "amina"
    assert chain["other_names"] == "hassan omar" and child["other_names"] == "hassan"
    assert chain["other_key"] == child["other_key"]
    assert set(child["other_keys"]) <= set(chain["other_keys"])  # the cut chain is part of the whole one
    swapped, straight = _input(con, "pension:3"), _input(con, "civil:4")
    assert swapped["name_sorted"] == straight["name_sorted"] == "juan perez"
    assert swapped["name_sounds"] == straight["name_sounds"]


def test_ids_with_two_digits_exchanged_share_their_digits():
    con = _staged(
        [
            {"source": "a", "source_record_id": "1", "first_name": "ann", "national_id": "8071234567"},
            {"source": "b", "source_record_id": "1", "first_name": "ann", "national_id": "8017234567"},
        ]
    )
    assert _input(con, "a:1")["national_id_digits"] == _input(con, "b:1")["national_id_digits"]


GIVEN = [
    "amina",
    "omar",
    "fatuma",
    "ali",
    "hodan",
    "ibrahim",
    "sahra",
    "yusuf",
    "khadija",
    "abdi",
    "nimco",
    "farah",
    "ayan",
    "hassan",
    "faisa",
    "jama",
    "ubah",
    "dahir",
    "muna",
    "bashir",
]


def _dated(source: str, n: int, born: date) -> list[dict[str, object]]:
    return [
        {"source": source, "source_record_id": f"{born}-{i}", "first_name": GIVEN[i % len(GIVEN)],
         "last_name": "x", "date_of_birth": born}
        for i in range(n)
    ]  # fmt: skip


def test_default_birth_days_are_found_in_the_data_and_read_as_the_year_or_nothing():
    """A source that writes 1 July for everyone whose year alone it knows, and 1900-01-01 for "unknown":
    found from the data (no day is assumed), 1 July read as the year only, 1900-01-01 as no date; another
    source's 1 July is its own and stays a day."""
    rows = []
    for year in range(1950, 2000):  # ordinary births spread over the year
        for day in (3, 9, 14, 20, 27):
            rows += _dated("roster", 1, date(year, (year + day) % 12 + 1, day))
    for year in (1950, 1960, 1970):
        rows += _dated("roster", 8, date(year, 7, 1))
    rows += _dated("roster", 15, date(1900, 1, 1))
    rows += _dated("civil", 1, date(1960, 7, 1))
    rows += [
        {"source": "civil", "source_record_id": f"c{i}", "first_name": GIVEN[i % len(GIVEN)], "last_name": "y",
         "date_of_birth": date(1940 + i % 50, i % 12 + 1, i % 27 + 1)}
        for i in range(300)
    ]  # fmt: skip
    con = _staged(rows)
    defaults = con.execute(
        "select source_dataset, kind, birth_month, birth_day, placeholder from linkage.dob_default order by all"
    ).fetchall()
    assert defaults == [
        ("roster", "unknown", None, None, date(1900, 1, 1)),
        ("roster", "year_only", 7, 1, None),
    ]
    year_only = _input(con, "roster:1960-07-01-0")
    assert year_only["dob_precision"] == "year" and year_only["birth_year"] == 1960
    unknown = _input(con, "roster:1900-01-01-0")
    assert unknown["date_of_birth"] is None and unknown["birth_year"] is None
    assert _input(con, "civil:1960-07-01-0")["dob_precision"] == "day"


def test_a_phone_a_family_shares_is_household_evidence_and_one_persons_phone_is_not():
    """Measured per source: a phone five different people give says "same household"; a phone one
    person gives on each of their records says "same person"."""
    family = [
        {"source": "roster", "source_record_id": str(i), "first_name": name, "last_name": "hassan",
         "phone": "700000001"}
        for i, name in enumerate(["amina", "omar", "fatuma", "ali", "hodan"])
    ]  # fmt: skip
    one_person = [
        {"source": "payroll", "source_record_id": str(i), "first_name": "ibrahim", "last_name": "yusuf",
         "phone": "700000002"}
        for i in range(4)
    ]  # fmt: skip
    con = _staged(family)
    assert model_lib.shared_by_others(con, "_link_input", "phone") == pytest.approx(1.0)
    con = _staged(one_person)
    assert model_lib.shared_by_others(con, "_link_input", "phone") == 0.0
    households = model_lib.FieldProfile("phone", 9, 2, 2, shared_by_others=0.9)
    persons = model_lib.FieldProfile("phone", 9, 2, 2, shared_by_others=0.1)
    assert households.household and not persons.household


def test_a_household_phone_is_compared_with_the_family_not_as_identity():
    """Where phones belong to households, agreeing on one is a level of the family-and-place comparison
    (weighed once with the family names), never a comparison of its own."""
    profiles = {
        "first_name": model_lib.FieldProfile("first_name", 100, 50, 2),
        "last_name": model_lib.FieldProfile("last_name", 100, 20, 2),
        "locality": model_lib.FieldProfile("locality", 100, 5, 2),
    }
    shared = {"phone": model_lib.FieldProfile("phone", 100, 20, 2, shared_by_others=0.9)}
    own = {"phone": model_lib.FieldProfile("phone", 100, 95, 2, shared_by_others=0.05)}
    for phones, separate in ((shared, False), (own, True)):
        fields = model_lib.Fields(frozenset({*profiles, "phone"}), {**profiles, **phones}, 100, {})
        names = [
            c.create_comparison_dict("duckdb")["output_column_name"] for c, _ in model_lib.comparisons(fields)
        ]
        assert ("phone" in names) is separate
        assert "given_name" in names and "family_and_place" in names


def test_the_guard_cuts_at_rising_thresholds_below_the_strong_one():
    """A cluster that breaks an identity rule is clustered again at the next threshold up, until it no
    longer does: a link stronger than the one that made the conflict is kept."""
    assert split_ladder(0.62, 0.999) == [0.9, 0.99, 0.999]
    assert split_ladder(0.95, 0.9999) == [0.99, 0.999, 0.9999]
    assert split_ladder(0.999, 0.999) == [0.999]


def _clustered(
    con: duckdb.DuckDBPyConnection, edges: list[tuple[str, str, float]], home
) -> dict[str, set[str]]:
    """Cluster `_link_input` on the model's `edges`; returns each record's cluster (its records) and the flags."""
    con.execute(
        "create temp table _model_edges (record_key_l varchar, record_key_r varchar, match_probability double)"
    )
    con.executemany("insert into _model_edges values (?, ?, ?)", edges)
    con.execute("create temp table _deterministic (record_key_l varchar, record_key_r varchar)")
    con.execute("create temp table _decisions (record_key_l varchar, record_key_r varchar, decision varchar)")
    config = LinkageConfig(match_threshold=0.9)
    cluster(con, home, date(2026, 1, 1), config, None, open_backend("duckdb", duckdb.connect(), home))
    rows = con.execute(
        "select record_key, list(record_key) over (partition by cluster_key) from _clusters"
    ).fetchall()
    return {key: set(together) for key, together in rows}


def test_two_people_of_the_civil_registry_a_third_record_resembles_are_kept_apart(tmp_path):
    """Two civil registry entries, each with its own id and registration number, and a caregiver-typed disability
    record like both, each link above the strong threshold: the guard cannot cut them by threshold. The record goes
    with the entry its strongest link leads to; the other entry stays a person of its own (all flagged)."""
    born = date(1993, 2, 22)
    con = _staged(
        [
            {
                "source": "civil",
                "source_record_id": "a",
                "source_kind": "civil_registry",
                "first_name": "madaches",
                "last_name": "phupu",
                "date_of_birth": born,
                "sex": "M",
                "national_id": "9540988848",
                "national_id_valid": True,
                "civil_registration_number": "BR1",
            },
            {
                "source": "civil",
                "source_record_id": "b",
                "source_kind": "civil_registry",
                "first_name": "mipingo",
                "last_name": "phupu",
                "date_of_birth": born,
                "sex": "M",
                "national_id": "4497442238",
                "national_id_valid": True,
                "civil_registration_number": "BR2",
            },
            {
                "source": "disability",
                "source_record_id": "c",
                "source_kind": "programme",
                "first_name": "mypingo",
                "last_name": "phipu",
                "date_of_birth": born,
                "sex": "M",
            },
        ]
    )
    clusters = _clustered(
        con, [("civil:a", "disability:c", 0.99995), ("civil:b", "disability:c", 0.9995)], tmp_path
    )
    assert clusters["disability:c"] == {"civil:a", "disability:c"}
    assert clusters["civil:b"] == {"civil:b"}
    flagged = {row[0] for row in con.execute("select record_key from _flagged_records").fetchall()}
    assert flagged == {"civil:a", "civil:b", "disability:c"}
    # no clerk is asked about the cut: the two persons hold two ids, and no decision could join them
    night = date(2026, 1, 1)
    con.execute(
        "insert into linkage.record_person select $night, record_key, split_part(record_key, ':', 1), "
        "split_part(record_key, ':', 2), cluster_key, null, 'needs_review', null from _clusters",
        {"night": night},
    )
    config = LinkageConfig(match_threshold=0.9)
    assert write_review_queue(con, night, config) == 0
    # a cut between persons who could be one is asked about
    con.execute("create temp table _records as select * from _link_input")
    con.execute("drop view _link_input")
    con.execute(
        "create temp table _link_input as select * replace ("
        + ", ".join(
            f"case when record_key = 'civil:b' then null else {c} end as {c}"
            for c in ("national_id", "national_id_valid", "civil_registration_number")
        )
        + ") from _records"
    )
    assert write_review_queue(con, night, config) == 1


def test_a_father_and_the_son_named_after_him_are_two_people_and_a_mistyped_year_is_not(tmp_path):
    """Births known to the day twenty years apart are two people, however alike their names; a year one digit
    off (1962 for 1992) is a typo, and the link stands."""
    rows = []
    for key, born in (("father", date(1992, 4, 20)), ("son", date(2011, 4, 20)), ("typo", date(1962, 4, 20))):
        rows.append(
            {
                "source": "cash",
                "source_record_id": key,
                "source_kind": "programme",
                "first_name": "minu",
                "last_name": "gakazoji",
                "date_of_birth": born,
                "sex": "M",
            }
        )
    con = _staged(rows)
    clusters = _clustered(
        con, [("cash:father", "cash:son", 0.97), ("cash:father", "cash:typo", 0.95)], tmp_path
    )
    assert clusters["cash:son"] == {"cash:son"}
    assert clusters["cash:father"] == {"cash:father", "cash:typo"}
