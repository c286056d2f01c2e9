"""Small helpers shared by the asset modules: the night of a run, and quality checks as Dagster sees them.

Every check result goes two ways: to Dagster (an `AssetCheckResult`, shown in the UI; a
blocking one that fails stops every asset downstream, so the publish) and to
`audit.checks` (kept across nights, read by the auditor's report). Whether a check blocks
is configuration (`<home>/checks.yaml`, quality.checks), fixed when the definitions load.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import dagster as dg
import duckdb

from quality.checks import CheckConfig, record_checks
from quality.reconcile import CheckOutcome


def night_of(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def check_specs(
    asset_key: dg.AssetKey, checks: Iterable[tuple[str, str]], config: CheckConfig
) -> list[dg.AssetCheckSpec]:
    """One spec per (check name, description); blocking when the configuration says so."""
    asset = asset_key.to_user_string()
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset_key,
            blocking=config.is_blocking(asset, name),
            description=f"[{config.severity_of(asset, name)}] {description}",
        )
        for name, description in checks
    ]


def report_checks(
    con: duckdb.DuckDBPyConnection,
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    layer: str,
    outcomes: list[CheckOutcome],
    config: CheckConfig,
) -> list[dg.AssetCheckResult]:
    """Record the outcomes in audit.checks and turn them into Dagster check results."""
    asset = asset_key.to_user_string()
    record_checks(con, context.run_id, night_of(context), asset, layer, outcomes, config)
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=outcome.name,
            passed=outcome.passed,
            severity=(
                dg.AssetCheckSeverity.ERROR
                if config.is_blocking(asset, outcome.name)
                else dg.AssetCheckSeverity.WARN
            ),
            description=outcome.description,
            metadata={
                "observed": outcome.observed,
                "threshold": outcome.threshold,
                "failing_keys": dg.MetadataValue.json(outcome.failing_keys),
            },
        )
        for outcome in outcomes
    ]


# every step that writes the working DuckDB file claims this pool; dagster.yaml limits it to one at a time
WORK_DB_POOL = "ibr_work_db"
