"""De-identification by allowlist: every column of every analytics table, classified in this one place.

The analytics warehouse (`warehouse/ibr_analytics.duckdb`) and its Parquet files are built
from the working database's tables listed in `CLASSIFICATION`. Each column is one of

- a **direct identifier** (a name, an id, a phone, a source record key): dropped, or the
  person id replaced by its keyed pseudonym;
- a **quasi-identifier** (an exact date, a place, sex, a birth year, an income): generalised
  (date of birth to its year, any other date to its month) or kept where the analytics
  tables need it;
- **safe** (codes, flags, amounts, counts, which source a value came from): kept.

A column the working table has and this list does not name fails the publish with an
error naming the table and the column: a new column reaches analysts only once someone has
decided what it is. A date column can never be kept as it is (only cut to the month or year,
or dropped).

Example::

    rules = column_rules("reports", "deceased_paid", [("person_id", "VARCHAR"), ...])
    # [("person_id", Rule(DIRECT, "pseudonymise", ...)), ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

ColumnClass = Literal["direct identifier", "quasi-identifier", "safe"]
DIRECT: Final = "direct identifier"
QUASI: Final = "quasi-identifier"
SAFE: Final = "safe"
# drop: never published; pseudonymise: the person id becomes `pseudonym` (HMAC-SHA256 under the key);
# year: a date becomes its year (`birth_year`); month: a date becomes the first day of its month; keep: as is
Action = Literal["drop", "pseudonymise", "year", "month", "keep"]

# what an action writes in place of the column, where it renames it
OUTPUT_NAMES = {("pseudonymise", "person_id"): "pseudonym", ("year", "date_of_birth"): "birth_year"}


class UnclassifiedColumnError(ValueError):
    """A working table holds a column the classification does not name: the publish stops."""


@dataclass(frozen=True)
class Rule:
    """How one column is classified and what publishing does with it."""

    column_class: ColumnClass
    action: Action
    why: str = ""


def _rules(**rules: Rule) -> dict[str, Rule]:
    return rules


_PERSON = Rule(DIRECT, "pseudonymise", "person id: the keyed pseudonym instead")
_PROGRAMME = Rule(SAFE, "keep")
_MONTH = Rule(SAFE, "month", "a month already; cut to the month all the same")
_REVIEW = Rule(SAFE, "keep")
_AMOUNT = Rule(SAFE, "keep")
_SOURCE_NAME = Rule(SAFE, "keep", "which source the value came from")
_RECORD_KEYS = Rule(DIRECT, "drop", "source record keys (source:source_record_id) lead back to a payroll")
_AREA = Rule(QUASI, "keep", "district-level area: needed for coverage")

# (schema, table) of the working database -> column -> rule. The analytics table is named <schema>_<table>.
CLASSIFICATION: dict[tuple[str, str], dict[str, Rule]] = {
    ("registry", "person"): _rules(
        person_id=_PERSON,
        first_name=Rule(DIRECT, "drop"),
        first_name_source=_SOURCE_NAME,
        middle_name=Rule(DIRECT, "drop"),
        middle_name_source=_SOURCE_NAME,
        last_name=Rule(DIRECT, "drop"),
        last_name_source=_SOURCE_NAME,
        date_of_birth=Rule(QUASI, "year", "year of birth only"),
        dob_precision=Rule(SAFE, "keep"),
        date_of_birth_source=_SOURCE_NAME,
        age_years=Rule(
            QUASI, "drop", "with the reference month it would narrow the birth date below the year"
        ),
        age_reference_date=Rule(SAFE, "month"),
        sex=Rule(QUASI, "keep"),
        sex_source=_SOURCE_NAME,
        national_id=Rule(DIRECT, "drop"),
        national_id_valid=Rule(SAFE, "keep"),
        national_id_source=_SOURCE_NAME,
        phone=Rule(DIRECT, "drop"),
        phone_source=_SOURCE_NAME,
        admin1=Rule(QUASI, "keep", "province"),
        admin1_source=_SOURCE_NAME,
        admin2=_AREA,
        admin2_source=_SOURCE_NAME,
        is_deceased=Rule(QUASI, "keep"),
        date_of_death=Rule(QUASI, "drop", "an exact event date; is_deceased says enough"),
        date_of_death_source=_SOURCE_NAME,
        household_size=Rule(QUASI, "keep"),
        household_size_source=_SOURCE_NAME,
        disability_severity=Rule(QUASI, "keep", "sensitive (health): analysts need it for gap checks"),
        disability_severity_source=_SOURCE_NAME,
        income_annual=Rule(QUASI, "keep", "sensitive: analysts need it for means tests"),
        income_tax_year=Rule(SAFE, "keep"),
        income_annual_source=_SOURCE_NAME,
        source_records=Rule(SAFE, "keep"),
        sources=Rule(SAFE, "keep"),
        needs_review=_REVIEW,
    ),
    ("registry", "enrolment"): _rules(
        person_id=_PERSON,
        programme_id=_PROGRAMME,
        period_month=_MONTH,
        enrolment_status=Rule(SAFE, "keep"),
        enrolment_date=Rule(QUASI, "month", "an enrolment date can be a child's date of birth"),
        benefit_type=Rule(SAFE, "keep"),
        benefit_amount_monthly=_AMOUNT,
        source_records=Rule(SAFE, "keep"),
        active_records=Rule(SAFE, "keep"),
        source=_SOURCE_NAME,
        source_record_id=Rule(DIRECT, "drop", "the programme's own beneficiary number"),
        drop_night=Rule(SAFE, "month"),
    ),
    ("registry", "who_receives_what"): _rules(
        person_id=_PERSON,
        programmes=Rule(SAFE, "keep"),
        programme_ids=Rule(SAFE, "keep"),
        benefits=Rule(SAFE, "keep", "programme ids and amounts"),
        benefit_amount_monthly=_AMOUNT,
        latest_period_month=_MONTH,
    ),
    ("registry", "person_source"): _rules(
        person_id=_PERSON,
        source=_SOURCE_NAME,
        source_kind=Rule(SAFE, "keep"),
        programme_id=_PROGRAMME,
        source_records=Rule(SAFE, "keep"),
    ),
    ("registry", "programme"): _rules(
        programme_id=_PROGRAMME,
        programme_name=Rule(SAFE, "keep"),
        ministry=Rule(SAFE, "keep"),
        benefit_type=Rule(SAFE, "keep"),
        benefit_value_monthly=_AMOUNT,
        benefit_value_min=_AMOUNT,
        benefit_value_max=_AMOUNT,
        income_annual_max=Rule(SAFE, "keep", "the programme's threshold"),
        is_means_tested=Rule(SAFE, "keep"),
        eligibility=Rule(SAFE, "keep", "the rule's text"),
        first_period_month=_MONTH,
        latest_period_month=_MONTH,
        sources=Rule(SAFE, "keep"),
    ),
    ("registry", "admin_area"): _rules(
        admin2_code=Rule(SAFE, "keep", "a reference list, not a person's"),
        admin1_code=Rule(SAFE, "keep", "a reference list, not a person's"),
        admin2_name=Rule(SAFE, "keep", "a reference list, not a person's"),
        admin1_name=Rule(SAFE, "keep", "a reference list, not a person's"),
    ),
    ("reports", "deceased_paid"): _rules(
        person_id=_PERSON,
        programme_id=_PROGRAMME,
        date_of_death=Rule(QUASI, "drop", "an exact event date"),
        date_of_death_source=_SOURCE_NAME,
        first_period_paid_after_death=_MONTH,
        last_period_paid_after_death=_MONTH,
        months_paid_since_death=Rule(SAFE, "keep"),
        amount_paid_since_death=_AMOUNT,
        is_paid_in_latest_period=Rule(SAFE, "keep"),
        payroll_records=_RECORD_KEYS,
        needs_review=_REVIEW,
    ),
    ("reports", "exclusive_overlap"): _rules(
        person_id=_PERSON,
        programme_id=_PROGRAMME,
        exclusive_group=Rule(SAFE, "keep"),
        period_month=_MONTH,
        conflicting_programme_ids=Rule(SAFE, "keep"),
        benefit_amount_monthly=_AMOUNT,
        payroll_record=_RECORD_KEYS,
        needs_review=_REVIEW,
    ),
    ("reports", "duplicate_enrolment"): _rules(
        person_id=_PERSON,
        programme_id=_PROGRAMME,
        period_month=_MONTH,
        active_records=Rule(SAFE, "keep"),
        payroll_records=_RECORD_KEYS,
        benefit_amount_monthly=_AMOUNT,
        amount_paid_beyond_one_record=_AMOUNT,
        records_conflict=Rule(SAFE, "keep"),
        needs_review=_REVIEW,
    ),
    ("reports", "gaps"): _rules(
        person_id=_PERSON,
        programme_id=_PROGRAMME,
        period_month=_MONTH,
        enrolment_status=Rule(SAFE, "keep"),
        programmes_received=Rule(SAFE, "keep"),
        is_unserved=Rule(SAFE, "keep"),
        admin1=Rule(QUASI, "keep", "province"),
        admin2=_AREA,
        needs_review=_REVIEW,
    ),
    ("reports", "inclusion_errors"): _rules(
        person_id=_PERSON,
        programme_id=_PROGRAMME,
        period_month=_MONTH,
        income_annual=Rule(QUASI, "keep", "sensitive: the finding is about it"),
        income_tax_year=Rule(SAFE, "keep"),
        income_annual_source=_SOURCE_NAME,
        income_annual_max=Rule(SAFE, "keep", "the programme's threshold"),
        income_above_threshold=Rule(QUASI, "keep"),
        benefit_amount_monthly=_AMOUNT,
        needs_review=_REVIEW,
    ),
    ("reports", "programme_overlap_matrix"): _rules(
        programme_id=_PROGRAMME,
        other_programme_id=_PROGRAMME,
        persons=Rule(SAFE, "keep", "an aggregate count"),
        benefit_amount_monthly=_AMOUNT,
        is_exclusive_pair=Rule(SAFE, "keep"),
        is_small_cell=Rule(SAFE, "keep"),
    ),
    ("reports", "coverage_by_area"): _rules(
        area_level=Rule(SAFE, "keep"),
        admin1=Rule(SAFE, "keep", "an area of an aggregate row"),
        admin2=Rule(SAFE, "keep", "an area of an aggregate row"),
        programme_id=_PROGRAMME,
        area_name=Rule(SAFE, "keep", "the name of an aggregate row's area"),
        admin1_name=Rule(SAFE, "keep", "the name of an aggregate row's area"),
        admin2_name=Rule(SAFE, "keep", "the name of an aggregate row's area"),
        eligible_persons=Rule(SAFE, "keep", "an aggregate count"),
        eligible_enrolled_persons=Rule(SAFE, "keep", "an aggregate count"),
        eligible_not_enrolled_persons=Rule(SAFE, "keep", "an aggregate count"),
        enrolled_persons=Rule(SAFE, "keep", "an aggregate count"),
        enrolled_not_eligible_persons=Rule(SAFE, "keep", "an aggregate count"),
        undetermined_persons=Rule(SAFE, "keep", "an aggregate count"),
        enrolled_undetermined_persons=Rule(SAFE, "keep", "an aggregate count"),
        undetermined_not_enrolled_persons=Rule(SAFE, "keep", "an aggregate count"),
        coverage_share=Rule(SAFE, "keep"),
        is_small_cell=Rule(SAFE, "keep"),
        period_month=_MONTH,
    ),
}

ANALYTICS_TABLES: tuple[tuple[str, str], ...] = tuple(CLASSIFICATION)

# The analysts' views (schema main of the analytics file: `select * from person` works unqualified) add
# columns of their own, derived from the published tables above only; each is classified here too. The
# flags are one family: in_<source kind> for the registries, in_<programme_id> for every programme.
SOURCE_KIND_FLAGS: Final = ("civil_registry", "tax_registry", "disability_registry", "social_registry")
DERIVED: dict[str, Rule] = {
    "admin1_name": Rule(SAFE, "keep", "the name of the area code beside it (registry_admin_area)"),
    "admin2_name": Rule(SAFE, "keep", "the name of the area code beside it (registry_admin_area)"),
    "programme_name": Rule(SAFE, "keep", "the name of the programme (registry_programme)"),
    "ministry": Rule(SAFE, "keep", "the ministry running the programme (registry_programme)"),
    "in_<source kind>": Rule(
        SAFE, "keep", "whether a civil, tax, disability or social registry holds a record of the person"
    ),
    "in_<programme_id>": Rule(SAFE, "keep", "whether the programme's payroll holds a record of the person"),
}


def derived_rule(column: str, programme_ids: Sequence[str]) -> Rule:
    """The classification of a column an analysts' view adds; raises for one nobody classified.

    >>> derived_rule("in_child_grant", ["child_grant"]).action
    'keep'
    """
    if column in DERIVED:
        return DERIVED[column]
    if column.startswith("in_") and column[3:] in SOURCE_KIND_FLAGS:
        return DERIVED["in_<source kind>"]
    if column.startswith("in_") and column[3:] in programme_ids:
        return DERIVED["in_<programme_id>"]
    raise UnclassifiedColumnError(
        f"analysts' view column {column!r} is not classified; add it to publish/deidentify.py DERIVED"
    )


DATE_TYPES = ("DATE", "TIMESTAMP", "TIME")


def analytics_name(schema: str, table: str) -> str:
    return f"{schema}_{table}"


def output_name(column: str, rule: Rule) -> str | None:
    """The column's name in the analytics table, or None when it is dropped."""
    if rule.action == "drop":
        return None
    return OUTPUT_NAMES.get((rule.action, column), column)


