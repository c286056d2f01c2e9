"""Publication: the night's warehouse files, replaced atomically once every blocking check passed.

Three things are published from the working database:
- `warehouse/ibr.duckdb`, the restricted warehouse (personal data; mode 0600);
- `warehouse/ibr_analytics.duckdb`, de-identified by allowlist: every column of every table
  is classified in `publish/deidentify.py` (a keyed-hash pseudonym instead of the person id,
  year of birth instead of the date, every other date cut to its month; names, ids, phones
  and source record keys dropped), and a column nobody classified stops the publish;
- `warehouse/parquet/`, the analytics tables as Parquet, for other tools.

Each is built beside its target and swapped in with one rename (the Parquet folder is a
symlink swapped the same way), so an analyst holding the old file open keeps reading it,
a new connection sees the new night, and a failure leaves the last good files in place.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from core.homefiles import share_with_group
from core.sqlutil import literal, qualified, quote_ident
from publish.deidentify import (
    ANALYTICS_TABLES,
    SOURCE_KIND_FLAGS,
    Rule,
    analytics_name,
    column_rules,
    derived_rule,
    output_name,
)


@dataclass(frozen=True)
class Published:
    restricted_bytes: int
    analytics_bytes: int
    parquet_files: int


def publish_copy(source: Path, target: Path) -> int:
    """Replace `target` with a copy of `source` in one rename; returns the size in bytes.

    A reader holding the old file open keeps reading the old inode; a crash before the
    rename leaves the old file in place. The file is made readable by its owner only:
    the restricted warehouse holds personal data.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.publishing")
    shutil.copyfile(source, staging)
    return _swap_in(staging, target)


def _swap_in(staging: Path, target: Path, mode: int = 0o600) -> int:
    os.chmod(staging, mode)
    with staging.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, target)
    _fsync_dir(target.parent)
    return target.stat().st_size


def _fsync_dir(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def pseudonym_key(home: Path) -> bytes:
    """The pseudonymisation key: `IBR_PSEUDONYM_KEY`, else `<home>/secrets/pseudonym.key` (made once, mode 0600).

    Rotating it (a new value or a new file) changes every pseudonym from the next publish on.
    """
    from_env = os.environ.get("IBR_PSEUDONYM_KEY")
    if from_env is not None:
        if len(from_env) < 16:
            raise ValueError("IBR_PSEUDONYM_KEY: must be at least 16 characters")
        return from_env.encode("utf-8")
    path = home / "secrets" / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def pseudonyms(person_ids: list[str], key: bytes) -> pa.Table:
    """(person_id, pseudonym): HMAC-SHA256 of the person id under the key, 20 hex characters.

    The definition; publishing computes the same in DuckDB (`pseudonym_sql`), a second for
    a million persons where this takes four.
    """
    return pa.table(
        {
            "person_id": person_ids,
            "pseudonym": [
                hmac.new(key, p.encode("utf-8"), hashlib.sha256).hexdigest()[:20] for p in person_ids
            ],
        }
    )


def pseudonym_sql(column: str, key: bytes) -> tuple[str, dict[str, bytes]]:
    """SQL for `pseudonyms` of a text column, and its parameters: HMAC-SHA256 as RFC 2104 builds it from SHA-256.

    The padded key blocks go in as query parameters; the key itself is never written into the SQL.
    """
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    params = {"_ipad": bytes(b ^ 0x36 for b in block), "_opad": bytes(b ^ 0x5C for b in block)}
    return f"left(sha256($_opad || unhex(sha256($_ipad || encode({column})))), 20)", params


def _analytics_select(
    con: duckdb.DuckDBPyConnection, schema: str, table: str
) -> tuple[str, list[tuple[str, Rule]]] | None:
    """The de-identified select of one working table and its column rules, or None when the table is absent.

    Every column goes through its rule in `publish.deidentify.CLASSIFICATION`; an unclassified
    column raises `UnclassifiedColumnError` (the publish stops, naming the table and the column).
    """
    typed = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = 'work' and table_schema = $1 and table_name = $2 order by ordinal_position",
        [schema, table],
    ).fetchall()
    if not typed:
        return None
    rules = column_rules(schema, table, typed)
    select = []
    pseudonymised = False
    for column, rule in rules:
        name = output_name(column, rule)
        if name is None:
            continue
        if rule.action == "pseudonymise":
            pseudonymised = True
            select.append(f"k.pseudonym as {quote_ident(name)}")
        elif rule.action == "year":
            select.append(f"year(t.{quote_ident(column)}) as {quote_ident(name)}")
        elif rule.action == "month":
            select.append(
                f"cast(date_trunc('month', t.{quote_ident(column)}) as date) as {quote_ident(name)}"
            )
        else:
            select.append(f"t.{quote_ident(column)}")
    join = " left join _keys k on k.person_id = t.person_id" if pseudonymised else ""
    sql = f"select {', '.join(select)} from work.{qualified(schema, table)} t{join}"
    return sql, rules


