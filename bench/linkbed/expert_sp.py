"""Plain Splink 5 models for the social-protection schemas (bench/linkbed/sp.py), as an expert writes them.

What a competent Splink user writes for these files in an afternoon, having looked at them: names
cleaned (accents off with anyascii, lower case, spaces out of "Abdul Rahman"), the patronymic chain
kept as three name fields (given, father, grandfather; a single name column split on spaces, the
school list's surname column read as the father's name it holds), the two Hispanic surnames kept
apart (a joined column split in two, a level for the two exchanged), a "Jr" taken off the names,
dates parsed with each file's format, 01/01/1900 read as unknown and a birth on 1 January or 1 July
read as known to the year only (these lists fill an unknown day with those), ids and phones to digits.
Each name compared with `NameComparison` (or `ForenameSurnameComparison`) and term frequencies, the
date with swap and year levels, id with Damerau-Levenshtein levels, phone and village with term
frequencies (relatives share them); several blocking rules; u by random sampling, the prior from
deterministic rules, m by EM on three rules; predict and cluster at 0.9 (`expert.run_expert`).

Nothing here reads the truth or was tuned on scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import block_on

from bench.linkbed.expert import (
    ExpertModel,
    _dates,
    _digits,
    _name,
    _read,
    _standard,
    _with_derived,
    address_comparison,
    dob_comparison,
    id_comparison,
    names_comparison,
)


def _births(values: pl.Series, fmt: str) -> dict[str, pl.Series]:
    """dob and birth_year; 1900-01-01 is unknown, and 1 January or 1 July a year with a default day."""
    dob, year = _dates(values, fmt)
    unknown = dob == "1900-01-01"
    default_day = dob.str.ends_with("-01-01") | dob.str.ends_with("-07-01")
    year = pl.Series([None if u else y for u, y in zip(unknown, year, strict=True)], dtype=pl.Int32)
    dob = pl.Series([None if d else v for d, v in zip(default_day, dob, strict=True)], dtype=pl.String)
    return {"dob": dob, "birth_year": year}


def _names(values: pl.Series) -> pl.Series:
    return pl.Series([_name(v) for v in values.to_list()], dtype=pl.String)


def _sex(values: pl.Series, codes: dict[str, str]) -> pl.Series:
    return values.replace_strict(codes, default=None)


def _token(values: pl.Series, k: int) -> pl.Series:
    """The k-th word of a name column (0-based), folded; None when there is none."""
    return _names(values.str.split(" ").list.get(k, null_on_oob=True))


# -- sp_patronymic -------------------------------------------------------------------------------

_PATRONYMIC = [
    "given",
    "father",
    "grandfather",
    "sex",
    "dob",
    "birth_year",
    "national_id",
    "phone",
    "village",
]


def _prepare_patronymic(home: Path) -> pl.DataFrame:
    parts = []
    civil = _read(home, "civil_registry")
    parts.append(
        _standard(civil, "civil_registry", "REG_NO", {"village": "RESIDENCE"}).with_columns(
            given=_names(civil["GIVEN_NAME"]),
            father=_names(civil["FATHER_NAME"]),
            grandfather=_names(civil["GRANDFATHER_NAME"]),
            sex=_sex(civil["SEX"], {"M": "m", "F": "f"}),
            national_id=_digits(civil["NATIONAL_ID"]),
            phone=pl.lit(None, pl.String),
            **_births(civil["DATE_OF_BIRTH"], "%Y-%m-%d"),
        )
    )
    mis = _read(home, "cash_transfer_roster")
    parts.append(
        _standard(mis, "cash_transfer_roster", "MEMBER_ID", {"village": "VILLAGE"}).with_columns(
            given=_names(mis["FIRST_NAME"]),
            father=_names(mis["FATHER_NAME"]),
            grandfather=_names(mis["GRANDFATHER_NAME"]),
            sex=_sex(mis["SEX"], {"1": "m", "2": "f"}),
            national_id=_digits(mis["NATIONAL_ID"]),
            phone=_digits(mis["HH_PHONE"], 9),
            **_births(mis["DOB"], "%d/%m/%Y"),
        )
    )
    dis = _read(home, "disability_registry", ";", "cp1252")
    parts.append(
        _standard(dis, "disability_registry", "Id", {"village": "Village"}).with_columns(
            given=_token(dis["Full name"], 0),
            father=_token(dis["Full name"], 1),
            grandfather=_token(dis["Full name"], 2),
            sex=_sex(dis["Sex"], {"M": "m", "F": "f"}),
            national_id=pl.lit(None, pl.String),
            phone=_digits(dis["Caregiver phone"], 9),
            **_births(dis["Date of birth"], "%d/%m/%Y"),
        )
    )
    school = _read(home, "school_feeding")
    parts.append(
        _standard(school, "school_feeding", "PUPIL_ID", {"village": "SCHOOL_VILLAGE"}).with_columns(
            given=_names(school["CHILD_NAME"]),
            father=_names(school["SURNAME"]),  # the father's given name, in the surname column
            grandfather=pl.lit(None, pl.String),
            sex=_sex(school["SEX"], {"B": "m", "G": "f"}),
            national_id=pl.lit(None, pl.String),
            phone=pl.lit(None, pl.String),
            **_births(school["BIRTH"], "%d/%m/%Y"),
        )
    )
    columns = ["unique_id", "source_dataset", *_PATRONYMIC]
    return pl.concat([p.select(columns) for p in parts]).with_columns(g1=pl.col("given").str.slice(0, 1))


def _name_tf(col: str) -> Any:
    return cl.NameComparison(col).configure(term_frequency_adjustments=True)


def _shared(col: str) -> Any:
    """A value relatives share (household phone, village): exact, with term frequencies."""
    return cl.ExactMatch(col).configure(term_frequency_adjustments=True)


PATRONYMIC = ExpertModel(
    prepare=_prepare_patronymic,
    comparisons=lambda: [
        _name_tf("given"),
        _name_tf("father"),
        _name_tf("grandfather"),
        dob_comparison(),
        id_comparison("national_id"),
        cl.ExactMatch("sex"),
        _shared("phone"),
        _shared("village"),
    ],
    blocking=[
        block_on("national_id"),
        block_on("given", "father"),
        block_on("given", "grandfather"),
        block_on("given", "dob"),
        block_on("father", "grandfather", "birth_year"),
        block_on("phone", "g1"),
        block_on("village", "birth_year", "g1"),
    ],
    deterministic=[block_on("national_id", "given"), block_on("given", "father", "grandfather", "dob")],
    em_rules=[block_on("dob"), block_on("given", "father"), block_on("national_id")],
    link_type="link_and_dedupe",
)


# -- sp_two_surnames ------------------------------------------------------------------------------

_HISPANIC = [
    "first_name",
    "surname",
    "surname_2",
    "sex",
    "dob",
    "birth_year",
    "national_id",
    "phone",
    "locality",
]


def _prepare_two_surnames(home: Path) -> pl.DataFrame:
    parts = []
    pension = _read(home, "pension_payroll")
    parts.append(
        _standard(pension, "pension_payroll", "FOLIO", {"locality": "MUNICIPIO"}).with_columns(
            first_name=_token(pension["NOMBRE"], 0),
            surname=_names(pension["APELLIDO_PATERNO"]),
            surname_2=_names(pension["APELLIDO_MATERNO"]),
            sex=_sex(pension["SEXO"], {"H": "m", "M": "f"}),
            national_id=_digits(pension["CEDULA"]),
            phone=_digits(pension["TELEFONO"], 9),
            **_births(pension["FECHA_NAC"], "%d/%m/%Y"),
        )
    )
    grant = _read(home, "child_grant")
    parts.append(
        _standard(grant, "child_grant", "ID_BENEFICIARIO", {"locality": "LOCALIDAD"}).with_columns(
            first_name=_token(grant["NOMBRE_MENOR"], 0),
            surname=_token(grant["APELLIDOS"], 0),
            surname_2=_token(grant["APELLIDOS"], 1),
            sex=_sex(grant["SEXO"], {"H": "m", "M": "f"}),
            national_id=_digits(grant["DOC_MENOR"]),
            phone=pl.lit(None, pl.String),
            **_births(grant["FECHA_NACIMIENTO"], "%Y-%m-%d"),
        )
    )
    registry = _read(home, "social_registry")
    parts.append(
        _standard(registry, "social_registry", "ID_PERSONA", {"locality": "LOCALIDAD"}).with_columns(
            first_name=_token(registry["NOMBRES"], 0),
            surname=_names(registry["PRIMER_APELLIDO"]),
            surname_2=_names(registry["SEGUNDO_APELLIDO"]),
            sex=_sex(registry["SEXO"], {"1": "m", "2": "f"}),
            national_id=_digits(registry["DOCUMENTO"]),
            phone=_digits(registry["TELEFONO"], 9),
            **_births(registry["FECHA_NACIMIENTO"], "%d/%m/%Y"),
        )
    )
    columns = ["unique_id", "source_dataset", *_HISPANIC]
    return _with_derived(pl.concat([p.select(columns) for p in parts]))


def second_surname_comparison() -> Any:
    """The maternal surname: exact, close, or the two surnames written the other way round."""
    return cl.CustomComparison(
        output_column_name="surname_2",
        comparison_levels=[
            cll.NullLevel("surname_2"),
            cll.ExactMatchLevel("surname_2").configure(tf_adjustment_column="surname_2"),
            cll.JaroWinklerLevel("surname_2", 0.9),
            cll.CustomLevel("surname_2_l = surname_r or surname_l = surname_2_r", "surnames exchanged"),
            cll.ElseLevel(),
        ],
    )


TWO_SURNAMES = ExpertModel(
    prepare=_prepare_two_surnames,
    comparisons=lambda: [
        names_comparison(),
        second_surname_comparison(),
        dob_comparison(),
        id_comparison("national_id"),
        cl.ExactMatch("sex"),
        _shared("phone"),
        cl.JaroWinklerAtThresholds("locality", [0.9]).configure(term_frequency_adjustments=True),
    ],
    blocking=[
        block_on("national_id"),
        block_on("first_name", "surname"),
        block_on("surname", "surname_2", "birth_year"),
        block_on("first_name", "dob"),
        block_on("surname", "dob"),
        block_on("phone", "fn2"),
        block_on("fn2", "sn3", "birth_year"),
    ],
    deterministic=[
        block_on("national_id", "surname"),
        block_on("first_name", "surname", "surname_2", "dob"),
    ],
    em_rules=[block_on("dob"), block_on("first_name", "surname"), block_on("national_id")],
    link_type="link_and_dedupe",
)


# -- sp_household_roster --------------------------------------------------------------------------

_WESTERN = [
    "first_name",
    "surname",
    "sex",
    "dob",
    "birth_year",
    "national_id",
    "phone",
    "address",
    "locality",
]


def _no_jr(values: pl.Series) -> pl.Series:
    """The name without a Jr (written after the given name or the family name)."""
    return _names(values.str.replace(r"(?i)\s+jr\.?$", ""))


def _prepare_household_roster(home: Path) -> pl.DataFrame:
    parts = []
    roster = _read(home, "household_roster")
    parts.append(
        _standard(
            roster, "household_roster", "member_id", {"address": "address", "locality": "town"}
        ).with_columns(
            first_name=_no_jr(roster["first_name"]),
            surname=_no_jr(roster["last_name"]),
            sex=_sex(roster["sex"], {"M": "m", "F": "f"}),
            national_id=_digits(roster["national_id"]),
            phone=_digits(roster["phone"], 9),
            **_births(roster["dob"], "%m/%d/%Y"),
        )
    )
    health = _read(home, "health_subsidy")
    parts.append(
        _standard(
            health, "health_subsidy", "Member", {"address": "Street address", "locality": "City"}
        ).with_columns(
            first_name=_no_jr(health["First"]),
            surname=_no_jr(health["Last"]),
            sex=_sex(health["Gender"], {"Male": "m", "Female": "f"}),
            national_id=_digits(health["ID"]),
            phone=_digits(health["Phone"], 9),
            **_births(health["DOB"], "%Y-%m-%d"),
        )
    )
    elderly = _read(home, "elderly_allowance")
    parts.append(
        _standard(elderly, "elderly_allowance", "CLAIMANT_ID", {"locality": "TOWN"}).with_columns(
            first_name=_no_jr(elderly["FIRST_NAME"]),
            surname=_no_jr(elderly["LAST_NAME"]),
            sex=pl.lit(None, pl.String),
            address=pl.lit(None, pl.String),
            national_id=_digits(elderly["NATIONAL_ID"]),
            phone=_digits(elderly["PHONE"], 9),
            **_births(elderly["BIRTH_DATE"], "%d-%b-%Y"),
        )
    )
    columns = ["unique_id", "source_dataset", *_WESTERN]
    return _with_derived(pl.concat([p.select(columns) for p in parts]))


HOUSEHOLD_ROSTER = ExpertModel(
    prepare=_prepare_household_roster,
    comparisons=lambda: [
        names_comparison(),
        dob_comparison(),
        id_comparison("national_id"),
        cl.ExactMatch("sex"),
        _shared("phone"),
        address_comparison(),
        cl.JaroWinklerAtThresholds("locality", [0.9]).configure(term_frequency_adjustments=True),
    ],
    blocking=[
        block_on("national_id"),
        block_on("first_name", "surname"),
        block_on("surname", "dob"),
        block_on("first_name", "dob"),
        block_on("phone", "fn2"),
        block_on("address", "fn2"),
        block_on("fn2", "sn3", "birth_year"),
    ],
    deterministic=[block_on("national_id", "surname"), block_on("first_name", "surname", "dob")],
    em_rules=[block_on("dob"), block_on("first_name", "surname"), block_on("national_id")],
    link_type="link_and_dedupe",
)

SP_MODELS: dict[str, ExpertModel] = {
    "sp_patronymic": PATRONYMIC,
    "sp_two_surnames": TWO_SURNAMES,
    "sp_household_roster": HOUSEHOLD_ROSTER,
}
