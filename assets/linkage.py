"""Linkage assets: who is who across every source, with stable person ids."""

import time
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assets.common import WORK_DB_POOL, check_specs, night_of, report_checks
from assets.resources import IbrHome, SparkSessionResource, WorkDatabase
from assets.staging import PERSON_RECORDS
from matching.config import LinkageConfig
from matching.linkage import link_night
from quality.checks import CheckConfig
from quality.cross_night import LINKAGE_DRIFT_CHECKS, linkage_drift
from quality.reconcile import every_record_linked_once

PERSON_SOURCE_LINK = dg.AssetKey(["registry", "person_source_link"])
PERSON_ID_HISTORY = dg.AssetKey(["registry", "person_id_history"])
REVIEW_QUEUE = dg.AssetKey(["linkage", "review_queue"])
LINKAGE_METRICS = dg.AssetKey(["audit", "linkage_metrics"])
LINKAGE_KEYS = [PERSON_SOURCE_LINK, PERSON_ID_HISTORY, REVIEW_QUEUE, LINKAGE_METRICS]


class LinkageRunConfig(dg.Config):
    """Per-run choices: retrain the Splink model instead of reusing the newest saved one."""

    retrain: bool = False


def build_linkage_asset(
    partitions: dg.PartitionsDefinition, check_config: CheckConfig
) -> dg.AssetsDefinition:
    descriptions = {
        PERSON_SOURCE_LINK: "One row per source record: the stable person it belongs to.",
        PERSON_ID_HISTORY: "Person id merges and splits, per night.",
        REVIEW_QUEUE: "Record pairs for clerical review (restricted): uncertain scores and split clusters.",
        LINKAGE_METRICS: "Linkage accuracy against the truth, where a truth exists.",
    }
    specs = [
        dg.AssetSpec(
            key,
            deps=[PERSON_RECORDS],
            group_name="linkage",
            kinds={"duckdb", "splink"} if key == PERSON_SOURCE_LINK else {"duckdb"},
            description=description,
        )
        for key, description in descriptions.items()
    ]

    @dg.multi_asset(
        pool=WORK_DB_POOL,
        name="record_linkage",
        specs=specs,
        partitions_def=partitions,
        check_specs=check_specs(
            PERSON_SOURCE_LINK,
            [
                ("every_record_linked_once", "every staged source record maps to exactly one person"),
                *LINKAGE_DRIFT_CHECKS.items(),
            ],
            check_config,
        ),
    )
    def record_linkage(
        context: AssetExecutionContext,
        config: LinkageRunConfig,
        work_db: WorkDatabase,
        ibr_home: IbrHome,
        spark: SparkSessionResource,
    ):  # type: ignore[no-untyped-def]
        home = Path(ibr_home.path)
        settings = LinkageConfig.load(home)
        if config.retrain:
            settings = LinkageConfig(**{**settings.__dict__, "retrain": True})
        # Splink trains and scores on Spark when linkage.yaml says so; records and links cross as Parquet
        session = spark.get_session(settings.spark) if settings.backend == "spark" else None
        with work_db.connect() as con:
            summary = link_night(con, home, night_of(context), settings, run_id=context.run_id, spark=session)
            checks_started = time.perf_counter()
            outcomes = [every_record_linked_once(con), *linkage_drift(con, night_of(context), check_config)]
            results = report_checks(con, context, PERSON_SOURCE_LINK, "linkage", outcomes, check_config)
            checks_seconds = time.perf_counter() - checks_started
        metrics = summary.metrics.as_dict() if summary.metrics else {}
        context.log.info(
            f"linked {summary.records:,} records into {summary.persons:,} persons; "
            f"{summary.comparisons:,} comparisons; review queue {summary.review_queue:,}"
        )
        yield dg.MaterializeResult(
            asset_key=PERSON_SOURCE_LINK,
            metadata={
                "records": summary.records,
                "checks_seconds": round(checks_seconds, 2),
                "mode": summary.mode,
                "records_scored": summary.records_scored,
                "persons": summary.persons,
                "comparisons": summary.comparisons,
                "deterministic_pairs": summary.deterministic_pairs,
                "insufficient_identifiers": summary.insufficient_identifiers,
                "flagged_clusters": summary.flagged_clusters,
                "model": dg.MetadataValue.path(summary.model_path),
                "model_trained_tonight": summary.trained,
                "seconds": dg.MetadataValue.json(summary.seconds),
                "blocking_rules": dg.MetadataValue.json(summary.blocking),
            },
        )
        yield dg.MaterializeResult(
            asset_key=PERSON_ID_HISTORY,
            metadata={
                "kept": summary.ids.kept,
                "new": summary.ids.new,
                "merged": summary.ids.merged,
                "split": summary.ids.split,
            },
        )
        yield dg.MaterializeResult(asset_key=REVIEW_QUEUE, metadata={"pairs": summary.review_queue})
        yield dg.MaterializeResult(
            asset_key=LINKAGE_METRICS, metadata={k: float(v) for k, v in metrics.items()}
        )
        yield from results

    return record_linkage
