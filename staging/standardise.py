"""Standardisation: raw source rows into `staging.person_records` and the facts tables.

Everything is set-based SQL in DuckDB (files under sql/staging/): the only per-source
part is the mapping of source columns onto canonical fields, rendered from the
contracts. Staging is as of a night, so rerunning or backfilling a night gives the
same tables. Two tables are kept from night to night so that the nightly cost follows
what changed, not the history: the typing of every landed row
(`staging.record_versions`: only files landed since are typed, see
`update_record_versions`) and `staging.person_records` (only records whose versions
changed are standardised again, see `update_person_records`). The facts tables are
rebuilt from the typed rows.

Example::

    build_staging(con, home, contracts, date(2026, 3, 1))
    con.sql("select source, count(*) from staging.person_records group by all")
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import inspect
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import jellyfish
from anyascii import anyascii
from duckdb.func import FunctionNullHandling

from core.country import Country, load_country
from core.sqlutil import (
    literal,
    qualified,
    quote_ident,
    read_sql,
    render_sql,
    table_exists,
    tables_in,
    transaction,
)
from ingest.contracts import CANONICAL_FIELDS, Contract
from ingest.fields import extra_value_sql, precision_sql, typed_sql
from ingest.landing import ensure_schema

FACT_MODELS = ("enrolment", "civil_event", "tax_income", "disability_assessment")
# canonical fields only the facts tables read: a payroll re-sent with a new month changes them and
# nothing of the person record (every other field, and any field added later, counts as a change)
FACT_ONLY_FIELDS = (
    "period",
    "enrolment_status",
    "benefit_amount",
    "enrolment_date",
    "event_type",
    "date_of_death",
    "tax_year",
    "income_annual",
    "disability_type",
    "disability_severity",
    "assessment_date",
)
# the typed columns of staging.record_versions a person record is made from, lineage aside
PERSON_CONTENT_COLUMNS = (
    "source_kind",
    "drop_mode",
    "programme_id",
    *(f for f in CANONICAL_FIELDS if f not in FACT_ONLY_FIELDS),
    "dob_precision",
)


@dataclass(frozen=True)
class StagingSummary:
    person_records: int
    by_source: dict[str, int]
    facts: dict[str, int]


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Register the Python functions (transliteration; metaphone keys for linkage's blocking) and the SQL
    macros on a connection."""
    registered = {
        row[0]
        for row in con.execute(
            "select function_name from duckdb_functions() where function_name in ('ibr_translit', 'ibr_phonetic')"
        ).fetchall()
    }
    if "ibr_translit" not in registered:
        con.create_function("ibr_translit", _translit, [duckdb.sqltypes.VARCHAR], duckdb.sqltypes.VARCHAR)
    if "ibr_phonetic" not in registered:
        con.create_function(
            "ibr_phonetic",
            _phonetic,
            [duckdb.sqltypes.VARCHAR],
            duckdb.sqltypes.VARCHAR,
            null_handling=FunctionNullHandling.SPECIAL,  # a name with no sound left gives null
            side_effects=False,
        )
    con.execute(read_sql("staging/macros.sql"))


def _translit(value: str | None) -> str | None:
    return None if value is None else anyascii(value)


def _phonetic(value: str | None) -> str | None:
    """Metaphone key of a name (None when nothing is left to sound).

    An x is read as h first: Somali and other Latin orthographies write the Arabic ha with it (Maxamed,
    Xasan, Xuseen for Mohamed, Hassan, Hussein), and names written with an x otherwise still agree with
    themselves.
    """
    if value is None:
        return None
    return jellyfish.metaphone(value.lower().replace("x", "h")) or None


