"""Staging assets: the canonical person records and the facts tables, rebuilt as of the night."""

import time
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assets.common import WORK_DB_POOL, check_specs, night_of, report_checks, table_metadata
from assets.resources import IbrHome, WorkDatabase
from ingest.contracts import Contract
from quality.checks import CheckConfig
from quality.reconcile import staging_complete
from staging.standardise import FACT_MODELS, build_staging

STAGING_GROUP = "staging"
PERSON_RECORDS = dg.AssetKey(["staging", "person_records"])

FACT_DESCRIPTIONS = {
    "enrolment": "One row per programme source record and period paid.",
    "civil_event": "One row per civil registry record (birth or death registration).",
    "tax_income": "One row per tax registry record and tax year.",
    "disability_assessment": "One row per disability registry record.",
}


def build_staging_asset(
    contracts: dict[str, Contract],
    raw_keys: list[dg.AssetKey],
    partitions: dg.PartitionsDefinition,
    check_config: CheckConfig,
) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            PERSON_RECORDS,
            deps=raw_keys,
            group_name=STAGING_GROUP,
            kinds={"duckdb"},
            description="One standardised row per source record (latest version): the input of linkage.",
        ),
        *(
            dg.AssetSpec(
                dg.AssetKey(["staging", model]),
                deps=raw_keys,
                group_name=STAGING_GROUP,
                kinds={"duckdb"},
                description=FACT_DESCRIPTIONS[model],
            )
            for model in FACT_MODELS
        ),
    ]
    record_ids = {name: c.record_id for name, c in contracts.items()}

    @dg.multi_asset(
        pool=WORK_DB_POOL,
        name="staging_tables",
        specs=specs,
        partitions_def=partitions,
        check_specs=check_specs(
            PERSON_RECORDS,
            [
                (
                    "one_row_per_source_record",
                    "every source record landed up to the night has exactly one staged row",
                )
            ],
            check_config,
        ),
    )
    def staging_tables(context: AssetExecutionContext, work_db: WorkDatabase, ibr_home: IbrHome):  # type: ignore[no-untyped-def]
        night = night_of(context)
        with work_db.connect() as con:
            summary = build_staging(con, Path(ibr_home.path), contracts, night)
            checks_started = time.perf_counter()
            outcome = staging_complete(con, night, record_ids)
            results = report_checks(con, context, PERSON_RECORDS, "staging", [outcome], check_config)
            checks_seconds = time.perf_counter() - checks_started
            tables = {
                model: table_metadata(con, "staging", model) for model in ("person_records", *FACT_MODELS)
            }
        yield dg.MaterializeResult(
            asset_key=PERSON_RECORDS,
            metadata={
                **tables["person_records"],
                "rows": summary.person_records,
                "checks_seconds": round(checks_seconds, 2),
                "rows_by_source": dg.MetadataValue.json(summary.by_source),
            },
        )
        for model in FACT_MODELS:
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["staging", model]),
                metadata={"rows": summary.facts[model], **tables[model]},
            )
        yield from results

    return staging_tables