def _copy_column_comments(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, rules: list[tuple[str, Rule]]
) -> None:
    """Carry each column's meaning over from the working table, with what de-identification did to it.

    What is added comes from the column's rule in the classification, never from its name: only a
    column the rule cuts to the month says so.
    """
    source = dict(
        con.execute(
            "select column_name, comment from duckdb_columns() "
            "where database_name = 'work' and schema_name = $1 and table_name = $2",
            [schema, table],
        ).fetchall()
    )
    name = analytics_name(schema, table)
    for column, rule in rules:
        published = output_name(column, rule)
        if published is None:
            continue
        con.execute(
            f"comment on column analytics.{quote_ident(name)}.{quote_ident(published)} is "
            f"{literal(published_comment(source.get(column), rule))}"
        )


def published_comment(comment: str | None, rule: Rule) -> str:
    """The analytics column's comment: the working column's meaning and what its rule did to it.

    >>> published_comment("Month paid.", Rule("safe", "month"))
    'Month paid. (cut to the month)'
    >>> published_comment("Months paid since death.", Rule("safe", "keep"))
    'Months paid since death.'
    """
    if rule.action == "pseudonymise":
        return "Keyed hash (HMAC-SHA256) of the person id: stable across nights while the key stays the same."
    if rule.action == "year":
        return "Year of birth."
    text = comment or "See the restricted warehouse's data dictionary."
    if rule.action == "month":
        return f"{text} (cut to the month)"
    if rule.column_class == "quasi-identifier":
        return f"{text} (quasi-identifier)"
    return text


def _table_comment(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, rules: list[tuple[str, Rule]]
) -> str:
    """The working table's own comment (its grain), and what de-identification did to it."""
    rows = con.execute(
        "select comment from duckdb_tables() where database_name = 'work' and schema_name = $1 and table_name = $2 "
        "union all select comment from duckdb_views() "
        "where database_name = 'work' and schema_name = $1 and view_name = $2",
        [schema, table],
    ).fetchall()
    grain = (rows[0][0] if rows and rows[0][0] else "").strip()
    actions = {rule.action for _, rule in rules}
    if "pseudonymise" in actions:
        how = "de-identified copy of {t}: the person id replaced by its pseudonym; no names, ids or exact dates."
    elif any(rule.column_class != "safe" for _, rule in rules):
        how = "de-identified copy of {t}: no person-level identifiers; quasi-identifiers as classified."
    else:
        how = "copy of {t}: no person-level data."
    how = how.format(t=f"{schema}.{table}")
    return f"{grain} ({how})" if grain else how[0].upper() + how[1:]


def build_analytics(work_db: Path, home: Path, key: bytes) -> tuple[Path, Path, int]:
    """Build the de-identified database and its Parquet files beside their targets; nothing is swapped yet.

    Returns the staged database, the new Parquet folder and the number of Parquet files.
    """
    warehouse = home / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    staging = warehouse / ".ibr_analytics.duckdb.publishing"
    staging.unlink(missing_ok=True)
    parquet_root = warehouse / ".parquet"
    parquet_root.mkdir(exist_ok=True)
    version = parquet_root / secrets.token_hex(6)
    version.mkdir()
    files = 0
    with duckdb.connect(str(staging)) as con:
        con.execute(f"attach {literal(str(work_db))} as work (read_only)")
        has_person = con.execute(
            "select 1 from information_schema.tables where table_catalog = 'work' "
            "and table_schema = 'registry' and table_name = 'person'"
        ).fetchall()
        if has_person:
            pseudonym, params = pseudonym_sql("person_id", key)
            con.execute(
                f"create temp table _keys as select person_id, {pseudonym} as pseudonym from work.registry.person",
                params,
            )
        else:
            con.execute("create temp table _keys (person_id varchar, pseudonym varchar)")
        con.execute("create schema if not exists analytics")
        for schema, table in ANALYTICS_TABLES:
            built = _analytics_select(con, schema, table)
            if built is None:
                continue
            select, rules = built
            name = analytics_name(schema, table)
            con.execute(f"create table analytics.{quote_ident(name)} as {select}")
            con.execute(
                f"comment on table analytics.{quote_ident(name)} is {literal(_table_comment(con, schema, table, rules))}"
            )
            _copy_column_comments(con, schema, table, rules)
            out = version / f"{name}.parquet"
            con.execute(f"copy analytics.{quote_ident(name)} to {literal(str(out))} (format parquet)")
            files += 1
        con.execute("detach work")
        create_analyst_views(con)
    return staging, version, files


