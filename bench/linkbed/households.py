"""Households of social-protection data: the people, their relatives, and what a source writes of them.

A household is 2-9 people: a head, usually a spouse, children born 1-3 years apart (now and then
twins), sometimes a parent of the head. Its members share what makes relatives hard to tell apart:
the village, the household phone, and the family name, in one of three conventions:

- `patronymic`: given + father's given + grandfather's given name, no family name (Horn of Africa,
  Arabic); siblings share the father's AND the grandfather's name, a child's grandfather is the head's
  father, and the head's father (when he lives with them) carries the head's father's name as his own;
- `two_surnames`: one or two given names, the paternal then the maternal family name (Hispanic);
  siblings share both, a child's second surname is the mother's first;
- `western`: given + family name shared by the household, sometimes a son named after his father (Jr).

`draw_rows` builds households until the sources have written about the records asked, each source
taking whom its `takes` allows (a school list: children of school age; a roster: every member of an
enrolled household), and `observe_member` corrupts one record with the source's `Noise`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from faker import Faker

from bench.linkbed import corrupt
from bench.linkbed.people import luhn_digit
from bench.linkbed.source import DROP_DATE, DrawnRows, Schema
from bench.linkbed.sp_names import FEMALE, MALE, PLACE_WORDS, SPELLINGS, zipf_weights


@dataclass(frozen=True)
class Member:
    """One person of a household, as true: the names of the convention, birth, where and how reached."""

    person_id: int
    household: int  # the household's number; each source writes its own reference of it
    role: str  # head | spouse | child | parent (of the head)
    sex: str  # F or M
    born: date
    given: str  # one or two given names
    surname: str | None  # the family name; the paternal one (two_surnames); None (patronymic)
    second_surname: str | None  # the maternal family name (two_surnames)
    father: str  # the father's given name
    grandfather: str  # the father's father's given name
    mother: str  # the mother's given name
    suffix: str | None  # "Jr" for a son named after his father
    village: str
    address: str | None  # street and house (western)
    phone: str | None  # the household's phone, national digits
    national_id: str

    @property
    def age(self) -> int:
        return (DROP_DATE - self.born).days // 365


def age_at_least(years: int) -> Any:
    return lambda m: m.age >= years


def age_between(low: int, high: int) -> Any:
    return lambda m: low <= m.age <= high


class Namer:
    """Given names and family names of one convention, drawn by how often they are given."""

    def __init__(self, convention: str, rng: random.Random, fake: Faker) -> None:
        self.convention, self.rng, self.fake = convention, rng, fake
        self._male, self._female = zipf_weights(len(MALE)), zipf_weights(len(FEMALE))

    def given(self, sex: str) -> str:
        if self.convention == "patronymic":
            pool, weights = (MALE, self._male) if sex == "M" else (FEMALE, self._female)
            return self.rng.choices(pool, weights)[0]
        first = self.fake.first_name_male() if sex == "M" else self.fake.first_name_female()
        if self.convention == "two_surnames" and self.rng.random() < 0.4:  # José Luis, María Fernanda
            second = self.fake.first_name_male() if sex == "M" else self.fake.first_name_female()
            return f"{first} {second}" if second != first else str(first)
        return str(first)

    def family(self) -> str | None:
        return None if self.convention == "patronymic" else str(self.fake.last_name())


def _born(rng: random.Random, low: int, high: int) -> date:
    """A birth date of someone aged `low` to `high` years at the drop date."""
    return DROP_DATE - timedelta(days=rng.randint(low * 365 + 1, high * 365 + 364))


def _nid(rng: random.Random) -> str:
    body = f"{rng.randrange(10**8, 10**9)}"
    return body + luhn_digit(body)


def _adults(namer: Namer, base: Member, rng: random.Random) -> list[Member]:
    """The head, a spouse (80%) and sometimes the head's father or mother."""
    head_sex = "M" if rng.random() < 0.75 else "F"
    head = replace(base, role="head", sex=head_sex, born=_born(rng, 22, 70), given=namer.given(head_sex))
    people = [head]
    if rng.random() < 0.8:
        sex = "F" if head_sex == "M" else "M"
        age = max(18, head.age + (rng.randint(-12, 2) if sex == "F" else rng.randint(-2, 10)))
        spouse = replace(
            base,
            role="spouse",
            sex=sex,
            born=_born(rng, age, age),
            given=namer.given(sex),
            surname=namer.family(),
            second_surname=namer.family(),
            father=namer.given("M"),
            grandfather=namer.given("M"),
            mother=namer.given("F"),
        )
        if namer.convention == "western" and rng.random() < 0.85:
            spouse = replace(spouse, surname=head.surname)  # took the spouse's family name
        people.append(spouse)
    if rng.random() < 0.15 and head.age <= 60:
        sex = rng.choice("MF")
        parent = replace(
            base,
            role="parent",
            sex=sex,
            born=_born(rng, head.age + 18, min(head.age + 40, 95)),
            given=head.father if sex == "M" else head.mother,
            father=head.grandfather if sex == "M" else namer.given("M"),
            grandfather=namer.given("M"),
            mother=namer.given("F"),
            second_surname=namer.family(),
            surname=head.surname if sex == "M" or namer.convention == "western" else head.second_surname,
        )
        people.append(parent)
    return people


