"""The data dictionary, generated from the warehouse's own COMMENTs (never hand-written)."""

from __future__ import annotations

import duckdb

SKIPPED_SCHEMAS = ("main", "information_schema", "pg_catalog")


def undocumented(con: duckdb.DuckDBPyConnection) -> list[str]:
    """schema.table or schema.table.column without a comment: what the dictionary would leave blank."""
    rows = con.execute(
        """
        select schema_name || '.' || table_name from duckdb_tables()
        where not internal and not temporary and comment is null and schema_name not in $skip
        union all
        select schema_name || '.' || view_name from duckdb_views()
        where not internal and not temporary and comment is null and schema_name not in $skip
        union all
        select schema_name || '.' || table_name || '.' || column_name from duckdb_columns()
        where not internal and comment is null and schema_name not in $skip
          and database_name = current_database()
        order by 1
        """,
        {"skip": list(SKIPPED_SCHEMAS)},
    ).fetchall()
    return [r[0] for r in rows]


def data_dictionary(con: duckdb.DuckDBPyConnection, title: str) -> str:
    """Markdown: every schema, table and column of the connected database with its comment."""
    tables = con.execute(
        """
        select schema_name, table_name, 'table' as kind, comment from duckdb_tables()
        where not internal and not temporary and schema_name not in $skip
        union all
        select schema_name, view_name, 'view', comment from duckdb_views()
        where not internal and not temporary and schema_name not in $skip
        order by 1, 2
        """,
        {"skip": list(SKIPPED_SCHEMAS)},
    ).fetchall()
    lines = [f"# {title}", "", "Generated from the warehouse's COMMENTs at publication.", ""]
    for schema, table, kind, comment in tables:
        lines += [
            f"## {schema}.{table} ({kind})",
            "",
            comment or "(no comment)",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
        ]
        columns = con.execute(
            "select column_name, data_type, comment from duckdb_columns() "
            "where schema_name = $1 and table_name = $2 and database_name = current_database() order by column_index",
            [schema, table],
        ).fetchall()
        for name, data_type, column_comment in columns:
            meaning = (column_comment or "").replace("|", "/").replace("\n", " ")
            lines.append(f"| {name} | {data_type} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
