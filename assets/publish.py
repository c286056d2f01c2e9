"""Publish: the night's working database becomes the analysts' warehouse file, atomically."""

from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assets.common import WORK_DB_POOL, night_of
from assets.resources import IbrHome, WorkDatabase
from ingest.expected import night_readiness
from publish.warehouse import publish_all
from reports.auditor import render_auditor_report
from reports.ministry import render_ministry_reports


def build_publish_asset(
    upstream: list[dg.AssetKey], partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        pool=WORK_DB_POOL,
        key=dg.AssetKey(["warehouse", "ibr"]),
        deps=upstream,
        group_name="publish",
        partitions_def=partitions,
        kinds={"duckdb"},
        description=(
            "warehouse/ibr.duckdb (restricted: personal data), warehouse/ibr_analytics.duckdb (de-identified) and "
            "warehouse/parquet/, each replaced in one rename once every blocking check of the night has passed; "
            "readers of the old files are never blocked or broken."
        ),
    )
    def published_warehouse(
        context: AssetExecutionContext, work_db: WorkDatabase, ibr_home: IbrHome
    ) -> dg.MaterializeResult:
        with work_db.connect() as con:
            con.execute("checkpoint")
        home = Path(ibr_home.path)
        # the launcher (drop sensor, schedule, `ibr run`) decided the night may go: here it is only marked
        # partial when an expected source has not arrived (ingest/schedule.py)
        readiness = night_readiness(home, night_of(context), today=night_of(context))
        missing = [m.as_json() for m in readiness.missing]
        published = publish_all(
            Path(work_db.database),
            home,
            night=context.partition_key,
            run_id=context.run_id,
            missing_sources=missing,
        )
        with work_db.connect() as con:
            reports = render_ministry_reports(
                con, home, night_of(context), run_id=context.run_id, missing_sources=missing
            )
            auditor = render_auditor_report(
                con, home, night_of(context), context.run_id, missing_sources=missing, tags=context.run.tags
            )
        if missing:
            context.log.warning(f"published partial: {readiness.describe()}")
        context.log.info(f"published night {night_of(context)} to {home / 'warehouse'}")
        return dg.MaterializeResult(
            metadata={
                "restricted": dg.MetadataValue.path(str(home / "warehouse" / "ibr.duckdb")),
                "analytics": dg.MetadataValue.path(str(home / "warehouse" / "ibr_analytics.duckdb")),
                "restricted_bytes": published.restricted_bytes,
                "analytics_bytes": published.analytics_bytes,
                "parquet_files": published.parquet_files,
                "ministry_reports": dg.MetadataValue.json([str(p) for p in reports if p.suffix == ".html"]),
                "auditor_report": dg.MetadataValue.path(str(auditor)),
                "night": context.partition_key,
                "missing_sources": dg.MetadataValue.json(missing),
            }
        )

    return published_warehouse
