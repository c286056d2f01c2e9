"""The Splink comparisons, one per field group the input fills, as hand-written levels in the backend's dialect.

Names are compared as social-protection registries write them (a given name apart from the family's names,
which are weighed together with where the person lives: the evidence a household shares), dates as they are
known (to the day, or the year alone), ids with their typos, and each contract's extra fields as its contract
says (matching.fields decides which fields take part).
"""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl

from matching.dialect import DUCKDB, Dialect
from matching.fields import EXTRA_COMPARES, NAME_PARTS, SHAREABLE, Fields


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
