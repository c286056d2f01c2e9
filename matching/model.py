"""The Splink model, chosen from the fields the data has: comparisons, blocking rules, EM sessions.

Nothing here names a field that no source fills. `profile` measures every candidate
field of the link input (how many records fill it, how many distinct values it holds);
a field takes part when enough records fill it and it is not constant, whether one
source fills it (duplicates inside that source) or several. From that profile:

- `comparisons`: one Splink comparison per field group (names, date of birth, sex,
  ids, phone, address, postcode, locality, admin area, and the contract's extra fields);
- `blocking_candidates`: exact rules first, then rules that survive a typo in a name or
  a date (phonetic and prefix keys, place plus name, place plus birth year); every rule
  is counted before anything is scored, and one over the budget is dropped, named;
- `em_sessions`: EM sessions picked so that every comparison has its m estimated in at
  least one session that does not block on it, each session checked to have pairs.

Example::

    fields = profile(con, "link_input")
    comparisons(fields)          # what Splink compares
    blocking_candidates(fields)  # [(name, sql), ...]
"""

from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from matching.dialect import DUCKDB, Dialect

log = logging.getLogger(__name__)


# a pair whose valid national ids agree, unless the records contradict it twice over (births years apart
# and given names unlike): an id copied onto a relative's record, not one person
def deterministic_sql(dialect: Dialect = DUCKDB) -> str:
    return (
        "l.national_id = r.national_id and l.national_id_valid and r.national_id_valid "
        "and not ("
        "  l.birth_year is not null and r.birth_year is not null and abs(l.birth_year - r.birth_year) > 1"
        "  and l.first_name is not null and r.first_name is not null"
        f"  and {dialect.jaro_winkler('l.first_name', 'r.first_name')} < 0.8"
        ")"
    )


DETERMINISTIC_SQL = deterministic_sql(DUCKDB)

# the fields a comparison or blocking rule may use, besides the contract's extra fields
CANDIDATE_FIELDS = (
    "first_name",
    "middle_name",
    "last_name",
    "second_last_name",
    "father_name",
    "grandfather_name",
    "mother_name",
    "date_of_birth",
    "sex",
    "national_id",
    "civil_registration_number",
    "tax_number",
    "phone",
    "admin1",
    "admin2",
    "locality",
    "postcode",
    "address",
)
IDENTIFIERS = ("national_id", "civil_registration_number", "tax_number", "phone")
# the parts of a person's own name; the link input holds them together as tokens and sound keys
NAME_PARTS = ("first_name", "middle_name", "last_name", "second_last_name", "father_name", "grandfather_name")
# fields people of one household may share: measured per night (FieldProfile.shared_by_others)
SHAREABLE = ("phone", "address")
# a shareable field is household evidence, not identity evidence, when this share of the records that hold
# a value another record of their source also holds are someone else (another given name). Measured: households'
# phones and addresses 0.75-0.96 (the demo, the test bed's social-protection schemas); a phone or address of one
# person 0.29 (the test bed's address_heavy: typo'd given names and people who moved count as someone else)
HOUSEHOLD_SHARE = 0.5
# a field takes part when at least this share of records fills it, and this many records
MIN_FILL_SHARE = 0.01
MIN_FILLED_RECORDS = 20

EXTRA_COMPARES = ("exact", "fuzzy", "token", "date")


class BlockingBudgetExceeded(RuntimeError):
    """Every blocking rule would generate more comparisons than the configured budget."""


@dataclass(frozen=True)
class BlockingCount:
    name: str
    sql: str
    comparisons: (
        int  # the pairs it generates alone; with `alone` false, the pairs it adds to the rules before it
    )
    kept: bool = True
    # of tonight's links that other rules found, the share this rule finds too (its recall, estimated without
    # a truth: links found by other rules are a sample of true pairs this rule's keys did not choose); and the
    # links no other rule finds
    recall_estimate: float | None = None
    links_only_it_finds: int | None = None
    alone: bool = True


@dataclass(frozen=True)
class FieldProfile:
    """How much of a field the link input holds."""

    name: str
    filled: int
    distinct: int
    sources: int
    # of the records that share a value of this field with another record of their source, the share that are
    # someone else (another given name): near 0 for a field that belongs to one person, near 1 for one a
    # household shares (None: not measured)
    shared_by_others: float | None = None

    @property
    def household(self) -> bool:
        """Agreement on this field says "same household", not "same person" (measured, not assumed)."""
        return self.shared_by_others is not None and self.shared_by_others >= HOUSEHOLD_SHARE

    def usable(self, records: int) -> bool:
        filled_enough = self.filled >= MIN_FILLED_RECORDS and self.filled >= MIN_FILL_SHARE * records
        if self.name in IDENTIFIERS and self.sources < 2 and self.distinct >= 0.999 * self.filled:
            # an id one source alone carries, each value once: no pair can ever agree on it
            return False
        return filled_enough and self.distinct >= 2


@dataclass(frozen=True)
class Fields:
    """The fields a night's model uses, with their profiles and the extra fields' kinds."""

    used: frozenset[str]
    profiles: Mapping[str, FieldProfile]
    records: int
    extra: Mapping[str, str]  # extra field column -> compare kind

    def __contains__(self, name: object) -> bool:
        return name in self.used

    def all(self, *names: str) -> bool:
        return all(name in self.used for name in names)

    def any(self, *names: str) -> bool:
        return any(name in self.used for name in names)

    def household(self, name: str) -> bool:
        """A used field that people of one household share (FieldProfile.household)."""
        return name in self.used and name in self.profiles and self.profiles[name].household

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "used": sorted(self.used),
            "profiles": {
                name: {"filled": p.filled, "distinct": p.distinct, "sources": p.sources}
                | ({"shared_by_others": p.shared_by_others} if p.shared_by_others is not None else {})
                for name, p in sorted(self.profiles.items())
            },
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> Fields:
        """The fields as `as_dict` saved them (with a model, so that its settings can be rebuilt from code)."""
        profiles = {
            name: FieldProfile(
                name, int(p["filled"]), int(p["distinct"]), int(p["sources"]), p.get("shared_by_others")
            )
            for name, p in saved["profiles"].items()
        }
        return cls(frozenset(saved["used"]), profiles, int(saved["records"]), dict(saved["extra"]))


