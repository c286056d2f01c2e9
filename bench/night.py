"""Whole nights for the benchmark: the nightly Dagster job exactly as `ibr run` runs it.

The night stages keep their own deployment home, `<home>/night/`, so that what the
linkage stages (`land`, `link`, `standardise_next`, ...) leave in `<home>/state` never
reaches them: the first night starts from nothing and trains its model, as a new
deployment would. `<home>/night/` links to the generated country (sources, reference,
truth, programmes.yaml, country.yaml: symbolic links) and holds its own `drops/`
(hard links to the generated files, copies where edited), `state/`, `warehouse/`,
`reports/` and `dagster/` (DAGSTER_HOME, the run history the step times are read from).

- `night`: the first drop night (lands, standardises, links and trains, builds the
  registry and findings, runs every check, publishes, renders the ministry and auditor
  reports). Fails unless the night succeeded (every step and blocking check passed).
- `night_incremental`: the second drop night, after `night`, with about 1% of records new
  or changed. The generated second night brings about 0.8% new records and next to no
  changed ones, so `edit_next_drops` rewrites the second night's Parquet drops of the
  snapshot sources (cash_transfer, child_grant, tax_registry: the payroll and register
  snapshots re-sent each month) and edits the name, phone or district of
  `EDITED_PER_MILLE` per thousand of their rows (chosen by a hash of the record id): a
  first-name typo (the last letter dropped), a new phone number (its last digit changed),
  a move to another district of the same province. CSV sources are left as generated:
  their encodings and delimiters stay untouched. The edit runs before the timed night,
  in the same stage (a second or two at 1,000,000 people), and is timed separately.
  `<night>/linkage.yaml` sets `full_relink_weekday: null`: the synthetic nights fall on
  the 1st of the month and 2026-03-01 is a Sunday, the default weekly full re-link day,
  so without it `mode: auto` would re-link in full.
- `night_daily`: the day after `night` (first drop night + 1 day), in a copy of the night
  home made after `night` (`<home>/night_daily/`, outside the timed part), so that it starts
  from the same state as `night_incremental`. A night in which about 1% of records are new
  or changed and nothing else is: the snapshot sources send their file again, the Parquet
  ones with `EDITED_PER_MILLE` per thousand rows edited as above, the records the second
  night's file adds (new enrolments, paid in the file's own month) and without the ones it
  drops (leavers); the CSV ones
  byte for byte (landing records such a file as a duplicate and lands nothing); the delta
  sources send the second night's files (a month of births, deaths and assessments).
  `night_incremental`, the second drop night itself, is a month end: every payroll sends a
  new month for every beneficiary, so about a third of all records change a payment field.
- `night_floor`: what a night costs with next to no data. A country of `FLOOR_PEOPLE`
  people in `<home>/floor/`: its first night runs as `ibr run` in a child process, its
  second night is timed here as the other nights are. Every step, check, report and
  publish runs, so the time is the night's fixed cost (imports, Dagster's run and event
  bookkeeping, Great Expectations), which no incremental logic can remove.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ingest.contracts import Contract, load_contracts
from pipelines.settings import Settings, drop_nights, settings_from_env

NIGHT_DIR = "night"
# what the pipeline and the bench write in a home: never linked into the night home
DAILY_DIR = "night_daily"
FLOOR_DIR = "floor"
NOT_LINKED = {
    "drops",
    "state",
    "warehouse",
    "reports",
    "quarantine",
    "dagster",
    NIGHT_DIR,
    DAILY_DIR,
    FLOOR_DIR,
    "linkage.yaml",
}
# people in the country of night_floor
FLOOR_PEOPLE = 1_000
# rows of the edited sources' second-night drops that edit_next_drops changes, per thousand
EDITED_PER_MILLE = 6
EDIT_SEED = 20260301
# <night home>/linkage.yaml of the measured nights: no weekly full re-link whatever the weekday
NO_WEEKLY_RELINK = (
    "# bench: a night measured incrementally, whatever its weekday\nfull_relink_weekday: null\n"
)


def night_home(home: Path) -> Path:
    return home / NIGHT_DIR


def _link_country(home: Path) -> Path:
    """Create <home>/night linking to the generated country; drops are added night by night."""
    target = night_home(home)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for entry in home.iterdir():
        if entry.name not in NOT_LINKED:
            (target / entry.name).symlink_to(entry.resolve())
    return target


def _link_drops(home: Path, target: Path, night: date, edited: set[Path] | None = None) -> int:
    """Hard-link every drop file of `night` into the night home (files already there are kept)."""
    linked = 0
    for folder in sorted((home / "drops").glob(f"*/{night.isoformat()}")):
        out = target / "drops" / folder.parent.name / folder.name
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            destination = out / path.name
            if destination.exists() or (edited and destination in edited):
                continue
            _link_or_copy(path, destination)
            linked += 1
    return linked


def edit_next_drops(
    home: Path, target: Path, night: date, per_mille: int = EDITED_PER_MILLE
) -> dict[str, Any]:
    """Write `night`'s Parquet drops of the snapshot sources into `target` with some rows edited (module docstring).

    Returns the rows edited per source and per kind of edit.
    """
    contracts = load_contracts(home / "sources")
    edited: dict[str, dict[str, int]] = {}
    for name, contract in sorted(contracts.items()):
        if contract.drop_mode != "snapshot" or contract.file.format != "parquet":
            continue
        name_column = contract.column_for("first_name") or contract.column_for("full_name")
        phone, admin1, admin2 = (contract.column_for(f) for f in ("phone", "admin1", "admin2"))
        if not name_column:
            continue
        for path in sorted((home / "drops" / name / night.isoformat()).glob("*.parquet")):
            frame = pl.read_parquet(path)
            counts = _edit_frame(frame, contract.record_id, name_column, phone, admin1, admin2, per_mille)
            out = target / "drops" / name / night.isoformat() / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            counts["frame"].write_parquet(out)
            per_source = edited.setdefault(name, {"rows": 0, "name": 0, "phone": 0, "district": 0})
            per_source["rows"] += frame.height
            for kind in ("name", "phone", "district"):
                per_source[kind] += counts[kind]
    return edited


def _edit_frame(
    frame: pl.DataFrame,
    record_id: str,
    name_column: str,
    phone: str | None,
    admin1: str | None,
    admin2: str | None,
    per_mille: int,
) -> dict[str, Any]:
    """The frame with `per_mille` per thousand rows edited; kind 0 name, 1 phone, 2 district.

    A row whose chosen field cannot be edited (no phone, no district column, a null value)
    gets the name edit instead, so every chosen row changes.
    """
    h = pl.col(record_id).cast(pl.String).hash(seed=EDIT_SEED)
    work = frame.with_columns(
        (h % 1000 < per_mille).alias("_edit"), ((h // 1000) % 3).cast(pl.Int64).alias("_kind")
    )
    if admin2 and admin2 in frame.columns:
        # another district of the same province (the next one in order, wrapping round)
        group = [admin1] if admin1 and admin1 in frame.columns else []
        districts = (
            frame.select([*group, admin2])
            .drop_nulls()
            .unique()
            .with_columns(pl.lit(0).alias("_all"))
            .sort([*group, admin2])
            .with_columns(pl.col(admin2).shift(-1).over([*group, "_all"]).alias("_next"))
            .with_columns(pl.coalesce("_next", pl.col(admin2).first().over([*group, "_all"])).alias("_next"))
            .drop("_all")
        )
        work = work.join(districts, on=[*group, admin2], how="left", maintain_order="left")
        can_district = pl.col("_next").is_not_null() & (pl.col("_next") != pl.col(admin2))
    else:
        work = work.with_columns(pl.lit(None, dtype=pl.String).alias("_next"))
        can_district = pl.lit(False)
    if phone and phone in frame.columns:
        can_phone = pl.col(phone).str.contains(r"\d$").fill_null(False)
    else:
        can_phone = pl.lit(False)
    kind = (
        pl.when(pl.col("_kind") == 1, can_phone)
        .then(1)
        .when(pl.col("_kind") == 2, can_district)
        .then(2)
        .otherwise(0)
    )
    work = work.with_columns(pl.when(pl.col("_edit")).then(kind).otherwise(-1).alias("_kind"))
    work = work.with_columns(
        ((pl.col("_kind") == 0) & (pl.col(name_column).str.len_chars() > 3).fill_null(False)).alias("_name")
    )
    is_name = pl.col("_name")
    updates = [
        pl.when(is_name)
        .then(pl.col(name_column).str.head(-1))
        .otherwise(pl.col(name_column))
        .alias(name_column)
    ]
    if phone and phone in frame.columns:
        last = pl.col(phone).str.slice(-1).cast(pl.Int64, strict=False)
        new_last = ((last + 1 + (pl.col(record_id).cast(pl.String).hash(seed=EDIT_SEED + 1) % 9)) % 10).cast(
            pl.String
        )
        updates.append(
            pl.when(pl.col("_kind") == 1)
            .then(pl.col(phone).str.head(-1) + new_last)
            .otherwise(pl.col(phone))
            .alias(phone)
        )
    if admin2 and admin2 in frame.columns:
        updates.append(
            pl.when(pl.col("_kind") == 2).then(pl.col("_next")).otherwise(pl.col(admin2)).alias(admin2)
        )
    work = work.with_columns(updates)
    counts = work.select(
        is_name.sum().alias("name"),
        (pl.col("_kind") == 1).sum().alias("phone"),
        (pl.col("_kind") == 2).sum().alias("district"),
    ).row(0, named=True)
    return {"frame": work.select(frame.columns), **{k: int(v) for k, v in counts.items()}}


def _run_report(settings: Settings, night: date, seconds: float) -> dict[str, Any]:
    """Step seconds, checks' seconds and evaluations of the night's latest run (from the Dagster instance)."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/partition": night.isoformat()}), limit=1
        )
        if not runs:
            raise SystemExit(f"no Dagster run recorded for night {night}")
        run_id = runs[0].run_id
        stats = instance.get_run_stats(run_id)
        dagster_seconds = stats.end_time - stats.start_time if stats.start_time and stats.end_time else None
        steps = {
            s.step_key: round(s.end_time - s.start_time, 2)
            for s in instance.get_run_step_stats(run_id)
            if s.start_time is not None and s.end_time is not None
        }
        checks_by_asset: dict[str, float] = {}
        checks_by_step: dict[str, float] = {}
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            materialization = entry.asset_materialization
            value = materialization.metadata.get("checks_seconds") if materialization else None
            if materialization is not None and value is not None:
                key = materialization.asset_key.to_user_string()
                checks_by_asset[key] = checks_by_asset.get(key, 0.0) + float(value.value)  # type: ignore[arg-type]
                step = entry.step_key or key
                checks_by_step[step] = checks_by_step.get(step, 0.0) + float(value.value)  # type: ignore[arg-type]
        evaluations = failed = failed_blocking = 0
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
            if not isinstance(evaluation, dg.AssetCheckEvaluation):
                continue
            evaluations += 1
            if not evaluation.passed:
                failed += 1
                failed_blocking += evaluation.severity == dg.AssetCheckSeverity.ERROR
    checks_seconds = sum(checks_by_asset.values())
    return {
        "run_id": run_id,
        "run_seconds": round(seconds, 2),
        "dagster_run_seconds": round(dagster_seconds, 2) if dagster_seconds else None,
        "steps_seconds": round(sum(steps.values()), 2),
        "checks_seconds": round(checks_seconds, 2),
        "checks_share": round(checks_seconds / seconds, 4) if seconds else None,
        "check_evaluations": evaluations,
        "checks_failed": failed,
        "checks_failed_blocking": failed_blocking,
        "seconds_by_step": dict(sorted(steps.items(), key=lambda kv: -kv[1])),
        "checks_seconds_by_step": {k: round(v, 2) for k, v in checks_by_step.items()},
        "checks_seconds_by_asset": {
            k: round(v, 2) for k, v in sorted(checks_by_asset.items(), key=lambda kv: -kv[1])
        },
    }


