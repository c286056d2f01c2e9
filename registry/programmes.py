"""Programme rules: load and validate ``<home>/programmes.yaml``.

The file names each programme (who runs it, what it pays) and says who qualifies
for it as a SQL boolean expression over the columns of the person golden record
(``RULE_COLUMNS``); an optional means test caps the declared annual income; the
``exclusive`` groups list programmes one person may not combine.

Every expression is checked when the file is loaded, so a typo stops the night
with the file, the programme and the problem named instead of failing halfway
through the reports:

- it is one expression: no ``;``, no SQL comment, no subquery, nothing that
  closes the surrounding ``select`` and adds clauses (checked with DuckDB's own
  parser);
- it binds against an empty table of the golden-record columns (an unknown
  column or a type mismatch fails here);
- it is boolean.

Example::

    rules = load_programmes(home / "programmes.yaml")
    rules.by_id["old_age_pension"].eligibility   # "not is_deceased and age_years >= 65"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import duckdb
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from core.configerrors import KeyedValueError, errors, key_path
from core.sqlutil import quote_ident

# The golden-record columns an eligibility expression may use, with their warehouse types.
# registry.person carries each of them with this type (tests/test_registry.py checks it).
RULE_COLUMNS: dict[str, str] = {
    "age_years": "integer",
    "sex": "varchar",
    "disability_severity": "varchar",
    "income_annual": "decimal(18, 2)",
    "is_deceased": "boolean",
    "household_size": "integer",
    "admin1": "varchar",
    "admin2": "varchar",
}

# Rule columns whose null is itself an answer (never assessed, no declaration), not a gap in the data: a rule
# that cannot be decided only because of them is not "undetermined" (reports.eligibility.is_undetermined).
NULL_MEANS_NONE = frozenset({"disability_severity", "income_annual"})

PROGRAMME_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# ministry reports hide counts of 1 to small_cell_min - 1 people (and what would give them back)
SMALL_CELL_MIN_DEFAULT = 5
# text that cannot be part of one expression: statement separators and comments
FORBIDDEN_TEXT = (";", "--", "/*", "*/")
_VALIDATION_TABLE = "golden_record"
# binding an expression must never reach the network: an operator from an extension is simply unknown
VALIDATION_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class ProgrammesError(ValueError):
    """``programmes.yaml`` is invalid; the message names the file, the programme and the problem."""


Money = Annotated[float, Strict(), Field(ge=0)]


class MeansTestModel(BaseModel):
    """`means_test`: who declares more annual income than this does not qualify."""

    model_config = ConfigDict(extra="forbid")
    income_annual_max: Money = Field(description="The highest annual income that qualifies.")


class ProgrammeModel(BaseModel):
    """One programme of `programmes.yaml`."""

    model_config = ConfigDict(extra="forbid")
    programme_id: str = Field(pattern=PROGRAMME_ID.pattern, description="Lower case, digits and _.")
    name: str
    ministry: str
    benefit_type: str
    benefit_value_monthly: Money
    eligibility: str = Field(
        description=f"SQL boolean expression over the golden record's columns: {', '.join(RULE_COLUMNS)}."
    )
    description: str | None = None
    benefit_value_min: Money | None = None
    benefit_value_max: Money | None = None
    means_test: MeansTestModel | None = None

    @model_validator(mode="after")
    def _benefit_range(self) -> ProgrammeModel:
        low, high = self.benefit_value_min, self.benefit_value_max
        if low is not None and high is not None and low > high:
            raise KeyedValueError("benefit_value_min", "is above 'benefit_value_max'")
        return self


class ProgrammesModel(BaseModel):
    """`programmes.yaml`: programmes, exclusive combinations, the small-cell minimum of the reports.

    `load_programmes` validates the file with it, then checks what ties the parts together (ids listed
    once, exclusive groups of known programmes) and every eligibility expression against DuckDB.
    """

    model_config = ConfigDict(extra="forbid", title="IBR programmes")
    programmes: list[ProgrammeModel] = Field(min_length=1, description="The programmes, at least one.")
    exclusive: list[list[str]] | None = Field(None, description="Programmes one person may not combine.")
    small_cell_min: StrictInt = Field(
        SMALL_CELL_MIN_DEFAULT, ge=2, description="Reports hide counts of 1 to this minus 1 people."
    )

    @field_validator("exclusive")
    @classmethod
    def _groups(cls, groups: list[list[str]] | None) -> list[list[str]] | None:
        for index, group in enumerate(groups or []):
            if len(group) < 2:
                raise KeyedValueError(index, f"must list two or more programme ids, got {group!r}")
            if len(set(group)) != len(group):
                raise KeyedValueError(index, "lists a programme twice")
        return groups


@dataclass(frozen=True)
class Programme:
    """One programme of ``programmes.yaml``.

    ``eligibility`` is a validated SQL boolean expression over ``RULE_COLUMNS``;
    ``income_annual_max`` is the means test (``None``: not means-tested).
    """

    programme_id: str
    name: str
    ministry: str
    benefit_type: str
    benefit_value_monthly: float
    eligibility: str
    benefit_value_min: float | None = None
    benefit_value_max: float | None = None
    income_annual_max: float | None = None
    description: str | None = None


@dataclass(frozen=True)
class ProgrammeRules:
    """The whole rules file: programmes in file order and the exclusive groups."""

    path: Path
    programmes: tuple[Programme, ...]
    exclusive: tuple[tuple[str, ...], ...]
    small_cell_min: int = SMALL_CELL_MIN_DEFAULT

    @property
    def ids(self) -> list[str]:
        return [p.programme_id for p in self.programmes]

    @property
    def by_id(self) -> dict[str, Programme]:
        return {p.programme_id: p for p in self.programmes}


def load_programmes(path: Path) -> ProgrammeRules:
    """Read ``programmes.yaml``, validate it (``ProgrammesModel``) and check every expression and group;
    raise ``ProgrammesError`` naming the file, the programme and the key."""
    if not path.is_file():
        raise ProgrammesError(f"{path}: not found; the registry reports need the programme rules file")
    try:
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise ProgrammesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ProgrammesError(f"{path}: expected a mapping with a non-empty 'programmes' list")
    try:
        model = ProgrammesModel.model_validate(raw)
    except ValidationError as exc:
        raise ProgrammesError(
            "\n".join(f"{path}: {_where(raw, loc)}{message}" for loc, message in errors(exc, ProgrammesModel))
        ) from None

    programmes: list[Programme] = []
    for item in model.programmes:
        if item.programme_id in {p.programme_id for p in programmes}:
            raise ProgrammesError(f"{path}: programme '{item.programme_id}' is listed twice")
        programmes.append(
            Programme(
                programme_id=item.programme_id,
                name=item.name,
                ministry=item.ministry,
                benefit_type=item.benefit_type,
                benefit_value_monthly=item.benefit_value_monthly,
                eligibility=item.eligibility.strip(),
                benefit_value_min=item.benefit_value_min,
                benefit_value_max=item.benefit_value_max,
                income_annual_max=item.means_test.income_annual_max if item.means_test else None,
                description=item.description,
            )
        )
    known = [p.programme_id for p in programmes]
    for index, group in enumerate(model.exclusive or []):
        unknown = [g for g in group if g not in known]
        if unknown:
            raise ProgrammesError(
                f"{path}: exclusive[{index}]: unknown programme '{unknown[0]}'; known: {', '.join(known)}"
            )
    exclusive = tuple(tuple(group) for group in model.exclusive or [])
    rules = ProgrammeRules(path, tuple(programmes), exclusive, model.small_cell_min)
    check_rules(rules)
    return rules


def _where(raw: dict[str, Any], loc: tuple[str | int, ...]) -> str:
    """`programme 'pension': 'eligibility': ` for an error inside a programme that has an id, else the key path."""
    items = raw.get("programmes")
    if len(loc) >= 2 and loc[0] == "programmes" and isinstance(loc[1], int) and isinstance(items, list):
        item = items[loc[1]] if loc[1] < len(items) else None
        if isinstance(item, dict) and isinstance(item.get("programme_id"), str):
            rest = key_path(loc[2:])
            return f"programme '{item['programme_id']}': " + (f"'{rest}': " if rest else "")
    return f"'{key_path(loc)}': " if loc else ""


def check_rules(rules: ProgrammeRules) -> dict[str, tuple[str, ...]]:
    """Check every eligibility expression of ``rules``; return the golden-record columns each one reads.

    ``build_reports`` calls it again before rendering the expressions into SQL, so
    hand-built rules get the same checks as a loaded file.
    """
    columns = {}
    with duckdb.connect(config=VALIDATION_CONFIG) as con:
        _create_validation_table(con)
        for programme in rules.programmes:
            where = f"{rules.path}: programme '{programme.programme_id}'"
            columns[programme.programme_id] = check_expression(con, programme.eligibility, where)
    return columns


def check_expression(con: duckdb.DuckDBPyConnection, expression: str, where: str) -> tuple[str, ...]:
    """Raise ``ProgrammesError`` unless ``expression`` is one boolean SQL expression over ``RULE_COLUMNS``;
    return the columns it reads, in ``RULE_COLUMNS`` order.

    ``con`` must hold the empty validation table (``_create_validation_table``);
    ``where`` prefixes the message (file and programme).
    """
    text = expression.strip()
    if not text:
        raise ProgrammesError(f"{where}: 'eligibility' is empty")
    for forbidden in FORBIDDEN_TEXT:
        if forbidden in text:
            raise ProgrammesError(
                f"{where}: 'eligibility' must be one SQL expression; it may not contain {forbidden!r}"
            )
    table = quote_ident(_VALIDATION_TABLE)
    probe = f"select ({text}) as rule_value from {table}"
    node = _check_single_expression(con, probe, where)
    try:
        con.execute(f"select count(*) from {table} where ({text})").fetchall()
        described = con.execute(f"describe {probe}").fetchall()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        raise ProgrammesError(
            f"{where}: 'eligibility' does not bind to the golden-record columns "
            f"({', '.join(RULE_COLUMNS)}): {message}"
        ) from None
    column_type = str(described[0][1])
    if column_type != "BOOLEAN":
        raise ProgrammesError(f"{where}: 'eligibility' must be true or false; it gives {column_type}")
    referenced = {str(names[-1]).lower() for names in _column_refs(node.get("select_list", []))}
    return tuple(name for name in RULE_COLUMNS if name in referenced)


def _check_single_expression(con: duckdb.DuckDBPyConnection, probe: str, where: str) -> dict[str, Any]:
    """Parse the probe with DuckDB: one plain select of one expression, no set operation, no subquery.
    Returns the select node of the parse tree."""
    serialized = con.execute("select json_serialize_sql($1)", [probe]).fetchall()[0][0]
    tree: dict[str, Any] = json.loads(serialized)
    if tree.get("error"):
        message = str(tree.get("error_message", "cannot be parsed")).splitlines()[0]
        raise ProgrammesError(f"{where}: 'eligibility' is not valid SQL: {message}")
    statements = tree.get("statements") or []
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    if (
        node.get("type") != "SELECT_NODE"
        or len(node.get("select_list", [])) != 1
        or node.get("where_clause") is not None
        or node.get("group_expressions")
        or node.get("having") is not None
        or node.get("modifiers")
    ):
        raise ProgrammesError(f"{where}: 'eligibility' must be one SQL expression, not a statement or clause")
    if _has_subquery(node):
        raise ProgrammesError(
            f"{where}: 'eligibility' may not contain a subquery; use the golden-record columns"
        )
    return node


def _has_subquery(node: object) -> bool:
    """True when the parse tree holds a subquery expression anywhere."""
    if isinstance(node, dict):
        return node.get("class") == "SUBQUERY" or any(_has_subquery(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_subquery(v) for v in node)
    return False


def _column_refs(node: object) -> list[list[str]]:
    """The name parts of every column reference in a parse tree (``[["age_years"], ["t", "sex"]]``)."""
    if isinstance(node, dict):
        found = [list(node.get("column_names", []))] if node.get("class") == "COLUMN_REF" else []
        return found + [ref for value in node.values() for ref in _column_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _column_refs(value)]
    return []


def _create_validation_table(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{quote_ident(name)} {sql_type}" for name, sql_type in RULE_COLUMNS.items())
    con.execute(f"create table {quote_ident(_VALIDATION_TABLE)} ({columns})").fetchall()
