"""Social-protection schemas: households listed by several programmes, relatives everywhere.

What field workers report from social-protection registries, in three schemas of households
(`bench.linkbed.households`): relatives share the village, the household phone and the family name
(or, with patronymic names, the father's and grandfather's names), rosters list every member of a
household, births are known to the year only and written as a default day (01/01, 01/07, and
1900-01-01 for unknown), ages are heaped on 0 and 5, ids are missing for whole programmes and
mistyped elsewhere, and each programme spells and orders names its own way. A linker must link one
person across the lists and keep siblings, twins, a father and his Jr apart.

Contracts are written as a new user would from docs/contracts.md: the father's and grandfather's
given names are `father_name` and `grandfather_name` where a form has boxes for them, but the school
list's surname column, which holds the father's given name, is `last_name` (nothing tells a new user
otherwise); a second family name is `second_last_name` unless a list joins both in one column
(`last_name`); the mother's given name is `mother_name`; one name column is `full_name`.
"""

from __future__ import annotations

import random
from datetime import date
from functools import partial

from bench.linkbed.corrupt import Noise
from bench.linkbed.households import Member, age_at_least, age_between, draw_rows
from bench.linkbed.source import Row, Schema, Source, contract, id_text, phone_text, plain, written_date

_MOSTLY_ONCE = ((1, 0.94), (2, 0.06))
_SEX_12 = {"M": "1", "F": "2", None: ""}


def dob_text(r: Row, fmt: str, rng: random.Random, unknown: str = "") -> str:
    """A birth as the source writes it: a year alone as 1 January or 1 July of it, no date as `unknown`."""
    if r["birth_year"] is not None:
        return date(r["birth_year"], rng.choice((1, 7)), 1).strftime(fmt)
    return written_date(r, fmt) or unknown


def _relation(m: Member) -> str:
    if m.role == "child":
        return "SON" if m.sex == "M" else "DAUGHTER"
    if m.role == "parent":
        return "FATHER" if m.sex == "M" else "MOTHER"
    return m.role.upper()


# -- sp_patronymic: given + father + grandfather ----------------------------------------------------


def _civil_row(m: Member, r: Row, rng: random.Random) -> Row:
    return {
        "GIVEN_NAME": plain(r["given"]),
        "FATHER_NAME": plain(r["father"]),
        "GRANDFATHER_NAME": plain(r["grandfather"]),
        "SEX": plain(r["sex"]),
        "DATE_OF_BIRTH": dob_text(r, "%Y-%m-%d", rng),
        "NATIONAL_ID": plain(r["national_id"]),
        "RESIDENCE": plain(r["village"]),
        "EVENT": "BIRTH",
    }


def _mis_row(m: Member, r: Row, rng: random.Random) -> Row:
    return {
        "HH_ID": f"HH-{r['household']:05d}",
        "RELATION": _relation(m),
        "FIRST_NAME": plain(r["given"]).upper(),
        "FATHER_NAME": plain(r["father"]).upper(),
        "GRANDFATHER_NAME": plain(r["grandfather"]).upper(),
        "SEX": _SEX_12[r["sex"]],
        "DOB": dob_text(r, "%d/%m/%Y", rng, unknown="01/01/1900"),
        "HH_PHONE": phone_text(r["phone"], rng, "252"),
        "VILLAGE": plain(r["village"]).upper(),
        "NATIONAL_ID": id_text(r["national_id"], rng),
    }


def _disability_row(m: Member, r: Row, rng: random.Random) -> Row:
    names = [n for n in (r["given"], r["father"], r["grandfather"]) if n]
    if len(names) == 3 and rng.random() < 0.3:  # the caregiver stopped at the father's name
        names = names[:2]
    return {
        "Full name": " ".join(names),
        "Sex": plain(r["sex"]),
        "Date of birth": dob_text(r, "%d/%m/%Y", rng),
        "Village": plain(r["village"]),
        "Caregiver phone": phone_text(r["phone"], rng, "252"),
        "Disability": rng.choice(["Physical", "Visual", "Hearing", "Intellectual", "Multiple"]),
        "Severity": rng.choice(["Mild", "Moderate", "Severe", "Profound"]),
    }


