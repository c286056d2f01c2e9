"""The stages the benchmark times, each run in a fresh child process by `bench.run`.

A stage is a function of the deployment home; later issues add theirs here
(linkage, registry, reports, checks, a full night).

Incremental linkage (needs `--nights 2` or more, after generate,land,standardise,link):

- `standardise_next` lands and standardises the second night. The generated second
  night brings about 0.8% new records (births, new enrolments, late filers) and almost
  no changed ones (the payroll snapshots are re-sent as they were), so the stage also
  edits the linkage fields of 0.2% of the first night's records in
  `staging.person_records` (a name corrected to the true one, a first-name typo, a new
  phone number, a move to another district): about 1% of records new or changed. The
  drop files stay as generated. It reports the shares it measured.
- `link_full_next` re-links the whole second night with the first night's model;
- `link_incremental` links the second night incrementally (new and changed records only).

Both link the second night from the same state (the first night's links), whichever
runs first; the second of the two reports how far their person assignments agree.
`bench.run` prints their wall-time ratio.

Whole nights (bench/night.py), in their own home `<home>/night/`, after generate:

- `night`: the nightly Dagster job for the first drop night, as `ibr run` runs it
  (land, standardise, link and train, registry, findings, every check, publish,
  reports); reports the seconds per step and the checks' seconds and share.
- `night_incremental`: the second drop night after `night`, with about 1% of records
  new or changed (its Parquet drops edited first), linked incrementally;
- `night_daily`: the day after `night`, from the same state: about 1% of records new or
  changed and every other record sent again unchanged;
- `night_floor`: the second night of a 1,000-person country, the fixed cost of a night.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

from bench.night import night, night_daily, night_floor, night_incremental
from core.sqlutil import literal
from ingest.contracts import load_contracts
from ingest.landing import Lander
from matching.config import LinkageConfig
from matching.incremental import compare_assignments, fingerprint_sql
from matching.link_input import LINK_FIELDS
from matching.linkage import LinkageSummary, link_night
from pipelines.settings import drop_nights, settings_from_env
from staging.standardise import build_staging, register_functions


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


# records of the first night whose linkage fields standardise_next edits, per thousand
EDITED_PER_MILLE = 2


def standardise_next(home: Path, **_: object) -> dict[str, object]:
    """Land and standardise the second night; edit 0.2% of the first night's records (module docstring)."""
    settings = settings_from_env(home)
    nights = drop_nights(settings)
    if len(nights) < 2:
        raise SystemExit("standardise_next needs a country of two nights or more (--nights 2)")
    first, second = nights[:2]
    contracts = load_contracts(settings.sources_dir)
    with _work_db(home) as con:
        lander = Lander(con, home, second)
        for contract in contracts.values():
            lander.land_source(contract)
        summary = build_staging(con, home, contracts, second)
        con.execute(
            "create temp table _truth as select r.source, r.source_record_id, p.first_name, p.last_name, "
            "p.admin2 from read_parquet($records) r join read_parquet($people) p using (true_person_id)",
            {
                "records": str(home / "truth" / "records.parquet"),
                "people": str(home / "truth" / "people.parquet"),
            },
        )
        edited = con.execute(
            """
            update staging.person_records s set
                last_name = case e.kind when 0 then ibr_clean_name(t.last_name) else s.last_name end,
                first_name = case e.kind when 0 then ibr_clean_name(t.first_name)
                                         when 1 then left(s.first_name, -1) else s.first_name end,
                phone = case e.kind when 2 then lpad(cast(e.h % 1000000000 as varchar), 9, '9') else s.phone end,
                admin2 = case e.kind when 3 then coalesce(
                    (select min(a.admin2) from staging.person_records a
                     where a.admin1 = s.admin1 and a.admin2 > s.admin2), s.admin2) else s.admin2 end
            from (
                select source, source_record_id, h, h % 4 as kind
                from (select source, source_record_id, hash(source || ':' || source_record_id || ':edit') as h
                      from staging.person_records)
                where h % 1000 < $per_mille
            ) e
            left join _truth t using (source, source_record_id)
            where s.source = e.source and s.source_record_id = e.source_record_id
              and s.source || ':' || s.source_record_id in (
                  select record_key from linkage.record_person where night = $first)
            """,
            {"per_mille": EDITED_PER_MILLE, "first": first},
        ).fetchall()[0][0]
        total, new, changed, removed = con.execute(
            f"""
            with tonight as (
                select source || ':' || source_record_id as record_key, {fingerprint_sql(LINK_FIELDS)} as fingerprint
                from staging.person_records
            ),
            before as (select record_key, link_fingerprint from linkage.record_person where night = $first)
            select count(*), count(*) filter (where b.record_key is null),
                   count(*) filter (where b.link_fingerprint <> t.fingerprint),
                   (select count(*) from before anti join tonight using (record_key))
            from tonight t left join before b using (record_key)
            """,
            {"first": first},
        ).fetchall()[0]
    return {
        "rows": summary.person_records,
        "edited": edited,
        "new": new,
        "changed": changed,
        "removed": removed,
        "share_new_or_changed": round((new + changed) / total, 5),
    }


def _link_next(home: Path, mode: str, other: str) -> dict[str, object]:
    """Link the second night in `mode`; keep its assignment and compare it with `other`'s when that ran first."""
    settings = settings_from_env(home)
    night = drop_nights(settings)[1]
    keep = home / "state" / f"bench_{mode}_next.parquet"
    earlier = home / "state" / f"bench_{other}_next.parquet"
    with _work_db(home) as con:
        summary: LinkageSummary = link_night(con, home, night, LinkageConfig(mode=mode))
        con.execute(
            "create temp table _tonight as select record_key, person_id from linkage.record_person where night = $n",
            {"n": night},
        )
        con.execute(f"copy _tonight to {literal(str(keep))} (format parquet)")
        agreement = None
        if earlier.exists():
            con.execute("create temp table _other as select * from read_parquet($p)", {"p": str(earlier)})
            agreement = compare_assignments(con, "select * from _tonight", "select * from _other")
    metrics = summary.metrics.as_dict() if summary.metrics else {}
    return {
        "rows": summary.records,
        "mode": summary.mode,
        "records_scored": summary.records_scored,
        "comparisons": summary.comparisons,
        "carried_pairs": summary.carried_pairs,
        "persons": summary.persons,
        "seconds_by_step": summary.seconds,
        **{k: round(float(v), 4) for k, v in metrics.items() if k.startswith(("pairwise", "bcubed"))},
        **(
            {
                "agreement_pairwise": round(agreement.pairwise_agreement, 6),
                "agreement_identical_clusters": round(agreement.identical_clusters, 6),
                "agreement_same_person_id": round(agreement.same_person_id, 6),
            }
            if agreement
            else {}
        ),
    }


def link_full_next(home: Path, **_: object) -> dict[str, object]:
    """Re-link the whole second night with the first night's model."""
    return _link_next(home, "full", "incremental")


def link_incremental(home: Path, **_: object) -> dict[str, object]:
    """Link the second night incrementally: only new and changed records are scored."""
    return _link_next(home, "incremental", "full")


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
    "standardise_next": standardise_next,
    "link_full_next": link_full_next,
    "link_incremental": link_incremental,
    "night": night,
    "night_daily": night_daily,  # before night_incremental: it copies the state `night` left
    "night_incremental": night_incremental,
    "night_floor": night_floor,
}
