"""True identities drawn from Faker's locales, and the records a source writes of them.

A `Person` is the truth: one name in its own script (and, for Japanese, the romanised
reading Faker pairs with it), sex, date of birth, an address, a phone, a national id,
birth place and occupation. `observe` turns a person into one record as a source saw
it, through the corruption model of `bench.linkbed.corrupt`. Everything is drawn from a
seeded `random.Random` and seeded Faker instances, so a seed gives the same people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from faker import Faker

from bench.linkbed import corrupt
from bench.linkbed.translit import romanise

LATIN_LOCALES = ("en_GB", "en_US", "de_DE", "es_ES", "fr_FR")
NON_LATIN_LOCALES = ("ru_RU", "el_GR", "ja_JP", "zh_CN", "ar_AA")
SCRIPTS = {"ru_RU": "cyrillic", "el_GR": "greek", "ja_JP": "cjk", "zh_CN": "cjk", "ar_AA": "arabic"}
FIRST_BIRTH, LAST_BIRTH = date(1935, 1, 1), date(2008, 12, 31)


@dataclass(frozen=True)
class Person:
    person_id: int
    locale: str
    given: str
    surname: str
    middle: str | None
    sex: str  # F or M
    born: date
    street: str
    house_number: str
    postcode: str
    locality: str
    phone: str  # national digits
    national_id: str
    birth_place: str
    occupation: str
    given_latin: str | None = None  # Faker's own romanised reading (ja_JP only)
    surname_latin: str | None = None

    @property
    def script(self) -> str:
        return SCRIPTS.get(self.locale, "latin")


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of a digit string (as used by many national id schemes)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _fakers(locales: tuple[str, ...], seed: int) -> dict[str, Faker]:
    fakers = {}
    for k, locale in enumerate(locales):
        fake = Faker(locale)
        fake.seed_instance(seed * 1000 + k)
        fakers[locale] = fake
    return fakers


def _street(fake: Faker) -> str:
    try:
        return str(fake.street_name())
    except AttributeError:
        return str(fake.street_address())


def draw_people(n: int, locales: tuple[str, ...], seed: int) -> list[Person]:
    """`n` people, each from one of `locales` (equal weights), deterministic for a seed."""
    rng = random.Random(seed)
    fakers = _fakers(locales, seed)
    people = []
    span = (LAST_BIRTH - FIRST_BIRTH).days
    for pid in range(1, n + 1):
        locale = locales[rng.randrange(len(locales))]
        fake = fakers[locale]
        sex = rng.choice("FM")
        given_latin = surname_latin = None
        if locale == "ja_JP":
            pair = fake.first_name_female_pair() if sex == "F" else fake.first_name_male_pair()
            last = fake.last_name_pair()
            given, given_latin, surname, surname_latin = pair[0], pair[2], last[0], last[2]
        else:
            given = fake.first_name_female() if sex == "F" else fake.first_name_male()
            surname = fake.last_name()
        middle = None
        if locale in LATIN_LOCALES and rng.random() < 0.3:
            middle = fake.first_name_female() if sex == "F" else fake.first_name_male()
        body = f"{rng.randrange(10**8, 10**9)}"
        people.append(
            Person(
                person_id=pid,
                locale=locale,
                given=given,
                surname=surname,
                middle=middle,
                sex=sex,
                born=FIRST_BIRTH + timedelta(days=rng.randrange(span)),
                street=_street(fake),
                house_number=str(rng.choice([rng.randint(1, 30), rng.randint(1, 250)]))
                + rng.choice(["", "", "", "a", "b"]),
                postcode=str(fake.postcode()),
                locality=str(fake.city()),
                phone=f"{rng.choice('1237')}{rng.randrange(10**8, 10**9)}",
                national_id=body + luhn_digit(body),
                birth_place=str(fake.city()),
                occupation=str(fake.job()),
                given_latin=given_latin,
                surname_latin=surname_latin,
            )
        )
    return people


def household_move(person: Person, rng: random.Random, fake_pool: list[Person]) -> Person:
    """The same person at another address (people move between the snapshots of two sources)."""
    other = fake_pool[rng.randrange(len(fake_pool))]
    return replace(
        person,
        street=other.street,
        house_number=other.house_number,
        postcode=other.postcode,
        locality=other.locality,
    )


def _maybe(value: Any, field: str, noise: corrupt.Noise, rng: random.Random) -> Any:
    """None at the field's missing rate: always one draw per field, so rates are exact in expectation."""
    return None if rng.random() < noise.missing.get(field, 0.0) else value


