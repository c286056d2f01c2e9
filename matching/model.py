"""The Splink model: which comparisons and blocking rules, chosen from the fields the data has.

A comparison on an optional field (national id, phone, civil registration number,
admin area, locality, middle name) is used only when at least two sources fill it:
a field that one source alone carries cannot be evidence across sources. Names and
date of birth are always compared.

Blocking rules are candidates; each is counted (Splink's blocking analysis) before
anything is predicted, and a rule over the configured budget stops the run with an
error that names it, because skewed name frequencies make blocks explode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules

# a pair whose valid national ids agree, with a birth year and an initial that do not contradict it
DETERMINISTIC_SQL = (
    "l.national_id = r.national_id and l.national_id_valid and r.national_id_valid "
    "and (l.birth_year is null or r.birth_year is null or abs(l.birth_year - r.birth_year) <= 1) "
    "and (l.last_name is null or r.last_name is null or l.first_name is null or r.first_name is null "
    "     or left(l.last_name, 1) = left(r.last_name, 1) or left(l.first_name, 1) = left(r.first_name, 1))"
)

OPTIONAL_FIELDS = ("middle_name", "national_id", "civil_registration_number", "phone", "admin1", "locality")


class BlockingBudgetExceeded(RuntimeError):
    """A blocking rule would generate more comparisons than the configured budget."""


@dataclass(frozen=True)
class BlockingCount:
    name: str
    sql: str
    comparisons: int


def shared_fields(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """Optional fields that at least two sources fill (in at least 1% of their records)."""
    shared: set[str] = set()
    for field in OPTIONAL_FIELDS:
        sources = con.execute(
            f"select count(*) from (select source_dataset from {table} group by source_dataset "
            f"having avg(({field} is not null)::int) >= 0.01)"
        ).fetchall()[0][0]
        if sources >= 2:
            shared.add(field)
    return shared


def date_of_birth_comparison() -> Any:
    """Date of birth with the errors clerks make: day/month swapped, year off by one, partial dates."""
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.CustomLevel(
                "date_of_birth_l = date_of_birth_r and dob_precision_l = 'day' and dob_precision_r = 'day'",
                label_for_charts="exact (both to the day)",
            ),
            cll.CustomLevel(
                "(dob_precision_l <> 'day' or dob_precision_r <> 'day') and year(date_of_birth_l) = year(date_of_birth_r) "
                "and (dob_precision_l = 'year' or dob_precision_r = 'year' "
                "     or month(date_of_birth_l) = month(date_of_birth_r))",
                label_for_charts="agrees as far as the less precise date goes",
            ),
            cll.CustomLevel(
                "day(date_of_birth_l) = month(date_of_birth_r) and month(date_of_birth_l) = day(date_of_birth_r) "
                "and year(date_of_birth_l) = year(date_of_birth_r)",
                label_for_charts="day and month swapped",
            ),
            cll.CustomLevel(
                "month(date_of_birth_l) = month(date_of_birth_r) and day(date_of_birth_l) = day(date_of_birth_r) "
                "and abs(year(date_of_birth_l) - year(date_of_birth_r)) = 1",
                label_for_charts="year off by one",
            ),
            cll.CustomLevel(
                "year(date_of_birth_l) = year(date_of_birth_r) "
                "and ((month(date_of_birth_l) = 1 and day(date_of_birth_l) = 1) "
                "     or (month(date_of_birth_r) = 1 and day(date_of_birth_r) = 1))",
                label_for_charts="same year, one side 1 January (year only known)",
            ),
            cll.AbsoluteDateDifferenceLevel(
                "date_of_birth", input_is_string=False, threshold=1, metric="month"
            ),
            cll.AbsoluteDateDifferenceLevel(
                "date_of_birth", input_is_string=False, threshold=5, metric="year"
            ),
            cll.ElseLevel(),
        ],
    )


def area_comparison() -> Any:
    return cl.CustomComparison(
        output_column_name="admin_area",
        comparison_levels=[
            cll.NullLevel("admin1"),
            cll.CustomLevel("admin2_l = admin2_r", label_for_charts="same admin2"),
            cll.ExactMatchLevel("admin1").configure(label_for_charts="same admin1"),
            cll.ElseLevel(),
        ],
    )


def comparisons(fields: set[str]) -> list[Any]:
    chosen: list[Any] = [
        cl.ForenameSurnameComparison(
            "first_name", "last_name", forename_surname_concat_col_name="name_concat"
        ),
        date_of_birth_comparison(),
        cl.ExactMatch("sex"),
    ]
    if "middle_name" in fields:
        chosen.append(cl.JaroWinklerAtThresholds("middle_name", [0.9]))
    if "national_id" in fields:
        chosen.append(cl.LevenshteinAtThresholds("national_id", [1, 2]))
    if "civil_registration_number" in fields:
        chosen.append(cl.ExactMatch("civil_registration_number"))
    if "phone" in fields:
        chosen.append(cl.ExactMatch("phone"))
    if "admin1" in fields:
        chosen.append(area_comparison())
    if "locality" in fields:
        chosen.append(cl.ExactMatch("locality").configure(term_frequency_adjustments=True))
    return chosen


def blocking_candidates(fields: set[str]) -> list[tuple[str, str]]:
    """(name, SQL) of the blocking rules worth trying on these fields."""
    rules = [
        ("last_name+date_of_birth", "l.last_name = r.last_name and l.date_of_birth = r.date_of_birth"),
        ("first_name+date_of_birth", "l.first_name = r.first_name and l.date_of_birth = r.date_of_birth"),
        (
            "first_name+last_name+birth_year",
            "l.first_name = r.first_name and l.last_name = r.last_name and l.birth_year = r.birth_year",
        ),
        (
            "swapped_names+birth_year",
            "l.first_name = r.last_name and l.last_name = r.first_name and l.birth_year = r.birth_year",
        ),
        # the year mistyped or off by one
        (
            "first_name+last_name+birth_day_and_month",
            "l.first_name = r.first_name and l.last_name = r.last_name "
            "and month(l.date_of_birth) = month(r.date_of_birth) and day(l.date_of_birth) = day(r.date_of_birth)",
        ),
        # both names misspelt, or a surname changed at marriage and a given name misspelt
        (
            "date_of_birth+first_initial",
            "l.date_of_birth = r.date_of_birth and left(l.first_name, 1) = left(r.first_name, 1)",
        ),
        (
            "date_of_birth+last_initial",
            "l.date_of_birth = r.date_of_birth and left(l.last_name, 1) = left(r.last_name, 1)",
        ),
    ]
    if "national_id" in fields:
        rules.insert(0, ("national_id", "l.national_id = r.national_id"))
    if "civil_registration_number" in fields:
        rules.append(
            ("civil_registration_number", "l.civil_registration_number = r.civil_registration_number")
        )
    if "phone" in fields:
        rules.append(("phone", "l.phone = r.phone"))
    if "admin1" in fields:
        rules.append(("date_of_birth+admin2", "l.date_of_birth = r.date_of_birth and l.admin2 = r.admin2"))
        # within a district: the surname misspelt or changed at marriage while the birth date is known
        # to the month or year only (no exact date to block on), or the year is mistyped. (Blocking on
        # the surname this way instead would pair brothers and sisters born in one year.)
        rules += [
            (
                "first_name+birth_year+admin2",
                "l.first_name = r.first_name and l.birth_year = r.birth_year and l.admin2 = r.admin2",
            ),
            (
                "first_name+birth_month+admin2",
                "l.first_name = r.first_name and month(l.date_of_birth) = month(r.date_of_birth) "
                "and l.admin2 = r.admin2",
            ),
        ]
    return rules


def count_blocking(
    sdf: Any, rules: list[tuple[str, str]], budget_per_rule: int, sample: float
) -> list[BlockingCount]:
    """Count each rule's comparisons alone; raise naming the first rule over the budget."""
    counts: list[BlockingCount] = []
    for name, sql in rules:
        [record] = count_comparisons_from_blocking_rules(
            sdf,
            blocking_rules=[sql],
            link_type="link_and_dedupe",
            unique_id_column_name="unique_id",
            source_dataset_column_name="source_dataset",
            record_sample_proportion=sample,
        )
        comparisons_ = int(record["marginal_comparison_count"])
        if comparisons_ > budget_per_rule:
            raise BlockingBudgetExceeded(
                f"blocking rule '{name}' ({sql}) would generate about {comparisons_:,} comparisons, over the "
                f"budget of {budget_per_rule:,} per rule (linkage.max_comparisons_per_rule); "
                "tighten the rule or raise the budget"
            )
        counts.append(BlockingCount(name, sql, comparisons_))
    return counts


def count_all_blocking(sdf: Any, rules: list[tuple[str, str]], sample: float) -> int:
    """Distinct pairs all rules generate together (a pair found by two rules is scored once)."""
    records = count_comparisons_from_blocking_rules(
        sdf,
        blocking_rules=[sql for _, sql in rules],
        link_type="link_and_dedupe",
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        record_sample_proportion=sample,
    )
    return int(records[-1]["cumulative_comparison_count"]) if records else 0


def em_rules(fields: set[str]) -> list[Any]:
    """Two or more EM sessions on different columns, so every comparison gets its m estimated once."""
    rules: list[Any] = [block_on("date_of_birth", "sex")]
    if "national_id" in fields:
        rules.insert(0, block_on("national_id"))
    else:
        rules.append(block_on("last_name", "birth_year"))
    rules.append(block_on("first_name", "birth_year"))
    return rules
