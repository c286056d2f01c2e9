"""The one place where names and values from configuration become SQL text.

Identifiers (source names, column names from contracts and file headers) are
always double-quoted with embedded quotes doubled, so a hostile column name such
as ``x"; drop table raw.y; --`` stays a column name. Values go in as parameters
where DuckDB allows; the few that must be inlined (strptime format lists inside a
generated expression) go through `literal`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import jinja2

SQL_ROOT = Path(__file__).resolve().parent.parent / "sql"


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB: `a"b` -> `"a""b"`."""
    if "\x00" in name:
        raise ValueError("an identifier may not contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def literal(value: str) -> str:
    """A SQL string literal: `it's` -> `'it''s'`."""
    if "\x00" in value:
        raise ValueError("a literal may not contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: committed when it ends, rolled back when it raises (a kill included).

    A failing rollback never hides the error that got us there.
    """
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
    con.execute("commit")


def literal_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(SQL_ROOT)),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)
_env.filters["ident"] = quote_ident
_env.filters["literal"] = literal
_env.filters["literal_list"] = literal_list


def render_sql(relative_path: str, **names: object) -> str:
    """Render one SQL file under sql/. Templates receive names only; quote them with `| ident`."""
    return _env.get_template(relative_path).render(**names)


def read_sql(relative_path: str) -> str:
    """Read one plain SQL file under sql/."""
    return (SQL_ROOT / relative_path).read_text(encoding="utf-8")


def tables_in(con: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    """Names of the tables and views in one schema of the connected database."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = $1 and table_catalog = current_database()",
        [schema],
    ).fetchall()
    return {r[0] for r in rows}


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return table in tables_in(con, schema)
