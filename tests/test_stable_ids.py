"""Stable person ids: the same people keep their id across nights; merges and splits are recorded."""

from __future__ import annotations

import pytest

from matching.stable_ids import assign_stable_ids


def assign(con, tonight: dict[str, str], last_night: dict[str, str], highest: int = 0, backend=None):
    # named as the pipeline names them (a leading "_" is a hidden file to Spark: a name must survive that)
    con.execute("create or replace temp table _clusters (record_key varchar, cluster_key varchar)")
    con.execute("create or replace temp table _previous (record_key varchar, person_id varchar)")
    if tonight:
        con.executemany("insert into _clusters values (?, ?)", list(tonight.items()))
    if last_night:
        con.executemany("insert into _previous values (?, ?)", list(last_night.items()))
    summary = assign_stable_ids(con, "_clusters", "_previous", highest, "_assigned", "_history", backend)
    ids = dict(con.execute("select record_key, person_id from _assigned").fetchall())
    history = con.execute("select old_person_id, new_person_id, kind from _history order by all").fetchall()
    return ids, history, summary


CASES = [
    (
        "first night: new ids in order of the smallest record key",
        {"b": "x", "a": "x", "c": "y"},
        {},
        {"a": "P0000000001", "b": "P0000000001", "c": "P0000000002"},
        [],
    ),
    (
        "unchanged clusters keep their ids, a new record joins its person",
        {"a": "k1", "b": "k1", "c": "k2", "d": "k2"},
        {"a": "P0000000007", "b": "P0000000007", "c": "P0000000003"},
        {"a": "P0000000007", "b": "P0000000007", "c": "P0000000003", "d": "P0000000003"},
        [],
    ),
    (
        "merge keeps the oldest id",
        {"a": "k", "b": "k", "c": "k"},
        {"a": "P0000000005", "b": "P0000000005", "c": "P0000000002"},
        {"a": "P0000000002", "b": "P0000000002", "c": "P0000000002"},
        [("P0000000005", "P0000000002", "merge")],
    ),
    (
        "split keeps the id on the largest part; the other part gets a new id",
        {"a": "k1", "b": "k1", "c": "k2"},
        {"a": "P0000000004", "b": "P0000000004", "c": "P0000000004"},
        {"a": "P0000000004", "b": "P0000000004", "c": "P0000000010"},
        [("P0000000004", "P0000000010", "split")],
    ),
]


@pytest.mark.parametrize(
    ("description", "tonight", "last", "expected", "history"), CASES, ids=[c[0] for c in CASES]
)
def test_assignment(con, description, tonight, last, expected, history):
    ids, got_history, _ = assign(con, tonight, last, highest=9 if last else 0)
    assert ids == expected, description
    assert got_history == history, description


def test_rerun_issues_the_same_ids(con):
    """Reassigning from the same previous state gives identical ids (rerunning a night changes no id)."""
    tonight = {f"r{i}": f"k{i // 3}" for i in range(30)}
    last = {f"r{i}": f"P{i // 3:010d}" for i in range(0, 30, 2)}
    first, _, _ = assign(con, tonight, last, highest=50)
    second, _, _ = assign(con, tonight, last, highest=50)
    assert first == second


def test_retired_ids_are_never_reissued(con):
    """A new person after a merge gets a fresh number above every id ever issued."""
    ids, _, summary = assign(
        con, {"a": "k", "b": "k", "n": "z"}, {"a": "P0000000001", "b": "P0000000002"}, highest=2
    )
    assert ids["n"] == "P0000000003"
    assert (summary.persons, summary.kept, summary.new, summary.merged) == (2, 1, 1, 1)