def _name(value: str, script: str, noise: corrupt.Noise, rng: random.Random) -> str:
    if rng.random() < noise.name_error:
        value = corrupt.edit_name(value, script, rng)
        if rng.random() < noise.second_error:
            value = corrupt.edit_name(value, script, rng)
    return value


def observe(person: Person, noise: corrupt.Noise, rng: random.Random, latin: bool = False) -> dict[str, Any]:
    """One record of `person` as a source wrote it. `latin`: the names in Latin letters (romanised).

    Returns canonical keys: given, surname, middle, sex, born (date | None), born_text (the text a
    source writes when it is no date: malformed or year only, else None), street, house_number, postcode,
    locality, phone, national_id, birth_place, occupation. Missing values are None.
    """
    script = person.script
    given, surname = person.given, person.surname
    if latin and script != "latin":
        if person.given_latin and person.surname_latin:
            given, surname = person.given_latin, person.surname_latin
        elif script in ("cyrillic", "greek"):
            given, surname = romanise(given, script, rng), romanise(surname, script, rng)
        # Chinese and Arabic names stay in their script: there is no faithful romanisation to draw here
        script = "latin" if given.isascii() else script
    if script == "latin" and rng.random() < noise.nickname:
        given = corrupt.nickname_or_short(given, rng)
    given, surname = _name(given, script, noise, rng), _name(surname, script, noise, rng)
    if rng.random() < noise.name_swap:
        given, surname = surname, given

    born: date | None = person.born
    born_text: str | None = None
    if rng.random() < noise.date_error:
        born, how = corrupt.corrupt_date(person.born, rng)
        if how == "year":
            born_text = str(person.born.year)
        elif how == "malformed":
            born_text = corrupt.malformed_date(person.born, rng)
    street = person.street
    if rng.random() < noise.street_abbreviation:
        street = corrupt.abbreviate_street(street, rng)
    if rng.random() < noise.address_error:
        street = corrupt.edit_name(street, "latin" if street.isascii() else script, rng)
    postcode = person.postcode
    if rng.random() < noise.postcode_error:
        postcode = corrupt.digit_error(postcode, rng)
    national_id = person.national_id
    if rng.random() < noise.id_error:
        national_id = corrupt.digit_error(national_id, rng)
    phone = person.phone
    if rng.random() < noise.phone_error:
        phone = corrupt.digit_error(phone, rng)
    if rng.random() < noise.missing.get("born", 0.0):
        born, born_text = None, None
    return {
        "given": _maybe(given, "given", noise, rng),
        "surname": _maybe(surname, "surname", noise, rng),
        "middle": _maybe(person.middle, "middle", noise, rng),
        "sex": _maybe(person.sex, "sex", noise, rng),
        "born": born,
        "born_text": born_text,
        "street": _maybe(street, "street", noise, rng),
        "house_number": _maybe(person.house_number, "house_number", noise, rng),
        "postcode": _maybe(postcode, "postcode", noise, rng),
        "locality": _maybe(person.locality, "locality", noise, rng),
        "phone": _maybe(phone, "phone", noise, rng),
        "national_id": _maybe(national_id, "national_id", noise, rng),
        "birth_place": _maybe(person.birth_place, "birth_place", noise, rng),
        "occupation": _maybe(person.occupation, "occupation", noise, rng),
    }