def profile(con: duckdb.DuckDBPyConnection, table: str, extra: Mapping[str, str] | None = None) -> Fields:
    """Fill and cardinality of every candidate field of `table` (a link input with `source_dataset`)."""
    extra = dict(extra or {})
    present = {
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() where table_name = $1", [table]
        ).fetchall()
    }
    names = [n for n in (*CANDIDATE_FIELDS, *extra) if n in present]
    if not names:
        return Fields(frozenset(), {}, 0, extra)
    selects = ", ".join(
        f"count({_q(n)}), {'count(distinct' if n in IDENTIFIERS else 'approx_count_distinct('} {_q(n)}), "
        f"count(distinct case when {_q(n)} is not null "
        "then source_dataset end)"
        for n in names
    )
    row = con.execute(f"select count(*), {selects} from {table}").fetchall()[0]
    records = int(row[0])
    profiles = {
        name: FieldProfile(name, int(row[1 + 3 * i]), int(row[2 + 3 * i]), int(row[3 + 3 * i]))
        for i, name in enumerate(names)
    }
    used = frozenset(name for name, p in profiles.items() if p.usable(records))
    if "given_key" in present:
        for name in SHAREABLE:
            if name in used:
                profiles[name] = dataclasses.replace(
                    profiles[name], shared_by_others=shared_by_others(con, table, name)
                )
    return Fields(used, profiles, records, {k: v for k, v in extra.items() if k in used})


def shared_by_others(con: duckdb.DuckDBPyConnection, table: str, name: str) -> float | None:
    """Of the records holding a value of `name` that another record of their source holds too, the share
    that are someone else: each value's records count once per distinct given name beyond the first.

    A phone one person gives on every record of a duplicated list scores 0; a phone a family of five
    shares scores 0.8. Measured within each source, so that no linkage is needed to know it.
    """
    row = con.execute(
        f"""
        select sum(people - 1) / nullif(sum(records - 1), 0) from (
            select count(*) as records, count(distinct given_key) as people
            from {table}
            where {_q(name)} is not null and given_key is not null
            group by source_dataset, {_q(name)}
            having count(*) > 1
        )
        """
    ).fetchall()[0]
    return None if row[0] is None else round(float(row[0]), 4)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def date_of_birth_comparison() -> Any:
    """Date of birth as registries hold it: known to the day, or only to the year (the source's default
    days, such as 1 January or 1 July, are read as the year alone: matching.link_input), with the
    errors clerks make (day and month swapped, a year mistyped) and ages heaped on round years."""
    both_days = "dob_precision_l = 'day' and dob_precision_r = 'day'"
    a_year_only = "(dob_precision_l = 'year' or dob_precision_r = 'year')"
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.CustomLevel(
                f"date_of_birth_l = date_of_birth_r and {both_days}",
                label_for_charts="exact (both to the day)",
            ),
            cll.CustomLevel(
                "(dob_precision_l <> 'day' or dob_precision_r <> 'day') and year(date_of_birth_l) = year(date_of_birth_r) "
                f"and ({a_year_only} or month(date_of_birth_l) = month(date_of_birth_r))",
                label_for_charts="agrees as far as the less precise date goes",
            ),
            cll.CustomLevel(
                "day(date_of_birth_l) = month(date_of_birth_r) and month(date_of_birth_l) = day(date_of_birth_r) "
                f"and year(date_of_birth_l) = year(date_of_birth_r) and {both_days}",
                label_for_charts="day and month swapped",
            ),
            cll.CustomLevel(
                "month(date_of_birth_l) = month(date_of_birth_r) and day(date_of_birth_l) = day(date_of_birth_r) "
                f"and abs(year(date_of_birth_l) - year(date_of_birth_r)) = 1 and {both_days}",
                label_for_charts="same day and month, year off by one",
            ),
            cll.CustomLevel(
                "month(date_of_birth_l) = month(date_of_birth_r) and day(date_of_birth_l) = day(date_of_birth_r) "
                f"and {both_days}",
                label_for_charts="same day and month, the year mistyped",
            ),
            cll.AbsoluteDateDifferenceLevel(
                "date_of_birth", input_is_string=False, threshold=1, metric="month"
            ),
            cll.CustomLevel(
                f"{a_year_only} and abs(year(date_of_birth_l) - year(date_of_birth_r)) <= 2",
                label_for_charts="year only, one or two years apart (ages rounded)",
            ),
            cll.AbsoluteDateDifferenceLevel(
                "date_of_birth", input_is_string=False, threshold=5, metric="year"
            ),
            cll.ElseLevel(),
        ],
    )


PLACE_FIELDS = ("address", "postcode", "locality", "admin2", "admin1")


def _address_levels() -> list[Any]:
    return [
        cll.ExactMatchLevel("address").configure(
            tf_adjustment_column="address", label_for_charts="same address"
        ),
        cll.Or(
            cll.JaroWinklerLevel("address", 0.92),
            cll.ArrayIntersectLevel("address_tokens", min_intersection=2),
        ).configure(label_for_charts="address alike"),
    ]


def address_comparison() -> Any:
    """A street address that belongs to one person (measured: FieldProfile.household), compared on its own."""
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[cll.NullLevel("address"), *_address_levels(), cll.ElseLevel()],
    )


