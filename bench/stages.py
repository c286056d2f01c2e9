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


STAGES: dict[str, Callable[..., dict[str, object]]] = {
    "generate": generate,
    "land": land,
    "standardise": standardise,
}
