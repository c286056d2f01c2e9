"""Small helpers shared by the asset modules: the night of a run, and quality checks as Dagster sees them.

Every check result goes two ways: to Dagster (an `AssetCheckResult`, shown in the UI; a
blocking one that fails stops every asset downstream, so the publish) and to
`audit.checks` (kept across nights, read by the auditor's report). Whether a check blocks
is configuration (`<home>/checks.yaml`, quality.checks), fixed when the definitions load.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from core.sqlutil import qualified
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


_SQL_ROOT = Path(__file__).resolve().parent.parent / "sql"


@functools.cache
def _sql_comments() -> dict[str, str]:
    """`schema.table` -> the `comment on table|view` text of the SQL files (what the warehouse will say)."""
    pattern = re.compile(r"comment on (?:table|view) ([a-z_]+\.[a-z_]+) is '((?:[^']|'')*)'", re.IGNORECASE)
    found: dict[str, str] = {}
    for path in sorted(_SQL_ROOT.rglob("*.sql*")):
        for name, text in pattern.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, text.replace("''", "'"))
    return found


def table_description(key: dg.AssetKey) -> str | None:
    """The asset's description in the Dagster catalog: its table's COMMENT from sql/ (the dictionary's words)."""
    return _sql_comments().get(".".join(key.path[-2:]))


def table_metadata(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, Any]:
    """`dagster/column_schema` (every column, its type and COMMENT) and `dagster/row_count` of a warehouse table.

    The Dagster catalog then shows the same dictionary as warehouse/DATA_DICTIONARY.md.
    """
    columns = con.execute(
        "select column_name, data_type, comment from duckdb_columns() "
        "where database_name = current_database() and schema_name = $1 and table_name = $2 order by column_index",
        [schema, table],
    ).fetchall()
    if not columns:
        return {}
    rows = con.execute(f"select count(*) from {qualified(schema, table)}").fetchall()[0][0]  # noqa: S608
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name, str(data_type), description=comment)
                for name, data_type, comment in columns
            ]
        ),
        "dagster/row_count": int(rows),
    }
