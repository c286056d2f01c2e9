"""Retention: how much history the state keeps, in one policy (`<home>/retention.yaml`), applied after a night.

Without it every night adds a row per record to `linkage.record_person`, the rows of every re-sent
snapshot to `raw.<source>` and `staging.record_versions`, a model folder, quarantine copies and
Dagster run history, for ever. The policy (every key optional; the defaults below):

    linkage_nights: 7        # nights of linkage.record_person, review_queue, scored_pair, split_component
    raw_nights: 30           # nights before which a superseded version of a record is deleted from raw
    model_nights: 7          # models/<night>/ folders (the newest one before them is kept too)
    quarantine_nights: 90    # quarantine/<night>/ folders of whole rejected files
    log_nights: 90           # state/logs/<night>_<run>.log files
    run_history_days: 90     # Dagster runs (and their event logs) older than this are deleted
    compact_free_share: 0.2  # rewrite state/work.duckdb when this share of it is free space

What the next night needs is never pruned. "Nights" count the nights that were linked
(`linkage.record_person`), newest first, so a month without drops keeps its history:

- linkage: the kept nights' rows stay whole; an incremental night and a rerun of the latest
  night read the night before theirs, so at least 2 nights are kept. The highest person id of
  the deleted nights goes to `linkage.retired_person_id`: no id is ever given out twice.
- raw: a row is deleted only when it landed before the raw cut-off and a later version of the same
  record (and of the same payroll period or tax year) had landed by the cut-off; its typed row in
  `staging.record_versions` goes with it. Staging as of any night from the cut-off on is what it
  was: the latest version of every record, every period paid, every tax year stay. The raw cut-off
  is never later than the linkage one.
- backfills (`ibr run --since D`) work for every kept linkage night but the oldest (D needs the
  night before it); a model folder is kept for each of them.

DuckDB reuses the space of deleted rows but does not give it back to the file system (a
CHECKPOINT does not shrink the file): when more than `compact_free_share` of the file is free,
it is rewritten (`COPY FROM DATABASE` into a new file, swapped in by a rename, mode 0600).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.sqlutil import literal, qualified, table_exists

log = logging.getLogger(__name__)

POLICY_FILE = "retention.yaml"


class RetentionPolicy(BaseModel):
    """`<home>/retention.yaml`: how much history to keep (null keeps everything of that kind)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    linkage_nights: int | None = Field(
        default=7,
        ge=2,
        description="Linked nights of linkage.record_person, review_queue, scored_pair, split_component.",
    )
    raw_nights: int | None = Field(
        default=30,
        ge=2,
        description="Linked nights before which superseded record versions leave raw and staging.",
    )
    model_nights: int | None = Field(
        default=7, ge=1, description="models/<night>/ folders kept (and the newest before)."
    )
    quarantine_nights: int | None = Field(default=90, ge=1, description="quarantine/<night>/ folders kept.")
    log_nights: int | None = Field(
        default=90, ge=1, description="Nights of state/logs/<night>_<run>.log kept."
    )
    run_history_days: int | None = Field(default=90, ge=1, description="Days of Dagster run history kept.")
    compact_free_share: float = Field(
        default=0.2, ge=0, le=1, description="Rewrite state/work.duckdb when this share of it is free space."
    )

    @classmethod
    def load(cls, home: Path) -> RetentionPolicy:
        path = home / POLICY_FILE
        if not path.is_file():
            return cls()
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
        if not isinstance(raw, dict):
            raise ValueError(
                f"{path}: expected a mapping of settings; allowed: {', '.join(cls.model_fields)}"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(p) for p in error["loc"]) or "?"
            if error["type"] == "extra_forbidden":
                raise ValueError(
                    f"{path}: '{key}': unknown key; allowed: {', '.join(cls.model_fields)}"
                ) from None
            raise ValueError(f"{path}: '{key}': {error['msg']} (got {error.get('input')!r})") from None


