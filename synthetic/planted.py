"""The planted truth: which delivery errors hold on which night, read off the payrolls.

Nothing here is sampled: every finding is computed from what the drops actually
say that night (active payroll rows, registered deaths, declared incomes) and from
the rules, so a finding labelled on a night is there to be found on that night.

One row per (kind, person, programme, night):

``deceased_paid``
    active on a payroll whose period starts after the person's date of death, the
    death being registered in a civil registry drop of that night or earlier;
``exclusive_overlap``
    active in two or more programmes of one exclusive group (one row per programme);
``duplicate_enrolment``
    two or more active records of the same person in one programme;
``inclusion_error``
    active in a means-tested programme with a declared income above its threshold;
``gap``
    eligible for at least one programme by the rules applied to what the drops show
    (see ``observed_gaps``), not registered dead by the drop date, and active in none
    of the programmes they qualify for (one row per programme they qualify for).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.geography import Gazetteer
from synthetic.population import Population
from synthetic.programmes import ACTIVE, Rules, Simulation, evaluate, golden_frame

KINDS = ("deceased_paid", "exclusive_overlap", "duplicate_enrolment", "gap", "inclusion_error")
SCHEMA = pl.Schema(
    {"kind": pl.String, "true_person_id": pl.Int64, "programme_id": pl.String, "night": pl.String}
)


def _rows(kind: str, frame: pl.DataFrame, nights: list[str]) -> pl.DataFrame:
    """``frame`` (person, programme_id, night index) as truth rows."""
    return frame.select(
        pl.lit(kind).alias("kind"),
        (pl.col("person") + 1).cast(pl.Int64).alias("true_person_id"),
        pl.col("programme_id").cast(pl.String),
        pl.col("night")
        .cast(pl.Int64)
        .replace_strict(dict(enumerate(nights)), return_dtype=pl.String)
        .alias("night"),
    )


def planted_truth(
    pop: Population, geo: Gazetteer, rules: Rules, sim: Simulation, seen: pl.DataFrame
) -> pl.DataFrame:
    """Every finding of every kind on every night (see the module docstring).

    ``seen`` lists who appears in which drop (see ``observed_gaps``).
    """
    nights = pop.nights
    labels = [n.folder for n in nights]
    active = sim.payroll.filter(pl.col("status") == ACTIVE)
    person = active["person"].to_numpy()
    night = active["night"].to_numpy()
    drop_day = np.array([n.drop_day for n in nights])[night]
    period_start = np.array([n.period_start_day for n in nights])[night]
    parts = []

    dead = (pop.dod[person] < period_start) & (pop.death_reg_day[person] < drop_day)
    parts.append(
        _rows(
            "deceased_paid",
            active.filter(pl.Series(dead)).unique(["person", "programme_id", "night"]),
            labels,
        )
    )

    for group in rules.exclusive:
        in_group = active.filter(pl.col("programme_id").is_in(list(group))).unique(
            ["person", "programme_id", "night"]
        )
        both = in_group.filter(pl.col("programme_id").n_unique().over("person", "night") > 1)
        parts.append(_rows("exclusive_overlap", both, labels))

    twice = active.group_by("person", "programme_id", "night").agg(pl.col("copy").n_unique().alias("n"))
    parts.append(_rows("duplicate_enrolment", twice.filter(pl.col("n") > 1), labels))

    income = np.stack(pop.income_by_night)[night, person]
    thresholds = {
        p.programme_id: p.income_annual_max for p in rules.programmes if p.income_annual_max is not None
    }
    limit = (
        active.select(
            pl.col("programme_id").replace_strict(thresholds, default=None, return_dtype=pl.Float64)
        )
        .to_series()
        .to_numpy()
    )
    with np.errstate(invalid="ignore"):
        above = ~np.isnan(limit.astype(float)) & (income > limit.astype(float))
    parts.append(
        _rows(
            "inclusion_error",
            active.filter(pl.Series(above)).unique(["person", "programme_id", "night"]),
            labels,
        )
    )

    parts.append(observed_gaps(pop, geo, rules, sim, seen))
    truth = pl.concat([p.cast(SCHEMA) for p in parts])
    return truth.sort("night", "kind", "programme_id", "true_person_id")


def observed_gaps(
    pop: Population, geo: Gazetteer, rules: Rules, sim: Simulation, seen: pl.DataFrame
) -> pl.DataFrame:
    """The gaps a registry with perfect linkage could find from the drops of each night.

    ``seen`` has one row per (night index, person, source kind, lists_household): every
    record of every drop. A person no drop up to the night names is invisible to any
    registry; a household size is known only where a drop lists the household; a
    disability severity only from the disability registry, an income only from the tax
    registry; a death only once registered by the drop date. The rules are then applied
    to those values, as the warehouse applies them to its golden record. (Scoring the
    warehouse against the true attributes instead would count as missed gaps people
    that nothing in the drops reveals.)
    """
    labels = [n.folder for n in pop.nights]
    active = sim.payroll.filter(pl.col("status") == ACTIVE)
    parts = []
    for k, night in enumerate(pop.nights):
        upto = seen.filter(pl.col("night") <= k)

        def people_in(frame: pl.DataFrame) -> np.ndarray:
            mask = np.zeros(pop.size, dtype=bool)
            mask[frame["person"].unique().to_numpy()] = True
            return mask

        visible = people_in(upto)
        assessed = people_in(upto.filter(pl.col("kind") == "disability_registry"))
        declared = people_in(upto.filter(pl.col("kind") == "tax_registry"))
        listed_households = np.unique(pop.household[people_in(upto.filter(pl.col("lists_household")))])
        household_known = np.isin(pop.household, listed_households)
        registered_dead = pop.death_reg_day < night.drop_day

        golden = golden_frame(pop, geo, night)
        person = golden["person"].to_numpy()
        observed = golden.with_columns(
            disability_severity=pl.when(pl.Series(assessed[person])).then(pl.col("disability_severity")),
            income_annual=pl.when(pl.Series(declared[person])).then(pl.col("income_annual")),
            household_size=pl.when(pl.Series(household_known[person])).then(pl.col("household_size")),
            is_deceased=pl.Series(registered_dead[person] & (pop.dod[person] < night.period_start_day)),
        ).filter(pl.Series(visible[person]))
        eligible, _ = evaluate(rules, observed, pop.size)

        tonight = active.filter(pl.col("night") == k)
        served = np.zeros(pop.size, dtype=bool)
        any_eligible = np.zeros(pop.size, dtype=bool)
        for pid, qualifies in eligible.items():
            receiving = np.zeros(pop.size, dtype=bool)
            receiving[tonight.filter(pl.col("programme_id") == pid)["person"].to_numpy()] = True
            served |= qualifies & receiving
            any_eligible |= qualifies
        gap = any_eligible & ~served & ~registered_dead
        for pid, qualifies in eligible.items():
            who = np.flatnonzero(gap & qualifies)
            parts.append(_rows("gap", pl.DataFrame({"person": who, "programme_id": pid, "night": k}), labels))
    return pl.concat(parts)