def _swap_symlink(link: Path, target: Path) -> None:
    """Point `link` at `target` in one rename (a reader sees the old folder or the new, never half of one)."""
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    temporary = link.with_name(f".{link.name}.swap")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(os.path.relpath(target, link.parent))
    os.replace(temporary, link)


ANALYTICS_INTRO = (
    "Open it read-only with `ibr sql` (or any DuckDB client: `duckdb -readonly warehouse/ibr_analytics.duckdb`). "
    "The views below have plain names (`select * from person`); each shows one de-identified table of schema "
    "`analytics` (also in `warehouse/parquet/<table>.parquet`) with the names of its area and programme codes. "
    "What each column became (pseudonym, year of birth, cut to the month, kept) is its classification in "
    "publish/deidentify.py, listed in docs/security.md."
)
RESTRICTED_INTRO = (
    "Personal data: an authorised officer opens it with `ibr sql --restricted`. "
    "registry.* and reports.* are what analysts and ministries act on; audit.*, linkage.*, staging.* and raw.* "
    "are the pipeline's own tables, after them."
)


def _write_dictionaries(restricted: Path, analytics: Path, warehouse: Path) -> None:
    from publish.dictionary import (
        ANALYTICS_LEAD,
        ANALYTICS_SKIPPED,
        RESTRICTED_LEAD,
        SKIPPED_SCHEMAS,
        data_dictionary,
    )

    for database, name, title, lead, brief, intro, skip in (
        (
            restricted,
            "DATA_DICTIONARY.md",
            "IBR warehouse (restricted): data dictionary",
            RESTRICTED_LEAD,
            (),
            RESTRICTED_INTRO,
            SKIPPED_SCHEMAS,
        ),
        (
            analytics,
            "DATA_DICTIONARY_ANALYTICS.md",
            "IBR analytics warehouse (de-identified): data dictionary",
            ANALYTICS_LEAD,
            ("analytics",),
            ANALYTICS_INTRO,
            ANALYTICS_SKIPPED,
        ),
    ):
        with duckdb.connect(str(database), read_only=True) as con:
            text = data_dictionary(
                con,
                title,
                lead=lead,
                brief=brief,
                intro=intro,
                skip=skip,
                order=(*ANALYST_VIEWS, "person", "enrolment"),
            )
        staged = warehouse / f".{name}.publishing"
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, warehouse / name)