@dataclass
class PruneSummary:
    """What a prune deleted: counts and sizes only."""

    linkage_cutoff: date | None = None
    raw_cutoff: date | None = None
    rows_deleted: dict[str, int] = field(default_factory=dict)
    folders_deleted: list[str] = field(default_factory=list)
    runs_deleted: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    compacted: bool = False

    def lines(self) -> list[str]:
        out = [
            f"  linkage kept from {self.linkage_cutoff or '(all nights)'}, "
            f"superseded raw versions kept from {self.raw_cutoff or '(all nights)'}"
        ]
        for table, n in sorted(self.rows_deleted.items()):
            if n:
                out.append(f"  {table}: {n:,} rows deleted")
        if self.folders_deleted:
            out.append(
                f"  {len(self.folders_deleted)} folder(s) deleted: {', '.join(self.folders_deleted[:10])}"
            )
        if self.runs_deleted:
            out.append(f"  {self.runs_deleted} Dagster run(s) deleted")
        out.append(
            f"  state/work.duckdb: {self.bytes_before / 2**20:,.1f} MiB -> {self.bytes_after / 2**20:,.1f} MiB"
            + (" (compacted)" if self.compacted else "")
        )
        return out


def _cutoff(nights: list[date], keep: int | None) -> date | None:
    """The oldest of the `keep` newest nights; None when every night is kept."""
    if keep is None or len(nights) <= keep:
        return None
    return sorted(nights, reverse=True)[keep - 1]


def linked_nights(con: duckdb.DuckDBPyConnection) -> list[date]:
    if not table_exists(con, "linkage", "record_person"):
        return []
    return [
        r[0] for r in con.execute("select distinct night from linkage.record_person order by 1").fetchall()
    ]


def earliest_rerunnable(db: Path) -> date | None:
    """The oldest night a rerun or backfill can start from once a prune deleted older nights; None: any.

    A night carries its person ids over from the linked night before it, so the oldest kept night
    itself cannot be run again.
    """
    if not db.is_file():
        return None
    with duckdb.connect(str(db), read_only=True) as con:
        if not table_exists(con, "linkage", "retired_person_id"):
            return None
        if not con.execute("select count(*) from linkage.retired_person_id").fetchall()[0][0]:
            return None
        kept = linked_nights(con)
    return kept[1] if len(kept) > 1 else None


def prune_linkage(con: duckdb.DuckDBPyConnection, cutoff: date) -> dict[str, int]:
    """Delete the linkage history of nights before `cutoff`, keeping the highest person id they held."""
    deleted: dict[str, int] = {}
    con.execute(
        """
        insert into linkage.retired_person_id
        select max(night), arg_max(person_id, cast(substr(person_id, 2) as bigint))
        from linkage.record_person where night < $cutoff
        having count(*) > 0
        """,
        {"cutoff": cutoff},
    )
    for table in ("record_person", "review_queue", "scored_pair", "split_component"):
        if table_exists(con, "linkage", table):
            deleted[f"linkage.{table}"] = _delete(
                con, f"delete from {qualified('linkage', table)} where night < $cutoff", {"cutoff": cutoff}
            )
    return deleted


