"""Pairwise precision, recall and F1 of a clustering against the truth, over every record of the truth.

A pair of records is predicted linked when both carry the same predicted cluster, truly linked when
both belong to the same person. A record of the truth that the clustering does not hold (quarantined,
dropped) counts as a cluster of its own: the links it should have had are missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class PairScore:
    records: int
    records_missing: int  # in the truth, absent from the clustering
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _pairs(frame: pl.DataFrame, by: list[str]) -> int:
    sizes = frame.group_by(by).len()["len"]
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise_score(truth: pl.DataFrame, predicted: pl.DataFrame) -> PairScore:
    """`truth`: (record_key, truth); `predicted`: (record_key, predicted), one row per record each."""
    joined = truth.join(predicted, on="record_key", how="left")
    missing = joined["predicted"].null_count()
    joined = joined.with_columns(
        pl.col("predicted").cast(pl.String).fill_null(pl.lit("missing:") + pl.col("record_key")),
        pl.col("truth").cast(pl.String),
    )
    return PairScore(
        records=joined.height,
        records_missing=missing,
        true_pairs=_pairs(joined, ["truth"]),
        predicted_pairs=_pairs(joined, ["predicted"]),
        true_positive_pairs=_pairs(joined, ["predicted", "truth"]),
    )


def read_truth(home_truth: str) -> pl.DataFrame:
    """`<home>/truth/records.parquet` as (record_key, truth), record_key = 'source:source_record_id'."""
    return pl.read_parquet(home_truth).select(
        record_key=pl.col("source") + ":" + pl.col("source_record_id"),
        truth=pl.col("true_person_id").cast(pl.String),
    )
