"""``generate``: a whole synthetic country written into a home folder.

The steps, each in its own module: invent names and the map (``names``,
``geography``), draw the population (``population``), enrol people by the rules and
plant delivery errors (``programmes``), read off the planted truth (``planted``),
build each source's records (``sources``), render and write the drops with a few bad
rows (``writer``), then write the truth beside them.
"""

from __future__ import annotations

import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from synthetic.geography import build_gazetteer
from synthetic.names import build_name_bank
from synthetic.nights import make_nights
from synthetic.noise import noise_profile, rates_for
from synthetic.planted import KINDS, planted_truth
from synthetic.population import RELATIONSHIPS, SEVERITIES, build_population
from synthetic.programmes import load_rules, simulate
from synthetic.rng import stream
from synthetic.sources import BUILDERS, STYLES, Context, Contract, Style, dates, read_contract
from synthetic.writer import extension, plant_bad_rows, render, write_file

REPO = Path(__file__).resolve().parents[1]
REPO_SOURCES = REPO / "sources"
REPO_PROGRAMMES = REPO / "programmes.yaml"
REPO_COUNTRY = REPO / "reference" / "country.yaml"


def planted_count(people: int) -> int:
    """How many of each planted error to seed: a few dozen at 20,000 people, scaling with N."""
    return max(12, round(people * 0.0015))


def _copy_configuration(home: Path) -> dict[str, Path]:
    """The contracts, rules and country settings a deployment copies, into ``home``."""
    sources = home / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for path in sorted(REPO_SOURCES.glob("*.yaml")):
        shutil.copyfile(path, sources / path.name)
    shutil.copyfile(REPO_PROGRAMMES, home / "programmes.yaml")
    shutil.copyfile(REPO_COUNTRY, home / "country.yaml")
    return {"sources": sources, "programmes": home / "programmes.yaml", "country": home / "country.yaml"}


def _check_programmes(contracts: list[Contract], programme_ids: list[str]) -> None:
    with_source = {str(c.programme_id) for c in contracts if c.kind == "programme"}
    missing = sorted(set(programme_ids) - with_source)
    unknown = sorted(with_source - set(programme_ids))
    if missing or unknown:
        raise ValueError(
            f"programmes.yaml and sources/ disagree: programmes without a source contract: {missing}; "
            f"programme contracts without a programme: {unknown}"
        )


def _people_table(ctx: Context) -> pl.DataFrame:
    """The true population, one row per person, for evaluation (never in the drops)."""
    pop, names, geo = ctx.pop, ctx.names, ctx.geo
    admin2 = pop.hh_admin2[pop.household]
    locality = pop.hh_locality[pop.household]
    g2 = pop.given2
    last_night = len(pop.nights) - 1
    first_type = (
        pop.assessments.sort("assessment_day").group_by("person").agg(pl.col("disability_type").first())
    )
    disability_type = pl.Series([None] * pop.size, dtype=pl.String).scatter(
        first_type["person"].to_numpy(), first_type["disability_type"]
    )
    return pl.DataFrame(
        {
            "true_person_id": np.arange(1, pop.size + 1, dtype=np.int64),
            "true_household_id": pop.household.astype(np.int64) + 1,
            "relationship_to_head": pl.Series(RELATIONSHIPS).gather(pop.relationship.astype(np.int64)),
            "first_name": names.given.gather(pop.given1),
            "middle_name": pl.select(
                pl.when(pl.Series(g2 >= 0)).then(names.given.gather(np.maximum(g2, 0)))
            ).to_series(),
            "last_name": names.surnames.gather(pop.surname_current),
            "birth_surname": names.surnames.gather(pop.surname_birth),
            "sex": np.where(pop.female, "F", "M"),
            "date_of_birth": pl.Series(pop.dob).cast(pl.Date),
            "date_of_death": dates(pop.dod),
            "death_registered_date": dates(pop.death_reg_day),
            "born_during_simulation": pop.born_during,
            "national_id": pop.national_id,
            "phone": pop.phone,
            "civil_registration_number": pop.birth_reg_no,
            "tax_number": pop.tax_number,
            "income_annual": pl.Series(pop.income_by_night[last_night]).fill_nan(None),
            "disability_severity": pl.Series([None, *SEVERITIES], dtype=pl.String).gather(
                pop.severity_by_night[last_night].astype(np.int64)
            ),
            "disability_type": disability_type,
            "admin1": geo.admin1_code.gather(geo.admin2_admin1[admin2]),
            "admin2": geo.admin2_code.gather(admin2),
            "locality": geo.locality_name.gather(locality),
            "address_line": pop.hh_address.gather(pop.household),
            "postcode": geo.locality_postcode.gather(locality),
        }
    )