def place_comparison(fields: Fields) -> Any:
    """Where the person lives (and the household's phone), as one comparison from the finest agreement to the coarsest.

    One comparison, not one per field, for what a household shares: its address, its phone, its postcode,
    village and district agree together for everyone in it, and counted as separate evidence they would
    outweigh a different given name and birth date. Whether the address and the phone are a household's is
    measured on the night's data (FieldProfile.household): where each belongs to one person, they are
    compared on their own instead (`address_comparison`, the phone comparison), as identity evidence.
    """
    shared = [f for f in ("address", "phone") if fields.household(f)]
    present = [f for f in PLACE_FIELDS if f in fields and (f != "address" or "address" in shared)]
    present += [f for f in shared if f == "phone"]
    null = " and ".join(f"({f}_l is null or {f}_r is null)" for f in present)
    levels: list[Any] = [
        cll.CustomLevel(null, label_for_charts="no place on both sides").configure(is_null_level=True)
    ]
    if "address" in shared and "phone" in shared:
        levels.append(
            cll.And(cll.ExactMatchLevel("address"), cll.ExactMatchLevel("phone")).configure(
                tf_adjustment_column="address", label_for_charts="same address and phone"
            )
        )
    if "address" in shared:
        levels += _address_levels()
    if "phone" in shared:
        levels.append(
            cll.ExactMatchLevel("phone").configure(
                tf_adjustment_column="phone", label_for_charts="same (household) phone"
            )
        )
    if "postcode" in fields:
        levels.append(
            cll.ExactMatchLevel("postcode").configure(
                tf_adjustment_column="postcode", label_for_charts="same postcode"
            )
        )
    if "locality" in fields:
        levels.append(
            cll.ExactMatchLevel("locality").configure(
                tf_adjustment_column="locality", label_for_charts="same locality"
            )
        )
    if "admin2" in fields:
        levels.append(cll.ExactMatchLevel("admin2").configure(label_for_charts="same admin2"))
    if "admin1" in fields:
        levels.append(cll.ExactMatchLevel("admin1").configure(label_for_charts="same admin1"))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name="place", comparison_levels=levels)


def given_name_comparison(dialect: Dialect = DUCKDB) -> Any:
    """The given name alone: what tells the people of one family apart.

    Brothers, sisters, parents and children share family names, the father's name, a phone and a
    village; they do not share a given name. Compared on its own, a different given name weighs as
    much against a pair as the model finds it does, however much the family shares (`family_and_place`).
    """
    jw = dialect.jaro_winkler
    return cl.CustomComparison(
        output_column_name="given_name",
        comparison_levels=[
            cll.NullLevel("given_name"),
            cll.ExactMatchLevel("given_name").configure(tf_adjustment_column="given_name"),
            cll.CustomLevel(
                f"given_key_l = given_key_r or {jw('given_name_l', 'given_name_r')} >= 0.92"
            ).configure(label_for_charts="given name alike (spelling, transliteration)"),
            cll.CustomLevel(
                f"{jw('given_name_l', 'given_name_r')} >= 0.8 "
                f"or {dialect.overlaps('given_keys_l', 'given_keys_r')} "
                # a shortened given name (Abdi for Abdirahman, Alex for Alexander)
                "or (length(given_name_l) >= 3 and length(given_name_r) >= 3 "
                "    and (left(given_name_l, length(given_name_r)) = given_name_r "
                "         or left(given_name_r, length(given_name_l)) = given_name_l))"
            ).configure(label_for_charts="given name close: shortened, another given name in common"),
            # the same name parts with another one first: a name written in another order, or, where names are
            # handed down, a son who carries his grandfather's name: a level of its own, weighed as found
            cll.CustomLevel("name_sounds_l = name_sounds_r").configure(
                label_for_charts="the same name parts in another order"
            ),
            # each given name among the other record's other names: the name written in another order, with a
            # part more or less (a parent's given name is in a patronymic child's chain, not the other way too)
            cll.CustomLevel(
                f"{dialect.contains('other_keys_r', 'given_key_l')} and {dialect.contains('other_keys_l', 'given_key_r')}"
            ).configure(label_for_charts="given and family names in each other's places"),
            cll.ElseLevel(),
        ],
    )


def _family_levels(dialect: Dialect) -> dict[str, str]:
    """How far two records' family names (every name part but the given name) agree, as SQL conditions."""
    # list tests, not counts of what two lists share: a third of the cost of scoring a pair was counting
    within = f"{dialect.holds_all('other_keys_l', 'other_keys_r')} or {dialect.holds_all('other_keys_r', 'other_keys_l')}"
    return {
        "same": "(other_names_l = other_names_r or other_keys_l = other_keys_r or name_sounds_l = name_sounds_r)",
        "part": f"({within} or {dialect.jaro_winkler('other_names_l', 'other_names_r')} >= 0.9)",
        "one": dialect.overlaps("other_keys_l", "other_keys_r"),
    }


