"""The baseline: what a data scientist would write from Splink's tutorial, default settings.

One table of the same staged records, `dedupe_only` as in the tutorial's dedupe
example, the tutorial's comparisons and blocking, default training, predict at 0.9
and cluster at 0.95. No deterministic pre-link, no custom date levels, no budget.
Its accuracy is scored with the same metric code as ours.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from matching.evaluate import evaluate_clusters


def run_plain_splink(work_db: Path, truth: Path, spill: Path, memory_limit: str = "6GB") -> dict[str, object]:
    source = duckdb.connect(str(work_db), read_only=True)
    records = source.sql(
        "select source || ':' || source_record_id as unique_id, first_name, last_name, date_of_birth, sex, "
        "national_id, admin2 from staging.person_records"
    ).to_arrow_table()
    source.close()
    con = duckdb.connect()
    # the one departure from the tutorial: the same DuckDB memory cap as ours, so both fit this machine
    con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute(f"set temp_directory = '{spill}'")
    con.register("records_arrow", records)
    con.execute("create table records as select * from records_arrow")
    con.unregister("records_arrow")
    del records

    db = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("last_name"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.ExactMatch("sex"),
            cl.LevenshteinAtThresholds("national_id", 2),
            cl.ExactMatch("admin2").configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "last_name"),
            block_on("last_name", "date_of_birth"),
            block_on("national_id"),
        ],
    )
    linker = Linker(db.register("records"), settings, logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    predictions = linker.inference.predict(threshold_match_probability=0.9)
    comparisons = con.execute(f"select count(*) from {predictions.physical_name}").fetchall()[0][0]
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.95)
    con.execute(
        "create table truth as select source || ':' || source_record_id as unique_id, "
        "cast(true_person_id as varchar) as truth from read_parquet($p)",
        {"p": str(truth)},
    )
    metrics = evaluate_clusters(
        con,
        f"select c.unique_id, cast(c.cluster_id as varchar), t.truth from {clusters.physical_name} c "
        "join truth t using (unique_id)",
    )
    return {
        "pairs_over_0_9": comparisons,
        **{k: round(v, 4) for k, v in metrics.as_dict().items() if "pair" in k or "f1" in k},
    }
