"""The true population: households, people, their life events and identifiers.

Everything is drawn with numpy over whole arrays: households first (head, spouse,
children, elderly parents, other relatives), then people inherit the household's
place and the lineage surname, then births, deaths, registrations and ids are laid
over the simulation calendar (``synthetic.nights``).

Rates that shape the data (see ``synthetic/README.md``):

- household size averages about 4.5; the age pyramid is young (about half under 18,
  about 4 % aged 65 and over);
- mortality is age-specific and scaled so that about 200 people per 100,000 die each
  month; births run at about 250 per 100,000 per month, to women aged 18-44;
- national ids: about 85 % of people aged 16 and over, about 10 % of children;
- phones: about 60 % of adults; birth registration: about 92 %, death registration
  about 90 %;
- earners (tax declarations): about 35 % of adults aged 18-70, log-normal income;
- disability assessments: about 4 % of people, more often at older ages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synthetic.geography import Gazetteer
from synthetic.ids import national_ids, prefixed_codes, unique_integers
from synthetic.names import NameBank
from synthetic.nights import NO_DATE, Night, age_in_years, night_of
from synthetic.rng import stream

RELATIONSHIPS = ("head", "spouse", "child", "grandchild", "parent", "other")
HEAD, SPOUSE, CHILD, GRANDCHILD, PARENT, OTHER = range(6)
SEVERITIES = ("mild", "moderate", "severe", "profound")  # code k+1 in the severity arrays; 0 = none
DISABILITY_TYPES = ("physical", "visual", "hearing", "intellectual", "psychosocial", "multiple")

# annual probability of death by age band, before MORTALITY_SCALE
MORTALITY_AGES = np.array([0, 1, 5, 15, 30, 45, 60, 70, 80, 90])
MORTALITY_ANNUAL = np.array([0.045, 0.010, 0.0025, 0.005, 0.008, 0.016, 0.035, 0.07, 0.14, 0.26])
MORTALITY_SCALE = 2.0
BIRTHS_PER_PERSON_MONTH = 0.0025
PHONE_PREFIXES = np.array(["95", "96", "97", "76", "77"])
INCOME_MEDIAN = 20_000.0
INCOME_GROWTH = 1.04  # per tax year


@dataclass
class Population:
    """The true country. Person arrays share one index (``true_person_id = index + 1``);
    household arrays are indexed by household number; dates are day numbers."""

    nights: list[Night]
    household: np.ndarray
    relationship: np.ndarray
    female: np.ndarray
    dob: np.ndarray
    dod: np.ndarray
    given1: np.ndarray
    given2: np.ndarray  # -1: no middle name
    surname_birth: np.ndarray
    surname_current: np.ndarray
    national_id: pl.Series  # null: has none
    phone: pl.Series  # 9 national digits; null: has none
    birth_reg_no: pl.Series  # null: birth never registered
    birth_reg_day: np.ndarray  # NO_DATE: never registered
    born_during: np.ndarray
    tax_number: pl.Series  # null: not an earner
    tax_filing_night: np.ndarray  # first night whose tax snapshot holds the declaration; -1 never
    income_by_night: list[np.ndarray]  # declared annual income as each night's snapshot says; NaN none
    tax_year_by_night: list[int]
    assessments: pl.DataFrame  # one row per disability assessment
    severity_by_night: list[np.ndarray]  # latest delivered severity code per person; 0 none
    hh_admin2: np.ndarray
    hh_locality: np.ndarray
    hh_address: pl.Series
    hh_head: np.ndarray  # person index of each household's head
    hh_caregiver: np.ndarray  # person index of the household's main female adult (or head)
    death_forced: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    death_reg_day: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))

    @property
    def size(self) -> int:
        return int(self.household.size)

    @property
    def households(self) -> int:
        return int(self.hh_admin2.size)

    @property
    def married_name(self) -> np.ndarray:
        """People whose current surname is not their birth surname (mostly married women)."""
        return self.surname_birth != self.surname_current

    def admin1(self, geo: Gazetteer) -> np.ndarray:
        return geo.admin2_admin1[self.hh_admin2[self.household]]

    def register_deaths(self, seed: int) -> None:
        """Decide which deaths reach the civil registry and when.

        About 90 % of deaths are registered, 1-40 days after the death; deaths planted
        for the deceased-still-paid check are always registered within ten days.
        Call after every death date is final.
        """
        rng = stream(seed, "population", "death-registration")
        died = self.dod != NO_DATE
        lag = 1 + np.minimum(rng.exponential(12.0, self.size), 120).astype(np.int32)
        forced_lag = rng.integers(1, 10, self.size, dtype=np.int32)
        registered = died & ((rng.random(self.size) < 0.9) | self.death_forced)
        dod = self.dod.astype(np.int64)  # NO_DATE + lag would overflow int32
        day = np.where(self.death_forced, dod + forced_lag, dod + lag)
        self.death_reg_day = np.where(registered, day, NO_DATE).astype(np.int32)

    def alive_on(self, day: int) -> np.ndarray:
        """Born on or before ``day`` and not yet dead."""
        return (self.dob <= day) & (self.dod > day)

    def household_size_on(self, day: int) -> np.ndarray:
        """Each person's household's number of living members on ``day``."""
        counts = np.bincount(self.household[self.alive_on(day)], minlength=self.households)
        return counts[self.household]


def _households(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """People grouped into households, with roles, sex and (fractional) age at the first drop."""
    h = n // 4 + 16  # more households than needed; trimmed to n people below
    head_age = np.minimum(18 + rng.gamma(2.0, 11.5, h), 98)
    head_female = rng.random(h) < np.where(head_age > 60, 0.45, 0.22)
    spouse_p = np.where(
        head_female, 0.12, np.interp(head_age, [18, 24, 30, 65, 80], [0.3, 0.7, 0.85, 0.75, 0.5])
    )
    has_spouse = rng.random(h) < spouse_p
    gap = rng.normal(5.0, 4.0, h)
    spouse_age = np.clip(np.where(head_female, head_age + gap, head_age - gap), 16, 100)
    mother_age = np.where(head_female, head_age, np.where(has_spouse, spouse_age, np.nan))
    lam = np.interp(mother_age, [16, 20, 30, 40, 50, 60, 70], [0.3, 1.5, 3.4, 4.4, 3.2, 1.3, 0.3])
    lam = np.where(np.isnan(mother_age), 0.4, lam)
    n_children = rng.poisson(lam)
    n_parents = ((rng.random(h) < 0.2) & (head_age < 62)).astype(np.int64) + (rng.random(h) < 0.05)
    n_other = (rng.random(h) < 0.22).astype(np.int64) + (rng.random(h) < 0.05)

    hh_idx = np.arange(h)
    # heads
    parts_hh = [hh_idx]
    parts_rel = [np.full(h, HEAD)]
    parts_female = [head_female]
    parts_age = [head_age]
    # spouses
    s = hh_idx[has_spouse]
    parts_hh.append(s)
    parts_rel.append(np.full(s.size, SPOUSE))
    parts_female.append(~head_female[s])
    parts_age.append(spouse_age[s])
    # children: spread over the mother's fertile years (or the head's, without a mother)
    c = np.repeat(hh_idx, n_children)
    parent_age = np.where(np.isnan(mother_age), head_age, mother_age)[c]
    span = np.clip(parent_age - 16, 0.5, 26)
    parts_hh.append(c)
    parts_rel.append(np.full(c.size, CHILD))
    parts_female.append(rng.random(c.size) < 0.5)
    parts_age.append(rng.random(c.size) * span)
    # elderly parents of the head
    p = np.repeat(hh_idx, n_parents)
    parts_hh.append(p)
    parts_rel.append(np.full(p.size, PARENT))
    parts_female.append(rng.random(p.size) < 0.65)
    parts_age.append(np.clip(head_age[p] + rng.uniform(19, 33, p.size), 45, 101))
    # other relatives
    o = np.repeat(hh_idx, n_other)
    parts_hh.append(o)
    parts_rel.append(np.full(o.size, OTHER))
    parts_female.append(rng.random(o.size) < 0.5)
    parts_age.append(rng.uniform(3, 40, o.size))

    household = np.concatenate(parts_hh)
    relationship = np.concatenate(parts_rel).astype(np.int8)
    age = np.concatenate(parts_age)
    # a female head has been married (and took the lineage name) if she has a husband, or
    # for half of the others (widowed, divorced, separated)
    married_head = head_female & (has_spouse | (rng.random(h) < 0.5))
    # each household's members together, head first; the first n people are kept (heads come
    # first, so a household cut short at the end still has its head)
    order = np.lexsort((-age, relationship, household))[:n]
    kept, household = np.unique(household[order], return_inverse=True)  # renumber densely
    return {
        "household": household.astype(np.int32),
        "relationship": relationship[order],
        "female": np.concatenate(parts_female)[order],
        "age": age[order],
        "married_head": married_head[kept],
    }


def _surnames(
    rng: np.random.Generator,
    names: NameBank,
    hh: np.ndarray,
    rel: np.ndarray,
    female: np.ndarray,
    married_head: np.ndarray,
    n_households: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth and current surnames; children carry the household's lineage surname.

    A married woman carries her husband's surname as her current surname and keeps
    her birth surname, which is the one the civil registry knows her by.
    """
    lineage = names.draw_surname(rng, n_households)  # the husband's / father's line
    n = hh.size
    birth = names.draw_surname(rng, n)
    current = birth.copy()
    is_head = rel == HEAD
    # heads: a man is born with the lineage name; a married (or widowed) woman took it at marriage
    male_head = is_head & ~female
    birth[male_head] = lineage[hh[male_head]]
    current[male_head] = lineage[hh[male_head]]
    fem_head = is_head & female
    current[fem_head] = np.where(married_head[hh[fem_head]], lineage[hh[fem_head]], birth[fem_head])
    head_birth_of = np.zeros(n_households, dtype=np.int32)
    head_birth_of[hh[is_head]] = birth[is_head]
    # spouses: a wife takes the lineage name; a husband (of a female head) is the lineage
    sp = rel == SPOUSE
    current[sp] = lineage[hh[sp]]
    birth[sp & ~female] = lineage[hh[sp & ~female]]
    # children and grandchildren carry the head's current surname (the lineage when married)
    kid = (rel == CHILD) | (rel == GRANDCHILD)
    head_current = np.zeros(n_households, dtype=np.int32)
    head_current[hh[is_head]] = current[is_head]
    birth[kid] = head_current[hh[kid]]
    current[kid] = head_current[hh[kid]]
    # the head's parents: the father and the mother's married name are the head's birth surname
    par = rel == PARENT
    current[par] = head_birth_of[hh[par]]
    birth[par & ~female] = head_birth_of[hh[par & ~female]]
    return birth, current, head_current


