"""SQL expressions that read one canonical field from its source column.

The same expression decides at landing whether a value is readable (else the row is
quarantined with the field named) and turns it into its typed value in staging, so
the two can never disagree. Identifiers are quoted and formats are escaped in
`core.sqlutil`; nothing else from a contract reaches SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.sqlutil import literal, literal_list, quote_ident
from ingest.contracts import CANONICAL_CODES, CANONICAL_FIELDS, Contract

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


@dataclass(frozen=True)
class FieldCheck:
    """One rule a field's value must keep: `condition` (SQL) is true on a row that breaks it."""

    field: str  # canonical field, or `extra_fields.<name>`
    column: str
    rule: str  # required | not_a_date | not_a_number | not_a_whole_number | unknown_code
    what: str
    condition: str
    strict: bool  # broken: the row goes to quarantine; else the value becomes null and the row is kept

    @property
    def reason(self) -> str:
        """'<field> (column <col>): <what is wrong>': names the field and the rule, never the value."""
        return f"{self.field} (column {self.column}): {self.what}"


def field_checks(contract: Contract, canonical: str, column: str, parquet: bool) -> list[FieldCheck]:
    """The rules a mapped canonical field's values keep.

    Only a field the contract lists under `required` is strict: empty or unreadable, its row is
    quarantined. A present but unreadable value of any other field (a malformed date, a code
    outside `codes`, a non-numeric amount) is typed as null in staging, and the row is kept.
    """
    value = text_sql(column)
    strict = canonical in contract.required
    checks: list[FieldCheck] = []
    if strict:
        checks.append(
            FieldCheck(
                canonical, column, "required", "empty, but the contract requires it", f"{value} is null", True
            )
        )
    kind = CANONICAL_FIELDS[canonical]
    unreadable = f"{value} is not null and {typed_sql(contract, canonical, column, parquet)} is null"
    if kind in ("date", "month"):
        formats = " or ".join(date_formats(contract, canonical, parquet))
        checks.append(
            FieldCheck(canonical, column, "not_a_date", f"not a date in {formats}", unreadable, strict)
        )
    elif kind == "number":
        checks.append(FieldCheck(canonical, column, "not_a_number", "not a number", unreadable, strict))
    elif kind == "integer":
        checks.append(
            FieldCheck(canonical, column, "not_a_whole_number", "not a whole number", unreadable, strict)
        )
    elif kind == "code":
        allowed = sorted(contract.codes.get(canonical, {}) or CANONICAL_CODES[canonical])
        checks.append(
            FieldCheck(
                canonical,
                column,
                "unknown_code",
                f"not one of the codes {', '.join(allowed)}",
                unreadable,
                strict,
            )
        )
    return checks


def extra_field_checks(contract: Contract, name: str, parquet: bool) -> list[FieldCheck]:
    """An extra field is never required; a `date` one that does not read as a date becomes null."""
    extra = contract.extra_fields[name]
    if extra.compare != "date":
        return []
    value = text_sql(extra.column)
    formats = " or ".join(contract.date_formats + (PARQUET_DATE_FORMATS if parquet else ()))
    return [
        FieldCheck(
            f"extra_fields.{name}",
            extra.column,
            "not_a_date",
            f"not a date in {formats}",
            f"{value} is not null and {extra_value_sql(contract, name, parquet)} is null",
            False,
        )
    ]


def contract_checks(contract: Contract, parquet: bool) -> list[FieldCheck]:
    """Every field rule of a contract, in the order of its columns, then its extra fields."""
    checks = [
        c
        for canonical, column in contract.columns.items()
        for c in field_checks(contract, canonical, column, parquet)
    ]
    return checks + [c for name in contract.extra_fields for c in extra_field_checks(contract, name, parquet)]


def extra_value_sql(contract: Contract, name: str, parquet: bool) -> str:
    """The standardised text of an extra field (NULL when empty or unreadable).

    Trimmed, transliterated to ASCII (`ibr_ascii`, registered by staging.standardise), upper
    case, inner whitespace collapsed to one space; a `date` field is parsed with the contract's
    `date_formats` and written as ISO `YYYY-MM-DD`.
    """
    extra = contract.extra_fields[name]
    value = text_sql(extra.column)
    if extra.compare == "date":
        formats = contract.date_formats + (PARQUET_DATE_FORMATS if parquet else ())
        return f"strftime(cast(try_strptime({value}, {literal_list(formats)}) as date), '%Y-%m-%d')"
    return f"nullif(trim(regexp_replace(upper(ibr_ascii({value})), '\\s+', ' ', 'g')), '')"


def field_problem_sql(contract: Contract, canonical: str, column: str, parquet: bool) -> str:
    """NULL, or '<field> (column <col>): <what is wrong>' for a value that sends its row to quarantine."""
    strict = [c for c in field_checks(contract, canonical, column, parquet) if c.strict]
    if not strict:
        return "null"
    cases = " ".join(f"when {c.condition} then {literal(c.reason)}" for c in strict)
    return f"(case {cases} end)"


def field_issue_sql(check: FieldCheck) -> str:
    """NULL, or a struct {field, source_column, rule, reason} for a value set to null with its row kept."""
    issue = (
        f"{{'field': {literal(check.field)}, 'source_column': {literal(check.column)}, "
        f"'rule': {literal(check.rule)}, 'reason': {literal(check.reason)}}}"
    )
    return f"(case when {check.condition} then {issue} end)"


def record_id_problem_sql(contract: Contract) -> str:
    label = f"record_id (column {contract.record_id}): empty; every row needs its record id"
    return f"(case when {text_sql(contract.record_id)} is null then {literal(label)} end)"
