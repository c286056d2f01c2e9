"""Programme rules (``programmes.yaml``) and who the synthetic ministries enrol.

Eligibility comes from the rules file, evaluated with DuckDB over the true
population laid out as the warehouse's golden record (``golden_frame``), so the
truth follows the same rules the warehouse applies and there is no second copy of
them in Python. Enrolment then follows delivery habits that are not rules
(``DELIVERY``): about 90 % of eligible people are enrolled, each person keeps a
stable draw so the same people stay enrolled night after night, exclusive
programmes are not combined, and a few per cent are suspended in a given month.

On top of that, planted delivery errors are forced in (a few dozen each at 20,000
people, scaling with the population): deceased people kept on a payroll, people
added to a programme that excludes one they receive, people enrolled twice, and
people enrolled although their income is above a means test. Whether each one
really shows on a night is computed afterwards from the payrolls
(``synthetic.planted``), never assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import yaml

from synthetic.geography import Gazetteer
from synthetic.nights import NO_DATE, Night, age_in_years, day_number
from synthetic.population import SEVERITIES, Population
from synthetic.rng import stream

GOLDEN_COLUMNS = (
    "age_years", "sex", "disability_severity", "income_annual", "is_deceased", "household_size", "admin1", "admin2",
)  # fmt: skip
STATUSES = ("active", "suspended", "exited")
ACTIVE, SUSPENDED, EXITED = range(3)
PROGRAMME_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class RulesError(ValueError):
    """``programmes.yaml`` is invalid; the message names the programme and the key."""


@dataclass(frozen=True)
class ProgrammeRule:
    """One programme of ``programmes.yaml``."""

    programme_id: str
    name: str
    ministry: str
    benefit_type: str
    benefit_value_monthly: float
    eligibility: str
    income_annual_max: float | None = None
    benefit_value_min: float | None = None
    benefit_value_max: float | None = None


@dataclass(frozen=True)
class Rules:
    programmes: tuple[ProgrammeRule, ...]
    exclusive: tuple[tuple[str, ...], ...]

    @property
    def ids(self) -> list[str]:
        return [p.programme_id for p in self.programmes]


def load_rules(path: Path) -> Rules:
    """Read and check ``programmes.yaml``."""
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if not isinstance(raw, dict) or not isinstance(raw.get("programmes"), list):
        raise RulesError(f"{path}: expected a mapping with a 'programmes' list")
    programmes = []
    for i, item in enumerate(raw["programmes"]):
        where = f"{path}: programmes[{i}]"
        if not isinstance(item, dict):
            raise RulesError(f"{where}: must be a mapping")
        for key in (
            "programme_id",
            "name",
            "ministry",
            "benefit_type",
            "benefit_value_monthly",
            "eligibility",
        ):
            if key not in item:
                raise RulesError(f"{where}: '{key}' missing")
        pid = str(item["programme_id"])
        if not PROGRAMME_ID.match(pid):
            raise RulesError(f"{where}: programme_id {pid!r} must match {PROGRAMME_ID.pattern}")
        if ";" in str(item["eligibility"]):
            raise RulesError(f"{where} ({pid}): 'eligibility' must be one SQL expression, without ';'")
        means = item.get("means_test") or {}
        programmes.append(
            ProgrammeRule(
                programme_id=pid,
                name=str(item["name"]),
                ministry=str(item["ministry"]),
                benefit_type=str(item["benefit_type"]),
                benefit_value_monthly=float(item["benefit_value_monthly"]),
                eligibility=str(item["eligibility"]),
                income_annual_max=float(means["income_annual_max"]) if "income_annual_max" in means else None,
                benefit_value_min=float(item["benefit_value_min"]) if "benefit_value_min" in item else None,
                benefit_value_max=float(item["benefit_value_max"]) if "benefit_value_max" in item else None,
            )
        )
    ids = {p.programme_id for p in programmes}
    groups = []
    for group in raw.get("exclusive", []) or []:
        unknown = [g for g in group if g not in ids]
        if unknown:
            raise RulesError(
                f"{path}: exclusive group {group}: unknown programme(s) {unknown}; known: {sorted(ids)}"
            )
        groups.append(tuple(str(g) for g in group))
    return Rules(tuple(programmes), tuple(groups))


@dataclass(frozen=True)
class Delivery:
    """How the synthetic country runs a programme: habits, not rules."""

    coverage: float = 0.9  # share of eligible people enrolled
    unit: str = "person"  # "household": one draw per household, so members are in or out together
    launched: date = date(2012, 1, 1)
    plant_weight: float = 1.0  # relative share of the planted delivery errors


DELIVERY: dict[str, Delivery] = {
    "old_age_pension": Delivery(coverage=0.9, launched=date(2009, 7, 1), plant_weight=4.0),
    "child_grant": Delivery(coverage=0.88, launched=date(2014, 1, 1), plant_weight=1.5),
    "disability_allowance": Delivery(coverage=0.9, launched=date(2016, 4, 1), plant_weight=1.5),
    "public_works": Delivery(coverage=0.9, launched=date(2019, 9, 1)),
    "cash_transfer": Delivery(coverage=0.9, unit="household", launched=date(2017, 1, 1)),
}


def golden_frame(pop: Population, geo: Gazetteer, night: Night) -> pl.DataFrame:
    """The true population as the golden record sees it for ``night``'s paid period: one row
    per person born by the end of the period. ``is_deceased`` means dead before the period
    began (so not entitled to it); ages are at the end of the period."""
    exists = np.flatnonzero(pop.dob <= night.period_end_day)
    admin2 = pop.hh_admin2[pop.household[exists]]
    severity = pop.severity_by_night[night.index][exists]
    income = pop.income_by_night[night.index][exists]
    return pl.DataFrame(
        {
            "person": exists.astype(np.int64),
            "age_years": age_in_years(pop.dob[exists], night.period_end_day),
            "sex": np.where(pop.female[exists], "F", "M"),
            "disability_severity": pl.Series([None, *SEVERITIES], dtype=pl.String).gather(
                severity.astype(np.int64)
            ),
            "income_annual": pl.Series(income).fill_nan(None),
            "is_deceased": pop.dod[exists] < night.period_start_day,
            "household_size": pop.household_size_on(night.period_end_day)[exists].astype(np.int32),
            "admin1": geo.admin1_code.gather(geo.admin2_admin1[admin2]),
            "admin2": geo.admin2_code.gather(admin2),
        }
    )


def evaluate(
    rules: Rules, golden: pl.DataFrame, size: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per programme, over all ``size`` people: (eligible, passes the rule without the means test).

    The expressions are the rules file's own SQL, by design; values (the means-test
    thresholds) go in as parameters. People absent from ``golden`` are not eligible.
    """
    selects, params = ["person"], []
    for i, p in enumerate(rules.programmes):
        selects.append(f"coalesce(({p.eligibility}), false) as rule_{i}")
        if p.income_annual_max is None:
            selects.append(f"true as means_{i}")
        else:
            selects.append(f"(income_annual is null or income_annual <= ?) as means_{i}")
            params.append(p.income_annual_max)
    sql = "select " + ", ".join(selects) + " from golden order by person"  # noqa: S608 - rules file SQL by design
    con = duckdb.connect()
    try:
        con.register("golden", golden.to_arrow())
        try:
            result = con.execute(sql, params).fetchnumpy()
        except duckdb.Error as exc:
            raise RulesError(f"programmes.yaml: an eligibility expression failed in DuckDB: {exc}") from None
    finally:
        con.close()
    person = np.asarray(result["person"])
    eligible, rule_ok = {}, {}
    for i, p in enumerate(rules.programmes):
        rule = np.zeros(size, dtype=bool)
        rule[person] = np.asarray(result[f"rule_{i}"], dtype=bool)
        means = np.zeros(size, dtype=bool)
        means[person] = np.asarray(result[f"means_{i}"], dtype=bool)
        rule_ok[p.programme_id] = rule
        eligible[p.programme_id] = rule & means
    return eligible, rule_ok