def build_population(n: int, nights: list[Night], seed: int, names: NameBank, geo: Gazetteer) -> Population:
    """Draw the true population of ``n`` people at the first drop date, plus the births
    during the simulated months."""
    if n < 50:
        raise ValueError(f"people must be at least 50, got {n}")
    rng = stream(seed, "population", "households")
    base = _households(rng, n)
    household, rel, female, age = base["household"], base["relationship"], base["female"], base["age"]
    n_households = int(household.max()) + 1
    d0 = nights[0].drop_day
    last_drop = nights[-1].drop_day

    # places: province by share, district within province, a locality within the district
    rng = stream(seed, "population", "places")
    hh_admin1 = rng.choice(len(geo.admin1_share), size=n_households, p=geo.admin1_share)
    hh_admin2 = np.zeros(n_households, dtype=np.int32)
    hh_locality = np.zeros(n_households, dtype=np.int32)
    for a1 in range(len(geo.admin1_share)):  # per province, not per person
        in_a1 = np.flatnonzero(hh_admin1 == a1)
        districts = np.flatnonzero(geo.admin2_admin1 == a1)
        hh_admin2[in_a1] = rng.choice(districts, size=in_a1.size, p=geo.admin2_share[districts])
    for a2 in range(len(geo.admin2_code)):
        in_a2 = np.flatnonzero(hh_admin2 == a2)
        places = geo.localities_of(a2)
        weight = np.where(geo.locality_is_town[places], 3.0, 1.0)
        hh_locality[in_a2] = rng.choice(places, size=in_a2.size, p=weight / weight.sum())
    number = pl.Series(rng.integers(1, 2500, n_households)).cast(pl.String)
    street = geo.streets.gather(rng.integers(0, len(geo.streets), n_households))
    town = pl.Series(geo.locality_is_town[hh_locality])
    hh_address = pl.select(
        pl.when(town)
        .then(pl.lit("Plot ") + number + pl.lit(", ") + street)
        .otherwise(pl.lit("Stand ") + number)
    ).to_series()

    # names
    rng = stream(seed, "population", "names")
    birth_sn, current_sn, lineage = _surnames(
        rng, names, household, rel, female, base["married_head"], n_households
    )
    given1 = names.draw_given(rng, female)
    given2 = np.where(rng.random(n) < 0.5, names.draw_given(rng, female), -1).astype(np.int32)
    given2 = np.where(given2 == given1, names.draw_given(rng, female), given2)  # rarely twice the same name

    # dates of birth and natural deaths over [first drop - 1 year, last drop)
    rng = stream(seed, "population", "life")
    dob = (d0 - np.floor(age * 365.2425) - 1).astype(np.int32)
    window_start = d0 - 365
    q = MORTALITY_ANNUAL[np.searchsorted(MORTALITY_AGES, np.maximum(age - 1, 0), side="right") - 1]
    daily = -np.log1p(-np.minimum(q * MORTALITY_SCALE, 0.9)) / 365.25
    exposure_start = np.maximum(window_start, dob)
    death_day = exposure_start + rng.exponential(1.0 / daily)
    dod = np.where(death_day < last_drop, death_day, NO_DATE).astype(np.int32)

    # births in each simulated month, to living women aged 18-44 (none on the first night's base)
    new_parts: dict[str, list[np.ndarray]] = {"mother": [], "dob": []}
    mothers_pool = np.flatnonzero(female & (age >= 18) & (age < 45))
    alive_count = n
    for m in range(len(nights) - 1):  # one month at a time: a few loops, not per person
        lo, hi = nights[m].drop_day, nights[m + 1].drop_day
        count = int(rng.poisson(BIRTHS_PER_PERSON_MONTH * alive_count))
        mothers = rng.choice(mothers_pool, size=count)
        day = rng.integers(lo, hi, size=count).astype(np.int32)
        ok = dod[mothers] > day
        new_parts["mother"].append(mothers[ok])
        new_parts["dob"].append(day[ok])
    mother = np.concatenate(new_parts["mother"]) if new_parts["mother"] else np.empty(0, dtype=np.int64)
    n_new = mother.size
    born_during = np.concatenate([np.zeros(n, dtype=bool), np.ones(n_new, dtype=bool)])
    new_hh = household[mother]
    new_female = rng.random(n_new) < 0.5
    new_rel = np.where(np.isin(rel[mother], [HEAD, SPOUSE]), CHILD, GRANDCHILD).astype(np.int8)
    household = np.concatenate([household, new_hh])
    rel = np.concatenate([rel, new_rel])
    female = np.concatenate([female, new_female])
    dob = np.concatenate([dob, np.concatenate(new_parts["dob"]) if n_new else np.empty(0, dtype=np.int32)])
    dod = np.concatenate([dod, np.full(n_new, NO_DATE, dtype=np.int32)])
    birth_sn = np.concatenate([birth_sn, lineage[new_hh]])
    current_sn = np.concatenate([current_sn, lineage[new_hh]])
    given1 = np.concatenate([given1, names.draw_given(rng, new_female)])
    given2 = np.concatenate(
        [given2, np.where(rng.random(n_new) < 0.5, names.draw_given(rng, new_female), -1)]
    )
    total = n + n_new
    age0 = age_in_years(dob, d0)

    # national ids, phones, birth registration
    rng = stream(seed, "population", "ids")
    has_nid = ~born_during & (rng.random(total) < np.where(age0 >= 16, 0.85, 0.10))
    nid = pl.Series("national_id", [None] * total, dtype=pl.String)
    nid = nid.scatter(np.flatnonzero(has_nid), national_ids(rng, int(has_nid.sum())))
    has_phone = ~born_during & (age0 >= 18) & (rng.random(total) < 0.6)
    digits = pl.Series(rng.integers(0, 10_000_000, total)).cast(pl.String).str.zfill(7)
    prefix = pl.Series(PHONE_PREFIXES[rng.integers(0, PHONE_PREFIXES.size, total)])
    phone = pl.select(pl.when(pl.Series(has_phone)).then(prefix + digits)).to_series().alias("phone")
    hh_head = np.zeros(n_households, dtype=np.int64)
    heads = np.flatnonzero(rel == HEAD)
    hh_head[household[heads]] = heads
    # one spouse in ten gives the head's phone number
    share = np.flatnonzero((rel == SPOUSE) & (rng.random(total) < 0.1))
    phone = phone.scatter(share, phone.gather(hh_head[household[share]]))
    reg_p = np.where(age0 >= 60, 0.85, 0.93)
    registered = rng.random(total) < reg_p
    lag = np.where(born_during, rng.exponential(20.0, total), rng.exponential(60.0, total)).astype(np.int32)
    birth_reg_day = np.where(registered, dob + 1 + lag, NO_DATE).astype(np.int32)
    reg_no = pl.Series("birth_reg_no", [None] * total, dtype=pl.String)
    reg_no = reg_no.scatter(np.flatnonzero(registered), prefixed_codes(rng, int(registered.sum()), "BR", 9))

    # caregiver: the household's wife, or a female head, else the head
    hh_caregiver = hh_head.copy()
    wives = np.flatnonzero((rel == SPOUSE) & female)
    hh_caregiver[household[wives]] = wives

    # earners and their declared income, as each night's tax snapshot shows it
    rng = stream(seed, "population", "tax")
    earn_p = np.where(female, 0.3, 0.5) * np.interp(age0, [17, 18, 23, 60, 70, 71], [0, 0.4, 1, 1, 0.6, 0])
    earner = ~born_during & (rng.random(total) < earn_p)
    k = len(nights)
    filing_night = np.where(
        rng.random(total) < 0.95, 0, rng.integers(1, max(k, 2), total) if k > 1 else 0
    ).astype(np.int16)
    filing_night = np.where(earner, filing_night, -1).astype(np.int16)
    tax_no = pl.Series("tax_number", [None] * total, dtype=pl.String)
    tax_no = tax_no.scatter(
        np.flatnonzero(earner),
        pl.Series(unique_integers(rng, int(earner.sum()), 10**9, 2 * 10**9)).cast(pl.String),
    )
    base_income = np.where(earner, np.round(INCOME_MEDIAN * np.exp(rng.normal(0, 1.0, total)), -1), np.nan)
    tax_years = [night.drop_date.year - 1 for night in nights]
    factor = np.ones(total)
    income_by_night = []
    for night in nights:
        if night.index > 0:  # amended declarations: a few incomes change each month
            amended = rng.random(total) < 0.005
            factor = np.where(amended, factor * rng.uniform(0.8, 1.25, total), factor)
        growth = INCOME_GROWTH ** (tax_years[night.index] - tax_years[0])
        filed = earner & (filing_night <= night.index)
        income_by_night.append(np.where(filed, np.round(base_income * factor * growth, -1), np.nan))

    assessments, severity_by_night = _assessments(seed, dob, age0, born_during, nights)

    return Population(
        nights=nights,
        household=household,
        relationship=rel,
        female=female,
        dob=dob,
        dod=dod,
        given1=given1,
        given2=given2.astype(np.int32),
        surname_birth=birth_sn,
        surname_current=current_sn,
        national_id=nid,
        phone=phone,
        birth_reg_no=reg_no,
        birth_reg_day=birth_reg_day,
        born_during=born_during,
        tax_number=tax_no,
        tax_filing_night=filing_night,
        income_by_night=income_by_night,
        tax_year_by_night=tax_years,
        assessments=assessments,
        severity_by_night=severity_by_night,
        hh_admin2=hh_admin2,
        hh_locality=hh_locality,
        hh_address=hh_address,
        hh_head=hh_head,
        hh_caregiver=hh_caregiver,
        death_forced=np.zeros(total, dtype=bool),
    )


