"""Linkage metrics on hand-made cases whose answers can be worked out on paper."""

from __future__ import annotations

import pytest

from matching.evaluate import evaluate_clusters


def score(con, rows: list[tuple[str, str, str]]):
    con.execute("create or replace table a (record_key varchar, predicted varchar, truth varchar)")
    con.executemany("insert into a values (?, ?, ?)", rows)
    return evaluate_clusters(con, "select record_key, predicted, truth from a")


CASES = [
    # description, rows (record, predicted, truth), pairwise P, R, B-cubed P, R
    ("perfect", [("a", "1", "x"), ("b", "1", "x"), ("c", "2", "y")], 1.0, 1.0, 1.0, 1.0),
    (
        "all singletons, one true pair missed",
        [("a", "1", "x"), ("b", "2", "x"), ("c", "3", "y")],
        1.0,
        0.0,
        1.0,
        2 / 3,
    ),
    # one cluster of 3 where truth is {a,b},{c}: predicted pairs ab ac bc, only ab true
    (
        "false merge",
        [("a", "1", "x"), ("b", "1", "x"), ("c", "1", "y")],
        1 / 3,
        1.0,
        (2 / 3 * 2 + 1 / 3) / 3,
        1.0,
    ),
    # truth {a,b,c,d}, predicted {a,b},{c,d}: 2 of 6 true pairs; B-cubed recall 1/2 each
    ("split", [("a", "1", "x"), ("b", "1", "x"), ("c", "2", "x"), ("d", "2", "x")], 1.0, 2 / 6, 1.0, 0.5),
]


@pytest.mark.parametrize(("description", "rows", "p", "r", "bp", "br"), CASES, ids=[c[0] for c in CASES])
def test_metrics(con, description, rows, p, r, bp, br):
    metrics = score(con, rows)
    assert metrics.pairwise_precision == pytest.approx(p), description
    assert metrics.pairwise_recall == pytest.approx(r), description
    assert metrics.bcubed_precision == pytest.approx(bp), description
    assert metrics.bcubed_recall == pytest.approx(br), description
    assert metrics.records == len(rows)


def test_f1_is_zero_when_nothing_right(con):
    metrics = score(con, [("a", "1", "x"), ("b", "1", "y"), ("c", "2", "x")])
    assert metrics.true_positive_pairs == 0
    assert metrics.pairwise_f1 == 0.0
