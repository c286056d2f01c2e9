"""Ingestion assets: one `raw/<source>` asset per contract, built by one factory.

Each lands the night's drop files of its source (ingest.landing) and reports the
files, counts and reasons as metadata; a blocking check reconciles rows in with
rows accepted and rejected. `raw/unrecognised_drops` sets aside files in folders
that name no contract.
"""

import time
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assets.common import WORK_DB_POOL, check_specs, night_of, report_checks
from assets.resources import IbrHome, WorkDatabase
from core.country import load_country
from ingest.contracts import Contract
from ingest.landing import FileResult, Lander
from quality.checks import CheckConfig
from quality.cross_night import SOURCE_CROSS_NIGHT_CHECKS, source_cross_night
from quality.expectations import run_source_suite, source_checks
from quality.reconcile import files_reconcile

RAW_GROUP = "raw"


def _files_table(results: list[FileResult]) -> str:
    lines = ["| file | status | rows in | accepted | rejected | reason |", "|---|---|---|---|---|---|"]
    for r in results:
        reason = (r.reason or "").replace("|", "/")
        lines.append(
            f"| {r.file_path} | {r.status} | {r.rows_in} | {r.rows_accepted} | {r.rows_rejected} | {reason} |"
        )
    return "\n".join(lines)


def _log_results(context: AssetExecutionContext, results: list[FileResult]) -> None:
    for r in results:
        if r.status in ("rejected", "partial"):
            context.log.warning(f"{r.file_path}: {r.status}: {r.reason}")
        else:
            context.log.info(f"{r.file_path}: {r.status}, {r.rows_accepted} rows")


def _metadata(results: list[FileResult]) -> dict[str, Any]:
    return {
        "files": len(results),
        "rows_in": sum(r.rows_in for r in results),
        "rows_accepted": sum(r.rows_accepted for r in results),
        "rows_rejected": sum(r.rows_rejected for r in results),
        "files_rejected": sum(r.status == "rejected" for r in results),
        "file_report": dg.MetadataValue.md(_files_table(results)),
    }


def build_raw_asset(
    contract: Contract, partitions: dg.PartitionsDefinition, check_config: CheckConfig
) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", contract.name])
    checks = [
        (
            "rows_reconcile",
            "rows_in = accepted + rejected for every file; accepted rows are in raw, rejected in quarantine",
        ),
        *source_checks(contract).items(),
        *SOURCE_CROSS_NIGHT_CHECKS.items(),
    ]

    @dg.asset(
        pool=WORK_DB_POOL,
        key=key,
        group_name=RAW_GROUP,
        partitions_def=partitions,
        description=f"raw.{contract.name}: {contract.description or contract.kind} (as landed, with lineage)",
        kinds={"duckdb"},
        check_specs=check_specs(key, checks, check_config),
        metadata={
            "source_kind": contract.kind,
            "drop_mode": contract.drop_mode,
            "contract": str(contract.path),
        },
    )
    def raw_source(
        context: AssetExecutionContext, work_db: WorkDatabase, ibr_home: IbrHome
    ) -> dg.MaterializeResult:
        night = night_of(context)
        with work_db.connect() as con:
            results = Lander(con, Path(ibr_home.path), night).land_source(contract)
            checks_started = time.perf_counter()
            country = load_country(Path(ibr_home.path))
            suite = run_source_suite(con, contract, night, check_config, country)
            outcomes = [files_reconcile(con, contract.name, night), *suite.outcomes]
            check_results = report_checks(con, context, key, "source", outcomes, check_config)
            check_results += report_checks(
                con,
                context,
                key,
                "cross_night",
                source_cross_night(con, contract, night, check_config, country, suite.valid_national_ids),
                check_config,
            )
            checks_seconds = time.perf_counter() - checks_started
        _log_results(context, results)
        if not results:
            context.log.info(f"no drop for {contract.name} on {night}")
        metadata = _metadata(results) | {
            "checks_seconds": round(checks_seconds, 2),
            "checks_failed": sum(not r.passed for r in check_results),
        }
        return dg.MaterializeResult(metadata=metadata, check_results=check_results)

    return raw_source


def build_unrecognised_asset(known: set[str], partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        pool=WORK_DB_POOL,
        key=dg.AssetKey(["raw", "unrecognised_drops"]),
        group_name=RAW_GROUP,
        partitions_def=partitions,
        description="Files in drop folders that name no source contract: copied to quarantine/ and recorded.",
        kinds={"duckdb"},
    )
    def unrecognised_drops(
        context: AssetExecutionContext, work_db: WorkDatabase, ibr_home: IbrHome
    ) -> dg.MaterializeResult:
        with work_db.connect() as con:
            results = Lander(con, Path(ibr_home.path), night_of(context)).land_unknown(known)
        _log_results(context, results)
        return dg.MaterializeResult(metadata=_metadata(results))

    return unrecognised_drops