def publish_all(
    work_db: Path,
    home: Path,
    night: str = "",
    run_id: str = "",
    missing_sources: Sequence[Mapping[str, str]] = (),
) -> Published:
    """Publish the restricted warehouse, the analytics warehouse and the Parquet files.

    ``missing_sources`` marks the night partial: ``published.json`` then lists each expected source that
    had not arrived (``{"source", "expected", "late_since"}``) and ``"partial": true``.

    Everything is built first; only then are the three swapped in, one rename each, so a
    failure while building leaves every published file of the last good night in place.
    Last, `warehouse/published.json` records the night, the run and when (read by `ibr status`).
    """
    warehouse = home / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    restricted_staging = warehouse / ".ibr.duckdb.publishing"
    shutil.copyfile(work_db, restricted_staging)
    analytics_staging, parquet_version, parquet_files = build_analytics(work_db, home, pseudonym_key(home))

    _write_dictionaries(restricted_staging, analytics_staging, warehouse)
    restricted = _swap_in(restricted_staging, warehouse / "ibr.duckdb")
    # de-identified: readable by the analysts' group as well
    analytics = _swap_in(analytics_staging, warehouse / "ibr_analytics.duckdb", mode=0o640)
    _swap_symlink(warehouse / "parquet", parquet_version)
    # what analysts read is group-readable (0640, folders on the way 0750); everything else stays private
    share_with_group(
        home,
        [
            warehouse / "ibr_analytics.duckdb",
            warehouse / "DATA_DICTIONARY_ANALYTICS.md",
            parquet_version,
            *sorted(parquet_version.iterdir()),
        ],
    )
    # keep the previous Parquet version a little longer: a reader may still be walking it
    older = sorted(
        (p for p in parquet_version.parent.iterdir() if p != parquet_version), key=lambda p: p.stat().st_mtime
    )
    for old in older[:-1]:
        shutil.rmtree(old, ignore_errors=True)
    manifest = {
        "night": night,
        "run_id": run_id,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "restricted_bytes": restricted,
        "analytics_bytes": analytics,
        "parquet_files": parquet_files,
        "partial": bool(missing_sources),
        "missing_sources": [dict(m) for m in missing_sources],
    }
    staged = warehouse / ".published.json.publishing"
    staged.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(staged, warehouse / "published.json")
    return Published(restricted, analytics, parquet_files)


def rotate_pseudonym_key(home: Path) -> Published:
    """Replace the pseudonymisation key and republish the analytics files of the published night under it.

    The new key is written beside the old one and renamed over it (mode 0600; the old key
    is gone from the home). The analytics database and its Parquet files are then rebuilt from
    the published restricted warehouse (`warehouse/ibr.duckdb`, the last good night: never a
    half-run working database) and swapped in, and every earlier Parquet version is removed,
    so no file of the home carries a pseudonym made under the old key. Run it while no night
    runs (it writes the files a publish writes). With `IBR_PSEUDONYM_KEY` set the key is not
    ours to change: it raises, saying so.
    """
    if os.environ.get("IBR_PSEUDONYM_KEY") is not None:
        raise ValueError(
            "IBR_PSEUDONYM_KEY is set: the key comes from the environment; give it a new value "
            "(at least 16 characters) and rerun the latest night instead"
        )
    warehouse = home / "warehouse"
    restricted = warehouse / "ibr.duckdb"
    if not restricted.is_file():
        raise ValueError(
            f"{restricted}: nothing is published yet; the next night's publish uses a new key anyway"
        )
    path = home / "secrets" / "pseudonym.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    staged = path.with_name(".pseudonym.key.new")
    staged.unlink(missing_ok=True)
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, path)
    _fsync_dir(path.parent)

    analytics_staging, parquet_version, parquet_files = build_analytics(restricted, home, pseudonym_key(home))
    analytics = _swap_in(analytics_staging, warehouse / "ibr_analytics.duckdb", mode=0o640)
    _swap_symlink(warehouse / "parquet", parquet_version)
    # the same modes as a publish: the analysts' group reads the new files, nothing else changes hands
    share_with_group(
        home, [warehouse / "ibr_analytics.duckdb", parquet_version, *sorted(parquet_version.iterdir())]
    )
    for old in parquet_version.parent.iterdir():
        if old != parquet_version:
            shutil.rmtree(old, ignore_errors=True)
    return Published(restricted.stat().st_size, analytics, parquet_files)


# analysts' views: name in schema main -> (published table, extra select, joins); names and flags come from
# the published tables only (publish/deidentify.py DERIVED classifies every column they add)
_NAMES = {
    "programme": (
        "left join analytics.registry_programme prog using (programme_id)",
        ["prog.programme_name", "prog.ministry"],
    ),
    "area": (
        "left join analytics.registry_admin_area area on area.admin2_code = t.admin2 "
        "left join (select distinct admin1_code, admin1_name from analytics.registry_admin_area) province "
        "on province.admin1_code = t.admin1",
        ["province.admin1_name", "area.admin2_name"],
    ),
}
ANALYST_VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "person": ("registry_person", ("area",)),
    "enrolment": ("registry_enrolment", ("programme",)),
    "who_receives_what": ("registry_who_receives_what", ()),
    "person_source": ("registry_person_source", ("programme",)),
    "programme": ("registry_programme", ()),
    "admin_area": ("registry_admin_area", ()),
    "deceased_paid": ("reports_deceased_paid", ("programme",)),
    "exclusive_overlap": ("reports_exclusive_overlap", ("programme",)),
    "duplicate_enrolment": ("reports_duplicate_enrolment", ("programme",)),
    "gaps": ("reports_gaps", ("programme", "area")),
    "inclusion_errors": ("reports_inclusion_errors", ("programme",)),
    "programme_overlap_matrix": ("reports_programme_overlap_matrix", ("programme",)),
    "coverage_by_area": ("reports_coverage_by_area", ("programme", "area")),
}
DERIVED_COMMENTS = {
    "admin1_name": "Province name (registry_admin_area; null where the code is unknown).",
    "admin2_name": "District name (registry_admin_area; null where the code is unknown).",
    "programme_name": "Programme name (registry_programme).",
    "ministry": "Ministry running the programme (registry_programme).",
}
KIND_LABELS = {
    "civil_registry": "the civil registry",
    "tax_registry": "the tax registry",
    "disability_registry": "the disability registry",
    "social_registry": "a social registry",
}


