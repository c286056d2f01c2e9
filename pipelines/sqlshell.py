"""`ibr sql`: the warehouse, opened read-only, in a small SQL shell (no separate DuckDB CLI needed).

The analytics file by default; `--restricted` opens the restricted warehouse (personal data) with a
warning. A statement runs when its line ends with `;`; results print as DuckDB's boxed tables.
`.tables` lists the views and tables, `.quit` (or Ctrl-D) leaves. `-c SQL` runs one statement and exits.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

RESTRICTED_WARNING = (
    "warning: the restricted warehouse holds personal data (names, ids, dates of birth, addresses); "
    "open it only to act on a finding, and copy nothing out of it. Analysts use `ibr sql` (the de-identified file)."
)
TABLES = (
    "select case when schema_name = 'main' then '' else schema_name || '.' end || table_name as name, "
    "'table' as kind, comment from duckdb_tables() where database_name = current_database() "
    "union all select case when schema_name = 'main' then '' else schema_name || '.' end || view_name, "
    "'view', comment from duckdb_views() where database_name = current_database() and not internal "
    "order by kind desc, name"
)


def run_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Run one statement and print its result, if it has one, as a boxed table."""
    relation = con.sql(sql)
    if relation is not None:
        print(str(relation))


def open_shell(database: Path, command: str | None = None, restricted: bool = False) -> int:
    """Open `database` read-only; run `command`, or read statements from stdin until `.quit`."""
    if restricted:
        print(RESTRICTED_WARNING, file=sys.stderr)
    if not database.is_file():
        print(f"{database}: not published yet (run `ibr run` or `ibr demo` first)", file=sys.stderr)
        return 2
    with duckdb.connect(str(database), read_only=True) as con:
        if command is not None:
            try:
                run_statement(con, command)
            except duckdb.Error as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            return 0
        interactive = sys.stdin.isatty()
        if interactive:
            import readline  # noqa: F401  (line editing and history for input())

            print(f"{database} (read-only). End a statement with ';'. .tables lists them, .quit leaves.")
        buffer: list[str] = []
        while True:
            try:
                line = input("ibr> " if not buffer else "...> ") if interactive else sys.stdin.readline()
            except EOFError:
                break
            if not interactive and line == "":
                break
            stripped = line.strip()
            if not buffer and stripped in (".quit", ".exit", "\\q"):
                break
            if not buffer and stripped == ".tables":
                run_statement(con, TABLES)
                continue
            buffer.append(line)
            if stripped.endswith(";"):
                try:
                    run_statement(con, "\n".join(buffer))
                except duckdb.Error as exc:
                    print(f"error: {exc}", file=sys.stderr)
                buffer = []
    return 0
