"""Incremental linkage nights: score only the new and changed records, carry every other pair over.

A night in which a few records changed need not score every record pair again. Each
night stores, per linked record, a fingerprint of its linkage fields
(`linkage.record_person.link_fingerprint`) and every pair the model scored at or above
`review_lower` (`linkage.scored_pair`). The next night:

1. `detect_changes` compares tonight's staged records with the previous night's links: a
   record is *dirty* when its (source, source_record_id) was not linked the night before
   or its fingerprint differs; records that left staging drop out of the links;
2. `choose_mode` decides full or incremental (`LinkageConfig.mode`, see `ModeDecision`);
3. `score_dirty` scores dirty x clean (Splink `predict_between`) and dirty x dirty
   (`predict_within`) with the saved model. Term frequencies are computed over the FULL
   record set first: Splink 5 refuses `predict_between` without registered tf tables,
   and tf values taken from the few new records alone would move weights by several bits;
4. `carry_pairs` takes the previous night's scored pairs whose two records are both
   clean: their fields and the model are unchanged, so a full re-link would score them
   the same (up to the small drift of term frequencies as the record set grows).

Clustering then runs as in a full night (matching.clustering): the edges are carried pairs
plus tonight's scores, deterministic id edges and reviewers' decisions, and the same guard
splits and flags an impossible or oversized cluster. A new record that matches two
existing persons therefore merges them only where a full re-link would, through the same
guard; a changed record loses its old pairs and is re-scored. It runs only over
`cluster_scope`: the components that can have changed. Every other record's component has
last night's records, fields and edges, so clustering it again would give last night's
persons; it keeps them (person id, flag, link strength) without being clustered. The
stable-id rules run on the scope. Uncertain pairs of unchanged records stay in the review
queue, as a full night would queue them.

Carried pairs keep the score of the night they were scored on, so the term-frequency drift
accumulates over a run of incremental nights until the weekly full re-link resets it. At
100,000 people it moved two pairs across the match threshold (0.9503 against 0.9492).

`compare_assignments` measures how far an incremental night agrees with a full re-link of
the same night (pairwise co-membership and identical clusters).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from matching.config import WEEKDAYS, LinkageConfig
from matching.model import BlockingBudgetExceeded, BlockingCount, rule_name

if TYPE_CHECKING:
    from matching.backend import Backend

log = logging.getLogger(__name__)

SCHEMA_SQL = """
create schema if not exists linkage;
create table if not exists linkage.scored_pair (
    night date not null,
    record_key_l varchar not null,
    record_key_r varchar not null,
    match_probability double not null,
    match_weight double
);
comment on table linkage.scored_pair is 'One row per night and record pair the model scored at or above review_lower (both orders never stored twice). Kept for the latest nights only: an incremental night carries over the pairs of two unchanged records instead of scoring them again.';
comment on column linkage.scored_pair.night is 'Night of the linkage that holds the pair (scored that night or carried over).';
comment on column linkage.scored_pair.record_key_l is 'source:source_record_id of one record.';
comment on column linkage.scored_pair.record_key_r is 'source:source_record_id of the other record.';
comment on column linkage.scored_pair.match_probability is 'Model probability that the two records are the same person.';
comment on column linkage.scored_pair.match_weight is 'Model match weight (log2 Bayes factor, prior included).';
"""


def fingerprint_sql(columns: tuple[str, ...]) -> str:
    """SQL for the fingerprint of a record's linkage fields: md5 of their JSON (nulls and types kept apart)."""
    fields = ", ".join(f"{c} := {c}" for c in columns)
    return f"md5(to_json(struct_pack({fields})))"


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA_SQL)
    con.execute(SPLIT_COMPONENT_SQL)


@dataclass(frozen=True)
class RecordChanges:
    """Tonight's staged records against the previous night's links."""

    previous_night: date | None
    records: int
    new: int
    changed: int
    removed: int

    @property
    def dirty(self) -> int:
        return self.new + self.changed

    @property
    def dirty_share(self) -> float:
        return self.dirty / self.records if self.records else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "previous_night": str(self.previous_night or ""),
            "dirty_share": self.dirty_share,
        }


@dataclass(frozen=True)
class ModeDecision:
    """The mode a night runs in, and why (the reason goes to audit.linkage_runs.details)."""

    mode: str  # full | incremental
    reason: str


