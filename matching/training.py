"""Training a new model: u by random sampling, m by EM sessions, a first prior from near-certain rules.

A night trains only when no saved model fits (the first night, or `retrain: true`); the scoring
step (matching.scoring) then re-estimates the prior and chooses the threshold from the trained
model's scores (matching.calibrate). The charts saved beside the model are the auditor's.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import duckdb

from matching import model as model_lib
from matching.config import LinkageConfig
from matching.dialect import DUCKDB, Dialect

log = logging.getLogger(__name__)
MIN_EM_PAIRS = 50
# Splink narrates every training step at INFO; a nightly log wants its warnings only
SPLINK_LOG_LEVEL = logging.WARNING


# pairs u is estimated from per record, at least U_MIN_PAIRS: a few thousand records need no more than a million
# random pairs (the test bed's social-protection schemas: the same model from 1M pairs as from 5M, in half the time)
U_PAIRS_PER_RECORD = 50
U_MIN_PAIRS = 1_000_000


def u_pairs(config: LinkageConfig, records: int) -> int:
    """How many random pairs u is estimated from: linkage.yaml's u_max_pairs, fewer for a small input."""
    return min(config.u_max_pairs, max(U_MIN_PAIRS, U_PAIRS_PER_RECORD * records))


def train(
    linker: Any,
    sdf: Any,
    scratch: duckdb.DuckDBPyConnection,
    fields: model_lib.Fields,
    reads: list[frozenset[str]],
    config: LinkageConfig,
    sql: Dialect = DUCKDB,
    counting: Any = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """u by seeded random sampling, m by EM sessions chosen from the fields, a first prior from exact rules.

    Each EM session starts from a saved copy of the model: when one fails (no pairs, an m
    probability under Splink's float floor), Splink has already dropped that session's
    comparisons from the linker, so the linker is rebuilt from the copy and the next session
    runs on the intact model. Returns the linker and what each session did. A session's pairs are counted
    on `counting` (a narrow view of the input, model.narrow_input) when given.
    """
    from splink import Linker

    _estimate_first_prior(linker, scratch, fields, sql)
    # one chunk: Splink's default of ten (and a probe) stops early only once every level is seen 100 times, which
    # the rare levels (an id agreeing between strangers) never are: the same pairs cost a third more in chunks
    linker.training.estimate_u_using_random_sampling(
        max_pairs=u_pairs(config, fields.records), seed=config.seed, num_chunks=1
    )
    untrained = set(range(len(reads)))
    sessions: list[dict[str, Any]] = []
    for blocked, rule in model_lib.em_sessions(fields):
        covers = model_lib.trained_by(blocked, reads) & untrained
        if not covers:
            continue
        pairs = model_lib.count_all_blocking(counting or sdf, [("em", rule)], 1.0)
        if pairs < MIN_EM_PAIRS:
            sessions.append({"rule": rule, "pairs": pairs, "outcome": "skipped: too few pairs"})
            continue
        before = linker.misc.save_model_to_json()
        try:
            # EM needs a few million pairs at most; an unsampled rule on a big country would build tens of millions
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=config.em_max_pairs
            )
        except Exception as exc:  # noqa: BLE001 (Splink raises several kinds; each leaves the linker damaged)
            log.warning(
                "EM session on %s failed (%s); the model keeps its other sessions", rule, type(exc).__name__
            )
            linker = Linker(sdf, before, SPLINK_LOG_LEVEL)
            sessions.append({"rule": rule, "pairs": pairs, "outcome": f"failed: {type(exc).__name__}"})
            continue
        untrained -= covers
        sessions.append({"rule": rule, "pairs": pairs, "outcome": "trained"})
        if not untrained:
            break
    if untrained:
        log.warning(
            "%d comparison(s) kept Splink's default m: no EM session could leave them free", len(untrained)
        )
    return _with_disagreement_floor(linker, sdf), sessions


# m of a comparison's last level (every value disagrees) when EM never saw a true pair there: rarer than one
# in a thousand true pairs. Left untrained, Splink scores the level as no evidence at all, and two records
# born twenty years apart weigh as if their dates were unknown.
DISAGREEMENT_M_FLOOR = 0.001


def _with_disagreement_floor(linker: Any, sdf: Any) -> Any:
    """The linker with every untrained "all other comparisons" level given DISAGREEMENT_M_FLOOR."""
    from splink import Linker

    model = linker.misc.save_model_to_json()
    floored = []
    for comparison in model["comparisons"]:
        last = comparison["comparison_levels"][-1]
        if last.get("sql_condition") == "ELSE" and last.get("m_probability") is None:
            last["m_probability"] = DISAGREEMENT_M_FLOOR
            floored.append(comparison["output_column_name"])
    if not floored:
        return linker
    log.info(
        "linkage: no true pair disagreed on %s in training; m set to %s",
        ", ".join(floored),
        DISAGREEMENT_M_FLOOR,
    )
    return Linker(sdf, model, SPLINK_LOG_LEVEL)


def _estimate_first_prior(
    linker: Any, scratch: duckdb.DuckDBPyConnection, fields: model_lib.Fields, sql: Dialect = DUCKDB
) -> None:
    """A starting prior from the rules that are near-certain matches; matching.calibrate refines it."""
    share_valid = (
        scratch.execute("select avg(national_id_valid::int) from link_input").fetchall()[0][0] or 0.0
    )
    if "national_id" in fields and share_valid > 0.05:
        # a true pair is found by the id rule only when both records carry a valid id
        recall = max(min(float(share_valid) ** 2, 0.95), 0.05)
        linker.training.estimate_probability_two_random_records_match(
            [model_lib.deterministic_sql(sql)], recall=recall
        )
        return
    exact = [
        " and ".join(f"l.{f} = r.{f}" for f in group)
        for group in (
            ("first_name", "last_name", "date_of_birth"),
            ("first_name", "last_name", "address"),
            ("first_name", "last_name", "postcode"),
            ("first_name", "last_name"),
        )
        if fields.all(*group)
    ]
    if not exact:
        exact = [next(rule for _, rule in model_lib.blocking_candidates(fields, sql))]
    linker.training.estimate_probability_two_random_records_match(exact[:1], recall=0.6)


def save_charts(linker: Any, out_dir: Path, counted: list[dict[str, Any]]) -> None:
    """Charts for the auditor (weights, m/u, comparisons per blocking rule), JavaScript inlined to open offline.

    `counted`: Splink's cumulative count of the kept rules (model.count_cumulative), drawn as Splink draws it
    without counting again.
    """
    from splink.internals.charts import CumulativeBlockingRuleComparisonsGeneratedChart

    blocking_chart = CumulativeBlockingRuleComparisonsGeneratedChart(counted)
    charts = {
        "match_weights": linker.visualisations.match_weights_chart(),
        "m_u_parameters": linker.visualisations.m_u_parameters_chart(),
        "blocking_comparisons": blocking_chart,
    }
    for name, chart in charts.items():
        chart.save(str(out_dir / f"{name}.html"), inline=True)
        (out_dir / f"{name}.json").write_text(json.dumps(chart.chart_dict, default=str), encoding="utf-8")