def family_and_place_comparison(fields: Fields, dialect: Dialect = DUCKDB) -> Any:
    """Family names and where the person lives, as one comparison: the evidence a household shares.

    A household shares its family names (or, in patronymic families, the father's and grandfather's
    names), its phone, its address and its village. Counted as separate comparisons, each would add its
    own weight and together they would outweigh a different given name and birth date: brothers and
    sisters would be one person. As one comparison, "same household, same family names" is one level
    whose weight the model learns once. Which of phone and address a household shares is measured on
    the night's data (FieldProfile.household); where each belongs to one person it is compared on its own.
    """
    family = _family_levels(dialect)
    household = [f"{f}_l = {f}_r" for f in ("phone", "address") if fields.household(f)]
    # the area both records give, fine (a postcode, a village) or coarse (a district, a province)
    fine = [f"{f}_l = {f}_r" for f in ("postcode", "locality") if f in fields]
    coarse = [f"{f}_l = {f}_r" for f in ("admin2", "admin1") if f in fields][:1]
    places = [f for f in ("phone", "address") if fields.household(f)]
    places += [f for f in ("postcode", "locality", "admin2", "admin1") if f in fields]
    no_place = " and ".join(f"({f}_l is null or {f}_r is null)" for f in places) or "true"
    levels: list[Any] = [
        cll.CustomLevel(f"(other_names_l is null or other_names_r is null) and {no_place}").configure(
            is_null_level=True, label_for_charts="no family name and no place on one side"
        )
    ]

    def level(sql: str, label: str, common: bool = False) -> None:
        # family names agreeing weigh less where many people carry them (term frequencies of other_names)
        created = cll.CustomLevel(sql).configure(label_for_charts=label)
        levels.append(created.configure(tf_adjustment_column="other_names") if common else created)

    areas = [
        (f"({' or '.join(c)})", name) for c, name in ((fine, "same village"), (coarse, "same district")) if c
    ]
    if household:
        at_home = f"({' or '.join(household)})"
        level(f"{at_home} and {family['same']}", "same household, same family names", common=True)
        level(f"{at_home} and {family['part']}", "same household, family names in part")
        level(at_home, "same household, other family names")
    for key, label in (
        ("same", "same family names"),
        ("part", "family names in part"),
        ("one", "a family name"),
    ):
        for area, area_name in areas:
            level(f"{area} and {family[key]}", f"{label}, {area_name}", common=key == "same")
        if key == "same":
            # the exact level term frequencies are taken against; sound-alike family names fall to "in part"
            levels.append(
                cll.ExactMatchLevel("other_names").configure(
                    tf_adjustment_column="other_names", label_for_charts=f"{label}, elsewhere"
                )
            )
        else:
            level(family[key], f"{label}, elsewhere")
    for area, area_name in areas:
        level(area, f"{area_name}, other family names")
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name="family_and_place", comparison_levels=levels)


def national_id_comparison() -> Any:
    """The national id: the same, two digits exchanged or one mistyped, two edits apart; a missing id is no
    evidence either way (the null level)."""
    return cl.CustomComparison(
        output_column_name="national_id",
        comparison_levels=[
            cll.NullLevel("national_id"),
            cll.ExactMatchLevel("national_id"),
            # Damerau-Levenshtein costs six times Levenshtein: computed only where the id's first or last three
            # characters agree, as they do after one typo or one exchange in an id of seven characters or more
            cll.CustomLevel(
                "(left(national_id_l, 3) = left(national_id_r, 3) or right(national_id_l, 3) = right(national_id_r, 3)) "
                "and damerau_levenshtein(national_id_l, national_id_r) <= 1"
            ).configure(label_for_charts="one digit mistyped or two exchanged"),
            cll.LevenshteinLevel("national_id", 2),
            cll.ElseLevel(),
        ],
    )


def extra_comparison(name: str, compare: str, dialect: Dialect = DUCKDB) -> Any:
    """A contract's extra field, compared the way its contract says (exact | fuzzy | token | date)."""
    if compare == "exact":
        return cl.ExactMatch(name).configure(term_frequency_adjustments=True)
    if compare == "fuzzy":
        return cl.JaroWinklerAtThresholds(name, [0.92, 0.8]).configure(term_frequency_adjustments=True)
    if compare == "token":
        return cl.CustomComparison(
            output_column_name=name,
            comparison_levels=[
                cll.NullLevel(name),
                cll.ExactMatchLevel(name).configure(tf_adjustment_column=name),
                cll.CustomLevel(
                    dialect.shares_word(dialect.quote(name + "_l"), dialect.quote(name + "_r")),
                    label_for_charts="a word in common",
                ),
                cll.ElseLevel(),
            ],
        )
    if compare == "date":
        return cl.AbsoluteDateDifferenceAtThresholds(
            name, input_is_string=False, metrics=["day", "year"], thresholds=[1, 1]
        )
    raise ValueError(f"extra field '{name}': compare {compare!r}; allowed: {', '.join(EXTRA_COMPARES)}")