def _assessments(
    seed: int, dob: np.ndarray, age0: np.ndarray, born_during: np.ndarray, nights: list[Night]
) -> tuple[pl.DataFrame, list[np.ndarray]]:
    """Disability assessments (about 4 % of people; 15 % of them re-assessed later) and the
    severity each night's registry shows: the latest assessment delivered by that night."""
    rng = stream(seed, "population", "disability")
    total = dob.size
    d0, last = nights[0].drop_day, nights[-1].drop_day
    p = 0.01 + (np.clip(age0, 0, 100) / 100.0) ** 2
    p = np.where(born_during, 0.0, p)
    p *= 0.04 * total / p.sum()
    person = np.flatnonzero(rng.random(total) < p)
    lo = np.maximum(dob[person] + 180, d0 - 3650)
    first_day = (lo + rng.random(person.size) * np.maximum(last - 1 - lo, 1)).astype(np.int32)
    severity = rng.choice(4, size=person.size, p=[0.35, 0.3, 0.25, 0.1]) + 1
    dtype = rng.choice(len(DISABILITY_TYPES), size=person.size, p=[0.35, 0.15, 0.12, 0.15, 0.13, 0.1])
    again = (rng.random(person.size) < 0.15) & (first_day + 180 < last - 1)
    re_person = person[again]
    re_lo = first_day[again] + 180
    re_day = (re_lo + rng.random(re_person.size) * (last - 1 - re_lo)).astype(np.int32)
    re_severity = np.clip(severity[again] + rng.integers(-1, 2, re_person.size), 1, 4)
    all_person = np.concatenate([person, re_person])
    all_day = np.concatenate([first_day, re_day])
    lag = 1 + rng.exponential(10.0, all_person.size).astype(np.int32)
    frame = pl.DataFrame(
        {
            "person": all_person.astype(np.int64),
            "assessment_day": all_day,
            "severity": np.concatenate([severity, re_severity]).astype(np.int8),
            "disability_type": pl.Series(DISABILITY_TYPES).gather(np.concatenate([dtype, dtype[again]])),
            "night": night_of(all_day + lag, nights),
        }
    ).sort(["assessment_day", "person"])
    frame = frame.with_columns(assessment_no=prefixed_codes(rng, frame.height, "AV", 7))
    by_night = []
    for night in nights:
        latest = (
            frame.filter(pl.col("night") <= night.index).group_by("person").agg(pl.col("severity").last())
        )
        sev = np.zeros(total, dtype=np.int8)
        sev[latest["person"].to_numpy()] = latest["severity"].to_numpy()
        by_night.append(sev)
    return frame, by_night
