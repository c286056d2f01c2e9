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
    eligible by the rules for at least one programme, alive on the drop date, and
    active in none of the programmes they qualify for (one row per programme they
    qualify for).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.population import Population
from synthetic.programmes import ACTIVE, Rules, Simulation

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


def planted_truth(pop: Population, rules: Rules, sim: Simulation) -> pl.DataFrame:
    """Every finding of every kind on every night (see the module docstring)."""
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

    for k, n in enumerate(nights):
        tonight = active.filter(pl.col("night") == k)
        served = np.zeros(pop.size, dtype=bool)
        any_eligible = np.zeros(pop.size, dtype=bool)
        for pid, eligible in sim.eligible[k].items():
            receiving = np.zeros(pop.size, dtype=bool)
            receiving[tonight.filter(pl.col("programme_id") == pid)["person"].to_numpy()] = True
            served |= eligible & receiving
            any_eligible |= eligible
        gap = any_eligible & ~served & pop.alive_on(n.drop_day)
        for pid, eligible in sim.eligible[k].items():
            who = np.flatnonzero(gap & eligible)
            frame = pl.DataFrame({"person": who, "programme_id": pid, "night": k})
            parts.append(_rows("gap", frame, labels))

    truth = pl.concat([p.cast(SCHEMA) for p in parts])
    return truth.sort("night", "kind", "programme_id", "true_person_id")