def comparisons(fields: Fields, dialect: Dialect = DUCKDB) -> list[tuple[Any, frozenset[str]]]:
    """One comparison per field group the input fills, each with the fields it reads (hand-written SQL in
    the backend's dialect: the same fields give the same comparisons on DuckDB and on Spark)."""
    chosen: list[tuple[Any, frozenset[str]]] = []

    def add(comparison: Any, *reads: str) -> None:
        chosen.append((comparison, frozenset(reads)))

    if fields.any(*NAME_PARTS):
        add(given_name_comparison(dialect), *NAME_PARTS)
        add(
            family_and_place_comparison(fields, dialect),
            *NAME_PARTS,
            *PLACE_FIELDS,
            *(f for f in SHAREABLE if fields.household(f)),
        )
    if "mother_name" in fields:
        add(
            cl.JaroWinklerAtThresholds("mother_name", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            "mother_name",
        )
    if "date_of_birth" in fields:
        add(date_of_birth_comparison(), "date_of_birth")
    if "sex" in fields:
        add(cl.ExactMatch("sex"), "sex")
    # Levenshtein, not Damerau-Levenshtein: a transposed pair of digits is two edits away and still
    # scores, and an edit distance on every pair of a common field costs a third of the scoring time
    # (registration numbers, carried by the whole civil registry, are compared exactly)
    if "national_id" in fields:
        add(national_id_comparison(), "national_id")
    for name in ("civil_registration_number", "tax_number"):
        if name in fields:
            add(cl.ExactMatch(name), name)
    if "phone" in fields and not fields.household("phone"):
        # one digit mistyped is still the same phone (few pairs carry a phone on both sides)
        add(cl.LevenshteinAtThresholds("phone", [1]).configure(term_frequency_adjustments=True), "phone")
    if "address" in fields and not fields.household("address"):
        add(address_comparison(), "address")
    places = [f for f in PLACE_FIELDS if f in fields and (f != "address" or fields.household(f))]
    if not fields.any(*NAME_PARTS) and (places or fields.household("phone")):
        add(place_comparison(fields), *PLACE_FIELDS, *(("phone",) if fields.household("phone") else ()))
    for name, compare in sorted(fields.extra.items()):
        add(extra_comparison(name, compare, dialect), name)
    return chosen


# (name, fields it needs, SQL); the first rules are exact, the later ones survive a typo in a name or a date
_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("national_id", ("national_id",), "l.national_id = r.national_id"),
    (
        "last_name+date_of_birth",
        ("last_name", "date_of_birth"),
        "l.last_name = r.last_name and l.date_of_birth = r.date_of_birth",
    ),
    (
        "first_name+date_of_birth",
        ("first_name", "date_of_birth"),
        "l.first_name = r.first_name and l.date_of_birth = r.date_of_birth",
    ),
    (
        "first_name+last_name+birth_year",
        ("first_name", "last_name", "date_of_birth"),
        "l.first_name = r.first_name and l.last_name = r.last_name and l.birth_year = r.birth_year",
    ),
    (
        "swapped_names+birth_year",
        ("first_name", "last_name", "date_of_birth"),
        "l.first_name = r.last_name and l.last_name = r.first_name and l.birth_year = r.birth_year",
    ),
    # every name part sounding alike in any order (swapped, transliterated), and the given name with the first
    # other part (a chain cut short, a family name dropped, the father's name written as a child's surname)
    ("name_sounds", ("first_name",), "l.name_sounds = r.name_sounds"),
    (
        "given_sounds+other_sounds",
        ("first_name",),
        "l.given_key = r.given_key and l.other_key = r.other_key",
    ),
    (
        "given_sounds+birth_year",
        ("first_name", "date_of_birth"),
        "l.given_key = r.given_key and l.birth_year = r.birth_year",
    ),
    # the year mistyped (a decade, a digit): the given name with the day and month
    (
        "given_sounds+birth_day_and_month",
        ("first_name", "date_of_birth"),
        "l.given_key = r.given_key and month(l.date_of_birth) = month(r.date_of_birth) "
        "and day(l.date_of_birth) = day(r.date_of_birth)",
    ),
    # the given name misspelt: the family's first name part (a surname, or the father's name) in its place
    (
        "other_sounds+birth_year",
        ("first_name", "date_of_birth"),
        "l.other_key = r.other_key and l.birth_year = r.birth_year",
    ),
    (
        "other_sounds+birth_day_and_month",
        ("first_name", "date_of_birth"),
        "l.other_key = r.other_key and month(l.date_of_birth) = month(r.date_of_birth) "
        "and day(l.date_of_birth) = day(r.date_of_birth)",
    ),
    (
        "other_sounds+admin2+given_initial",
        ("first_name", "admin2"),
        "l.other_key = r.other_key and l.admin2 = r.admin2 and left(l.given_name, 1) = left(r.given_name, 1)",
    ),
    (
        "other_sounds+locality+given_initial",
        ("first_name", "locality"),
        "l.other_key = r.other_key and l.locality = r.locality and left(l.given_name, 1) = left(r.given_name, 1)",
    ),
    # the year mistyped or off by one
    (
        "first_name+last_name+birth_day_and_month",
        ("first_name", "last_name", "date_of_birth"),
        "l.first_name = r.first_name and l.last_name = r.last_name "
        "and month(l.date_of_birth) = month(r.date_of_birth) and day(l.date_of_birth) = day(r.date_of_birth)",
    ),
    # both names misspelt, or a surname changed at marriage and a given name misspelt (the same date and
    # the surname's initial instead finds next to nothing more, for as many pairs again)
    (
        "date_of_birth+first_initial",
        ("first_name", "date_of_birth"),
        "l.date_of_birth = r.date_of_birth and left(l.first_name, 1) = left(r.first_name, 1)",
    ),
    # names that sound alike (a typo in either) with the birth year, or with the month and day
    (
        "name_sounds+birth_year",
        ("first_name", "last_name", "date_of_birth"),
        "l.first_name_key = r.first_name_key and l.last_name_key = r.last_name_key "
        "and l.birth_year = r.birth_year",
    ),
    (
        "name_sounds+birth_day_and_month",
        ("first_name", "last_name", "date_of_birth"),
        "l.first_name_key = r.first_name_key and l.last_name_key = r.last_name_key "
        "and month(l.date_of_birth) = month(r.date_of_birth) and day(l.date_of_birth) = day(r.date_of_birth)",
    ),
    (
        "civil_registration_number",
        ("civil_registration_number",),
        "l.civil_registration_number = r.civil_registration_number",
    ),
    ("tax_number", ("tax_number",), "l.tax_number = r.tax_number"),
    # a national id with two digits exchanged (the same digits), or one mistyped (half of it intact)
    ("national_id_digits", ("national_id",), "l.national_id_digits = r.national_id_digits"),
    (
        "national_id_head+given_initial",
        ("national_id", "first_name"),
        "left(l.national_id, 5) = left(r.national_id, 5) and left(l.given_name, 1) = left(r.given_name, 1)",
    ),
    (
        "national_id_tail+given_initial",
        ("national_id", "first_name"),
        "right(l.national_id, 5) = right(r.national_id, 5) and left(l.given_name, 1) = left(r.given_name, 1)",
    ),
    # an address that belongs to few people: everyone there is a candidate, whatever their names and dates say
    ("address", ("address",), "l.address = r.address"),
    ("phone", ("phone",), "l.phone = r.phone"),
    # place and name: the records without a (right) date of birth; name prefixes survive a typo at the end
    (
        "postcode+first_name_prefix",
        ("first_name", "postcode"),
        "l.postcode = r.postcode and left(l.first_name, 2) = left(r.first_name, 2)",
    ),
    (
        "postcode+last_name_prefix",
        ("last_name", "postcode"),
        "l.postcode = r.postcode and left(l.last_name, 3) = left(r.last_name, 3)",
    ),
    (
        "postcode+address_number",
        ("postcode", "address"),
        "l.postcode = r.postcode and l.address_number = r.address_number",
    ),
    (
        "address+first_initial",
        ("address", "first_name"),
        "l.address = r.address and left(l.first_name, 1) = left(r.first_name, 1)",
    ),
    (
        "address_number+last_name_prefix+locality",
        ("address", "last_name", "locality"),
        "l.address_number = r.address_number and left(l.last_name, 3) = left(r.last_name, 3) "
        "and l.locality = r.locality",
    ),
    (
        "name_sounds+address_number",
        ("first_name", "last_name", "address"),
        "l.first_name_key = r.first_name_key and l.last_name_key = r.last_name_key "
        "and l.address_number = r.address_number",
    ),
    (
        "last_name+locality+first_initial",
        ("last_name", "first_name", "locality"),
        "l.last_name = r.last_name and l.locality = r.locality and left(l.first_name, 1) = left(r.first_name, 1)",
    ),
    (
        "name_sounds+locality",
        ("first_name", "last_name", "locality"),
        "l.first_name_key = r.first_name_key and l.last_name_key = r.last_name_key and l.locality = r.locality",
    ),
    (
        "date_of_birth+postcode",
        ("date_of_birth", "postcode"),
        "l.date_of_birth = r.date_of_birth and l.postcode = r.postcode",
    ),
    (
        "date_of_birth+locality",
        ("date_of_birth", "locality"),
        "l.date_of_birth = r.date_of_birth and l.locality = r.locality",
    ),
    (
        "date_of_birth+admin2",
        ("date_of_birth", "admin2"),
        "l.date_of_birth = r.date_of_birth and l.admin2 = r.admin2",
    ),
    # within a district: the surname misspelt or changed at marriage while the birth date is known
    # to the month or year only (no exact date to block on), or the year is mistyped. (Blocking on
    # the surname this way instead would pair brothers and sisters born in one year.)
    (
        "first_name+birth_year+admin2",
        ("first_name", "date_of_birth", "admin2"),
        "l.first_name = r.first_name and l.birth_year = r.birth_year and l.admin2 = r.admin2",
    ),
    (
        "first_name+birth_month+admin2",
        ("first_name", "date_of_birth", "admin2"),
        "l.first_name = r.first_name and month(l.date_of_birth) = month(r.date_of_birth) and l.admin2 = r.admin2",
    ),
    # names that sound alike in one district, for records with no date of birth on one side
    (
        "name_sounds+admin2",
        ("first_name", "last_name", "admin2"),
        "l.first_name_key = r.first_name_key and l.last_name_key = r.last_name_key and l.admin2 = r.admin2 "
        "and (l.date_of_birth is null or r.date_of_birth is null)",
    ),
)


