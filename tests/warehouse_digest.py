"""A digest of a published warehouse's rows, to compare two runs that should give the same data.

Left out: the columns that name the run, the clock or the deployment folder, and audit.checks (a row
per check per run by design). Doubles are rounded to 9 decimals: DuckDB sums in parallel, so a model
trained twice on the same records may differ in the last bits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

# columns that name the run, the clock or the deployment folder, not the data (audit.linkage_runs' details
# hold step seconds and the model file's hash, whose last float digits vary from run to run)
VOLATILE = {
    "run_id",
    "landed_at",
    "_ingested_at",
    "checked_at",
    "created_at",
    "recorded_at",
    "generated_at",
    "model_path",
    "details",
}
# tables whose rows are per run by design (a killed or repeated run's rows stay as its record)
PER_RUN = {("audit", "checks")}


def warehouse_digest(warehouse: Path) -> dict[str, str]:
    """A digest of every table's rows, without the run's own ids and clock."""
    digests = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            if (schema, table) in PER_RUN:
                continue
            columns = [
                (name, data_type)
                for name, data_type in con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = $1 and table_name = $2 order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in VOLATILE and not data_type.startswith("TIMESTAMP")
            ]
            # DuckDB sums in parallel: training's floats may differ in the last bits between two clean runs
            select = ", ".join(
                f'round("{name}", 9)' if data_type == "DOUBLE" else f'"{name}"' for name, data_type in columns
            )
            rows = con.execute(f'select {select} from "{schema}"."{table}" order by all').fetchall()
            digests[f"{schema}.{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests
