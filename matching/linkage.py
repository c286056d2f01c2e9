"""Record linkage of one night: who is who across every source.

Steps, all on DuckDB (this module runs them in order; each but the pre-link has its own module):
1. input (matching.link_input): `staging.person_records`, one row per source record; records without enough
   identifying fields (fewer than two of names, date of birth, national id, phone) are
   kept out of the model and stay singletons, flagged `insufficient_identifiers`;
2. a deterministic pre-link where valid national ids agree (and birth year and an
   initial do not contradict them): never the id alone;
3. Splink `link_and_dedupe` on the rest of the evidence: blocking rules counted first
   against a budget, u by seeded random sampling, m by EM on two or more rules, the
   prior from the deterministic rule. The trained model is saved per night with its
   charts; later nights reuse the newest saved model unless asked to retrain (matching.training,
   matching.scoring, matching.model_store);
4. clustering at the match threshold over model edges, deterministic edges and
   reviewers' must-links, without their cannot-links; a cluster over the size limit or
   holding two different valid national ids is re-clustered on strong edges only and
   its records are flagged for review, never silently merged (matching.clustering);
5. stable person ids carried over from the previous night (matching.ids, matching.stable_ids);
6. the review queue (pairs in the uncertain band, and pairs inside flagged clusters; matching.review);
7. accuracy against the truth where it exists (matching.evaluate).

A night runs in one of two modes (`LinkageConfig.mode`, matching.incremental): *full*
scores every record pair the blocking rules generate; *incremental* scores only the new
and changed records (against everyone, and among themselves) and carries the previous
night's scored pairs of unchanged records over. Steps 2 and 4 to 7 are the same in both:
clustering always runs over every record, so the guard and the stable-id rules see the
same graph a full re-link would. `auto` (the default) runs incremental on ordinary
nights and full once a week, when many records changed, or when asked to retrain.

Splink works in its own in-memory DuckDB connection so that its scratch tables never
reach the warehouse; records travel between the two as Arrow. With `backend: spark`
(linkage.yaml), Splink's work runs on its Spark backend instead (matching.backend): training
and scoring in full, the incremental scoring of new and changed records (`predict_within`,
`predict_between`), the connected components of the clustering and the stable-id rules
(matching.stable_ids). Records, edges, nodes and persons go to Spark as Parquet; scored pairs,
clusters and ids come back as Parquet. What reads one row per record or only the results stays
on DuckDB: the change detection, the pre-link, the edges' vetoes, the cluster guard (sizes,
conflicting national ids), writing the night's record-person rows, the review queue and
evaluation. The hand-written SQL that differs between the two lives in matching.dialect; a
trained model is also saved in a form either backend loads (matching.portable_model).
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from matching import incremental
from matching import model as model_lib
from matching.backend import Backend, open_backend
from matching.clustering import OUTSIDE_SCOPE, cluster, previous_cluster_sha, split_components_sha
from matching.config import LinkageConfig
from matching.evaluate import LinkageMetrics, evaluate_night, id_stability
from matching.ids import assign_ids
from matching.link_input import LINK_FIELDS, extra_fields, prepare_input
from matching.model_store import latest_model, model_dir
from matching.review import load_decisions, write_review_queue
from matching.scoring import Scored, model_threshold, score_full, score_incremental, with_threshold
from matching.scratch import Timer, copy_result, scratch_connection
from matching.stable_ids import IdAssignment

log = logging.getLogger(__name__)


@dataclass
class LinkageSummary:
    """What a night's linkage did.

    `mode` is full or incremental, `mode_reason` why; `records_scored` counts the records
    Splink scored (every linkable record in full, the new and changed ones in incremental),
    `comparisons` the pairs they generated, `carried_pairs` the previous night's pairs of
    unchanged records reused without scoring, `changes` the records new, changed and removed
    since the previous night, `records_clustered` the records clustered again (all of them
    in full; in incremental, those whose persons can have changed: `incremental.cluster_scope`).
    """

    night: str
    records: int
    modelled_records: int
    insufficient_identifiers: int
    deterministic_pairs: int
    comparisons: int
    predicted_pairs: int
    persons: int
    flagged_clusters: int
    review_queue: int
    ids: IdAssignment
    model_path: str
    trained: bool
    mode: str = "full"
    mode_reason: str = ""
    backend: str = "duckdb"  # where Splink scored and clustered (linkage.yaml `backend`)
    records_scored: int = 0
    carried_pairs: int = 0
    records_clustered: int = 0
    changes: incremental.RecordChanges | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    blocking: list[dict[str, Any]] = field(default_factory=list)
    metrics: LinkageMetrics | None = None
    id_stability: float | None = None


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    from core.sqlutil import read_sql

    con.execute(read_sql("registry/schema.sql"))
    incremental.ensure_schema(con)


def link_night(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    night: date,
    config: LinkageConfig | None = None,
    run_id: str = "",
    spark: Any = None,
) -> LinkageSummary:
    """Link every staged record of the night and write the registry's link tables.

    The night runs full or incremental as `config.mode` decides (matching.incremental);
    the summary says which, and how many records were scored. With `backend: spark`, Splink
    trains, scores (full or incremental) and clusters on `spark` (a SparkSession; one is started
    from linkage.yaml's `spark:` when none is given); everything else stays on DuckDB.
    """
    config = config or LinkageConfig.load(home)
    timer = Timer()
    extra, records, unusable = _prepare(con, home)
    modelled = records - unusable
    saved = None if config.retrain else latest_model(home, night)
    if saved is not None:
        config = with_threshold(config, model_threshold(config, saved))
    changes = incremental.detect_changes(con, night)
    decision = incremental.choose_mode(con, night, config, saved, changes)
    scratch = scratch_connection(config, home)
    copy_result(
        con, "select * exclude (link_fingerprint) from _link_input where usable", scratch, "link_input"
    )
    # Splink's database tonight: scratch itself, or Spark with records going out and results coming back as Parquet
    backend = open_backend(config.backend, scratch, home, spark, config.spark)
    timer.lap("prepare")
    try:
        out_dir = model_dir(home, night)
        scored = _score(
            con, scratch, backend, out_dir, config, decision, saved, changes, modelled, timer, extra
        )
        config = with_threshold(config, scored.threshold)
        timer.lap("predict")

        _deterministic_pairs(con, scratch)
        scratch.close()
        timer.lap("deterministic")

        # tonight's scored pairs, for the next night to carry over
        model_sha = incremental.model_sha256(scored.model_path) if scored.model_path else None
        pairs_stored = incremental.store_pairs(con, night, changes.previous_night) if model_sha else 0
        timer.lap("store_pairs")

        load_decisions(con, home)
        cluster_sha, scope_before = _cluster_scope(con, config, decision, changes)
        flagged, clustered = cluster(con, home, night, config, scope_before, backend)
        timer.lap("cluster")
        ids = assign_ids(con, night, run_id, scope_before, backend)
    finally:
        backend.close()  # on Spark: tonight's records, clusters and Splink's checkpoints (restricted data)

    review = write_review_queue(con, night, config)
    timer.lap("stable_ids")

    summary = _summary(
        con, night, config, records, unusable, scored, decision, changes, ids, flagged, review, clustered
    )
    summary.metrics = evaluate_night(con, home, night, run_id)
    summary.id_stability = id_stability(con, night, run_id)
    timer.lap("evaluate")
    summary.seconds = timer.seconds
    _record_run(
        con,
        summary,
        run_id,
        {
            "model_sha256": model_sha,
            "pair_threshold": config.review_lower,
            "pairs_stored": pairs_stored,
            "cluster_settings": cluster_sha,
            "split_components": split_components_sha(con, night),
        },
    )
    return summary


def _prepare(con: duckdb.DuckDBPyConnection, home: Path) -> tuple[dict[str, str], int, int]:
    """The night's link input made (`_link_input`); the contracts' extra fields, the records and those
    without enough identifying fields to be modelled."""
    ensure_schema(con)
    extra = extra_fields(home)
    prepare_input(con, extra)
    counts = con.execute("select count(*), count(*) filter (where not usable) from _link_input").fetchall()[0]
    return extra, int(counts[0]), int(counts[1])


def _summary(
    con: duckdb.DuckDBPyConnection,
    night: date,
    config: LinkageConfig,
    records: int,
    unusable: int,
    scored: Scored,
    decision: incremental.ModeDecision,
    changes: incremental.RecordChanges,
    ids: IdAssignment,
    flagged: int,
    review: int,
    clustered: int,
) -> LinkageSummary:
    """What the night did, before evaluation; `unusable` counts the records left out of the model."""
    return LinkageSummary(
        night=night.isoformat(),
        records=records,
        modelled_records=records - unusable,
        insufficient_identifiers=unusable,
        deterministic_pairs=con.execute("select count(*) from _deterministic").fetchall()[0][0],
        comparisons=scored.comparisons,
        predicted_pairs=con.execute(
            "select count(*) from _model_edges where match_probability >= $1", [config.threshold]
        ).fetchall()[0][0],
        persons=ids.persons,
        flagged_clusters=flagged,
        review_queue=review,
        ids=ids,
        model_path=str(scored.model_path) if scored.model_path else "",
        trained=scored.trained,
        mode=decision.mode,
        mode_reason=decision.reason,
        backend=config.backend,
        records_scored=scored.records_scored,
        carried_pairs=scored.carried_pairs,
        changes=changes,
        blocking=[asdict(b) for b in scored.blocking],
        records_clustered=clustered,
    )


def _score(
    con: duckdb.DuckDBPyConnection,
    scratch: duckdb.DuckDBPyConnection,
    backend: Backend,
    out_dir: Path,
    config: LinkageConfig,
    decision: incremental.ModeDecision,
    saved: Path | None,
    changes: incremental.RecordChanges,
    modelled: int,
    timer: Timer,
    extra: dict[str, str],
) -> Scored:
    """Tonight's model edges in `_model_edges`: the new and changed records scored and the previous night's
    other pairs carried over (incremental), or every blocked pair scored (full)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if decision.mode == "incremental" and saved is not None and changes.previous_night is not None:
        copy_result(con, "select record_key from _dirty", scratch, "dirty_keys")
        scored = score_incremental(scratch, backend, saved, out_dir, config, timer)
        scored.carried_pairs = incremental.carry_pairs(con, changes.previous_night, config.review_lower)
        copy_result(scratch, "select * from edges", con, "_scored_tonight", temp=True)
        con.execute(
            "create or replace temp table _model_edges as "
            "select * from _carried_pairs union all select * from _scored_tonight"
        )
    else:
        scored = score_full(scratch, backend, saved, out_dir, config, modelled, timer, extra)
        copy_result(scratch, "select * from edges", con, "_model_edges", temp=True)
    return scored


def _deterministic_pairs(con: duckdb.DuckDBPyConnection, scratch: duckdb.DuckDBPyConnection) -> None:
    """`_deterministic`: the pairs of modelled records whose valid national ids agree (model.DETERMINISTIC_SQL)."""
    scratch.execute(
        f"""
        create or replace table deterministic as
        select l.record_key as record_key_l, r.record_key as record_key_r
        from link_input l join link_input r
          on l.national_id = r.national_id and l.record_key < r.record_key
        where {model_lib.DETERMINISTIC_SQL}
        """
    )
    copy_result(scratch, "select * from deterministic", con, "_deterministic", temp=True)


def _cluster_scope(
    con: duckdb.DuckDBPyConnection,
    config: LinkageConfig,
    decision: incremental.ModeDecision,
    changes: incremental.RecordChanges,
) -> tuple[str, date | None]:
    """Tonight's clustering settings' fingerprint, and the night whose persons stand outside the clustering
    scope: the previous one on an incremental night clustered with the same settings, else None (everyone)."""
    cluster_sha = incremental.cluster_settings_sha(
        con,
        config.threshold,
        config.strong_threshold,
        config.max_cluster_size,
        # the code that makes and checks the edges: an upgrade that changes it clusters everyone again
        code="\n".join(
            [model_lib.DETERMINISTIC_SQL, inspect.getsource(cluster), OUTSIDE_SCOPE, repr(LINK_FIELDS)]
        ),
    )
    scope_before = (
        changes.previous_night
        if decision.mode == "incremental" and previous_cluster_sha(con, changes.previous_night) == cluster_sha
        else None
    )
    return cluster_sha, scope_before


def _record_run(
    con: duckdb.DuckDBPyConnection, summary: LinkageSummary, run_id: str, pair_store: dict[str, Any]
) -> None:
    """One row of audit.linkage_runs; `pair_store` (model hash, pair threshold, pairs kept) lets the next night
    check that it may run incrementally."""
    details = {
        "blocking": summary.blocking,
        "seconds": summary.seconds,
        "trained": summary.trained,
        "mode_reason": summary.mode_reason,
        "backend": summary.backend,
        "records_scored": summary.records_scored,
        "carried_pairs": summary.carried_pairs,
        "records_clustered": summary.records_clustered,
        "changes": summary.changes.as_dict() if summary.changes else None,
        **pair_store,
    }
    con.execute("delete from audit.linkage_runs where night = $1", [summary.night])
    con.execute(
        """
        insert into audit.linkage_runs (
            night, run_id, records, insufficient_identifiers, deterministic_pairs, comparisons, predicted_pairs,
            persons, flagged_clusters, review_queue, model_path, details, finished_at, mode
        )
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, current_timestamp, $13)
        """,
        [
            summary.night,
            run_id,
            summary.records,
            summary.insufficient_identifiers,
            summary.deterministic_pairs,
            summary.comparisons,
            summary.predicted_pairs,
            summary.persons,
            summary.flagged_clusters,
            summary.review_queue,
            summary.model_path,
            json.dumps(details, default=str),
            summary.mode,
        ],
    )
