"""SQL expressions that read one canonical field from its source column.

The same expression decides at landing whether a value is readable (else the row is
quarantined with the field named) and turns it into its typed value in staging, so
the two can never disagree. Identifiers are quoted and formats are escaped in
`ingest.sqlutil`; nothing else from a contract reaches SQL text.
"""

from __future__ import annotations

from ingest.contracts import CANONICAL_CODES, CANONICAL_FIELDS, Contract
from ingest.sqlutil import literal, literal_list, quote_ident

# Parquet date and timestamp columns arrive as ISO text once cast to varchar.
PARQUET_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S")


def text_sql(column: str) -> str:
    """The trimmed value, with empty strings as NULL."""
    return f"nullif(trim({quote_ident(column)}), '')"


def date_formats(contract: Contract, canonical: str, parquet: bool) -> tuple[str, ...]:
    formats = contract.period_formats if canonical == "period" else contract.date_formats
    return formats + PARQUET_DATE_FORMATS if parquet else formats


def typed_sql(contract: Contract, canonical: str, column: str, parquet: bool) -> str:
    """The typed value of a canonical field (NULL when empty or unreadable)."""
    value = text_sql(column)
    kind = CANONICAL_FIELDS[canonical]
    if kind in ("date", "month"):
        return (
            f"cast(try_strptime({value}, {literal_list(date_formats(contract, canonical, parquet))}) as date)"
        )
    if kind == "number":
        return f"try_cast({value} as decimal(18, 2))"
    if kind == "integer":
        return f"try_cast(try_cast({value} as decimal(18, 2)) as integer)"
    if kind == "code":
        return code_sql(contract, canonical, value)
    return value


def code_sql(contract: Contract, canonical: str, value: str) -> str:
    """Map a source code onto the canonical code; canonical codes themselves are understood too."""
    mapping = {code.upper(): code for code in CANONICAL_CODES[canonical]}
    mapping |= {source.strip().upper(): code for source, code in contract.codes.get(canonical, {}).items()}
    cases = " ".join(f"when {literal(k)} then {literal(v)}" for k, v in sorted(mapping.items()))
    return f"(case upper({value}) {cases} end)"


def precision_sql(contract: Contract, column: str, parquet: bool) -> str:
    """'day', 'month' or 'year': the precision of the first date format that reads the value."""
    value = text_sql(column)
    cases = []
    for fmt in date_formats(contract, "date_of_birth", parquet):
        precision = (
            "day" if "%d" in fmt else ("month" if ("%m" in fmt or "%b" in fmt or "%B" in fmt) else "year")
        )
        cases.append(f"when try_strptime({value}, {literal(fmt)}) is not null then {literal(precision)}")
    return f"(case {' '.join(cases)} end)"


def field_problem_sql(contract: Contract, canonical: str, column: str, parquet: bool) -> str:
    """NULL, or '<field> (column <col>): <what is wrong>' for a value that breaks the contract."""
    label = f"{canonical} (column {column})"
    value = text_sql(column)
    checks: list[tuple[str, str]] = []
    if canonical in contract.required:
        checks.append((f"{value} is null", "empty, but the contract requires it"))
    kind = CANONICAL_FIELDS[canonical]
    typed = typed_sql(contract, canonical, column, parquet)
    if kind in ("date", "month"):
        formats = " or ".join(date_formats(contract, canonical, parquet))
        checks.append((f"{value} is not null and {typed} is null", f"not a date in {formats}"))
    elif kind == "number":
        checks.append((f"{value} is not null and {typed} is null", "not a number"))
    elif kind == "integer":
        checks.append((f"{value} is not null and {typed} is null", "not a whole number"))
    elif kind == "code":
        allowed = sorted(contract.codes.get(canonical, {}) or CANONICAL_CODES[canonical])
        checks.append(
            (f"{value} is not null and {typed} is null", f"not one of the codes {', '.join(allowed)}")
        )
    if not checks:
        return "null"
    cases = " ".join(f"when {condition} then {literal(label + ': ' + what)}" for condition, what in checks)
    return f"(case {cases} end)"


def record_id_problem_sql(contract: Contract) -> str:
    label = f"record_id (column {contract.record_id}): empty; every row needs its record id"
    return f"(case when {text_sql(contract.record_id)} is null then {literal(label)} end)"