def _linkage_report(settings: Settings, night: date) -> dict[str, Any]:
    """What the night's linkage did, from audit.linkage_runs and audit.linkage_metrics of the working database."""
    import json

    with duckdb.connect(str(settings.work_db), read_only=True) as con:
        row = con.execute(
            "select records, mode, details from audit.linkage_runs where night = $1", [night]
        ).fetchall()
        metrics = dict(
            con.execute(
                "select metric, value from audit.linkage_metrics where night = $1", [night]
            ).fetchall()
        )
    if not row:
        return {}
    records, mode, details = row[0]
    details = json.loads(details) if isinstance(details, str) else (details or {})
    changes = details.get("changes") or {}
    return {
        "rows": records,
        "mode": mode,
        "mode_reason": details.get("mode_reason"),
        "records_scored": details.get("records_scored"),
        "new": changes.get("new"),
        "changed": changes.get("changed"),
        "removed": changes.get("removed"),
        "share_new_or_changed": round(float(changes["dirty_share"]), 5) if "dirty_share" in changes else None,
        "linkage_seconds_by_step": details.get("seconds"),
        **{k: round(float(v), 4) for k, v in metrics.items() if k in ("pairwise_f1", "bcubed_f1")},
    }


def _run(target: Path, night: date) -> dict[str, Any]:
    """`ibr run --date <night>` in the night home: Dagster's run history under <night>/dagster."""
    os.environ["IBR_HOME"] = str(target)
    os.environ["DAGSTER_HOME"] = str(target / "dagster")
    from pipelines.cli import run_night

    settings = settings_from_env(target)
    started = time.perf_counter()
    ok = run_night(settings, night)
    seconds = time.perf_counter() - started
    if not ok:
        raise SystemExit(f"night {night} failed (a step or a blocking check): see the messages above")
    return {**_linkage_report(settings, night), **_run_report(settings, night, seconds)}