def previous_night(con: duckdb.DuckDBPyConnection, night: date) -> date | None:
    value = con.execute(
        "select max(night) from linkage.record_person where night < $night", {"night": night}
    ).fetchall()[0][0]
    return value if isinstance(value, date) else None


def detect_changes(con: duckdb.DuckDBPyConnection, night: date) -> RecordChanges:
    """Write temp table `_dirty(record_key, change)`: tonight's records that are new or changed.

    Needs `_link_input` (record_key, link_fingerprint). A record linked the night before
    without a fingerprint (a night linked before fingerprints existed) counts as changed.
    """
    before = previous_night(con, night)
    con.execute(
        "create or replace temp table _previous_links as "
        "select record_key, link_fingerprint from linkage.record_person where night = $before",
        {"before": before},
    )
    con.execute(
        """
        create or replace temp table _dirty as
        select i.record_key, case when p.record_key is null then 'new' else 'changed' end as change
        from _link_input i left join _previous_links p using (record_key)
        where p.record_key is null or p.link_fingerprint is distinct from i.link_fingerprint
        """
    )
    records, new, changed, removed = con.execute(
        """
        select
            (select count(*) from _link_input),
            (select count(*) from _dirty where change = 'new'),
            (select count(*) from _dirty where change = 'changed'),
            (select count(*) from _previous_links p anti join _link_input i using (record_key))
        """
    ).fetchall()[0]
    return RecordChanges(before, int(records), int(new), int(changed), int(removed))


def model_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def choose_mode(
    con: duckdb.DuckDBPyConnection,
    night: date,
    config: LinkageConfig,
    saved_model: Path | None,
    changes: RecordChanges,
) -> ModeDecision:
    """Full or incremental.

    Incremental is possible when a saved model is used (no retrain), the previous night
    was linked with that same model and its scored pairs are stored, and the pairs were
    kept down to tonight's `review_lower`. `mode: auto` (the default) then runs
    incremental unless it is the weekly full re-link day (`full_relink_weekday`) or more
    than `max_changed_share` of the records are new or changed. `mode: incremental`
    skips those two tests; when incremental is impossible it falls back to full, with
    the reason logged and recorded. `mode: full` and `retrain` always run full. The
    weekday is the night's (drop date's), not the day the pipeline happens to run.
    """
    if config.mode == "full":
        return ModeDecision("full", "mode: full")
    if config.retrain:
        return ModeDecision("full", "retrain requested")
    blocker = _incremental_blocker(con, config, saved_model, changes)
    if blocker:
        if config.mode == "incremental":
            log.warning("incremental linkage not possible tonight (%s): linking in full", blocker)
        return ModeDecision("full", blocker)
    if config.mode == "incremental":
        return ModeDecision("incremental", "mode: incremental")
    if config.full_relink_weekday and night.weekday() == WEEKDAYS.index(config.full_relink_weekday):
        return ModeDecision("full", f"weekly full re-link ({config.full_relink_weekday})")
    if changes.dirty_share > config.max_changed_share:
        return ModeDecision(
            "full",
            f"{changes.dirty_share:.1%} of records new or changed, over max_changed_share "
            f"{config.max_changed_share:.0%}",
        )
    return ModeDecision("incremental", f"{changes.dirty_share:.2%} of records new or changed")


def _incremental_blocker(
    con: duckdb.DuckDBPyConnection, config: LinkageConfig, saved_model: Path | None, changes: RecordChanges
) -> str:
    """Why tonight cannot run incrementally ('' when it can)."""
    if saved_model is None:
        return "no saved model"
    if changes.previous_night is None:
        return "no previous night linked"
    rows = con.execute(
        "select details->>'model_sha256', cast(details->>'pair_threshold' as double), "
        "cast(details->>'pairs_stored' as bigint) from audit.linkage_runs where night = $1",
        [changes.previous_night],
    ).fetchall()
    if not rows or rows[0][0] is None:
        return f"the previous night ({changes.previous_night}) stored no scored pairs"
    sha, threshold, stored = rows[0]
    if sha != model_sha256(saved_model):
        return f"the model changed since the previous night ({changes.previous_night})"
    if threshold is None or threshold > config.review_lower:
        return f"review_lower is below the previous night's pair threshold ({threshold})"
    held = con.execute(
        "select count(*) from linkage.scored_pair where night = $1", [changes.previous_night]
    ).fetchall()[0][0]
    if held != stored:
        return f"the previous night's scored pairs are no longer kept ({held} of {stored})"
    unfingerprinted = con.execute(
        "select count(*) from linkage.record_person where night = $1 and link_fingerprint is null",
        [changes.previous_night],
    ).fetchall()[0][0]
    if unfingerprinted:
        return "the previous night's links have no fingerprints"
    return ""