def _children(namer: Namer, dad: Member | None, mother_born: date, kin: Member) -> list[Member]:
    """0-7 children born 1-3 years apart from the mother's 18th year, some twins, a Jr now and then."""
    rng = namer.rng
    count = rng.choices(range(8), [0.08, 0.14, 0.2, 0.2, 0.15, 0.11, 0.07, 0.05])[0]
    born = mother_born + timedelta(days=rng.randint(17 * 365, 24 * 365))
    children: list[Member] = []
    for k in range(count):
        if born > DROP_DATE - timedelta(days=30):
            break
        sex = rng.choice("MF")
        given, suffix = namer.given(sex), None
        if k == 0 and sex == "M" and dad and namer.convention == "western" and rng.random() < 0.3:
            given, suffix = dad.given, "Jr"  # named after his father
        children.append(replace(kin, role="child", sex=sex, born=born, given=given, suffix=suffix))
        twins = rng.random() < 0.03
        born += timedelta(days=0 if twins else rng.randint(330, 3 * 365))
    return children


def household(
    namer: Namer, number: int, first_id: int, place: tuple[str, str | None, str | None]
) -> list[Member]:
    """The members of one household, person ids from `first_id`; `place`: (village, address, phone)."""
    rng = namer.rng
    village, address, phone = place
    base = Member(
        person_id=0,
        household=number,
        role="",
        sex="M",
        born=DROP_DATE,
        given="",
        surname=namer.family(),
        second_surname=namer.family(),
        father=namer.given("M"),
        grandfather=namer.given("M"),
        mother=namer.given("F"),
        suffix=None,
        village=village,
        address=address,
        phone=phone,
        national_id="",
    )
    adults = _adults(namer, base, rng)
    dad = next((m for m in adults[:2] if m.sex == "M"), None)  # the head or the spouse
    mum = next((m for m in adults[:2] if m.sex == "F"), None)
    # what every child shares: the father's names (an absent father's too), the mother's
    kin = replace(
        base,
        father=dad.given if dad else namer.given("M"),
        grandfather=dad.father if dad else namer.given("M"),
        mother=mum.given if mum else namer.given("F"),
        surname=dad.surname if dad else namer.family(),
        second_surname=mum.surname if mum else namer.family(),
    )
    mother_born = mum.born if mum else adults[0].born + timedelta(days=rng.randint(0, 8 * 365))
    members = adults + _children(namer, dad, mother_born, kin)
    if len(members) == 1:  # a household is two people at least
        members.append(replace(kin, role="child", sex="F", born=_born(rng, 1, 15), given=namer.given("F")))
    return [replace(m, person_id=first_id + k, national_id=_nid(rng)) for k, m in enumerate(members[:9])]


def place_pool(convention: str, count: int, rng: random.Random, fake: Faker) -> list[str]:
    """`count` village names (several households live in each)."""
    if convention == "patronymic":
        return [f"{rng.choice(PLACE_WORDS)} {rng.choice(MALE + FEMALE)}" for _ in range(count)]
    return [str(fake.city()) for _ in range(count)]


def spelling(name: str, rng: random.Random) -> str:
    """Another way of writing each name of `name` that has one (Mohamed Ali -> Maxamed Cali)."""
    return " ".join(rng.choice(SPELLINGS[w]) if w in SPELLINGS else w for w in name.split())