def _school_row(m: Member, r: Row, rng: random.Random) -> Row:
    year = r["birth_year"] or (r["born"].year if r["born"] else None)
    style = rng.random()
    if year is None:
        birth = ""
    elif style < 0.45:
        birth = str(year)
    elif style < 0.8 or r["born"] is None:
        birth = f"01/01/{year}"
    else:
        birth = r["born"].strftime("%d/%m/%Y")
    return {
        "CHILD_NAME": plain(r["given"]),
        "SURNAME": plain(r["father"]),  # the father's given name, where a school form has its surname box
        "SEX": {"M": "B", "F": "G", None: ""}[r["sex"]],
        "BIRTH": birth,
        "SCHOOL_VILLAGE": plain(r["village"]),
    }


SP_PATRONYMIC = Schema(
    name="sp_patronymic",
    description="given + father's + grandfather's names, no family name: a civil registry, a cash-transfer roster, "
    "a disability registry typed by caregivers, a school-feeding list",
    locales=("en_US",),  # for nothing but Faker's seeding: the names are bench.linkbed.sp_names'
    records_per_person=_MOSTLY_ONCE,
    country={
        "name": "Linkbed patronymic country",
        "national_id": {"pattern": "^[0-9]{10}$", "check_digit": "luhn"},
        "phone": {"country_code": "252", "national_digits": 9},
    },
    draw=partial(draw_rows, convention="patronymic"),
    sources=(
        Source(
            name="civil_registry",
            prefix="CR",
            share=0.7,
            write=_civil_row,
            contract=contract(
                "civil_registry",
                "Civil registry extract: births registered, with the national id",
                "REG_NO",
                {
                    "first_name": "GIVEN_NAME",
                    "father_name": "FATHER_NAME",
                    "grandfather_name": "GRANDFATHER_NAME",
                    "sex": "SEX",
                    "date_of_birth": "DATE_OF_BIRTH",
                    "national_id": "NATIONAL_ID",
                    "locality": "RESIDENCE",
                    "event_type": "EVENT",
                },
                kind="civil_registry",
                date_formats=["%Y-%m-%d"],
                codes={"sex": {"M": "M", "F": "F"}, "event_type": {"BIRTH": "birth"}},
            ),
            noise=Noise(
                missing={"national_id": 0.05, "village": 0.05},
                name_error=0.05,
                date_error=0.02,
                id_error=0.01,
                spelling_variant=0.05,
                year_only=0.05,
            ),
        ),
        Source(
            name="cash_transfer_roster",
            prefix="CT",
            share=0.55,
            whole_household=True,
            write=_mis_row,
            contract=contract(
                "cash_transfer_roster",
                "Cash-transfer MIS: every member of each enrolled household",
                "MEMBER_ID",
                {
                    "household_id": "HH_ID",
                    "relationship_to_head": "RELATION",
                    "first_name": "FIRST_NAME",
                    "father_name": "FATHER_NAME",
                    "grandfather_name": "GRANDFATHER_NAME",
                    "sex": "SEX",
                    "date_of_birth": "DOB",
                    "phone": "HH_PHONE",
                    "locality": "VILLAGE",
                    "national_id": "NATIONAL_ID",
                },
                date_formats=["%d/%m/%Y"],
                codes={"sex": {"1": "M", "2": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.4, "born": 0.05},
                name_error=0.12,
                spelling_variant=0.2,
                date_error=0.05,
                year_only=0.35,
                age_heaping=0.5,
                id_error=0.03,
            ),
        ),
        Source(
            name="disability_registry",
            prefix="DR",
            share=0.15,
            write=_disability_row,
            encoding="cp1252",
            delimiter=";",
            contract=contract(
                "disability_registry",
                "Disability registry, typed by caregivers (Windows export, semicolon-separated)",
                "Id",
                {
                    "full_name": "Full name",
                    "sex": "Sex",
                    "date_of_birth": "Date of birth",
                    "locality": "Village",
                    "phone": "Caregiver phone",
                    "disability_type": "Disability",
                    "disability_severity": "Severity",
                },
                kind="disability_registry",
                encoding="cp1252",
                delimiter=";",
                date_formats=["%d/%m/%Y"],
                full_name_order="given_first",
                codes={
                    "sex": {"M": "M", "F": "F"},
                    "disability_severity": {
                        "Mild": "mild",
                        "Moderate": "moderate",
                        "Severe": "severe",
                        "Profound": "profound",
                    },
                },
            ),
            noise=Noise(
                missing={"sex": 0.05, "born": 0.05, "phone": 0.2},
                name_error=0.15,
                spelling_variant=0.35,
                date_error=0.25,
                year_only=0.15,
                age_heaping=0.5,
            ),
        ),
        Source(
            name="school_feeding",
            prefix="SF",
            share=0.7,
            takes=age_between(5, 17),
            write=_school_row,
            contract=contract(
                "school_feeding",
                "School-feeding list: pupils of the schools served",
                "PUPIL_ID",
                {
                    "first_name": "CHILD_NAME",
                    "last_name": "SURNAME",
                    "sex": "SEX",
                    "date_of_birth": "BIRTH",
                    "locality": "SCHOOL_VILLAGE",
                },
                date_formats=["%d/%m/%Y", "%Y"],
                codes={"sex": {"B": "M", "G": "F"}},
            ),
            noise=Noise(missing={"sex": 0.03}, name_error=0.15, spelling_variant=0.25, date_error=0.05),
        ),
    ),
)


# -- sp_two_surnames: paternal + maternal family name -------------------------------------------------

_SEXO_HM = {"M": "H", "F": "M", None: ""}  # hombre / mujer: an M is a woman here


def _surnames(r: Row, rng: random.Random, drop: float, swap: float) -> tuple[str, str]:
    """(first, second) family name as a clerk keeps them: the second dropped, or the two exchanged."""
    first, second = plain(r["surname"]), plain(r["second_surname"])
    if rng.random() < drop:
        second = ""
    elif rng.random() < swap:
        first, second = second, first
    return first, second


def _pension_row(m: Member, r: Row, rng: random.Random) -> Row:
    first, second = _surnames(r, rng, drop=0.15, swap=0.03)
    return {
        "NOMBRE": plain(r["given"]),
        "APELLIDO_PATERNO": first,
        "APELLIDO_MATERNO": second,
        "SEXO": _SEXO_HM[r["sex"]],
        "FECHA_NAC": dob_text(r, "%d/%m/%Y", rng),
        "CEDULA": id_text(r["national_id"], rng),
        "MUNICIPIO": plain(r["village"]),
        "TELEFONO": phone_text(r["phone"], rng, "52"),
    }


def _child_grant_row(m: Member, r: Row, rng: random.Random) -> Row:
    first, second = _surnames(r, rng, drop=0.2, swap=0.08)
    given = plain(r["given"])
    if " " in given and rng.random() < 0.3:  # only the first of two given names
        given = given.split()[0]
    return {
        "NOMBRE_MENOR": given,
        "APELLIDOS": f"{first} {second}".strip(),
        "FECHA_NACIMIENTO": dob_text(r, "%Y-%m-%d", rng),
        "SEXO": _SEXO_HM[r["sex"]],
        "NOMBRE_MADRE": plain(r["mother"]),
        "DOC_MENOR": plain(r["national_id"]),
        "LOCALIDAD": plain(r["village"]),
    }


def _social_registry_row(m: Member, r: Row, rng: random.Random) -> Row:
    first, second = _surnames(r, rng, drop=0.05, swap=0.05)
    return {
        "FOLIO_HOGAR": f"{r['household']:07d}",
        "PARENTESCO": {"HEAD": "JEFE", "SPOUSE": "CONYUGE", "SON": "HIJO", "DAUGHTER": "HIJA"}.get(
            _relation(m), "PADRE/MADRE"
        ),
        "NOMBRES": plain(r["given"]).upper(),
        "PRIMER_APELLIDO": first.upper(),
        "SEGUNDO_APELLIDO": second.upper(),
        "SEXO": _SEX_12[r["sex"]],
        "FECHA_NACIMIENTO": dob_text(r, "%d/%m/%Y", rng),
        "DOCUMENTO": id_text(r["national_id"], rng),
        "TELEFONO": phone_text(r["phone"], rng, "52"),
        "LOCALIDAD": plain(r["village"]).upper(),
    }


_SPANISH_ID = {
    "name": "Linkbed two-surname country",
    "national_id": {"pattern": "^[0-9]{10}$", "check_digit": "luhn"},
}

SP_TWO_SURNAMES = Schema(
    name="sp_two_surnames",
    description="Hispanic names (given names, paternal + maternal family name): a pension payroll, a child grant "
    "with the mother's name, a social-registry household roster",
    locales=("es_MX",),
    records_per_person=_MOSTLY_ONCE,
    country=_SPANISH_ID | {"phone": {"country_code": "52", "national_digits": 9}},
    draw=partial(draw_rows, convention="two_surnames"),
    sources=(
        Source(
            name="pension_payroll",
            prefix="PP",
            share=0.9,
            takes=age_at_least(60),
            write=_pension_row,
            contract=contract(
                "pension_payroll",
                "Non-contributory pension payroll (people of 60 and over)",
                "FOLIO",
                {
                    "first_name": "NOMBRE",
                    "last_name": "APELLIDO_PATERNO",
                    "second_last_name": "APELLIDO_MATERNO",
                    "sex": "SEXO",
                    "date_of_birth": "FECHA_NAC",
                    "national_id": "CEDULA",
                    "locality": "MUNICIPIO",
                    "phone": "TELEFONO",
                },
                date_formats=["%d/%m/%Y"],
                codes={"sex": {"H": "M", "M": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.1, "phone": 0.3}, name_error=0.12, id_error=0.06, date_error=0.06
            ),
        ),
        Source(
            name="child_grant",
            prefix="CG",
            share=0.85,
            takes=age_between(0, 17),
            write=_child_grant_row,
            contract=contract(
                "child_grant",
                "Child grant: children enrolled, with their mother's name",
                "ID_BENEFICIARIO",
                {
                    "first_name": "NOMBRE_MENOR",
                    "last_name": "APELLIDOS",
                    "date_of_birth": "FECHA_NACIMIENTO",
                    "sex": "SEXO",
                    "national_id": "DOC_MENOR",
                    "mother_name": "NOMBRE_MADRE",
                    "locality": "LOCALIDAD",
                },
                date_formats=["%Y-%m-%d"],
                codes={"sex": {"H": "M", "M": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.5, "mother": 0.05}, name_error=0.15, id_error=0.05, date_error=0.08
            ),
        ),
        Source(
            name="social_registry",
            prefix="SR",
            share=0.5,
            whole_household=True,
            write=_social_registry_row,
            contract=contract(
                "social_registry",
                "Social registry: every member of each household interviewed",
                "ID_PERSONA",
                {
                    "household_id": "FOLIO_HOGAR",
                    "relationship_to_head": "PARENTESCO",
                    "first_name": "NOMBRES",
                    "last_name": "PRIMER_APELLIDO",
                    "second_last_name": "SEGUNDO_APELLIDO",
                    "sex": "SEXO",
                    "date_of_birth": "FECHA_NACIMIENTO",
                    "national_id": "DOCUMENTO",
                    "phone": "TELEFONO",
                    "locality": "LOCALIDAD",
                },
                date_formats=["%d/%m/%Y"],
                codes={"sex": {"1": "M", "2": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.3, "born": 0.03},
                name_error=0.12,
                id_error=0.05,
                date_error=0.05,
                year_only=0.2,
                age_heaping=0.4,
            ),
        ),
    ),
)


# -- sp_household_roster: given + family name, nicknames, Jr ------------------------------------------


def _with_suffix(r: Row, rng: random.Random) -> tuple[str, str]:
    """(given, family): a Jr after the family name, after the given name, or left out."""
    given, family = plain(r["given"]), plain(r["surname"])
    if r["suffix"]:
        where = rng.random()
        if where < 0.4 and family:
            family = f"{family} Jr"
        elif where < 0.65 and given:
            given = f"{given} Jr."
    return given, family


def _roster_row(m: Member, r: Row, rng: random.Random) -> Row:
    given, family = _with_suffix(r, rng)
    return {
        "hh_id": f"{r['household']:06d}",
        "relation": _relation(m).lower(),
        "first_name": given,
        "last_name": family,
        "sex": plain(r["sex"]),
        "dob": dob_text(r, "%m/%d/%Y", rng),
        "national_id": id_text(r["national_id"], rng),
        "phone": phone_text(r["phone"], rng, "1"),
        "address": plain(r["address"]),
        "town": plain(r["village"]),
    }


def _health_row(m: Member, r: Row, rng: random.Random) -> Row:
    given, family = _with_suffix(r, rng)
    return {
        "First": given,
        "Last": family,
        "DOB": dob_text(r, "%Y-%m-%d", rng),
        "Gender": {"M": "Male", "F": "Female", None: ""}[r["sex"]],
        "ID": plain(r["national_id"]),
        "Phone": phone_text(r["phone"], rng, "1"),
        "Street address": plain(r["address"]),
        "City": plain(r["village"]),
    }


def _elderly_row(m: Member, r: Row, rng: random.Random) -> Row:
    given, family = _with_suffix(r, rng)
    return {
        "FIRST_NAME": given.upper(),
        "LAST_NAME": family.upper(),
        "BIRTH_DATE": dob_text(r, "%d-%b-%Y", rng),
        "NATIONAL_ID": id_text(r["national_id"], rng),
        "TOWN": plain(r["village"]),
        "PHONE": phone_text(r["phone"], rng, "1"),
    }


def _columns(**mapping: str) -> dict[str, str]:
    return mapping


SP_HOUSEHOLD_ROSTER = Schema(
    name="sp_household_roster",
    description="given + family name shared by the household: a household roster, a health subsidy "
    "without ids for 40%, an elderly allowance; twins, Jr, nicknames, year-only births",
    locales=("en_US",),
    records_per_person=_MOSTLY_ONCE,
    country={
        "name": "Linkbed roster country",
        "national_id": {"pattern": "^[0-9]{10}$", "check_digit": "luhn"},
        "phone": {"country_code": "1", "national_digits": 9},
    },
    draw=partial(draw_rows, convention="western"),
    sources=(
        Source(
            name="household_roster",
            prefix="HR",
            share=0.65,
            whole_household=True,
            write=_roster_row,
            contract=contract(
                "household_roster",
                "Household roster of the social registry: every member of each household",
                "member_id",
                _columns(
                    household_id="hh_id",
                    relationship_to_head="relation",
                    first_name="first_name",
                    last_name="last_name",
                    sex="sex",
                    date_of_birth="dob",
                    national_id="national_id",
                    phone="phone",
                    address_line="address",
                    locality="town",
                ),
                date_formats=["%m/%d/%Y"],
                codes={"sex": {"M": "M", "F": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.15, "phone": 0.05},
                name_error=0.1,
                nickname=0.05,
                date_error=0.05,
                year_only=0.15,
                age_heaping=0.4,
                id_error=0.03,
            ),
        ),
        Source(
            name="health_subsidy",
            prefix="HS",
            share=0.55,
            write=_health_row,
            contract=contract(
                "health_subsidy",
                "Subsidised health cover: members",
                "Member",
                _columns(
                    first_name="First",
                    last_name="Last",
                    date_of_birth="DOB",
                    sex="Gender",
                    national_id="ID",
                    phone="Phone",
                    address_line="Street address",
                    locality="City",
                ),
                date_formats=["%Y-%m-%d"],
                codes={"sex": {"Male": "M", "Female": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.4, "phone": 0.2, "address": 0.1},
                name_error=0.15,
                nickname=0.15,
                date_error=0.08,
                id_error=0.08,
            ),
        ),
        Source(
            name="elderly_allowance",
            prefix="EA",
            share=0.8,
            takes=age_at_least(60),
            write=_elderly_row,
            contract=contract(
                "elderly_allowance",
                "Elderly allowance claimants",
                "CLAIMANT_ID",
                _columns(
                    first_name="FIRST_NAME",
                    last_name="LAST_NAME",
                    date_of_birth="BIRTH_DATE",
                    national_id="NATIONAL_ID",
                    locality="TOWN",
                    phone="PHONE",
                ),
                date_formats=["%d-%b-%Y"],
            ),
            noise=Noise(
                missing={"national_id": 0.1, "phone": 0.3}, name_error=0.1, nickname=0.1, id_error=0.06
            ),
        ),
    ),
)

SP_SCHEMAS: dict[str, Schema] = {s.name: s for s in (SP_PATRONYMIC, SP_TWO_SURNAMES, SP_HOUSEHOLD_ROSTER)}