def tf_columns(settings: dict[str, Any]) -> list[str]:
    """Columns a saved Splink model adjusts for term frequency, in order of first use."""
    columns: list[str] = []
    for comparison in settings.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            column = level.get("tf_adjustment_column")
            if column and column not in columns:
                columns.append(column)
    return columns


def count_blocking_incremental(
    clean: Any | None, dirty: Any, rules: list[str], budget_per_rule: int
) -> list[BlockingCount]:
    """Pairs each rule adds for dirty x clean plus dirty x dirty; raise naming a rule over the budget.

    `clean` and `dirty` are Splink frames carrying `record_key` and a `role` column. All
    rules are counted in one pass per side (exactly: the dirty side is small), so a rule's
    count is its marginal one: pairs no earlier rule generated.
    """
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    within = count_comparisons_from_blocking_rules(
        dirty,
        blocking_rules=rules,
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        record_sample_proportion=1.0,
    )
    between = [0] * len(rules)
    if clean is not None:
        records = count_comparisons_from_blocking_rules(
            [clean, dirty],
            blocking_rules=rules,
            link_type="link_only",
            unique_id_column_name="record_key",
            source_dataset_column_name="role",
            record_sample_proportion=1.0,
        )
        between = [int(r["marginal_comparison_count"]) for r in records]
    counts: list[BlockingCount] = []
    for sql, inside, across in zip(rules, within, between, strict=True):
        total = int(inside["marginal_comparison_count"]) + across
        name = rule_name(sql)
        if total > budget_per_rule:
            raise BlockingBudgetExceeded(
                f"blocking rule '{name}' ({sql}) would generate about {total:,} comparisons for tonight's new "
                f"and changed records, over the budget of {budget_per_rule:,} per rule "
                "(linkage.max_comparisons_per_rule); tighten the rule or raise the budget"
            )
        counts.append(BlockingCount(name, sql, total))
    return counts


def score_dirty(
    scratch: duckdb.DuckDBPyConnection,
    linker: Any,
    backend: Backend,
    settings: dict[str, Any],
    threshold: float,
    budget_per_rule: int,
) -> list[BlockingCount]:
    """Score dirty x clean and dirty x dirty into scratch table `edges`; returns the pairs per blocking rule.

    Expects scratch tables `link_input` (every linkable record, registered with the
    linker) and `dirty_keys(record_key)`. The split into dirty and clean records is done in
    scratch (DuckDB); `backend` takes both sides to Splink's database (as Parquet on Spark)
    and brings the scored pairs back.
    """
    scratch.execute(
        """
        create or replace table dirty_input as
        select *, 'dirty' as role from link_input where record_key in (select record_key from dirty_keys);
        create or replace table clean_input as
        select *, 'clean' as role from link_input where record_key not in (select record_key from dirty_keys);
        create or replace table edges (
            record_key_l varchar, record_key_r varchar, match_probability double, match_weight double
        );
        """
    )
    dirty_count, clean_count = scratch.execute(
        "select (select count(*) from dirty_input), (select count(*) from clean_input)"
    ).fetchall()[0]
    if not dirty_count:
        return []
    dirty = backend.register(scratch, "dirty_input")
    clean = backend.register(scratch, "clean_input") if clean_count else None
    rules = [rule["blocking_rule"] for rule in settings["blocking_rules_to_generate_predictions"]]
    counts = count_blocking_incremental(clean, dirty, rules, budget_per_rule)
    # tf over every record, as a full predict computes them (Splink refuses predict_between without them,
    # and tf taken from the few dirty records alone would move weights by several bits)
    for column in tf_columns(settings):
        linker.table_management.compute_tf_table(column)
    scored = [
        linker.inference.predict_within(dirty, threshold_match_probability=threshold, warning_mode="never")
    ]
    if clean is not None:
        scored.append(
            linker.inference.predict_between(
                clean, dirty, threshold_match_probability=threshold, warning_mode="never"
            )
        )
    for number, frame in enumerate(scored):
        table = backend.to_scratch(scratch, frame, f"scored_{number}")
        scratch.execute(
            f"""
            insert into edges
            select source_dataset_l || ':' || unique_id_l, source_dataset_r || ':' || unique_id_r,
                   match_probability, match_weight
            from {table}
            """
        )
        frame.drop_table_from_database_and_remove_from_cache()
    return counts