def column_rules(schema: str, table: str, typed: Sequence[tuple[str, str]]) -> list[tuple[str, Rule]]:
    """The rule of every column of a working table, in its order; raises on a column nobody classified.

    >>> column_rules("registry", "person", [("favourite_colour", "VARCHAR")])
    Traceback (most recent call last):
    ...
    publish.deidentify.UnclassifiedColumnError: analytics table registry.person: column 'favourite_colour' ...
    """
    rules = CLASSIFICATION.get((schema, table))
    if rules is None:
        raise UnclassifiedColumnError(
            f"table {schema}.{table} is not classified for the analytics warehouse; "
            f"the classified tables are: {', '.join(f'{s}.{t}' for s, t in CLASSIFICATION)}"
        )
    unknown = [name for name, _ in typed if name not in rules]
    if unknown:
        raise UnclassifiedColumnError(
            f"analytics table {schema}.{table}: column {', '.join(repr(u) for u in unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} not classified; add "
            f"{'it' if len(unknown) == 1 else 'them'} to publish/deidentify.py CLASSIFICATION "
            "(direct identifier, quasi-identifier or safe, and drop, pseudonymise, year, month or keep) "
            "before publishing"
        )
    out = []
    for name, data_type in typed:
        rule = rules[name]
        if rule.action == "keep" and data_type.upper().startswith(DATE_TYPES):
            raise UnclassifiedColumnError(
                f"analytics table {schema}.{table}: column '{name}' is a {data_type} classified 'keep'; "
                "an exact date is never published: use month, year or drop"
            )
        if (rule.action, name) not in OUTPUT_NAMES and rule.action in ("pseudonymise", "year"):
            raise UnclassifiedColumnError(
                f"analytics table {schema}.{table}: column '{name}': action {rule.action!r} applies only to "
                f"{', '.join(c for a, c in OUTPUT_NAMES if a == rule.action)}"
            )
        out.append((name, rule))
    return out


def classification_markdown() -> str:
    """The classification as a Markdown table (docs/security.md embeds it; a test keeps the two equal)."""
    lines = [
        "| analytics table | column | class | published as |",
        "|---|---|---|---|",
    ]
    shown = {
        "drop": "dropped",
        "pseudonymise": "`pseudonym` (HMAC-SHA256 of the person id)",
        "year": "`birth_year` (the year only)",
        "month": "cut to the month",
        "keep": "kept",
    }
    for (schema, table), rules in CLASSIFICATION.items():
        for column, rule in rules.items():
            why = f" ({rule.why})" if rule.why else ""
            lines.append(
                f"| {analytics_name(schema, table)} | `{column}` | {rule.column_class} | {shown[rule.action]}{why} |"
            )
    for column, rule in DERIVED.items():
        lines.append(
            f"| (analysts' views) | `{column}` | {rule.column_class} | {shown[rule.action]} ({rule.why}) |"
        )
    return "\n".join(lines) + "\n"
