"""Small helpers shared by the asset modules."""

from __future__ import annotations

from datetime import date

import dagster as dg

from quality.reconcile import CheckOutcome


def night_of(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def check_result(outcome: CheckOutcome, asset_key: dg.AssetKey, blocking: bool) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={
            "observed": outcome.observed,
            "threshold": outcome.threshold,
            "failing_keys": dg.MetadataValue.json(outcome.failing_keys),
        },
    )