def prune_raw(con: duckdb.DuckDBPyConnection, cutoff: date) -> dict[str, int]:
    """Delete record versions landed before `cutoff` that a version landed by `cutoff` supersedes.

    Superseded means: not the latest version of its record, nor of its record's payroll period
    (staging.enrolment), nor of its tax year (staging.tax_income), among the versions landed by the
    cut-off. The raw row and its typed row in staging.record_versions go together (matched on file
    and row number), so typing a source again from raw gives the same table.
    """
    if not table_exists(con, "staging", "record_versions"):
        return {}
    order = "order by _night desc, _file desc, _row_number desc"
    con.execute(
        f"""
        create or replace temp table _superseded as
        select source, _file, _row_number from (
            select source, _file, _row_number, _night,
                row_number() over (partition by source, source_record_id {order}) as nth_of_record,
                case when period is null then 2
                     else row_number() over (partition by source, source_record_id, period {order}) end as nth_of_period,
                case when tax_year is null then 2
                     else row_number() over (partition by source, source_record_id, tax_year {order}) end as nth_of_year
            from staging.record_versions
            where _night <= $cutoff
        )
        where _night < $cutoff and nth_of_record > 1 and nth_of_period > 1 and nth_of_year > 1
        """,
        {"cutoff": cutoff},
    )
    deleted: dict[str, int] = {}
    sources = [r[0] for r in con.execute("select distinct source from _superseded order by 1").fetchall()]
    for source in sources:
        if table_exists(con, "raw", source):
            deleted[f"raw.{source}"] = _delete(
                con,
                f"delete from {qualified('raw', source)} r using _superseded s "
                "where s.source = $source and r._file = s._file and r._row_number = s._row_number",
                {"source": source},
            )
    deleted["staging.record_versions"] = _delete(
        con,
        "delete from staging.record_versions v using _superseded s "
        "where v.source = s.source and v._file = s._file and v._row_number = s._row_number",
        {},
    )
    con.execute("drop table _superseded")
    return deleted