def generate(
    home: Path,
    people: int = 20_000,
    nights: int = 3,
    seed: int = 42,
    noise: str = "default",
    start: date = date(2026, 2, 1),
) -> dict[str, Any]:
    """Generate a synthetic country into ``home``: contracts, rules, drops and the truth.

    Writes ``sources/*.yaml``, ``programmes.yaml``, ``country.yaml``,
    ``reference/admin_areas.csv``, ``drops/<source>/<YYYY-MM-DD>/`` (one folder per
    night; night k is ``start`` plus k months, its payrolls for the month before) and
    ``truth/`` (records, planted, people, bad_rows). Files it generates are
    overwritten; nothing else in ``home`` is touched. The same arguments give
    byte-identical drop files.

    >>> summary = generate(Path("data"), people=5_000, nights=2)  # doctest: +SKIP
    >>> summary["nights"]  # doctest: +SKIP
    ['2026-02-01', '2026-03-01']
    """
    started = time.perf_counter()
    home = Path(home)
    profile = noise_profile(noise)
    night_list = make_nights(start, nights)
    contracts = [read_contract(p) for p in sorted(REPO_SOURCES.glob("*.yaml"))]
    rules = load_rules(REPO_PROGRAMMES)
    _check_programmes(contracts, rules.ids)
    for contract in contracts:
        if contract.kind not in BUILDERS:
            raise ValueError(
                f"source {contract.name!r}: kind {contract.kind!r} has no generator; "
                f"allowed: {', '.join(BUILDERS)}"
            )

    paths = _copy_configuration(home)
    geo = build_gazetteer()
    reference = home / "reference"
    reference.mkdir(parents=True, exist_ok=True)
    geo.areas.write_csv(reference / "admin_areas.csv")
    names = build_name_bank(stream(seed, "names"))
    pop = build_population(people, night_list, seed, names, geo)
    sim = simulate(pop, geo, rules, seed, planted_count(people))
    ctx = Context(pop=pop, names=names, geo=geo, sim=sim, seed=seed)

    drops_root = home / "drops"
    record_parts: list[pl.DataFrame] = []
    seen_parts: list[pl.DataFrame] = []
    bad_rows: list[dict[str, str]] = []
    rows: dict[str, dict[str, int]] = {}
    for contract in contracts:
        style = STYLES.get(contract.name, Style(record_prefix=contract.name[:3].upper()))
        drops = BUILDERS[contract.kind](ctx, contract, style, rates_for(profile, contract.name))
        rng = stream(seed, "writer", contract.name)
        rows[contract.name] = {}
        for drop in drops:
            rendered = render(contract, drop, rng, style.amount_as_text)
            person = drop.frame.sort("_record_id")["_person"].to_numpy()
            if noise == "clean":
                bad: list[dict[str, str]] = []
            else:
                rendered, bad = plant_bad_rows(contract, rendered, person, sim.planted_people, rng)
            name = drop.name + extension(contract)
            write_file(contract, rendered, drops_root / contract.name / drop.night.folder / name)
            bad_rows += [
                {"source": contract.name, "file_name": name, "night": drop.night.folder, **b} for b in bad
            ]
            night_rows = rows[contract.name]
            night_rows[drop.night.folder] = night_rows.get(drop.night.folder, 0) + rendered.height
            seen_parts.append(
                drop.frame.select(
                    pl.lit(drop.night.index).alias("night"),
                    pl.col("_person").alias("person"),
                    pl.lit(contract.kind).alias("kind"),
                    pl.lit("household_id" in drop.frame.columns).alias("lists_household"),
                )
            )
            record_parts.append(
                drop.frame.select(
                    pl.lit(contract.name).alias("source"),
                    pl.col("_record_id").alias("source_record_id"),
                    (pl.col("_person") + 1).alias("true_person_id"),
                )
            )

    planted = planted_truth(pop, geo, rules, sim, pl.concat(seen_parts))
    truth = home / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    records = (
        pl.concat(record_parts).unique(["source", "source_record_id"]).sort("source", "source_record_id")
    )
    records.write_parquet(truth / "records.parquet")
    planted.write_parquet(truth / "planted.parquet")
    _people_table(ctx).write_parquet(truth / "people.parquet")
    bad_schema = {
        k: pl.String for k in ("source", "file_name", "night", "source_record_id", "reason", "field")
    }
    pl.DataFrame(bad_rows, schema=bad_schema).write_parquet(truth / "bad_rows.parquet")

    per_source = records.group_by("source").len().sort("source")
    counts = planted.group_by("kind").agg(pl.struct("true_person_id", "programme_id", "night").n_unique())
    return {
        "people": pop.size,
        "people_at_start": people,
        "households": pop.households,
        "records_per_source": dict(
            zip(per_source["source"].to_list(), per_source["len"].to_list(), strict=True)
        ),
        "rows_per_night": rows,
        "nights": [n.folder for n in night_list],
        "planted": {k: int(dict(counts.iter_rows()).get(k, 0)) for k in KINDS},
        "bad_rows": len(bad_rows),
        "seconds": round(time.perf_counter() - started, 2),
        "paths": {
            "home": str(home),
            "drops": str(drops_root),
            "truth": str(truth),
            "reference": str(reference / "admin_areas.csv"),
            **{k: str(v) for k, v in paths.items()},
        },
    }
