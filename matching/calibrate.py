"""The prior and the match threshold, estimated from a trained model's scores of the blocked pairs.

Splink's EM estimates m (and u by sampling) with the prior, the probability that two random
records match, held where a deterministic rule and a guessed recall put it. When records are
heavily duplicated that guess can be several times too low, and every true pair's probability
with it. Here the prior is re-estimated as EM would with m and u fixed: the expected number of
matches among the blocked pairs (the sum of their match probabilities) over all record pairs,
repeated until it settles. Pairs the blocking rules never generate are taken to be non-matches.

The threshold then follows from the same scores: for each candidate threshold the expected
precision (mean probability of the pairs at or above it) and expected recall (their share of
the expected matches) give an expected F-beta, and the best one is taken. beta below 1 weighs
precision more: a false merge pays one person's benefit to another.

Example::

    result = calibrate(con, "scored", prior=2e-4, total_pairs=n * (n - 1) // 2, beta=0.5)
    result.prior, result.threshold, result.expected_precision
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

MAX_ITERATIONS = 100
TOLERANCE = 1e-4  # relative change of the prior at which the iteration stops
THRESHOLD_RANGE = (0.5, 0.995)
# the cut is one pair's probability, and every pair of the same score is meant to link with it. A later
# night computes those scores again in another order of floating-point operations (Splink's own
# probability, an incremental night's pairs taken the other way round), a few ulps either side of the cut:
# the threshold sits this far below it, so that a tie never splits by rounding
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Calibration:
    prior_before: float
    prior: float
    iterations: int
    threshold: float
    beta: float
    expected_matches: float
    expected_precision: float
    expected_recall: float
    pairs: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def log2_odds(probability: float) -> float:
    return math.log2(probability / (1.0 - probability))


def probability_sql(log2_bf: str, prior: float) -> str:
    """SQL of the match probability of a pair with Bayes factor 2^log2_bf under `prior`."""
    return f"1.0 / (1.0 + pow(2.0, -({log2_bf}) - ({log2_odds(prior)!r})))"


def calibrate(
    con: duckdb.DuckDBPyConnection,
    scored: str,
    prior: float,
    total_pairs: int,
    beta: float = 0.5,
) -> Calibration:
    """Re-estimate the prior and choose the threshold from `scored(match_weight)` under `prior`.

    Leaves a temp table `_calibrated(log2_bf)` (the pairs' Bayes factors, prior removed).
    """
    con.execute(
        f"create or replace temp table _calibrated as select match_weight - ({log2_odds(prior)!r}) as log2_bf "
        f"from {scored}"
    )
    pairs = int(con.execute("select count(*) from _calibrated").fetchall()[0][0])
    estimate, iterations = prior, 0
    if pairs and total_pairs > 0:
        for iterations in range(1, MAX_ITERATIONS + 1):  # noqa: B007 (the count is reported)
            expected = con.execute(
                f"select sum({probability_sql('log2_bf', estimate)}) from _calibrated"
            ).fetchall()[0][0]
            # at least one match and at most every blocked pair: the odds stay finite
            updated = min(max(float(expected or 0.0), 1.0), pairs) / total_pairs
            updated = min(updated, 0.5)
            change = abs(updated - estimate) / estimate
            estimate = updated
            if change < TOLERANCE:
                break
    threshold, precision, recall, matches = choose_threshold(con, estimate, beta)
    return Calibration(
        prior_before=prior,
        prior=estimate,
        iterations=iterations,
        threshold=threshold,
        beta=beta,
        expected_matches=matches,
        expected_precision=precision,
        expected_recall=recall,
        pairs=pairs,
    )


def choose_threshold(
    con: duckdb.DuckDBPyConnection, prior: float, beta: float
) -> tuple[float, float, float, float]:
    """(threshold, expected precision, expected recall, expected matches) maximising expected F-beta.

    The best cut is searched over every pair's probability, then held inside THRESHOLD_RANGE: never
    a coin toss, never so high that only perfect agreement links.
    """
    low, high = THRESHOLD_RANGE
    b2 = beta * beta
    con.execute(
        f"create or replace temp table _posterior as select {probability_sql('log2_bf', prior)} as p from _calibrated"
    )
    row = con.execute(
        f"""
        with total as (select sum(p) as matches from _posterior),
        ranked as (
            select p,
                   sum(p) over (order by p desc rows between unbounded preceding and current row) as tp,
                   row_number() over (order by p desc) as predicted
            from _posterior
        )
        select p from ranked, total
        where matches > 0
        order by (1 + {b2!r}) * tp / (predicted + {b2!r} * matches) desc, p desc
        limit 1
        """
    ).fetchall()
    threshold = high if not row else min(max(float(row[0][0]) - TIE_TOLERANCE, low), high)
    precision, recall, matches = con.execute(
        "select coalesce(avg(p) filter (where p >= $t), 0), "
        "coalesce(sum(p) filter (where p >= $t) / nullif(sum(p), 0), 0), coalesce(sum(p), 0) from _posterior",
        {"t": threshold},
    ).fetchall()[0]
    return threshold, float(precision), float(recall), float(matches)