def _delete(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> int:
    rows = con.execute(sql, params).fetchall()
    return int(rows[0][0]) if rows else 0


def _night_folders(root: Path) -> list[tuple[date, Path]]:
    found = []
    if root.is_dir():
        for path in root.iterdir():
            with contextlib.suppress(ValueError):
                if path.is_dir() and not path.is_symlink():
                    found.append((date.fromisoformat(path.name), path))
    return sorted(found)


def prune_folders(root: Path, keep: int | None, keep_one_before: bool) -> list[str]:
    """Delete the night folders under `root` but the `keep` newest.

    With `keep_one_before` (models/) the newest folder before them stays too, and so does every folder a
    kept one's model was trained in.
    """
    folders = _night_folders(root)
    cutoff = _cutoff([n for n, _ in folders], keep)
    if cutoff is None:
        return []
    older = [(n, p) for n, p in folders if n < cutoff]
    if keep_one_before and older:
        older = older[:-1]  # a backfill of the oldest kept night reuses the model saved before it
        # a reused model names the folder it was copied from (reused_from.txt), night after night back to
        # the night that trained it, whose folder alone holds the charts the auditor report links to: each
        # kept folder is pointed straight at its training night, and that folder stays
        gone = {p.name for _, p in older}
        trained_in: set[str] = set()
        for _, path in folders:
            if path.name in gone:
                continue
            trained = _trained_night(root, path.name)
            trained_in.add(trained)
            link = path / "reused_from.txt"
            if trained != path.name and link.read_text(encoding="utf-8").strip() != trained:
                fresh = link.with_name("reused_from.txt.tmp")
                fresh.write_text(trained + "\n", encoding="utf-8")
                os.replace(fresh, link)
        older = [(n, p) for n, p in older if p.name not in trained_in]
    for _, path in older:
        shutil.rmtree(path)
    return [f"{root.name}/{n.isoformat()}" for n, _ in older]


def _trained_night(root: Path, name: str) -> str:
    """The night whose folder holds the model a folder reused, following reused_from.txt (as the auditor report)."""
    seen = {name}
    while (root / name / "reused_from.txt").is_file():
        earlier = (root / name / "reused_from.txt").read_text(encoding="utf-8").strip()
        if earlier in seen or not (root / earlier).is_dir():
            break
        seen.add(earlier)
        name = earlier
    return name


def prune_logs(root: Path, keep: int | None) -> list[str]:
    """Delete the night logs (`<night>_<run>.log`) under `root` but those of the `keep` newest nights."""
    logs: list[tuple[date, Path]] = []
    if root.is_dir():
        for path in root.glob("*.log"):
            with contextlib.suppress(ValueError):
                logs.append((date.fromisoformat(path.name[:10]), path))
    cutoff = _cutoff(sorted({n for n, _ in logs}), keep)
    if cutoff is None:
        return []
    gone = sorted(p for n, p in logs if n < cutoff)
    for path in gone:
        path.unlink()
    return [f"{root.name}/{p.name}" for p in gone]


def prune_run_history(instance: object, days: int | None, now: datetime | None = None) -> int:
    """Delete finished Dagster runs created more than `days` ago (their event logs go with them)."""
    import dagster as dg

    if days is None:
        return 0
    assert isinstance(instance, dg.DagsterInstance)
    before = (now or datetime.now(UTC)) - timedelta(days=days)
    finished = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
    runs = instance.get_runs(dg.RunsFilter(statuses=finished, created_before=before))
    for run in runs:
        instance.delete_run(run.run_id)
    return len(runs)


def database_free_share(con: duckdb.DuckDBPyConnection) -> float:
    total, free = con.execute("select total_blocks, free_blocks from pragma_database_size()").fetchall()[0]
    return float(free) / float(total) if total else 0.0


def compact(db: Path) -> None:
    """Rewrite the database into a new file without its free blocks, and swap it in (mode 0600).

    A kill half-way leaves the old file whole (the new one is a `.compact` file beside it, removed
    next time).
    """
    fresh = db.with_name(db.name + ".compact")
    fresh.unlink(missing_ok=True)
    with duckdb.connect(str(db)) as con:
        con.execute(f"attach {literal(str(fresh))} as fresh")
        con.execute(f"copy from database {_catalog(con)} to fresh")
        con.execute("detach fresh")
    os.chmod(fresh, 0o600)
    os.replace(fresh, db)
    db.with_name(db.name + ".wal").unlink(missing_ok=True)


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    name = con.execute("select current_database()").fetchall()[0][0]
    return '"' + str(name).replace('"', '""') + '"'


def prune(home: Path, policy: RetentionPolicy | None = None, instance: object | None = None) -> PruneSummary:
    """Apply the policy to the home's state. Call it only while no night runs (see `night_lock`)."""
    policy = policy or RetentionPolicy.load(home)
    summary = PruneSummary()
    db = home / "state" / "work.duckdb"
    if db.is_file():
        summary.bytes_before = db.stat().st_size
        with duckdb.connect(str(db)) as con:
            nights = linked_nights(con)
            summary.linkage_cutoff = _cutoff(nights, policy.linkage_nights)
            raw_cutoff = _cutoff(nights, policy.raw_nights)
            if summary.linkage_cutoff is not None and (
                raw_cutoff is None or raw_cutoff > summary.linkage_cutoff
            ):
                raw_cutoff = summary.linkage_cutoff if policy.raw_nights is not None else None
            summary.raw_cutoff = raw_cutoff
            con.execute("begin")
            if summary.linkage_cutoff is not None:
                _ensure_retired_table(con)
                summary.rows_deleted.update(prune_linkage(con, summary.linkage_cutoff))
            if raw_cutoff is not None:
                summary.rows_deleted.update(prune_raw(con, raw_cutoff))
            con.execute("commit")
            con.execute("checkpoint")
            free = database_free_share(con)
        if any(summary.rows_deleted.values()) and free > policy.compact_free_share:
            compact(db)
            summary.compacted = True
        summary.bytes_after = db.stat().st_size
    summary.folders_deleted += prune_folders(home / "models", policy.model_nights, keep_one_before=True)
    summary.folders_deleted += prune_folders(
        home / "quarantine", policy.quarantine_nights, keep_one_before=False
    )
    summary.folders_deleted += prune_logs(home / "state" / "logs", policy.log_nights)
    if instance is not None:
        summary.runs_deleted = prune_run_history(instance, policy.run_history_days)
    return summary


def _ensure_retired_table(con: duckdb.DuckDBPyConnection) -> None:
    from core.sqlutil import read_sql

    con.execute(read_sql("registry/schema.sql"))