def night(home: Path, **_: object) -> dict[str, Any]:
    """The first drop night, whole, in a fresh night home (trains the linkage model)."""
    first = drop_nights(settings_from_env(home))[0]
    target = _link_country(home)
    _link_drops(home, target, first)
    return {"night": str(first), **_run(target, first)}


def _after_night(home: Path, stage: str) -> tuple[list[date], Path]:
    """The country's drop nights and the night home `night` left, for a stage that runs after it."""
    nights = drop_nights(settings_from_env(home))
    if len(nights) < 2:
        raise SystemExit(f"{stage} needs a country of two nights or more (--nights 2)")
    target = night_home(home)
    if not (target / "state" / "work.duckdb").exists():
        raise SystemExit(f"{stage} runs after the night stage (--stages generate,night,{stage})")
    return nights, target


def night_incremental(home: Path, **_: object) -> dict[str, Any]:
    """The second drop night after `night`, ~1% of records new or changed, linked incrementally if it can."""
    nights, target = _after_night(home, "night_incremental")
    second = nights[1]
    # 2026-03-01 is a Sunday, the default weekly full re-link day
    (target / "linkage.yaml").write_text(NO_WEEKLY_RELINK, encoding="utf-8")
    started = time.perf_counter()
    edited = edit_next_drops(home, target, second)
    edited_paths = {
        target / "drops" / source / second.isoformat() / p.name
        for source in edited
        for p in (home / "drops" / source / second.isoformat()).glob("*.parquet")
    }
    _link_drops(home, target, second, edited_paths)
    prepare_seconds = time.perf_counter() - started
    rows_edited = sum(v["name"] + v["phone"] + v["district"] for v in edited.values())
    return {
        "night": str(second),
        "prepare_seconds": round(prepare_seconds, 2),
        "rows_edited": rows_edited,
        "edited_by_source": edited,
        **_run(target, second),
    }


