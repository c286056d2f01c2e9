"""The blocking rules a night may use, by name: the candidates for the fields an input fills, and the keys a rule
over its share of the budget is tightened with (`matching.blocking` counts and chooses among them).

A rule is (name, SQL) over the link input's columns, `l.` and `r.` the two records of a pair; a tightened rule's
name is the rule's and its keys' joined by " & " and its SQL theirs joined by "and", so that a saved model's
rules are rebuilt from their names alone (`rule_sql`).
"""

from __future__ import annotations

from collections.abc import Mapping

from matching.dialect import DUCKDB, Dialect
from matching.fields import Fields

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
    # one village, one sex: a name written another way (another transliteration, order or chain length) and a
    # birth known only roughly, where nothing else agrees exactly. Where villages are big the budget tightens
    # it (a year of birth, an initial)
    ("locality+sex", ("locality", "sex"), "l.locality = r.locality and l.sex = r.sex"),
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
