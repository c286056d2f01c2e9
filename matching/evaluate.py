"""Linkage accuracy against a known truth: pairwise precision/recall/F1 and B-cubed.

Both are computed from cluster assignments, in DuckDB, by counting pairs per
(predicted cluster, true cluster) cell, so a million records need no pair list.

Pairwise: a pair of records is predicted linked when they share a predicted cluster,
truly linked when they share a true person. B-cubed scores each record by the overlap
of its predicted and true clusters, so one giant false merge is not hidden by many
correct singletons.

Example::

    metrics = evaluate_clusters(con, "select record_key, predicted, truth from assignments")
    metrics.pairwise_precision

After each night `evaluate_night` scores the night's persons against `<home>/truth/` when one
exists, and `id_stability` measures how many of the previous night's persons kept their id; both
go to `audit.linkage_metrics`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class LinkageMetrics:
    records: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def evaluate_clusters(con: duckdb.DuckDBPyConnection, assignments_sql: str) -> LinkageMetrics:
    """Score a query returning (record_key, predicted, truth): one row per record, both cluster labels."""
    row = con.execute(
        f"""
        with assignments as (select * from ({assignments_sql}) as a(record_key, predicted, truth)),
        cells as (select predicted, truth, count(*) as n from assignments group by all),
        predicted_sizes as (select predicted, sum(n) as n from cells group by all),
        true_sizes as (select truth, sum(n) as n from cells group by all),
        bcubed as (
            select
                sum(c.n * c.n / p.n) as precision_mass,
                sum(c.n * c.n / t.n) as recall_mass
            from cells c
            join predicted_sizes p using (predicted)
            join true_sizes t using (truth)
        )
        select
            (select sum(n) from cells),
            (select sum(n * (n - 1) / 2) from true_sizes),
            (select sum(n * (n - 1) / 2) from predicted_sizes),
            (select sum(n * (n - 1) / 2) from cells),
            (select precision_mass from bcubed),
            (select recall_mass from bcubed)
        """
    ).fetchall()[0]
    records = int(row[0] or 0)
    true_pairs, predicted_pairs, true_positive = (int(v or 0) for v in row[1:4])
    precision = true_positive / predicted_pairs if predicted_pairs else 1.0
    recall = true_positive / true_pairs if true_pairs else 1.0
    b_precision = float(row[4] or 0) / records if records else 1.0
    b_recall = float(row[5] or 0) / records if records else 1.0
    return LinkageMetrics(
        records=records,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        true_positive_pairs=true_positive,
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f1=_f1(precision, recall),
        bcubed_precision=b_precision,
        bcubed_recall=b_recall,
        bcubed_f1=_f1(b_precision, b_recall),
    )


def evaluate_night(
    con: duckdb.DuckDBPyConnection, home: Path, night: date, run_id: str
) -> LinkageMetrics | None:
    """Pairwise and B-cubed accuracy against `<home>/truth/records.parquet`, when a truth exists."""
    truth = home / "truth" / "records.parquet"
    if not truth.exists():
        return None
    con.execute(
        "create or replace temp table _truth as select source || ':' || source_record_id as record_key, "
        "cast(true_person_id as varchar) as truth from read_parquet($p)",
        {"p": str(truth)},
    )
    metrics = evaluate_clusters(
        con,
        "select a.record_key, a.person_id, t.truth from linkage.record_person a join _truth t using (record_key) "
        f"where a.night = '{night.isoformat()}'",
    )
    values = {**metrics.as_dict(), **guard_and_review(con, night)}
    con.execute("delete from audit.linkage_metrics where night = $night", {"night": night})
    con.executemany(
        "insert into audit.linkage_metrics values ($1, $2, $3, $4, current_timestamp)",
        [[night, run_id, name, float(value)] for name, value in values.items() if value is not None],
    )
    return metrics


def guard_and_review(con: duckdb.DuckDBPyConnection, night: date) -> dict[str, float | None]:
    """Against the truth (`_truth`): how many clusters the identity guard split and the share of them that
    really held two people or more (a split that is right); the review queue per 1,000 records and the
    share of its pairs that are one person."""
    splits, right = con.execute(
        """
        select count(*), count(*) filter (where people > 1) from (
            select s.component_key, count(distinct t.truth) as people
            from linkage.split_component s join _truth t using (record_key)
            where s.night = $night
            group by s.component_key
        )
        """,
        {"night": night},
    ).fetchall()[0]
    queued, same, records = con.execute(
        """
        select count(q.record_key_l), count(*) filter (where l.truth = r.truth),
               (select count(*) from linkage.record_person where night = $night)
        from linkage.review_queue q
        join _truth l on l.record_key = q.record_key_l
        join _truth r on r.record_key = q.record_key_r
        where q.night = $night
        """,
        {"night": night},
    ).fetchall()[0]
    return {
        "guard_splits": float(splits),
        "guard_splits_right": right / splits if splits else None,
        "review_pairs_per_1000": 1000 * queued / records if records else None,
        "review_true_match_share": same / queued if queued else None,
    }


def id_stability(con: duckdb.DuckDBPyConnection, night: date, run_id: str) -> float | None:
    """Share of the previous night's persons whose records all still carry their id (None on the first night)."""
    value = con.execute(
        """
        with previous as (
            select record_key, person_id from linkage.record_person
            where night = (select max(night) from linkage.record_person where night < $night)
        ),
        tonight as (select record_key, person_id from linkage.record_person where night = $night)
        select avg(kept::int) from (
            select p.person_id, bool_and(t.person_id is not distinct from p.person_id) as kept
            from previous p left join tonight t using (record_key)
            group by p.person_id
        )
        """,
        {"night": night},
    ).fetchall()[0][0]
    if value is None:
        return None
    con.execute(
        "delete from audit.linkage_metrics where night = $1 and metric = 'persons_keeping_id'", [night]
    )
    con.execute(
        "insert into audit.linkage_metrics values ($1, $2, 'persons_keeping_id', $3, current_timestamp)",
        [night, run_id, float(value)],
    )
    return float(value)