def _source_view(contract: Contract, parquet: bool) -> dict[str, object]:
    fields: dict[str, str] = {}
    for canonical in CANONICAL_FIELDS:
        column = contract.column_for(canonical)
        fields[canonical] = (
            typed_sql(contract, canonical, column, parquet) if column else "cast(null as varchar)"
        )
        if column is None and CANONICAL_FIELDS[canonical] in ("date", "month"):
            fields[canonical] = "cast(null as date)"
        elif column is None and CANONICAL_FIELDS[canonical] in ("number",):
            fields[canonical] = "cast(null as decimal(18, 2))"
        elif column is None and CANONICAL_FIELDS[canonical] == "integer":
            fields[canonical] = "cast(null as integer)"
    dob = contract.column_for("date_of_birth")
    return {
        "name": contract.name,
        "kind": contract.kind,
        "drop_mode": contract.drop_mode,
        "programme_id": contract.programme_id,
        "record_id": contract.record_id,
        "fields": fields,
        "dob_precision": precision_sql(contract, dob, parquet) if dob else "cast(null as varchar)",
    }


def _load_reference(con: duckdb.DuckDBPyConnection, home: Path, contracts: dict[str, Contract]) -> None:
    """Admin-area lookups from reference/admin_areas.csv, and per-source settings."""
    areas = home / "reference" / "admin_areas.csv"
    if areas.exists():
        con.execute(
            "create or replace temp table _areas as select * from read_csv($p, all_varchar = true, header = true)",
            {"p": str(areas)},
        )
    else:
        con.execute(
            "create or replace temp table _areas (admin1_code varchar, admin1_name varchar, "
            "admin2_code varchar, admin2_name varchar)"
        )
    con.execute(
        """
        create or replace table staging.admin1_lookup as
        select distinct area_key, admin1_code from (
            select ibr_area_key(admin1_code) as area_key, admin1_code from _areas
            union all
            select ibr_area_key(admin1_name), admin1_code from _areas
        ) where area_key is not null;

        create or replace table staging.admin2_lookup as
        select distinct area_key, admin2_code, admin1_code, by_code from (
            select ibr_area_key(admin2_code) as area_key, admin2_code, admin1_code, true as by_code from _areas
            union all
            select ibr_area_key(admin2_name), admin2_code, admin1_code, false from _areas
        ) where area_key is not null;

        create or replace table staging.source_settings (source varchar, full_name_order varchar);
        """
    )
    if contracts:
        con.executemany(
            "insert into staging.source_settings values ($1, $2)",
            [[c.name, c.full_name_order] for c in contracts.values()],
        )


def _set_country(con: duckdb.DuckDBPyConnection, country: Country) -> None:
    con.execute("set variable national_id_pattern = $1", [country.national_id_pattern])
    con.execute("set variable national_id_check_digit = $1", [country.national_id_check_digit])
    con.execute("set variable phone_national_digits = $1", [country.phone_national_digits])


def build_staging(
    con: duckdb.DuckDBPyConnection, home: Path, contracts: dict[str, Contract], night: date
) -> StagingSummary:
    """Rebuild every staging table from raw, as of `night` (drops of that night and before)."""
    ensure_schema(con)
    register_functions(con)
    _set_country(con, load_country(home))
    _load_reference(con, home, contracts)

    landed = tables_in(con, "raw")
    update_record_versions(con, {name: c for name, c in sorted(contracts.items()) if name in landed}, night)
    update_person_records(con, {name: c for name, c in sorted(contracts.items()) if name in landed})
    _comment_helpers(con)
    facts = {}
    for model in FACT_MODELS:
        con.execute(read_sql(f"staging/{model}.sql"))
        facts[model] = con.execute(f"select count(*) from {qualified('staging', model)}").fetchall()[0][0]
    by_source = dict(
        con.execute(
            "select source, count(*) from staging.person_records group by source order by source"
        ).fetchall()
    )
    return StagingSummary(sum(by_source.values()), by_source, facts)