def blocking_candidates(fields: Fields, dialect: Dialect = DUCKDB) -> list[tuple[str, str]]:
    """(name, SQL) of the blocking rules worth trying on these fields, exact ones first."""
    rules = [(name, sql) for name, needs, sql in _RULES if fields.all(*needs)]
    for name, compare in sorted(fields.extra.items()):
        if compare in ("exact", "fuzzy") and "last_name" in fields:
            column = dialect.quote(name)
            rules.append((f"{name}+last_name", f"l.{column} = r.{column} and l.last_name = r.last_name"))
    return rules


def rule_name(sql: str) -> str:
    """The name of a built-in rule's SQL, tightened or not (the SQL itself for any other rule)."""
    keys = {key_sql: key for key, key_sql in TIGHTENING_KEYS}
    for name, _, rule in _RULES:
        if rule == sql:
            return name
        prefix = f"({rule}) and "
        if sql.startswith(prefix):
            added = sql[len(prefix) :].split(" and ")
            if all(k in keys for k in added):
                return TIGHTENED.join([name, *(keys[k] for k in added)])
    return sql


def rule_sql(name: str, candidates: Mapping[str, str]) -> str | None:
    """The SQL of a rule named by `rule_name` (tightened or not), from the candidates' SQL; None if unknown."""
    base, *added = name.split(TIGHTENED)
    keys = dict(TIGHTENING_KEYS)
    if base not in candidates or any(k not in keys for k in added):
        return None
    if not added:
        return candidates[base]
    return tightened(base, candidates[base], tuple((k, keys[k]) for k in added))[1]


# keys a rule over the budget is tightened with (name, SQL), the one keeping the most pairs under the budget
# first; each reads a column every link input has (a key on a column the data leaves empty keeps no pair,
# so it is never the one chosen while another keeps pairs)
TIGHTENING_KEYS: tuple[tuple[str, str], ...] = (
    ("birth_year", "l.birth_year = r.birth_year"),
    ("sex", "l.sex = r.sex"),
    ("admin2", "l.admin2 = r.admin2"),
    ("locality", "l.locality = r.locality"),
    ("given_initial", "left(l.given_name, 1) = left(r.given_name, 1)"),
    ("birth_month", "month(l.date_of_birth) = month(r.date_of_birth)"),
)
TIGHTENED = " & "  # "<rule> & <key> & <key>": a rule tightened with keys


