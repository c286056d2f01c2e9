"""The data dictionary, generated from the warehouse's own COMMENTs (never hand-written).

What each column says is its COMMENT, which the SQL models write and publish carries over to the
analytics file with what the column's classification did to it (publish/deidentify.py): nothing is
added here by looking at a column's name. The tables analysts use come first; pipeline internals after.
"""

from __future__ import annotations

import duckdb

# main of the working (and so the restricted) database holds only the pipeline's scratch tables;
# main of the analytics file holds the analysts' views
SKIPPED_SCHEMAS = ("main", "information_schema", "pg_catalog")
ANALYTICS_SKIPPED = ("information_schema", "pg_catalog")
# restricted warehouse: what analysts and an authorised officer read first, then the pipeline's own tables
RESTRICTED_LEAD = ("registry", "reports")
RESTRICTED_INTERNALS = ("audit", "linkage", "staging", "raw")
# analytics file: the views of schema main first (plain names), then the tables they show
ANALYTICS_LEAD = ("main",)


def undocumented(con: duckdb.DuckDBPyConnection, skip: tuple[str, ...] = SKIPPED_SCHEMAS) -> list[str]:
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
        {"skip": list(skip)},
    ).fetchall()
    return [r[0] for r in rows]


def _objects(con: duckdb.DuckDBPyConnection, skip: tuple[str, ...]) -> list[tuple[str, str, str, str | None]]:
    return con.execute(
        """
        select schema_name, table_name, 'table' as kind, comment from duckdb_tables()
        where not internal and not temporary and schema_name not in $skip and database_name = current_database()
        union all
        select schema_name, view_name, 'view', comment from duckdb_views()
        where not internal and not temporary and schema_name not in $skip and database_name = current_database()
        order by 1, 2
        """,
        {"skip": list(skip)},
    ).fetchall()


def _section(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, kind: str, comment: str | None
) -> list[str]:
    name = table if schema == "main" else f"{schema}.{table}"
    lines = [
        f"### {name} ({kind})",
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
    for column, data_type, column_comment in columns:
        meaning = (column_comment or "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {column} | {data_type} | {meaning} |")
    lines.append("")
    return lines


def data_dictionary(
    con: duckdb.DuckDBPyConnection,
    title: str,
    lead: tuple[str, ...] = RESTRICTED_LEAD,
    brief: tuple[str, ...] = (),
    intro: str = "",
    skip: tuple[str, ...] = SKIPPED_SCHEMAS,
    order: tuple[str, ...] = (),
) -> str:
    """Markdown: every schema, table and column of the connected database with its comment.

    Schemas in `lead` come first, in that order, with their columns; then every other schema. A
    schema in `brief` is listed by table and comment only (its columns are those of a view above).
    Tables named in `order` come first within their schema, in that order.
    """
    objects = _objects(con, skip)
    schemas = [s for s in lead if any(o[0] == s for o in objects)]
    schemas += sorted({o[0] for o in objects} - set(schemas))
    lines = [f"# {title}", "", "Generated from the warehouse's COMMENTs at publication.", ""]
    if intro:
        lines += [intro, ""]
    for schema in schemas:
        in_schema = sorted(
            (o for o in objects if o[0] == schema),
            key=lambda o: (o[1] not in order, order.index(o[1]) if o[1] in order else 0, o[1]),
        )
        heading = (
            "the views analysts query (schema main: plain names)" if schema == "main" else f"schema {schema}"
        )
        if schema not in lead and lead and schema not in brief:
            heading += " (pipeline internals)"
        lines += [f"## {heading}", ""]
        if schema in brief:
            lines += ["| table | meaning |", "|---|---|"]
            lines += [
                f"| {schema}.{table} | {(comment or '').replace('|', '/')} |"
                for _, table, _, comment in in_schema
            ]
            lines.append("")
            continue
        for _, table, kind, comment in in_schema:
            lines += _section(con, schema, table, kind, comment)
    return "\n".join(lines)