HELPER_COMMENTS = {
    "record_versions": (
        "One row per landed version of every source record up to the night, every canonical field typed "
        "(before names, ids and areas are standardised).",
        {
            "source": "Source name.",
            "source_kind": "Kind of source (contract).",
            "drop_mode": "snapshot or delta (contract).",
            "programme_id": "Programme of a programme source.",
            "source_record_id": "The record's id in its source.",
            "dob_precision": "day, month or year: the precision of the date format that read date_of_birth.",
            "_night": "Drop (night) of this version.",
            "_file": "File of this version, relative to drops/.",
            "_row_number": "Row (line) number in that file.",
            "_file_sha256": "SHA-256 of that file.",
        },
    ),
    "admin1_lookup": (
        "One row per spelling key of a first-level admin area (its code or its name, lower ASCII).",
        {"area_key": "Normalised code or name.", "admin1_code": "Admin1 code it maps to."},
    ),
    "admin2_lookup": (
        "One row per spelling key of a second-level admin area (code or name within its admin1).",
        {
            "area_key": "Normalised code or name.",
            "admin2_code": "Admin2 code it maps to.",
            "admin1_code": "Admin1 area holding it.",
            "by_code": "True when the key is the code, false when it is the name.",
        },
    ),
    "record_versions_sources": (
        "One row per source in staging.record_versions: a fingerprint of the query that typed its rows, so a "
        "changed contract or typing code retypes the source whole.",
        {
            "source": "Source name.",
            "fingerprint": "SHA-256 of the source's contract (its settings) and its typing query.",
        },
    ),
    "pending_records": (
        "Records whose versions changed since staging.person_records was last brought up to date (empty after "
        "every staging build): only their rows are made again.",
        {"source": "Source name.", "source_record_id": "The record's id in its source."},
    ),
    "person_records_state": (
        "One row: a fingerprint of what person records are made from besides their versions (the SQL, the "
        "country's settings, the area lookups, the source settings); when it changes the table is made again whole.",
        {"fingerprint": "SHA-256 of those inputs."},
    ),
    "source_settings": (
        "One row per source: contract settings standardisation needs.",
        {"source": "Source name.", "full_name_order": "given_first or surname_first (contract)."},
    ),
}


def _comment_helpers(con: duckdb.DuckDBPyConnection) -> None:
    """The helper tables of staging are part of the warehouse too: every table and column gets a comment."""
    for table, (table_comment, columns) in HELPER_COMMENTS.items():
        name = qualified("staging", table)
        con.execute(f"comment on table {name} is {literal(table_comment)}")
        present = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'staging' and table_name = $1",
                [table],
            ).fetchall()
        }
        for column in present:
            text = columns.get(column) or f"Canonical field {column}, typed as the contract reads it."
            con.execute(f"comment on column {name}.{quote_ident(column)} is {literal(text)}")