def create_analyst_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Views in schema main of the analytics file, so `select * from person` works unqualified.

    Each shows a published table under its plain name with the names of its area and programme codes;
    `person` also carries one flag per source kind and programme (`in_civil_registry`,
    `in_child_grant`, ...): which sources know the person. Returns the views made.
    """
    published = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'analytics'"
        ).fetchall()
    }
    programme_ids: list[str] = []
    if "registry_programme" in published:
        programme_ids = [
            r[0] for r in con.execute("select programme_id from analytics.registry_programme").fetchall()
        ]
    if "registry_person_source" in published:
        programme_ids += [
            r[0]
            for r in con.execute(
                "select distinct programme_id from analytics.registry_person_source "
                "where programme_id is not null order by 1"
            ).fetchall()
            if r[0] not in programme_ids
        ]
    made = []
    for view, (table, joins) in ANALYST_VIEWS.items():
        if table not in published:
            continue
        if "programme" in joins and "registry_programme" not in published:
            joins = tuple(j for j in joins if j != "programme")
        if "area" in joins and "registry_admin_area" not in published:
            joins = tuple(j for j in joins if j != "area")
        columns = con.execute(
            "select column_name, comment from duckdb_columns() where database_name = current_database() "
            "and schema_name = 'analytics' and table_name = $1 order by column_index",
            [table],
        ).fetchall()
        select = [f"t.{quote_ident(c)}" for c, _ in columns]
        comments = {c: comment for c, comment in columns}
        sql_joins = []
        for join in joins:
            clause, extra = _NAMES[join]
            sql_joins.append(clause)
            for expression in extra:
                column = expression.split(".")[1]
                if column in comments:
                    continue
                derived_rule(column, programme_ids)
                select.append(expression)
                comments[column] = DERIVED_COMMENTS[column]
        if view == "person" and "registry_person_source" in published:
            flags = []
            for kind in SOURCE_KIND_FLAGS:
                flags.append((f"in_{kind}", f"source_kind = {literal(kind)}", KIND_LABELS[kind]))
            for programme in programme_ids:
                if f"in_{programme}" not in {f for f, _, _ in flags}:
                    flags.append(
                        (f"in_{programme}", f"programme_id = {literal(programme)}", f"programme {programme}")
                    )
            known = ", ".join(f"bool_or({condition}) as {quote_ident(flag)}" for flag, condition, _ in flags)
            sql_joins.append(
                f"left join (select pseudonym, {known} from analytics.registry_person_source group by pseudonym) "
                "flags using (pseudonym)"
            )
            for flag, _, label in flags:
                derived_rule(flag, programme_ids)
                select.append(f"coalesce(flags.{quote_ident(flag)}, false) as {quote_ident(flag)}")
                comments[flag] = f"True when {label} holds at least one record linked to the person."
        con.execute(
            f"create or replace view main.{quote_ident(view)} as "
            f"select {', '.join(select)} from analytics.{quote_ident(table)} t {' '.join(sql_joins)}"
        )
        table_comment = con.execute(
            "select comment from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'analytics' and table_name = $1",
            [table],
        ).fetchall()[0][0]
        con.execute(f"comment on view main.{quote_ident(view)} is {literal(table_comment or '')}")
        for column, comment in comments.items():
            if comment:
                con.execute(
                    f"comment on column main.{quote_ident(view)}.{quote_ident(column)} is {literal(comment)}"
                )
        made.append(view)
    return made