def carry_pairs(con: duckdb.DuckDBPyConnection, before: date, threshold: float) -> int:
    """Temp table `_carried_pairs`: the previous night's scored pairs whose two records are linkable and clean."""
    con.execute(
        "create or replace temp table _clean_keys as "
        "select record_key from _link_input where usable and record_key not in (select record_key from _dirty)"
    )
    con.execute(
        """
        create or replace temp table _carried_pairs as
        select p.record_key_l, p.record_key_r, p.match_probability, p.match_weight
        from linkage.scored_pair p
        semi join _clean_keys l on l.record_key = p.record_key_l
        semi join _clean_keys r on r.record_key = p.record_key_r
        where p.night = $before and p.match_probability >= $threshold
        """,
        {"before": before, "threshold": threshold},
    )
    return int(con.execute("select count(*) from _carried_pairs").fetchall()[0][0])


def store_pairs(con: duckdb.DuckDBPyConnection, night: date, before: date | None) -> int:
    """Keep tonight's scored pairs (`_model_edges`) for the next night; drop those older than the previous night."""
    con.execute("delete from linkage.scored_pair where night = $night", {"night": night})
    con.execute(
        """
        insert into linkage.scored_pair
        select $night, least(record_key_l, record_key_r), greatest(record_key_l, record_key_r),
               max(match_probability), max(match_weight)
        from _model_edges
        group by 2, 3
        """,
        {"night": night},
    )
    if before is not None:
        # a rerun of tonight still needs the previous night's pairs; anything older is never read again
        con.execute("delete from linkage.scored_pair where night < $before", {"before": before})
    return int(
        con.execute(
            "select count(*) from linkage.scored_pair where night = $night", {"night": night}
        ).fetchall()[0][0]
    )


@dataclass(frozen=True)
class Agreement:
    """How far two person assignments of the same records agree.

    pairwise_agreement = |pairs together in both| / |pairs together in either|
    (1 - symmetric difference / union); identical_clusters = share of records whose
    cluster holds exactly the same records under both; same_person_id = share of records
    with the same person id under both.
    """

    records: int
    only_left: int
    only_right: int
    pairs_left: int
    pairs_right: int
    pairs_both: int
    pairwise_agreement: float
    identical_clusters: float
    same_person_id: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def compare_assignments(con: duckdb.DuckDBPyConnection, left_sql: str, right_sql: str) -> Agreement:
    """Compare two queries returning (record_key, person_id), on the records both hold.

    Example, an incremental night against a full re-link of the same night kept in another table::

        compare_assignments(con, "select record_key, person_id from linkage.record_person where night = '2026-03-01'",
                            "select record_key, person_id from full_relink")
    """
    row = con.execute(
        f"""
        with l as (select * from ({left_sql}) as l(record_key, person)),
        r as (select * from ({right_sql}) as r(record_key, person)),
        both_ as (select record_key, l.person as a, r.person as b from l join r using (record_key)),
        cells as (select a, b, count(*) as n from both_ group by all),
        sized as (
            select n, cast(sum(n) over (partition by a) as bigint) as n_a,
                   cast(sum(n) over (partition by b) as bigint) as n_b
            from cells
        )
        select
            (select count(*) from both_),
            (select count(*) from l anti join r using (record_key)),
            (select count(*) from r anti join l using (record_key)),
            (select sum(n * (n - 1) // 2) from (select count(*) as n from both_ group by a)),
            (select sum(n * (n - 1) // 2) from (select count(*) as n from both_ group by b)),
            (select sum(n * (n - 1) // 2) from sized),
            (select sum(n) filter (where n = n_a and n = n_b) from sized),
            (select count(*) from both_ where a = b)
        """
    ).fetchall()[0]
    records, only_left, only_right = (int(v or 0) for v in row[:3])
    pairs_left, pairs_right, pairs_both, identical, same_id = (int(v or 0) for v in row[3:])
    union = pairs_left + pairs_right - pairs_both
    return Agreement(
        records=records,
        only_left=only_left,
        only_right=only_right,
        pairs_left=pairs_left,
        pairs_right=pairs_right,
        pairs_both=pairs_both,
        pairwise_agreement=pairs_both / union if union else 1.0,
        identical_clusters=identical / records if records else 1.0,
        same_person_id=same_id / records if records else 1.0,
    )


