"""The stages the benchmark times, each run in a fresh child process by `bench.run`.

A stage is a function of the deployment home; later issues add theirs here
(linkage, registry, reports, checks, a full night).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

from ingest.contracts import load_contracts
from ingest.landing import Lander
from matching.linkage import LinkageConfig, link_night
from matching.standardise import build_staging, register_functions
from pipelines.settings import drop_nights, settings_from_env


def _work_db(home: Path) -> duckdb.DuckDBPyConnection:
    settings = settings_from_env(home)
    settings.work_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.work_db))
    register_functions(con)
    return con


def generate(home: Path, people: int, nights: int, seed: int) -> dict[str, object]:
    from synthetic import generate as generate_country

    summary = generate_country(home, people=people, nights=nights, seed=seed)
    records = summary.get("records_per_source", {})
    return {"records": sum(records.values()) if isinstance(records, dict) else None}


def land(home: Path, **_: object) -> dict[str, object]:
    """Land every source's drops of the first night into a fresh working database."""
    settings = settings_from_env(home)
    night = drop_nights(settings)[0]
    contracts = load_contracts(settings.sources_dir)
    with _work_db(home) as con:
        lander = Lander(con, home, night)
        results = [r for c in contracts.values() for r in lander.land_source(c)]
    return {"rows": sum(r.rows_in for r in results), "files": len(results)}


def standardise(home: Path, **_: object) -> dict[str, object]:
    """Build staging (person records and facts) as of the first night."""
    settings = settings_from_env(home)
    night: date = drop_nights(settings)[0]
    with _work_db(home) as con:
        summary = build_staging(con, home, load_contracts(settings.sources_dir), night)
    return {"rows": summary.person_records}


def link(home: Path, **_: object) -> dict[str, object]:
    """Link every staged record of the first night (trains the model: no saved one in a fresh home)."""
    settings = settings_from_env(home)
    night = drop_nights(settings)[0]
    with _work_db(home) as con:
        summary = link_night(con, home, night, LinkageConfig(retrain=True))
    metrics = summary.metrics.as_dict() if summary.metrics else {}
    return {
        "rows": summary.records,
        "comparisons": summary.comparisons,
        "persons": summary.persons,
        "seconds_by_step": summary.seconds,
        **{k: round(float(v), 4) for k, v in metrics.items() if k.startswith(("pairwise", "bcubed"))},
    }


def plain_splink(home: Path, **_: object) -> dict[str, object]:
    """The tutorial-style baseline on the same staged records (bench/plain_splink.py)."""
    from bench.plain_splink import run_plain_splink

    settings = settings_from_env(home)
    spill = home / "state" / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    result = run_plain_splink(
        settings.work_db, home / "truth" / "records.parquet", spill, LinkageConfig().memory_limit
    )
    return {"rows": result.get("pairs_over_0_9"), **result}


STAGES: dict[str, Callable[..., dict[str, object]]] = {
    "generate": generate,
    "land": land,
    "standardise": standardise,
    "link": link,
    "plain_splink": plain_splink,
}
