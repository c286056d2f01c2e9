"""The test bed's schemas: each writes a complete IBR home, as a new user would build it.

A home holds `sources/<name>.yaml` (contracts written from docs/contracts.md alone),
`drops/<name>/<DROP_DATE>/<name>.csv`, a `country.yaml` where the data has national ids or
phones, and `truth/records.parquet` (source, source_record_id, true_person_id), the file the
pipeline's own evaluation reads. The house number is mapped to `street_number` where a source
keeps it apart, and birth place and occupation are `extra_fields`; a source with one address
column keeps the number inside it.

    from bench.linkbed.schemas import SCHEMAS, write_home
    info = write_home("dedupe_no_sex_no_id", Path("/tmp/bed"), records=2000, seed=7)
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
import yaml

from bench.linkbed.corrupt import Noise
from bench.linkbed.people import (
    LATIN_LOCALES,
    NON_LATIN_LOCALES,
    Person,
    draw_people,
    household_move,
    observe,
)
from bench.linkbed.source import (
    DROP_DATE,
    DrawnRows,
    Row,
    Schema,
    Source,
    contract,
    id_text,
    phone_text,
    plain,
    written_date,
)
from bench.linkbed.sp import SP_SCHEMAS

__all__ = ["DROP_DATE", "SCHEMAS", "SP_SCHEMAS", "HomeInfo", "generate", "variant", "write_home"]

# a night builds the registry from programme rules; these lists feed no programme, so the rules file
# holds one programme nobody is paid by (without the file the night stops at registry_tables)
PROGRAMMES_YAML = """programmes:
  - programme_id: social_assistance
    name: Social assistance (none of the test bed's sources pays it)
    ministry: Ministry of Social Protection
    benefit_type: cash
    benefit_value_monthly: 100
    eligibility: "not is_deceased"
"""


@dataclass(frozen=True)
class HomeInfo:
    schema: str
    home: Path
    people: int
    records: dict[str, int]
    true_pairs: int


# -- how sources write values ---------------------------------------------------------------------


def _address(person: Person, record: Row) -> str:
    """House number before the street (en, fr) or after it (de, es), as each country writes it."""
    street, number = record["street"], record["house_number"]
    if street is None:
        return ""
    if number is None:
        return street
    return f"{street} {number}" if person.locale in ("de_DE", "es_ES") else f"{number} {street}"


# -- the schemas ----------------------------------------------------------------------------------

_DUPES = ((1, 0.5), (2, 0.28), (3, 0.13), (4, 0.06), (5, 0.03))
_HEAVY = (
    (1, 0.12),
    (2, 0.12),
    (3, 0.14),
    (4, 0.14),
    (5, 0.12),
    (6, 0.1),
    (7, 0.08),
    (8, 0.06),
    (10, 0.06),
    (12, 0.06),
)
_SINGLE = ((1, 0.95), (2, 0.05))


def _dedupe_row(p: Person, r: Row, rng: random.Random) -> Row:
    return {
        "given_name": plain(r["given"]),
        "family_name": plain(r["surname"]),
        "dob": written_date(r, "%d/%m/%Y"),
        "address": _address(p, r),
        "town": plain(r["locality"]),
        "postcode": plain(r["postcode"]),
    }


DEDUPE_NO_SEX_NO_ID = Schema(
    name="dedupe_no_sex_no_id",
    description="one household survey with duplicates inside it: names, date of birth, address; no sex, no id",
    locales=LATIN_LOCALES,
    records_per_person=_DUPES,
    sources=(
        Source(
            name="household_survey",
            prefix="HS",
            share=1.0,
            write=_dedupe_row,
            contract=contract(
                "household_survey",
                "Household survey listing: one row per interview, people interviewed more than once appear again",
                "row_id",
                {
                    "first_name": "given_name",
                    "last_name": "family_name",
                    "date_of_birth": "dob",
                    "address_line": "address",
                    "locality": "town",
                    "postcode": "postcode",
                },
                date_formats=["%d/%m/%Y", "%Y"],
            ),
            noise=Noise(
                missing={"given": 0.03, "born": 0.08, "street": 0.1, "postcode": 0.1, "locality": 0.05}
            ),
            moved_share=0.1,
        ),
    ),
)


def _pension_row(p: Person, r: Row, rng: random.Random) -> Row:
    return {
        "first_name": plain(r["given"]),
        "middle_name": plain(r["middle"]),
        "surname": plain(r["surname"]),
        "sex": plain(r["sex"]),
        "birth_date": written_date(r, "%Y-%m-%d"),
        "national_no": id_text(r["national_id"], rng),
        "district": plain(r["locality"]),
    }


def _health_row(p: Person, r: Row, rng: random.Random) -> Row:
    return {
        "GIVEN": plain(r["given"]).upper(),
        "SURNAME": plain(r["surname"]).upper(),
        "GENDER": {"M": "1", "F": "2", None: ""}[r["sex"]],
        "DOB": written_date(r, "%d.%m.%Y"),
        "ID_NUMBER": id_text(r["national_id"], rng),
        "TOWN": plain(r["locality"]),
        "POSTCODE": plain(r["postcode"]),
    }


TWO_SOURCES_PARTIAL_IDS = Schema(
    name="two_sources_partial_ids",
    description="a pension roll and a health-cover list of the same people; a national id in part of the rows, some typo'd",
    locales=LATIN_LOCALES,
    records_per_person=_SINGLE,
    country={
        "name": "Linkbed test country",
        "national_id": {"pattern": "^[0-9]{10}$", "check_digit": "luhn"},
    },
    sources=(
        Source(
            name="pension_roll",
            prefix="PR",
            share=0.85,
            write=_pension_row,
            contract=contract(
                "pension_roll",
                "Pension roll: one row per pensioner",
                "pension_id",
                {
                    "first_name": "first_name",
                    "middle_name": "middle_name",
                    "last_name": "surname",
                    "sex": "sex",
                    "date_of_birth": "birth_date",
                    "national_id": "national_no",
                    "locality": "district",
                },
                date_formats=["%Y-%m-%d", "%Y"],
                codes={"sex": {"M": "M", "F": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.4, "middle": 0.3, "locality": 0.05, "born": 0.02}, id_error=0.05
            ),
        ),
        Source(
            name="health_cover",
            prefix="HC",
            share=0.85,
            write=_health_row,
            contract=contract(
                "health_cover",
                "Health insurance cover list (export of the insurer's system, semicolon-separated)",
                "MEMBER_NO",
                {
                    "first_name": "GIVEN",
                    "last_name": "SURNAME",
                    "sex": "GENDER",
                    "date_of_birth": "DOB",
                    "national_id": "ID_NUMBER",
                    "locality": "TOWN",
                    "postcode": "POSTCODE",
                },
                delimiter=";",
                date_formats=["%d.%m.%Y", "%Y"],
                codes={"sex": {"1": "M", "2": "F"}},
            ),
            noise=Noise(
                missing={"national_id": 0.6, "sex": 0.05, "born": 0.03, "postcode": 0.1}, id_error=0.05
            ),
            delimiter=";",
            moved_share=0.15,
        ),
    ),
)


def _housing_row(p: Person, r: Row, rng: random.Random) -> Row:
    return {
        "forename": plain(r["given"]),
        "surname": plain(r["surname"]),
        "date_of_birth": written_date(r, "%Y-%m-%d"),
        "house_no": plain(r["house_number"]),
        "street": plain(r["street"]),
        "postcode": plain(r["postcode"]),
        "town": plain(r["locality"]),
        "phone": phone_text(r["phone"], rng),
    }


def _utility_row(p: Person, r: Row, rng: random.Random) -> Row:
    return {
        "customer_name_first": plain(r["given"]),
        "customer_name_last": plain(r["surname"]),
        "birth": written_date(r, "%m/%d/%Y"),
        "address1": _address(p, r),
        "zip": plain(r["postcode"]),
        "city": plain(r["locality"]),
        "tel": phone_text(r["phone"], rng),
    }


ADDRESS_HEAVY = Schema(
    name="address_heavy",
    description="a housing-benefit list and a utility-support list: names, street, house number, postcode, phone; date of birth often missing",
    locales=LATIN_LOCALES,
    records_per_person=((1, 0.9), (2, 0.1)),
    country={"name": "Linkbed test country", "phone": {"country_code": "44", "national_digits": 10}},
    sources=(
        Source(
            name="housing_benefit",
            prefix="HB",
            share=0.8,
            write=_housing_row,
            contract=contract(
                "housing_benefit",
                "Housing benefit claimants",
                "claim_ref",
                {
                    "first_name": "forename",
                    "last_name": "surname",
                    "date_of_birth": "date_of_birth",
                    "street_number": "house_no",
                    "address_line": "street",
                    "postcode": "postcode",
                    "locality": "town",
                    "phone": "phone",
                },
                date_formats=["%Y-%m-%d", "%Y"],
            ),
            noise=Noise(missing={"born": 0.6, "phone": 0.2, "house_number": 0.05, "postcode": 0.05}),
        ),
        Source(
            name="utility_support",
            prefix="US",
            share=0.8,
            write=_utility_row,
            contract=contract(
                "utility_support",
                "Utility bill support: customer accounts",
                "account",
                {
                    "first_name": "customer_name_first",
                    "last_name": "customer_name_last",
                    "date_of_birth": "birth",
                    "address_line": "address1",
                    "postcode": "zip",
                    "locality": "city",
                    "phone": "tel",
                },
                date_formats=["%m/%d/%Y", "%Y"],
            ),
            noise=Noise(missing={"born": 0.4, "phone": 0.3, "postcode": 0.05}),
        ),
    ),
)


def _native_row(p: Person, r: Row, rng: random.Random) -> Row:
    return {
        "given_name": plain(r["given"]),
        "family_name": plain(r["surname"]),
        "sex": plain(r["sex"]),
        "date_of_birth": written_date(r, "%Y-%m-%d"),
        "settlement": plain(r["locality"]),
    }


def _latin_row(p: Person, r: Row, rng: random.Random) -> Row:
    return {
        "FirstName": plain(r["given"]),
        "LastName": plain(r["surname"]),
        "Gender": {"M": "Male", "F": "Female", None: ""}[r["sex"]],
        "BirthDate": written_date(r, "%d/%m/%Y"),
        "City": plain(r["locality"]),
    }


NON_LATIN = Schema(
    name="non_latin",
    description="a civil register in the people's own scripts and an aid programme that romanises most names",
    locales=NON_LATIN_LOCALES,
    records_per_person=((1, 0.85), (2, 0.15)),
    sources=(
        Source(
            name="civil_register",
            prefix="CR",
            share=0.85,
            write=_native_row,
            contract=contract(
                "civil_register",
                "Civil register extract, names in their own script",
                "reg_id",
                {
                    "first_name": "given_name",
                    "last_name": "family_name",
                    "sex": "sex",
                    "date_of_birth": "date_of_birth",
                    "locality": "settlement",
                },
                date_formats=["%Y-%m-%d", "%Y"],
                codes={"sex": {"M": "M", "F": "F"}},
            ),
            noise=Noise(missing={"born": 0.03, "locality": 0.05}),
        ),
        Source(
            name="aid_programme",
            prefix="AP",
            share=0.85,
            write=_latin_row,
            contract=contract(
                "aid_programme",
                "Aid programme beneficiaries; most names typed in Latin letters",
                "beneficiary",
                {
                    "first_name": "FirstName",
                    "last_name": "LastName",
                    "sex": "Gender",
                    "date_of_birth": "BirthDate",
                    "locality": "City",
                },
                date_formats=["%d/%m/%Y", "%Y"],
                codes={"sex": {"Male": "M", "Female": "F"}},
            ),
            noise=Noise(missing={"born": 0.05, "sex": 0.03, "locality": 0.1}),
            latin_share=0.7,
        ),
    ),
)


def _full_name_row(p: Person, r: Row, rng: random.Random) -> Row:
    given, surname = plain(r["given"]), plain(r["surname"])
    if rng.random() < 0.3 and surname:
        full = f"{surname.upper()}, {given}".strip(", ")
    else:
        full = f"{given} {surname}".strip()
    return {
        "name": full,
        "born": written_date(r, "%Y%m%d"),
        "sex": {"M": rng.choice(["m", "M"]), "F": rng.choice(["f", "F"]), None: ""}[r["sex"]],
        "birth_place": plain(r["birth_place"]),
        "postcode": plain(r["postcode"]),
        "occupation": plain(r["occupation"]),
    }


FULL_NAME_EXTRA = Schema(
    name="full_name_extra",
    description="one heavily duplicated list with a single name field, birth place and occupation",
    locales=LATIN_LOCALES,
    records_per_person=_HEAVY,
    sources=(
        Source(
            name="member_list",
            prefix="ML",
            share=1.0,
            write=_full_name_row,
            contract=contract(
                "member_list",
                "Association member list: one name field, many re-registrations",
                "member_row",
                {"full_name": "name", "date_of_birth": "born", "sex": "sex", "postcode": "postcode"},
                date_formats=["%Y%m%d", "%Y"],
                codes={"sex": {"m": "M", "M": "M", "f": "F", "F": "F"}},
                full_name_order="given_first",
                extra_fields={
                    "birth_place": {"column": "birth_place", "compare": "fuzzy"},
                    "occupation": {"column": "occupation", "compare": "token"},
                },
            ),
            noise=Noise(
                missing={"born": 0.2, "postcode": 0.1, "birth_place": 0.1, "occupation": 0.15, "sex": 0.02}
            ),
        ),
    ),
)

SCHEMAS: dict[str, Schema] = {
    s.name: s
    for s in (DEDUPE_NO_SEX_NO_ID, TWO_SOURCES_PARTIAL_IDS, ADDRESS_HEAVY, NON_LATIN, FULL_NAME_EXTRA)
} | SP_SCHEMAS


# -- writing a home -------------------------------------------------------------------------------


def _expected_records(schema: Schema) -> float:
    per_source = sum(k * w for k, w in schema.records_per_person) / sum(
        w for _, w in schema.records_per_person
    )
    return per_source * sum(s.share for s in schema.sources)


def _draw_one_by_one(schema: Schema, records: int, seed: int, rng: random.Random) -> DrawnRows:
    """People drawn one by one from the schema's locales, each in the sources its shares give it."""
    people = draw_people(max(2, round(records / _expected_records(schema))), schema.locales, seed)
    counts, weights = zip(*schema.records_per_person, strict=True)
    rows: DrawnRows = {s.name: [] for s in schema.sources}
    for person in people:
        chosen = [s for s in schema.sources if rng.random() < s.share] or [rng.choice(schema.sources)]
        for source in chosen:
            where = household_move(person, rng, people) if rng.random() < source.moved_share else person
            for _ in range(rng.choices(counts, weights)[0]):
                latin = rng.random() < source.latin_share
                record = observe(where, source.noise, rng, latin=latin)
                rows[source.name].append((person.person_id, source.write(person, record, rng)))
    return rows


def generate(schema: Schema, records: int, seed: int) -> tuple[dict[str, list[Row]], list[Row]]:
    """The rows of each source and the truth, for about `records` records in all."""
    rng = random.Random(f"{schema.name}:{seed}")
    rows = (schema.draw or _draw_one_by_one)(schema, records, seed, rng)
    written: dict[str, list[Row]] = {}
    truth: list[Row] = []
    for source in schema.sources:
        entries = rows[source.name]
        rng.shuffle(entries)  # duplicates are not next to each other in a real file
        id_column = source.contract["record_id"]
        written[source.name] = []
        for k, (pid, row) in enumerate(entries, start=1):
            record_id = f"{source.prefix}{k:07d}"
            written[source.name].append({id_column: record_id, **row})
            truth.append({"source": source.name, "source_record_id": record_id, "true_person_id": pid})
    return written, truth


def variant(schema: Schema, noise_scale: float = 1.0, heavy: bool = False) -> Schema:
    """The schema with every error rate times `noise_scale`, and, with `heavy`, 1-12 records per person
    in each source it holds them in (mean about 5) instead of its usual duplication."""
    sources = tuple(replace(s, noise=s.noise.scaled(noise_scale)) for s in schema.sources)
    return replace(schema, sources=sources, records_per_person=_HEAVY if heavy else schema.records_per_person)


def write_home(
    schema_name: str, home: Path, records: int, seed: int, noise_scale: float = 1.0, heavy: bool = False
) -> HomeInfo:
    """Write the schema's home (contracts, one drop per source, country.yaml, truth) into `home`.

    `noise_scale` and `heavy` give a harder (or cleaner) variant of the schema (see `variant`).
    """
    schema = variant(SCHEMAS[schema_name], noise_scale, heavy)
    written, truth = generate(schema, records, seed)
    (home / "sources").mkdir(parents=True, exist_ok=True)
    (home / "truth").mkdir(parents=True, exist_ok=True)
    for source in schema.sources:
        with (home / "sources" / f"{source.name}.yaml").open("w", encoding="utf-8") as handle:
            yaml.safe_dump(source.contract, handle, sort_keys=False, allow_unicode=True)
        folder = home / "drops" / source.name / DROP_DATE.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        rows = written[source.name]
        with (folder / f"{source.name}.csv").open("w", encoding=source.encoding, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=source.delimiter)
            writer.writeheader()
            writer.writerows(rows)
    (home / "programmes.yaml").write_text(PROGRAMMES_YAML, encoding="utf-8")
    if schema.country:
        with (home / "country.yaml").open("w", encoding="utf-8") as handle:
            yaml.safe_dump(schema.country, handle, sort_keys=False)
    truth_frame = pl.DataFrame(
        truth, schema={"source": pl.String, "source_record_id": pl.String, "true_person_id": pl.Int64}
    )
    truth_frame.write_parquet(home / "truth" / "records.parquet")
    sizes = truth_frame.group_by("true_person_id").len()["len"]
    return HomeInfo(
        schema=schema_name,
        home=home,
        people=truth_frame["true_person_id"].n_unique(),
        records={s.name: len(written[s.name]) for s in schema.sources},
        true_pairs=int((sizes * (sizes - 1) // 2).sum()),
    )
