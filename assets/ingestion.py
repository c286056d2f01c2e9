"""Ingestion assets: one `raw/<source>` asset per contract, built by one factory.

Each lands the night's drop files of its source (ingest.landing) and reports the
files, counts and reasons as metadata; a blocking check reconciles rows in with
rows accepted and rejected. `raw/unrecognised_drops` sets aside files in folders
that name no contract.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assets.common import check_result, night_of
from ingest.contracts import Contract
from ingest.landing import FileResult, Lander
from pipelines.resources import IbrHome, WorkDatabase
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


def build_raw_asset(contract: Contract, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", contract.name])

    @dg.asset(
        key=key,
        group_name=RAW_GROUP,
        partitions_def=partitions,
        description=f"raw.{contract.name}: {contract.description or contract.kind} (as landed, with lineage)",
        kinds={"duckdb"},
        check_specs=[
            dg.AssetCheckSpec(
                "rows_reconcile",
                asset=key,
                blocking=True,
                description="rows_in = accepted + rejected for every file; accepted rows are in raw, rejected in quarantine",
            )
        ],
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
            outcome = files_reconcile(con, contract.name, night)
        _log_results(context, results)
        if not results:
            context.log.info(f"no drop for {contract.name} on {night}")
        return dg.MaterializeResult(
            metadata=_metadata(results), check_results=[check_result(outcome, key, True)]
        )

    return raw_source


def build_unrecognised_asset(known: set[str], partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
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