def _link_or_copy(path: Path, destination: Path) -> None:
    """A hard link to a drop file, or a copy where the filesystem allows none."""
    try:
        os.link(path, destination)
    except OSError:
        shutil.copy2(path, destination)


def daily_drops(home: Path, target: Path, first: date, second: date, day: date) -> dict[str, Any]:
    """Write the drops of `day` into `target` (the module docstring's `night_daily`); what each source sends."""
    contracts = load_contracts(home / "sources")
    sent: dict[str, Any] = {}
    for name, contract in sorted(contracts.items()):
        out = target / "drops" / name / day.isoformat()
        out.mkdir(parents=True, exist_ok=True)
        if contract.drop_mode == "delta":
            for path in sorted((home / "drops" / name / second.isoformat()).glob("*")):
                _link_or_copy(path, out / path.name)
            sent[name] = "the second night's delta files"
        elif contract.file.format != "parquet":
            for path in sorted((home / "drops" / name / first.isoformat()).glob("*")):
                _link_or_copy(path, out / path.name)
            sent[name] = "the first night's files again, byte for byte"
        else:
            sent[name] = _daily_parquet(home, contract, out, first, second)
    return sent


def _daily_parquet(home: Path, contract: Contract, out: Path, first: date, second: date) -> dict[str, int]:
    """A Parquet snapshot source's files of the first night, sent again: leavers out, rows edited, joiners in.

    The joiners (records of the second night's files that the first night's lack) are added to
    the first file once, paid in that file's month; a source whose files hold no month gets none.
    """
    paths = sorted((home / "drops" / contract.name / first.isoformat()).glob("*.parquet"))
    frames = [pl.read_parquet(p) for p in paths]
    later = [
        pl.read_parquet(p)
        for p in sorted((home / "drops" / contract.name / second.isoformat()).glob("*.parquet"))
    ]
    if not frames:
        return {"rows": 0, "edited": 0, "joined": 0, "left": 0}
    record_id, schema = contract.record_id, frames[0].schema
    known = pl.concat([f.select(record_id) for f in frames])
    next_ids = pl.concat([f.select(record_id) for f in later]) if later else known
    joiners = (
        pl.concat([f.select(list(schema)).cast(schema) for f in later]).join(known, on=record_id, how="anti")
        if later
        else frames[0].clear()
    )
    period = contract.column_for("period")
    if period and period in schema and joiners.height:
        # a payroll file covers one month: the joiners are paid in this file's month, not the next's
        months = pl.concat([f.get_column(period) for f in frames]).drop_nulls().mode().sort()
        joiners = (
            joiners.with_columns(pl.lit(months[0], dtype=schema[period]).alias(period))
            if months.len()
            else joiners.clear()
        )
    name_column = contract.column_for("first_name") or contract.column_for("full_name")
    phone, admin1, admin2 = (contract.column_for(f) for f in ("phone", "admin1", "admin2"))
    totals = {"rows": 0, "edited": 0, "joined": joiners.height, "left": 0}
    for number, (path, frame) in enumerate(zip(paths, frames, strict=True)):
        stayers = frame.join(next_ids, on=record_id, how="semi")
        edited: dict[str, Any] = (
            _edit_frame(stayers, record_id, name_column, phone, admin1, admin2, EDITED_PER_MILLE)
            if name_column
            else {"frame": stayers, "name": 0, "phone": 0, "district": 0}
        )
        written = pl.concat([edited["frame"], joiners.cast(frame.schema)]) if number == 0 else edited["frame"]
        written.write_parquet(out / path.name)
        totals["rows"] += written.height
        totals["edited"] += edited["name"] + edited["phone"] + edited["district"]
        totals["left"] += frame.height - stayers.height
    return totals