def tightened(name: str, sql: str, keys: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """A rule with keys added: its name and SQL."""
    return (
        TIGHTENED.join([name, *(k for k, _ in keys)]),
        " and ".join([f"({sql})", *(k_sql for _, k_sql in keys)]),
    )


def narrow_input(
    con: duckdb.DuckDBPyConnection, table: str, rules: list[str], dialect: Dialect = DUCKDB
) -> str:
    """A view of `table` with only the columns `rules` read, and the ids Splink needs; returns its name.

    Splink's blocking counts parse every column name of their input on every call: on the link input's 40-odd
    columns that was nine tenths of the blocking analysis of a few thousand records.
    """
    columns = [row[0] for row in con.execute(f"select * from {table} limit 0").description]
    text = "\n".join(rules)
    read = [
        c
        for c in columns
        if c in ("unique_id", "source_dataset")
        or re.search(rf"\b[lr]\.(?:{re.escape(c)}\b|{re.escape(dialect.quote(c))})", text)
    ]
    name = f"{table}_blocking"
    con.execute(
        f"create or replace view {name} as select {', '.join(dialect.quote(c) for c in read)} from {table}"
    )
    return name


def _count_one(sdf: Any, sql: str, sample: float) -> int:
    [record] = _count(sdf, [sql], sample)
    return int(record["marginal_comparison_count"])


def _tighten(sdf: Any, name: str, sql: str, budget: int, sample: float) -> BlockingCount | None:
    """The rule with a key added (two if one is not enough) that keeps the most pairs within the budget;
    None when no key brings it within."""
    chosen: tuple[tuple[str, str], ...] = ()
    for _ in range(2):
        counts = {
            key: _count_one(sdf, tightened(name, sql, (*chosen, key))[1], sample)
            for key in TIGHTENING_KEYS
            if key not in chosen and key[1] not in sql
        }
        fits = {key: n for key, n in counts.items() if 0 < n <= budget}
        if fits:
            best = max(fits, key=lambda k: fits[k])
            tight_name, tight_sql = tightened(name, sql, (*chosen, best))
            return BlockingCount(tight_name, tight_sql, fits[best], True)
        narrowing = {key: n for key, n in counts.items() if n > 0}
        if not narrowing:
            return None
        chosen = (
            *chosen,
            min(narrowing, key=lambda k: narrowing[k]),
        )  # the key that narrows most, then another
    return None


def share_budget(counts: list[int], total: int, per_rule: int) -> int:
    """The most comparisons one rule may keep when rules generating `counts` share `total` (and none passes
    `per_rule`): the level b where the rules' pairs, each cut at b, fill the total. A rule under b keeps all its
    pairs and leaves the rest of its share to the others; those over b are tightened to it."""
    if sum(min(c, per_rule) for c in counts) <= total:
        return per_rule
    low, high = 0, min(max(counts), per_rule)
    while low < high:  # the largest b with sum(min(c, b)) <= total
        middle = (low + high + 1) // 2
        if sum(min(c, middle) for c in counts) <= total:
            low = middle
        else:
            high = middle - 1
    return low


def count_blocking(
    sdf: Any,
    rules: list[tuple[str, str]],
    total_budget: int,
    budget_per_rule: int,
    sample: float,
    together: list[dict[str, Any]] | None = None,
) -> list[BlockingCount]:
    """Count each rule's comparisons alone and share `total_budget` among them (`share_budget`): a rule over its
    share is tightened (a key added, see TIGHTENING_KEYS) so that its pairs are still generated, and left out
    (named in the log) only when no key brings it within.

    When all rules together generate no more pairs than the budget, none needs tightening: they are counted
    together in one pass (Splink's cumulative count) and each records the pairs it adds to the rules before it
    (`alone` false), a tenth of the time of counting each alone on a few thousand records. `together`: that
    count (`count_cumulative` of `rules`) when the caller has made it.

    Raises BlockingBudgetExceeded, naming the rules, when every rule that generates any pair is over the budget.
    """
    together = count_cumulative(sdf, rules, sample) if together is None else together
    if together and int(together[-1]["cumulative_comparison_count"]) <= min(total_budget, budget_per_rule):
        return [
            BlockingCount(name, sql, int(record["marginal_comparison_count"]), True, alone=False)
            for (name, sql), record in zip(rules, together, strict=True)
        ]
    alone = [_count_one(sdf, sql, sample) for _, sql in rules]
    share = share_budget(alone, total_budget, budget_per_rule)
    counts: list[BlockingCount] = []
    for (name, sql), comparisons_ in zip(rules, alone, strict=True):
        if comparisons_ <= share:
            counts.append(BlockingCount(name, sql, comparisons_, True))
            continue
        tight = _tighten(sdf, name, sql, share, sample)
        if tight is not None:
            log.warning(
                "blocking rule '%s' would generate about %s comparisons, over its share of %s of the night's "
                "budget (linkage.max_comparisons_per_record, max_comparisons_per_rule): tightened to '%s' (%s)",
                name,
                f"{comparisons_:,}",
                f"{share:,}",
                tight.name,
                f"{tight.comparisons:,}",
            )
            counts.append(tight)
            continue
        log.warning(
            "blocking rule '%s' would generate about %s comparisons, over its share of %s of the night's budget "
            "(linkage.max_comparisons_per_record, max_comparisons_per_rule), and no key brings it within: left out",
            name,
            f"{comparisons_:,}",
            f"{share:,}",
        )
        counts.append(BlockingCount(name, sql, comparisons_, False))
    if counts and not any(c.kept and c.comparisons for c in counts) and not all(c.kept for c in counts):
        over = ", ".join(f"'{c.name}' ({c.comparisons:,})" for c in counts if not c.kept)
        raise BlockingBudgetExceeded(
            f"every blocking rule is over its share of {share:,} comparisons "
            f"(linkage.max_comparisons_per_record, max_comparisons_per_rule): {over}; raise the budget"
        )
    return counts


@contextmanager
def quiet_sampling() -> Iterator[None]:
    """Splink's blocking analysis, without its warning that a sampled count rests on few pairs (a rare
    rule sampled at 10% of a million records): counts decide only whether a rule fits the budget."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The sampled blocking analysis estimate", category=UserWarning
        )
        yield


def _count(sdf: Any, rules: list[str], sample: float) -> list[dict[str, Any]]:
    """Splink's blocking count of `rules` in order (each rule's pairs beyond the earlier ones', and the total)."""
    with quiet_sampling():
        return [
            dict(record)
            for record in count_comparisons_from_blocking_rules(
                sdf,
                blocking_rules=rules,
                link_type="link_and_dedupe",
                unique_id_column_name="unique_id",
                source_dataset_column_name="source_dataset",
                record_sample_proportion=sample,
            )
        ]


def count_all_blocking(sdf: Any, rules: list[tuple[str, str]], sample: float) -> int:
    """Distinct pairs all rules generate together (a pair found by two rules is scored once)."""
    records = count_cumulative(sdf, rules, sample)
    return int(records[-1]["cumulative_comparison_count"]) if records else 0


def count_cumulative(sdf: Any, rules: list[tuple[str, str]], sample: float) -> list[dict[str, Any]]:
    """Splink's cumulative count of `rules` in order: per rule the pairs it adds, and the running total."""
    return _count(sdf, [sql for _, sql in rules], sample) if rules else []


# EM sessions to try, in order: (fields blocked on, SQL). Each trains every comparison it does not block on.
_EM_SESSIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("national_id",), "l.national_id = r.national_id"),
    (
        ("date_of_birth",),
        "l.date_of_birth = r.date_of_birth and l.dob_precision = 'day' and r.dob_precision = 'day'",
    ),
    # the same name in the same place first: common names are shared by strangers, and a session blocked on
    # the name alone counts their different birth dates as errors of one person's records
    (
        ("first_name", "last_name", "locality"),
        "l.first_name = r.first_name and l.last_name = r.last_name and l.locality = r.locality",
    ),
    (
        ("first_name", "last_name", "admin2"),
        "l.first_name = r.first_name and l.last_name = r.last_name and l.admin2 = r.admin2",
    ),
    (("first_name", "locality"), "l.name_sounds = r.name_sounds and l.locality = r.locality"),
    (("first_name", "last_name"), "l.first_name = r.first_name and l.last_name = r.last_name"),
    (("first_name",), "l.name_sounds = r.name_sounds"),
    (("last_name", "date_of_birth"), "l.last_name = r.last_name and l.birth_year = r.birth_year"),
    (("first_name", "date_of_birth"), "l.first_name = r.first_name and l.birth_year = r.birth_year"),
    (("postcode",), "l.postcode = r.postcode"),
    (("address",), "l.address = r.address"),
    (("phone",), "l.phone = r.phone"),
    (("locality", "first_name"), "l.locality = r.locality and left(l.first_name, 1) = left(r.first_name, 1)"),
    (("admin2", "first_name"), "l.admin2 = r.admin2 and l.first_name = r.first_name"),
    (("last_name",), "l.last_name = r.last_name"),
)