# -- clustering only what can have changed ---------------------------------------------------------

SPLIT_COMPONENT_SQL = """
create table if not exists linkage.split_component (
    night date not null,
    record_key varchar not null,
    component_key varchar not null
);
comment on table linkage.split_component is 'One row per night and record of a connected component that the identity constraints split into several persons: the component it was split from. With the persons, it gives every record''s component, which an incremental night needs to re-cluster only the components that can have changed. Kept for the latest nights only.';
comment on column linkage.split_component.night is 'Night of the linkage.';
comment on column linkage.split_component.record_key is 'source:source_record_id of the record.';
comment on column linkage.split_component.component_key is 'Key of the component before the split (any record of a component holds the same key).';
"""


def cluster_settings_sha(
    con: duckdb.DuckDBPyConnection,
    match_threshold: float,
    strong_threshold: float,
    max_cluster_size: int,
    code: str,
) -> str:
    """Fingerprint of everything besides the records' linkage fields that decides the clusters.

    The thresholds, the review decisions (`_decisions`), each source's kind (the civil
    registry's registration numbers are a constraint; read from `_link_input`) and `code`,
    the text of the code that makes and checks the edges.
    """
    decisions = con.execute("select * from _decisions order by all").fetchall()
    kinds = con.execute(
        "select distinct source_dataset, source_kind from _link_input order by all"
    ).fetchall()
    text = repr((match_threshold, strong_threshold, max_cluster_size, decisions, kinds, code))
    return hashlib.sha256(text.encode()).hexdigest()


def cluster_scope(con: duckdb.DuckDBPyConnection, before: date, threshold: float) -> int:
    """Temp table `_scope(record_key)`: the records an incremental night must cluster again; returns its size.

    Needs `_dirty`, `_link_input` and tonight's `_edges`. Every other record lies in a
    component of last night's graph that holds no new, changed or removed record and has
    no edge to one tonight; its edges are last night's (clean pairs are carried over, the
    model, thresholds and decisions are the same: `cluster_settings_sha`), so clustering
    it again would give last night's persons. The scope starts from the components of last
    night that held a changed or removed record, adds tonight's new records, then every
    old component that tonight's edges reach from the scope, until none is left. A
    component is a person, or for a record of a split component the component it was
    split from (`linkage.split_component`).
    """
    con.execute(
        """
        create or replace temp table _old_component as
        select p.record_key, coalesce(s.component_key, 'person:' || p.person_id) as component_key
        from linkage.record_person p
        left join linkage.split_component s on s.night = p.night and s.record_key = p.record_key
        where p.night = $before
        """,
        {"before": before},
    )
    con.execute(
        """
        create or replace temp table _scope_components as
        select distinct component_key from _old_component
        where record_key in (select record_key from _dirty)
           or record_key not in (select record_key from _link_input);

        create or replace temp table _scope as
        select record_key from _old_component where component_key in (select component_key from _scope_components)
        union
        select record_key from _dirty
        """
    )
    con.execute(
        "create or replace temp table _scope_edges as "
        "select record_key_l, record_key_r from _edges where match_probability >= $threshold",
        {"threshold": threshold},
    )
    while True:
        reached = con.execute(
            """
            create or replace temp table _reached as
            select distinct o.component_key
            from _scope_edges e
            join _old_component o on o.record_key = e.record_key_r
            where e.record_key_l in (select record_key from _scope)
              and e.record_key_r not in (select record_key from _scope)
            union
            select distinct o.component_key
            from _scope_edges e
            join _old_component o on o.record_key = e.record_key_l
            where e.record_key_r in (select record_key from _scope)
              and e.record_key_l not in (select record_key from _scope);
            select count(*) from _reached;
            """
        ).fetchall()[0][0]
        if not reached:
            break
        con.execute(
            "insert into _scope select record_key from _old_component "
            "where component_key in (select component_key from _reached)"
        )
    con.execute("drop table _scope_edges; drop table _reached; drop table _scope_components")
    return int(con.execute("select count(*) from _scope").fetchall()[0][0])
