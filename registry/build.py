"""Build the registry layer: golden records, who receives what, life events and facts per person.

Input: the night's staging tables (``staging.person_records``, ``staging.enrolment``,
``staging.civil_event``, ``staging.tax_income``, ``staging.disability_assessment``) and
the linkage (``registry.person_source_link``), all as of ``night``; plus
``<home>/programmes.yaml``. Output (each rebuilt whole, every table and column commented):

``registry.as_of``              the night and the dates ages and findings refer to
``registry.programme``          programmes.yaml as a table, with the payroll months held
``registry.programme_exclusive``  the exclusive groups
``registry.life_event``         births and deaths per person
``registry.disability``         assessments per person
``registry.income``             declarations per person and tax year
``registry.household``          source households per person, with their living size
``registry.enrolment``          one row per person, programme and month paid
``registry.person``             the golden record (survivorship in sql/registry/person.sql)
``registry.who_receives_what``  view: current benefits per person
``registry.person_source``      which sources know each person
``registry.admin_area``         the admin areas with their names (reference/admin_areas.csv)

Example::

    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        counts = build_registry(con, home, date(2026, 4, 1))
    counts["registry.person"]   # 19,832
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from core.sqlutil import qualified, read_sql
from registry.programmes import ProgrammeRules, load_programmes

# in dependency order: each model reads only staging, the linkage, and the models before it
REGISTRY_MODELS = (
    "as_of",
    "programme",
    "life_event",
    "disability",
    "income",
    "household",
    "enrolment",
    "person",
    "who_receives_what",
    "person_source",
    "admin_area",
)
REGISTRY_TABLES = (
    "as_of",
    "programme",
    "programme_exclusive",
    "life_event",
    "disability",
    "income",
    "household",
    "enrolment",
    "person",
    "who_receives_what",
    "person_source",
    "admin_area",
)
REQUIRED_INPUTS = (
    ("staging", "person_records"),
    ("staging", "enrolment"),
    ("staging", "civil_event"),
    ("staging", "tax_income"),
    ("staging", "disability_assessment"),
    ("staging", "admin2_lookup"),
    ("registry", "person_source_link"),
)


class RegistryInputMissing(RuntimeError):
    """A staging or linkage table the registry is built from does not exist yet."""


def build_registry(
    con: duckdb.DuckDBPyConnection, home: Path, night: date, rules: ProgrammeRules | None = None
) -> dict[str, int]:
    """Rebuild every ``registry`` model for ``night``; return the row count of each table and view.

    The staging tables and the linkage must already be as of ``night`` (the nightly run
    rebuilds them first). ``rules`` defaults to ``<home>/programmes.yaml``, loaded and
    validated here, so a broken rules file stops the build with its name and problem.
    """
    rules = rules if rules is not None else load_programmes(home / "programmes.yaml")
    check_inputs(con, REQUIRED_INPUTS)
    con.execute("create schema if not exists registry")
    con.execute("set variable ibr_night = $1", [night])
    load_rules(con, rules)
    load_admin_areas(con, home)
    for model in REGISTRY_MODELS:
        con.execute(read_sql(f"registry/{model}.sql"))
    return table_counts(con, "registry", REGISTRY_TABLES)


def load_rules(con: duckdb.DuckDBPyConnection, rules: ProgrammeRules) -> None:
    """Put the validated rules into temp tables for sql/registry/programme.sql; values go in as parameters."""
    con.execute(
        """
        create or replace temp table _programme_rules (
            programme_id varchar, programme_name varchar, ministry varchar, benefit_type varchar,
            benefit_value_monthly decimal(18, 2), benefit_value_min decimal(18, 2),
            benefit_value_max decimal(18, 2), income_annual_max decimal(18, 2), eligibility varchar,
            rule_order integer
        );
        create or replace temp table _programme_exclusive (group_number integer, programme_id varchar);
        """
    )
    con.executemany(
        "insert into _programme_rules values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [
            [
                p.programme_id,
                p.name,
                p.ministry,
                p.benefit_type,
                p.benefit_value_monthly,
                p.benefit_value_min,
                p.benefit_value_max,
                p.income_annual_max,
                p.eligibility,
                order,
            ]
            for order, p in enumerate(rules.programmes, start=1)
        ],
    )
    members = [[number, pid] for number, group in enumerate(rules.exclusive, start=1) for pid in group]
    if members:
        con.executemany("insert into _programme_exclusive values ($1, $2)", members)


def load_admin_areas(con: duckdb.DuckDBPyConnection, home: Path) -> None:
    """`<home>/reference/admin_areas.csv` into the temp table _admin_areas (empty without the file)."""
    con.execute(
        "create or replace temp table _admin_areas "
        "(admin1_code varchar, admin1_name varchar, admin2_code varchar, admin2_name varchar)"
    )
    areas = home / "reference" / "admin_areas.csv"
    if areas.is_file():
        con.execute(
            "insert into _admin_areas select admin1_code, admin1_name, admin2_code, admin2_name "
            "from read_csv($p, all_varchar = true, header = true)",
            {"p": str(areas)},
        )


def check_inputs(con: duckdb.DuckDBPyConnection, tables: tuple[tuple[str, str], ...]) -> None:
    """Raise ``RegistryInputMissing`` naming the first input table that does not exist."""
    present = {
        (str(schema), str(name))
        for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "union all select schema_name, view_name from duckdb_views()"
        ).fetchall()
    }
    for schema, table in tables:
        if (schema, table) not in present:
            raise RegistryInputMissing(
                f"{schema}.{table} does not exist: run staging and linkage for the night first"
            )


def table_counts(con: duckdb.DuckDBPyConnection, schema: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows per table, keyed ``schema.table``."""
    counts = {}
    for table in tables:
        rows = con.execute(f"select count(*) from {qualified(schema, table)}").fetchall()  # noqa: S608
        counts[f"{schema}.{table}"] = int(rows[0][0])
    return counts
