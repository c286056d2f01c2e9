"""Scoring a night's record pairs with Splink, into the scratch table `edges`.

`score_full` scores every pair the blocking rules generate, training a model first when none is
saved (matching.training) and then choosing its threshold (matching.calibrate); `score_incremental`
scores only the new and changed records with the saved model (matching.incremental). Either
returns a `Scored` that carries the night's match threshold with the model it came from:
`model_threshold` reads linkage.yaml's, else the one saved with the model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from matching import incremental, portable_model
from matching import model as model_lib
from matching.backend import Backend
from matching.calibrate import calibrate, log2_odds, probability_sql
from matching.config import FALLBACK_THRESHOLD, LinkageConfig
from matching.dialect import DUCKDB, Dialect
from matching.model_store import MODEL_META, write_atomically
from matching.scratch import Timer
from matching.training import SPLINK_LOG_LEVEL, save_charts, train

log = logging.getLogger(__name__)


@dataclass
class Scored:
    """What the scoring step of a night did."""

    comparisons: int
    records_scored: int
    trained: bool
    model_path: Path | None
    blocking: list[model_lib.BlockingCount]
    carried_pairs: int = 0
    threshold: float = FALLBACK_THRESHOLD


def score_full(
    scratch: duckdb.DuckDBPyConnection,
    backend: Backend,
    saved: Path | None,
    out_dir: Path,
    config: LinkageConfig,
    modelled: int,
    timer: Timer,
    extra: dict[str, str] | None = None,
) -> Scored:
    """Every pair the blocking rules generate, scored into scratch table `edges`; trains when no model is saved.

    A training night scores every blocked pair once, re-estimates the prior from those scores and
    chooses the threshold (matching.calibrate); both are saved with the model for the nights after.
    """
    from splink import Linker, SettingsCreator

    sdf = backend.register(scratch, "link_input")
    # blocking counts on a sample of about 200,000 records past that size (Splink scales the count up): enough to
    # decide a rule's budget, at a cost that does not grow with the country
    sample = 1.0 if modelled < COUNT_SAMPLE_RECORDS else max(0.01, COUNT_SAMPLE_RECORDS / modelled)
    settings: dict[str, Any] | None = None
    fields: model_lib.Fields | None = None
    if saved is None:
        fields = model_lib.profile(scratch, "link_input", extra)
        candidates = model_lib.blocking_candidates(fields, backend.dialect)
    else:
        settings = _reuse_model(saved, out_dir, backend.dialect)
        candidates = _saved_candidates(saved, settings)
    # counted on a narrow view of the input (model.narrow_input): the counts are the same, the parsing far less
    counted_rules = [sql for _, sql in candidates] + [sql for _, sql in model_lib.TIGHTENING_KEYS]
    if fields is not None:
        counted_rules += [rule for _, rule in model_lib.em_sessions(fields)]
    counting = backend.register(
        scratch, model_lib.narrow_input(scratch, "link_input", counted_rules, backend.dialect)
    )
    together = model_lib.count_cumulative(counting, candidates, sample)
    blocking = model_lib.count_blocking(
        counting,
        candidates,
        config.comparison_budget(modelled),
        config.max_comparisons_per_rule,
        sample,
        together,
    )
    kept = [(b.name, b.sql) for b in blocking if b.predicts]
    counted = together if kept == candidates else model_lib.count_cumulative(counting, kept, sample)
    comparisons_scored = int(counted[-1]["cumulative_comparison_count"]) if counted else 0
    timer.lap("blocking_analysis")

    if not kept or (saved is None and modelled < config.min_records_to_train):
        # too few records to estimate anything: deterministic links only, said plainly in the run record
        log.warning(
            "%s: linking on agreeing valid national ids only",
            "no blocking rule fits these fields"
            if not kept
            else f"only {modelled} linkable records and no saved model",
        )
        scratch.execute(
            "create or replace table edges (record_key_l varchar, record_key_r varchar, "
            "match_probability double, match_weight double)"
        )
        return Scored(
            comparisons_scored, modelled, False, None, blocking, threshold=model_threshold(config, None)
        )
    if settings is not None:
        # tonight's rules: the saved ones as counted tonight (tightened where over tonight's budget, a covered
        # one back where its cover was tightened)
        settings["blocking_rules_to_generate_predictions"] = [
            {"blocking_rule": sql, "sql_dialect": backend.dialect.name} for _, sql in kept
        ]
        linker = Linker(sdf, settings, SPLINK_LOG_LEVEL)
        threshold = model_threshold(config, saved)
        timer.lap("load_model")
        predictions = linker.inference.predict(
            threshold_match_probability=min(config.review_lower, threshold),
            warning_mode="never",
            **predict_chunks(comparisons_scored),
        )
        _edges_from(scratch, backend.to_scratch(scratch, predictions, "predictions"))
        if backend.dialect.name == "duckdb":
            blocking = model_lib.estimate_recall(scratch, blocking, threshold)
        return Scored(
            comparisons_scored, modelled, False, out_dir / "model.json", blocking, threshold=threshold
        )

    assert fields is not None  # a night without a saved model profiled its fields above
    chosen = model_lib.comparisons(fields, backend.dialect)
    creator = SettingsCreator(
        link_type="link_and_dedupe",
        unique_id_column_name="unique_id",
        comparisons=[comparison for comparison, _ in chosen],
        blocking_rules_to_generate_predictions=[sql for _, sql in kept],  # type: ignore[misc]
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(sdf, creator, SPLINK_LOG_LEVEL)
    linker, sessions = train(
        linker, sdf, scratch, fields, [reads for _, reads in chosen], config, backend.dialect, counting
    )
    timer.lap("train")
    # every blocked pair once: the prior and the threshold follow from their scores
    predictions = linker.inference.predict(
        threshold_match_probability=1e-4, warning_mode="never", **predict_chunks(comparisons_scored)
    )
    model = linker.misc.save_model_to_json()
    predicted = backend.to_scratch(scratch, predictions, "predictions")
    calibration = calibrate(
        scratch,
        predicted,
        float(model["probability_two_random_records_match"]),
        modelled * (modelled - 1) // 2,
        beta=config.threshold_beta,
    )
    model["probability_two_random_records_match"] = calibration.prior
    threshold = config.match_threshold if config.match_threshold is not None else calibration.threshold
    log.info(
        "linkage: prior %.3g (was %.3g), threshold %.3f (expected precision %.4f, recall %.4f)",
        calibration.prior,
        calibration.prior_before,
        threshold,
        calibration.expected_precision,
        calibration.expected_recall,
    )
    _edges_from(scratch, predicted, (calibration.prior_before, calibration.prior))
    scratch.execute("delete from edges where match_probability < $1", [min(config.review_lower, threshold)])
    if backend.dialect.name == "duckdb":  # the rules' SQL runs on scratch (DuckDB): Spark's would not parse
        blocking = model_lib.estimate_recall(scratch, blocking, threshold)
    meta = {
        "match_threshold": calibration.threshold,
        "calibration": calibration.as_dict(),
        "fields": fields.as_dict(),
        "em_sessions": sessions,
        "blocking": [asdict(b) for b in blocking],
    }
    save_charts(Linker(sdf, model, SPLINK_LOG_LEVEL), out_dir, counted)
    # model.json last, and in one rename: a night killed while training leaves no half model to reuse
    write_atomically(out_dir / MODEL_META, json.dumps(meta, indent=2, default=str))
    params = portable_model.params_of(model, fields, [name for name, _ in kept])
    write_atomically(out_dir / portable_model.PARAMS_FILE, json.dumps(params, indent=2))
    write_atomically(out_dir / "model.json", json.dumps(model, indent=2))
    return Scored(comparisons_scored, modelled, True, out_dir / "model.json", blocking, threshold=threshold)


def score_incremental(
    scratch: duckdb.DuckDBPyConnection,
    backend: Backend,
    saved: Path,
    out_dir: Path,
    config: LinkageConfig,
    timer: Timer,
) -> Scored:
    """Only the new and changed records (scratch `dirty_keys`), against everyone and among themselves.

    On Spark the saved model is rebuilt for Spark SQL when DuckDB trained it (matching.portable_model).
    """
    from splink import Linker

    settings = _reuse_model(saved, out_dir, backend.dialect)
    threshold = model_threshold(config, saved)
    linker = Linker(backend.register(scratch, "link_input"), settings, SPLINK_LOG_LEVEL)
    timer.lap("load_model")
    blocking = incremental.score_dirty(
        scratch,
        linker,
        backend,
        settings,
        min(config.review_lower, threshold),
        config.max_comparisons_per_rule,
    )
    comparisons = sum(b.comparisons for b in blocking)
    scored = scratch.execute(
        "select count(*) from link_input where record_key in (select record_key from dirty_keys)"
    ).fetchall()[0][0]
    return Scored(comparisons, int(scored), False, out_dir / "model.json", blocking, threshold=threshold)


COUNT_SAMPLE_RECORDS = 200_000
# pairs Splink's predict blocks and scores at once: DuckDB holds a chunk's blocked pairs (spilling past linkage's
# memory_limit), so a night of hundreds of millions of pairs is scored in chunks of the records on the left
PREDICT_CHUNK_PAIRS = 50_000_000


def predict_chunks(comparisons: int) -> dict[str, int]:
    """Splink's predict chunking for a night of `comparisons` pairs: none up to PREDICT_CHUNK_PAIRS."""
    chunks = -(-comparisons // PREDICT_CHUNK_PAIRS)
    return {"num_chunks_left": chunks, "num_chunks_right": 1} if chunks > 1 else {}


def _edges_from(
    scratch: duckdb.DuckDBPyConnection, predictions: str, priors: tuple[float, float] | None = None
) -> None:
    """Scratch table `edges` from Splink's predictions; with `priors` (scored under, re-estimated) each
    pair's weight and probability move to the re-estimated prior (its Bayes factor is unchanged)."""
    probability, weight = "match_probability", "match_weight"
    if priors is not None:
        log2_bf = f"(match_weight - {log2_odds(priors[0])!r})"
        probability, weight = probability_sql(log2_bf, priors[1]), f"{log2_bf} + {log2_odds(priors[1])!r}"
    scratch.execute(
        f"""
        create or replace table edges as
        select source_dataset_l || ':' || unique_id_l as record_key_l,
               source_dataset_r || ':' || unique_id_r as record_key_r,
               {probability} as match_probability, {weight} as match_weight
        from {predictions}
        """
    )


def _saved_candidates(saved: Path, settings: dict[str, Any]) -> list[tuple[str, str]]:
    """The blocking rules of a saved model, (name, SQL) in their order: those it predicts with, and those its
    training night found covered by another (model_meta.json), which come back should their cover be tightened."""
    predicting = [rule["blocking_rule"] for rule in settings["blocking_rules_to_generate_predictions"]]
    meta_path = saved.parent / MODEL_META
    # the meta's SQL is DuckDB's: a Spark night predicts with the saved rules alone
    blocking = []
    if meta_path.exists() and settings.get("sql_dialect", "duckdb") == "duckdb":
        blocking = json.loads(meta_path.read_text(encoding="utf-8")).get("blocking", [])
    covered = {b["sql"] for b in blocking if b.get("kept", True) and b.get("covered_by")}
    rules = [b["sql"] for b in blocking if b["sql"] in covered or b["sql"] in predicting] if covered else []
    rules += [sql for sql in predicting if sql not in rules]
    return [(model_lib.rule_name(sql), sql) for sql in rules]


def _reuse_model(saved: Path, out_dir: Path, target: Dialect = DUCKDB) -> dict[str, Any]:
    """The saved model's settings; copied to tonight's model folder (with where it came from) when older.

    A model trained on the other backend is rebuilt for this one from its `model_params.json`
    (matching.portable_model): Splink's model.json holds SQL in the trainer's dialect.
    """
    with saved.open(encoding="utf-8") as handle:
        settings: dict[str, Any] = json.load(handle)
    params_path = saved.parent / portable_model.PARAMS_FILE
    if saved.parent != out_dir:
        (out_dir / "reused_from.txt").write_text(saved.parent.name + "\n", encoding="utf-8")
        for name in (MODEL_META, portable_model.PARAMS_FILE):
            if (saved.parent / name).exists():
                write_atomically(out_dir / name, (saved.parent / name).read_text(encoding="utf-8"))
        write_atomically(out_dir / "model.json", saved.read_text(encoding="utf-8"))
    if settings.get("sql_dialect", "duckdb") != target.name:
        if not params_path.exists():
            raise ValueError(
                f"model {saved.parent.name}: trained on {settings.get('sql_dialect')} without {portable_model.PARAMS_FILE}; "
                f"retrain to use it on {target.name}"
            )
        settings = portable_model.settings_for(portable_model.load(params_path), target)
    return settings


def model_threshold(config: LinkageConfig, saved: Path | None) -> float:
    """linkage.yaml's match_threshold, else the one chosen when the saved model was trained, else 0.95."""
    if config.match_threshold is not None:
        return config.match_threshold
    if saved is not None and (saved.parent / MODEL_META).exists():
        meta = json.loads((saved.parent / MODEL_META).read_text(encoding="utf-8"))
        return float(meta["match_threshold"])
    return FALLBACK_THRESHOLD


def with_threshold(config: LinkageConfig, threshold: float) -> LinkageConfig:
    """The night's settings with its match threshold; the review band starts at review_lower or the threshold."""
    return dataclasses.replace(
        config, match_threshold=threshold, review_lower=min(config.review_lower, threshold)
    )