def update_record_versions(con: duckdb.DuckDBPyConnection, landed: dict[str, Contract], night: date) -> None:
    """Bring `staging.record_versions` to `night`: every row of raw landed on that night or before, typed.

    `landed` holds the contracts of the sources with a raw table; each source's rows are typed by
    its query from `record_versions.sql.j2`. The table is kept between nights with a fingerprint
    of each source's contract and query (`staging.record_versions_sources`): a source whose
    fingerprint is unchanged only loses the rows of files no longer in raw as of the night (a
    backfill, a file replaced in place) and gains the rows of files landed since; a source whose
    contract (any setting: what landing accepts too) or typing code changed is retyped whole,
    and a table whose columns are not the ones this code makes is made again (every source then
    retyped). One transaction: a night killed half-way leaves the table as it was.
    """
    selects = {
        name: render_sql(
            "staging/record_versions.sql.j2", s=_source_view(c, parquet=c.file.format == "parquet")
        )
        for name, c in landed.items()
    }
    fingerprints = {
        # the contract's settings, not where its file lies: a deployment moved elsewhere keeps its typed rows
        name: hashlib.sha256(f"{dataclasses.replace(landed[name], path=None)!r}\n{sql}".encode()).hexdigest()
        for name, sql in selects.items()
    }
    with transaction(con):
        kept: dict[str, str] = {}
        con.execute(
            "create table if not exists staging.pending_records (source varchar, source_record_id varchar)"
        )
        if _record_versions_current(con):
            kept = dict(
                con.execute("select source, fingerprint from staging.record_versions_sources").fetchall()
            )
        else:
            _empty_record_versions(con)
            con.execute("drop table if exists staging.person_records_state")  # made again whole
        gone = "not list_contains($sources, source)"
        _mark_pending(
            con,
            f"select source, source_record_id from staging.record_versions where {gone}",
            {"sources": list(selects)},
        )
        con.execute(f"delete from staging.record_versions where {gone}", {"sources": list(selects)})
        for name, sql in selects.items():
            params = {"night": night, "source": name}
            if kept.get(name) != fingerprints[name]:
                this_source = (
                    "select source, source_record_id from staging.record_versions where source = $source"
                )
                _mark_pending(con, this_source, {"source": name})
                con.execute("delete from staging.record_versions where source = $source", {"source": name})
                con.execute(f"insert into staging.record_versions by name {sql}", {"night": night})
                _mark_pending(con, this_source, {"source": name})
                continue
            files = (
                f"select distinct _file, _file_sha256 from {qualified('raw', name)} where _night <= $night"
            )
            stale = f"""
                from staging.record_versions v
                where v.source = $source
                  and not exists (select 1 from ({files}) f
                                  where f._file = v._file and f._file_sha256 = v._file_sha256)
            """
            _mark_pending(con, f"select v.source, v.source_record_id {stale}", params)
            con.execute(f"delete {stale}", params)
            con.execute(
                f"""
                create or replace temp table _new_versions as
                select t.* from ({sql}) t
                anti join (select distinct _file, _file_sha256 from staging.record_versions where source = $source) have
                    on have._file = t._file and have._file_sha256 = t._file_sha256
                """,
                params,
            )
            con.execute("insert into staging.record_versions by name select * from _new_versions")
            _mark_pending(con, "select source, source_record_id from _new_versions", {})
            con.execute("drop table _new_versions")
        con.execute(
            "create or replace table staging.record_versions_sources (source varchar primary key, fingerprint varchar)"
        )
        if fingerprints:  # a first night whose every file was rejected has no raw table to type
            con.executemany(
                "insert into staging.record_versions_sources values ($1, $2)", list(fingerprints.items())
            )


def _mark_pending(con: duckdb.DuckDBPyConnection, keys_sql: str, params: dict[str, object]) -> None:
    """Note records whose versions are about to change: `update_person_records` makes their rows again."""
    con.execute(f"insert into staging.pending_records select distinct * from ({keys_sql})", params)


def update_person_records(con: duckdb.DuckDBPyConnection, landed: dict[str, Contract] | None = None) -> None:
    """Bring `staging.person_records` up to `staging.record_versions` (sql/staging/person_records.sql.j2),
    and `staging.person_extra` with it (sql/staging/person_extra.sql.j2, the extra fields of the
    contracts in `landed`: the sources with a raw table).

    Only the records of `staging.pending_records` (whose versions `update_record_versions` added or
    removed since) are made again, unless anything else the rows depend on changed: the SQL, the
    country's id and phone settings, the admin-area lookups or the source settings
    (`staging.person_records_state` holds their fingerprint); then the table is made again whole.
    One transaction with the emptying of the pending records: a night killed half-way leaves both
    as they were, and the next night finishes the work. A contract whose extra fields changed is
    typed again whole (`update_record_versions`), so each of its records is pending here.
    """
    fingerprint = _person_records_fingerprint(con)
    extra_sources = [
        {
            "name": name,
            "fields": {
                field: extra_value_sql(contract, field, parquet=contract.file.format == "parquet")
                for field in contract.extra_fields
            },
        }
        for name, contract in sorted((landed or {}).items())
        if contract.extra_fields
    ]
    with transaction(con):
        state = []
        if table_exists(con, "staging", "person_records") and table_exists(
            con, "staging", "person_records_state"
        ):
            state = con.execute("select fingerprint from staging.person_records_state").fetchall()
        incremental = state == [(fingerprint,)]
        con.execute(
            render_sql(
                "staging/person_records.sql.j2",
                incremental=incremental,
                content_columns=PERSON_CONTENT_COLUMNS,
            )
        )
        con.execute(
            render_sql(
                "staging/person_extra.sql.j2",
                incremental=incremental and table_exists(con, "staging", "person_extra"),
                sources=extra_sources,
            )
        )
        con.execute("delete from staging.pending_records")
        con.execute("create or replace table staging.person_records_state (fingerprint varchar)")
        con.execute("insert into staging.person_records_state values ($1)", [fingerprint])