def em_sessions(fields: Fields) -> list[tuple[frozenset[str], str]]:
    """Candidate EM sessions on these fields: (the fields each blocks on, its SQL), in order of preference.

    The caller keeps those with pairs and stops once every comparison has been left free by one
    session (`trained_by`).
    """
    sessions = []
    for needs, sql in _EM_SESSIONS:
        if fields.all(*needs):
            # blocking on any name part leaves the name comparison (which reads them all) untrained
            blocked = set(needs) | (set(NAME_PARTS) if set(needs) & set(NAME_PARTS) else set())
            sessions.append((frozenset(blocked), sql))
    return sessions


def trained_by(session_fields: frozenset[str], comparison_fields: list[frozenset[str]]) -> set[int]:
    """The comparisons (by position) a session blocked on `session_fields` estimates: those it leaves free."""
    return {i for i, reads in enumerate(comparison_fields) if not (reads & session_fields)}


def estimate_recall(
    con: duckdb.DuckDBPyConnection, counts: list[BlockingCount], threshold: float
) -> list[BlockingCount]:
    """Each kept rule's recall estimated from tonight's links (scratch tables `edges` and `link_input`).

    A link found by other rules is a true pair (as far as the model can tell) whose fields did not have to
    agree on this rule's keys; the share of those this rule generates too estimates its recall. The links
    only one rule finds say what leaving it out would cost. Rules are evaluated on the linked pairs alone,
    so the estimate costs one pass over the links.
    """
    kept = [c for c in counts if c.kept]
    if len(kept) < 2:
        return counts
    flags = ", ".join(f"coalesce(({c.sql}), false)::int as hit_{i}" for i, c in enumerate(kept))
    con.execute(
        f"""
        create or replace temp table _rule_hits as
        select {flags} from edges e
        join link_input l on l.record_key = e.record_key_l
        join link_input r on r.record_key = e.record_key_r
        where e.match_probability >= {float(threshold)!r}
        """
    )
    total = " + ".join(f"hit_{i}" for i in range(len(kept)))
    aggregates = ", ".join(
        f"count(*) filter (where {total} - hit_{i} > 0), "
        f"count(*) filter (where hit_{i} = 1 and {total} > 1), "
        f"count(*) filter (where hit_{i} = 1 and {total} = 1)"
        for i in range(len(kept))
    )
    row = con.execute(f"select {aggregates} from _rule_hits").fetchall()[0]
    con.execute("drop table _rule_hits")
    estimates = {}
    for i, c in enumerate(kept):
        by_others, both, only = row[3 * i : 3 * i + 3]
        estimates[c.name] = (round(both / by_others, 4) if by_others else None, int(only))
    return [
        dataclasses.replace(c, recall_estimate=estimates[c.name][0], links_only_it_finds=estimates[c.name][1])
        if c.name in estimates
        else c
        for c in counts
    ]
