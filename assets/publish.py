"""Publish: the night's working database becomes the analysts' warehouse file, atomically."""

from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from assets.common import night_of
from pipelines.resources import IbrHome, WorkDatabase
from quality.publish import publish_copy


def build_publish_asset(
    upstream: list[dg.AssetKey], partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["warehouse", "ibr"]),
        deps=upstream,
        group_name="publish",
        partitions_def=partitions,
        kinds={"duckdb"},
        description=(
            "warehouse/ibr.duckdb (restricted: personal data), replaced in one rename once every blocking "
            "check of the night has passed; readers of the old file are never blocked or broken."
        ),
    )
    def published_warehouse(
        context: AssetExecutionContext, work_db: WorkDatabase, ibr_home: IbrHome
    ) -> dg.MaterializeResult:
        with work_db.connect() as con:
            con.execute("checkpoint")
        target = Path(ibr_home.path) / "warehouse" / "ibr.duckdb"
        size = publish_copy(Path(work_db.database), target)
        context.log.info(f"published night {night_of(context)} to {target}")
        return dg.MaterializeResult(
            metadata={"path": str(target), "bytes": size, "night": context.partition_key}
        )

    return published_warehouse