def night_daily(home: Path, **_: object) -> dict[str, Any]:
    """The day after `night`: ~1% of records new or changed, every other record sent again unchanged."""
    nights, source = _after_night(home, "night_daily")
    first, second = nights[0], nights[1]
    with duckdb.connect(str(source / "state" / "work.duckdb"), read_only=True) as con:
        linked = con.execute("select max(night) from audit.linkage_runs").fetchall()[0][0]
    if linked != first:
        raise SystemExit(
            f"night_daily starts from the state the first night ({first}) left, but {source} is at {linked}: "
            "run it right after the night stage (--stages generate,night,night_daily,night_incremental)"
        )
    day = first + timedelta(days=1)
    if day >= second:
        raise SystemExit(f"night_daily needs a day between the first two drop nights ({first}, {second})")
    target = home / DAILY_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True)
    (target / "linkage.yaml").write_text(NO_WEEKLY_RELINK, encoding="utf-8")
    started = time.perf_counter()
    sent = daily_drops(home, target, first, second, day)
    prepare_seconds = time.perf_counter() - started
    rows_edited = sum(v["edited"] for v in sent.values() if isinstance(v, dict))
    return {
        "night": str(day),
        "prepare_seconds": round(prepare_seconds, 2),
        "rows_edited": rows_edited,
        "sent_by_source": sent,
        **_run(target, day),
    }


def night_floor(home: Path, seed: int = 42, **_: object) -> dict[str, Any]:
    """A night of a `FLOOR_PEOPLE`-person country: the fixed cost of a night (module docstring)."""
    from synthetic import generate as generate_country

    target = home / FLOOR_DIR
    if target.exists():
        shutil.rmtree(target)
    generate_country(target, people=FLOOR_PEOPLE, nights=2, seed=seed)
    first, second = drop_nights(settings_from_env(target))[:2]
    (target / "linkage.yaml").write_text(NO_WEEKLY_RELINK, encoding="utf-8")
    environment = {**os.environ, "IBR_HOME": str(target), "DAGSTER_HOME": str(target / "dagster")}
    first_night = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--home", str(target), "run", "--date", first.isoformat()],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if first_night.returncode != 0:
        tail = "\n".join(first_night.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"night_floor: the first night ({first}) of the small country failed:\n{tail}")
    return {"night": str(second), "people": FLOOR_PEOPLE, **_run(target, second)}