def _person_records_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """SHA-256 of what a person record is made from, besides its versions (see `update_person_records`)."""
    settings = con.execute(
        """
        select concat_ws(' | ',
            (select string_agg(k, ',' order by k) from (
                select concat_ws('=', area_key, admin1_code) as k from staging.admin1_lookup)),
            (select string_agg(k, ',' order by k) from (
                select concat_ws('=', area_key, admin2_code, admin1_code, by_code) as k from staging.admin2_lookup)),
            (select string_agg(k, ',' order by k) from (
                select concat_ws('=', source, full_name_order) as k from staging.source_settings)),
            getvariable('national_id_pattern'), getvariable('national_id_check_digit'),
            cast(getvariable('phone_national_digits') as varchar))
        """
    ).fetchall()[0][0]
    # the transliteration and DuckDB's own string functions: an upgrade may spell a name differently
    libraries = f"anyascii {importlib.metadata.version('anyascii')} duckdb {duckdb.__version__}"
    text = "\n".join(
        [
            read_sql("staging/person_records.sql.j2"),
            read_sql("staging/person_extra.sql.j2"),
            repr(PERSON_CONTENT_COLUMNS),
            read_sql("staging/macros.sql"),
            inspect.getsource(_translit),
            libraries,
            settings,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _record_versions_columns() -> list[str]:
    """The columns of staging.record_versions, as `name type`: every source's typing fills all of them."""
    typed = {"date": "date", "month": "date", "number": "decimal(18, 2)", "integer": "integer"}
    return [
        "source varchar",
        "source_kind varchar",
        "drop_mode varchar",
        "programme_id varchar",
        "source_record_id varchar",
        *(f'"{field}" {typed.get(kind, "varchar")}' for field, kind in CANONICAL_FIELDS.items()),
        "dob_precision varchar",
        "_night date",
        "_file varchar",
        "_row_number bigint",
        "_file_sha256 varchar",
    ]


def _record_versions_current(con: duckdb.DuckDBPyConnection) -> bool:
    """The kept table and its fingerprints exist, with exactly the columns and types this code makes."""
    if not (
        table_exists(con, "staging", "record_versions")
        and table_exists(con, "staging", "record_versions_sources")
    ):
        return False
    con.execute(
        f"create or replace temp table _record_versions_expected ({', '.join(_record_versions_columns())})"
    )
    layout = (
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = $catalog and table_schema = $schema and table_name = $table order by ordinal_position"
    )
    catalog = con.execute("select current_database()").fetchall()[0][0]
    expected = con.execute(
        layout, {"catalog": "temp", "schema": "main", "table": "_record_versions_expected"}
    ).fetchall()
    actual = con.execute(
        layout, {"catalog": catalog, "schema": "staging", "table": "record_versions"}
    ).fetchall()
    con.execute("drop table _record_versions_expected")
    return actual == expected


def _empty_record_versions(con: duckdb.DuckDBPyConnection) -> None:
    """No source has landed yet: an empty table of the right shape keeps every model runnable."""
    columns = _record_versions_columns()
    con.execute(f"create or replace table staging.record_versions ({', '.join(columns)})")