@dataclass
class Simulation:
    """Enrolments and what they were drawn from.

    ``payroll`` has one row per (night, programme, person, copy) present on that night's
    payroll, with ``status`` (an index into ``STATUSES``) and ``amount``; ``copy`` 1 is a
    planted second enrolment of the same person. ``enrolment_day`` has one row per
    (programme, person, copy) ever enrolled.
    """

    payroll: pl.DataFrame
    enrolment_day: pl.DataFrame
    eligible: list[dict[str, np.ndarray]]  # per night
    planted_people: np.ndarray  # bool per person: involved in some planted error
    forced: dict[str, list[tuple[str, np.ndarray]]] = field(
        default_factory=dict
    )  # kind -> (programme, persons)


def _choose(rng: np.random.Generator, pool: np.ndarray, count: int, taken: np.ndarray) -> np.ndarray:
    """Up to ``count`` people from the boolean ``pool``, none already ``taken``; marks them taken."""
    candidates = np.flatnonzero(pool & ~taken)
    chosen = np.sort(rng.choice(candidates, size=min(count, candidates.size), replace=False))
    taken[chosen] = True
    return chosen


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` split over ``weights``, each part at least 2."""
    if not weights:
        return []
    w = np.asarray(weights, dtype=float)
    return [max(2, int(round(total * x))) for x in w / w.sum()]


def simulate(pop: Population, geo: Gazetteer, rules: Rules, seed: int, n_plant: int) -> Simulation:
    """Enrol people night by night, plant the delivery errors, and register deaths.

    Changes ``pop``: planted deaths get their date of death, then every death gets its
    registration (``Population.register_deaths``).
    """
    nights = pop.nights
    ids = rules.ids
    delivery = {pid: DELIVERY.get(pid, Delivery()) for pid in ids}
    rng = stream(seed, "programmes", "coverage")
    draw: dict[str, np.ndarray] = {}
    for pid in ids:
        if delivery[pid].unit == "household":
            draw[pid] = rng.random(pop.households)[pop.household]
        else:
            draw[pid] = rng.random(pop.size)
    covered = {pid: draw[pid] < delivery[pid].coverage for pid in ids}
    taken = np.zeros(pop.size, dtype=bool)
    rng = stream(seed, "programmes", "planted")

    # deceased still paid: enrolled people who die, and whom the payroll never drops
    first_eligible, _ = evaluate(rules, golden_frame(pop, geo, nights[0]), pop.size)
    alive_throughout = (pop.dod == NO_DATE) & ~pop.born_during
    zombies: list[tuple[str, np.ndarray]] = []
    for pid, count in zip(ids, _split(n_plant, [delivery[p].plant_weight for p in ids]), strict=True):
        chosen = _choose(rng, first_eligible[pid] & covered[pid] & alive_throughout, count, taken)
        zombies.append((pid, chosen))
    death_lo = nights[0].drop_day - 270
    death_hi = max(nights[-1].period_start_day - 15, death_lo + 1)
    for _, chosen in zombies:
        # nobody dies before being born: a baby's planted death falls after its birth
        lo = np.maximum(death_lo, pop.dob[chosen].astype(np.int64) + 1)
        pop.dod[chosen] = (lo + rng.random(chosen.size) * np.maximum(death_hi - lo, 1)).astype(np.int32)
        pop.death_forced[chosen] = True
    pop.register_deaths(seed)

    # eligibility as the rules say, night by night (now with the planted deaths)
    eligible: list[dict[str, np.ndarray]] = []
    rule_ok: list[dict[str, np.ndarray]] = []
    for night in nights:
        e, r = evaluate(rules, golden_frame(pop, geo, night), pop.size)
        eligible.append(e)
        rule_ok.append(r)

    candidates = [{pid: eligible[k][pid] & covered[pid] for pid in ids} for k in range(len(nights))]
    for k in range(len(nights)):  # exclusive programmes: keep the one with the smallest draw
        for group in rules.exclusive:
            stack = np.vstack([np.where(candidates[k][g], draw[g], np.inf) for g in group])
            best = np.argmin(stack, axis=0)
            for j, g in enumerate(group):
                candidates[k][g] &= best == j

    # planted, chosen among night-0 beneficiaries
    overlap: list[tuple[str, np.ndarray]] = []
    for group, count in zip(rules.exclusive, _split(n_plant, [1.0] * len(rules.exclusive)), strict=True):
        for j, target in enumerate(group):  # receive another programme of the group, then get `target` too
            pool = np.zeros(pop.size, dtype=bool)
            for other in group:
                if other != target:
                    pool |= candidates[0][other]
            share = count // len(group) + (1 if j < count % len(group) else 0)
            overlap.append((target, _choose(rng, pool & ~candidates[0][target], share, taken)))
    means_tested = [p.programme_id for p in rules.programmes if p.income_annual_max is not None]
    inclusion: list[tuple[str, np.ndarray]] = []
    for pid, count in zip(means_tested, _split(n_plant, [1.0] * len(means_tested)), strict=True):
        pool = rule_ok[0][pid] & ~eligible[0][pid] & covered[pid] & (pop.dod >= nights[0].period_start_day)
        inclusion.append((pid, _choose(rng, pool, count, taken)))
    duplicates: list[tuple[str, np.ndarray]] = []
    for pid, count in zip(ids, _split(n_plant, [delivery[p].plant_weight for p in ids]), strict=True):
        duplicates.append((pid, _choose(rng, candidates[0][pid], count, taken)))

    forced_always = {pid: np.zeros(pop.size, dtype=bool) for pid in ids}
    forced_alive = {pid: np.zeros(pop.size, dtype=bool) for pid in ids}
    for pid, chosen in zombies:
        forced_always[pid][chosen] = True
    for pid, chosen in overlap + inclusion:
        forced_alive[pid][chosen] = True

    # statuses night by night; a record leaving the payroll shows once as exited
    rng = stream(seed, "programmes", "payroll")
    parts: list[pl.DataFrame] = []
    present_before = {pid: np.zeros(pop.size, dtype=bool) for pid in ids}
    dup_mask = {pid: np.zeros(pop.size, dtype=bool) for pid in ids}
    for pid, chosen in duplicates:
        dup_mask[pid][chosen] = True
    for k, night in enumerate(nights):
        alive = pop.dod >= night.period_start_day
        for rule in rules.programmes:
            pid = rule.programme_id
            forced = forced_always[pid] | (forced_alive[pid] & alive)
            suspended = candidates[k][pid] & ~forced & (rng.random(pop.size) < 0.01)
            active = (candidates[k][pid] | forced) & ~suspended
            present = active | suspended
            exited = present_before[pid] & ~present
            present_before[pid] = present
            person = np.flatnonzero(present | exited)
            status = np.where(active[person], ACTIVE, np.where(suspended[person], SUSPENDED, EXITED))
            if rule.benefit_value_min is not None and rule.benefit_value_max is not None:
                amount = np.round(
                    rng.uniform(rule.benefit_value_min, rule.benefit_value_max, person.size), -1
                )
            else:
                amount = np.full(person.size, rule.benefit_value_monthly)
            amount = np.where(status == ACTIVE, amount, 0.0)
            frame = pl.DataFrame(
                {"person": person.astype(np.int64), "status": status.astype(np.int8), "amount": amount}
            ).with_columns(night=pl.lit(k, pl.Int16), programme_id=pl.lit(pid), copy=pl.lit(0, pl.Int8))
            dup = frame.filter(pl.Series(dup_mask[pid][person])).with_columns(copy=pl.lit(1, pl.Int8))
            parts.extend([frame, dup])
    payroll = pl.concat(parts).select("night", "programme_id", "person", "copy", "status", "amount")

    enrolment_day = _enrolment_days(pop, payroll, delivery, seed)
    planted_people = taken.copy()
    return Simulation(
        payroll=payroll,
        enrolment_day=enrolment_day,
        eligible=eligible,
        planted_people=planted_people,
        forced={
            "deceased_paid": zombies,
            "exclusive_overlap": overlap,
            "inclusion_error": inclusion,
            "duplicate_enrolment": duplicates,
        },
    )


def _enrolment_days(
    pop: Population, payroll: pl.DataFrame, delivery: dict[str, Delivery], seed: int
) -> pl.DataFrame:
    """One enrolment date per (programme, person, copy), stable across nights.

    Records on the first payroll were enrolled some time before it (within the
    programme's life and the person's); later newcomers were enrolled in their first
    paid month; a duplicate enrolment was registered after the original.
    """
    rng = stream(seed, "programmes", "enrolment-dates")
    nights = pop.nights
    first = (
        payroll.group_by("programme_id", "person", "copy")
        .agg(pl.col("night").min())
        .sort("programme_id", "person", "copy")
    )
    person = first["person"].to_numpy()
    night = first["night"].to_numpy()
    launched = (
        first.select(
            pl.col("programme_id").replace_strict(
                {p: day_number(d.launched) for p, d in delivery.items()}, default=day_number(date(2012, 1, 1))
            )
        )
        .to_series()
        .to_numpy()
    )
    period_start = np.array([n.period_start_day for n in nights])[night]
    period_end = np.array([n.period_end_day for n in nights])[night]
    hi = np.minimum(period_end, np.where(pop.dod[person] == NO_DATE, period_end, pop.dod[person] - 30))
    lo = np.minimum(np.maximum(launched, pop.dob[person] + 1), hi)
    history = hi - np.minimum(rng.exponential(3 * 365.0, person.size), hi - lo)
    newcomer = period_start + rng.random(person.size) * (period_end - period_start)
    day = np.where(night == 0, history, newcomer)
    copy = first["copy"].to_numpy()
    second = day + rng.random(person.size) * np.maximum(period_end - day, 0)
    day = np.where(copy == 1, second, day)
    return first.select("programme_id", "person", "copy").with_columns(
        enrolment_day=pl.Series(np.floor(day).astype(np.int32))
    )