def _name(value: str | None, noise: corrupt.Noise, rng: random.Random, nickname: bool = False) -> str | None:
    """One name as written: another spelling, a nickname (western), a typo or two."""
    if not value:
        return value
    if rng.random() < noise.spelling_variant:
        value = spelling(value, rng)
    if nickname and rng.random() < noise.nickname:
        value = corrupt.nickname_or_short(value, rng)
    if rng.random() < noise.name_error:
        value = corrupt.edit_name(value, "latin", rng)
        if rng.random() < noise.second_error:
            value = corrupt.edit_name(value, "latin", rng)
    return value


def _birth(m: Member, noise: corrupt.Noise, rng: random.Random) -> dict[str, Any]:
    """born (a date or None), born_text (malformed), birth_year (known to the year only, maybe heaped)."""
    born: date | None = m.born
    born_text: str | None = None
    year: int | None = None
    if rng.random() < noise.date_error:
        born, how = corrupt.corrupt_date(m.born, rng)
        if how == "year":
            year = m.born.year
        elif how == "malformed":
            born_text = corrupt.malformed_date(m.born, rng)
    if rng.random() < noise.year_only:
        year = m.born.year
        if rng.random() < noise.age_heaping:  # the age said is a round number: 30, 35, 40
            year = DROP_DATE.year - 5 * round(m.age / 5)
    if year is not None:
        born, born_text = None, None
    if rng.random() < noise.missing.get("born", 0.0):
        born, born_text, year = None, None, None
    return {"born": born, "born_text": born_text, "birth_year": year}


def observe_member(m: Member, noise: corrupt.Noise, rng: random.Random) -> dict[str, Any]:
    """One record of `m` as a source wrote it; missing values are None.

    Keys: given, father, grandfather, mother, surname, second_surname, suffix, sex, born, born_text,
    birth_year (see `_birth`), village, address, phone, national_id, household, role.
    """
    given = _name(m.given, noise, rng, nickname=m.surname is not None)  # no nicknames for patronymic names
    father, grandfather, mother = (_name(v, noise, rng) for v in (m.father, m.grandfather, m.mother))
    surname, second = _name(m.surname, noise, rng), _name(m.second_surname, noise, rng)
    if rng.random() < noise.name_swap:  # the given name in the family name's box, or the father's
        if m.surname:
            given, surname = surname, given
        else:
            given, father = father, given
    national_id = corrupt.digit_error(m.national_id, rng) if rng.random() < noise.id_error else m.national_id
    phone = m.phone
    if phone and rng.random() < noise.phone_error:
        phone = corrupt.digit_error(phone, rng)
    values = {
        "given": given,
        "father": father,
        "grandfather": grandfather,
        "mother": mother,
        "surname": surname,
        "second_surname": second,
        "suffix": m.suffix,
        "sex": m.sex,
        "village": m.village,
        "address": m.address,
        "phone": phone,
        "national_id": national_id,
    }
    kept = {k: (None if rng.random() < noise.missing.get(k, 0.0) else v) for k, v in values.items()}
    return kept | _birth(m, noise, rng) | {"household": m.household, "role": m.role}


def draw_rows(schema: Schema, records: int, seed: int, rng: random.Random, convention: str) -> DrawnRows:
    """Households of `convention` until the schema's sources have written `records` rows of them."""
    fake = Faker(schema.locales[0])
    fake.seed_instance(seed)
    namer = Namer(convention, rng, fake)
    villages = place_pool(convention, max(8, records // 60), rng, fake)
    counts, weights = zip(*schema.records_per_person, strict=True)
    rows: DrawnRows = {s.name: [] for s in schema.sources}
    written, number, next_id = 0, 0, 1
    while written < records:
        number += 1
        phone = f"{rng.choice('67')}{rng.randrange(10**7, 10**8)}" if rng.random() < 0.85 else None
        address = f"{rng.randint(1, 250)} {fake.street_name()}" if convention == "western" else None
        members = household(namer, number, next_id, (rng.choice(villages), address, phone))
        next_id += len(members)
        for source in schema.sources:
            enrolled = rng.random() < source.share  # a roster takes the household or not
            for m in members:
                if source.takes and not source.takes(m):
                    continue
                if not (enrolled if source.whole_household else rng.random() < source.share):
                    continue
                for _ in range(rng.choices(counts, weights)[0]):
                    record = observe_member(m, source.noise, rng)
                    rows[source.name].append((m.person_id, source.write(m, record, rng)))
                    written += 1
    return rows
