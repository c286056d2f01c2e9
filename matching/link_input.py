"""The link input: one row per staged record, as the linkage model reads it.

`prepare_input` makes `linkage.link_input` (kept between nights, a record derived again only when
a value it is made from changed) and the temp view `_link_input` over it, which every later step
of a night reads: training and scoring, the pre-link, clustering, ids and the review queue.
`LINK_FIELDS` are the staged fields it takes; `EVIDENCE_GROUPS` decide which records carry enough
to take part in the model.

(Named `link_input`, not `input`, so that it does not read as Python's `input()`.)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
from pathlib import Path

import duckdb

from core.sqlutil import literal, quote_ident, read_sql, table_exists, transaction
from matching import incremental
from matching.fields import NAME_PARTS
from staging import standardise

# the person record's fields linkage reads (those a deployment's staging lacks are null)
LINK_FIELDS = (
    *NAME_PARTS,
    "mother_name",
    "date_of_birth",
    "dob_precision",
    "birth_year",
    "sex",
    "national_id",
    "national_id_valid",
    "civil_registration_number",
    "tax_number",
    "phone",
    "admin1",
    "admin2",
    "locality",
    "postcode",
    "street_number",
    "address_line",
    "address_line_2",
)


# groups of identifying evidence: a record takes part in the model when it carries two of them
# (a name and a date of birth; a name and an address; an id and a phone ...)
EVIDENCE_GROUPS = (
    "first_name is not null or last_name is not null or father_name is not null",
    "date_of_birth is not null",
    "national_id is not null",
    "phone is not null",
    "civil_registration_number is not null or tax_number is not null",
    "address_line is not null or postcode is not null or locality is not null",
)


def prepare_input(con: duckdb.DuckDBPyConnection, extra: dict[str, str] | None = None) -> None:
    """`_link_input`: one row per staged record, with the keys and derived columns the model reads.

    `extra` maps the contracts' extra fields to their compare kind; their values come from
    `staging.person_extra` (one column each, null where a source does not carry the field).

    The rows are kept between nights in `linkage.link_input`, each with a hash of every staged
    value it is made from (`input_hash`): a night derives again only the records that are new
    or whose values changed, and drops the records no longer staged. A change in how the rows
    are made (this SQL, the link fields, the contracts' extra fields) makes the table again whole.
    `_link_input` is a view of it.
    """
    staged = {
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'staging' and table_name = 'person_records'"
        ).fetchall()
    }
    fields = ", ".join(
        f"p.{name}" if name in staged else f"cast(null as varchar) as {name}" for name in LINK_FIELDS
    )
    extra = dict(extra or {})
    extra_columns, extra_join = "", ""
    if extra and table_exists(con, "staging", "person_extra"):
        extra_columns = "".join(
            f", x.{quote_ident(name)}"
            if compare != "date"
            else f", try_cast(x.{quote_ident(name)} as date) as {quote_ident(name)}"
            for name, compare in sorted(extra.items())
        )
        pivot = ", ".join(
            f"any_value(value) filter (where field = {literal(name)}) as {quote_ident(name)}"
            for name in sorted(extra)
        )
        extra_join = (
            f"left join (select source, source_record_id, {pivot} from staging.person_extra group by all) x "
            "using (source, source_record_id)"
        )
    groups = list(EVIDENCE_GROUPS)
    if extra_columns:
        # the contract's extra fields (a birth place, an occupation) are one kind of evidence together
        groups.append(" or ".join(f"{quote_ident(name)} is not null" for name in sorted(extra)))
    usable = " + ".join(f"({group})::int" for group in groups)
    extra_names = tuple(quote_ident(n) for n in sorted(extra) if extra_join)
    # every value a row is derived from: a record whose hash is unchanged keeps its row
    hashed = ", ".join(f"{c} := {c}" for c in ("source_kind", *LINK_FIELDS, *extra_names))
    input_hash = f"hash(struct_pack({hashed}))"
    records = f"""
        select p.source, p.source_record_id, p.source_kind, {fields}{extra_columns}
        from staging.person_records p {extra_join}
    """
    derive = f"""
        with derived as (
            select *,
                   nullif(trim(regexp_replace(
                       upper(concat_ws(' ', street_number, address_line, address_line_2)),
                       '[^A-Z0-9]+', ' ', 'g')), '') as address,
                   list_filter(string_split(first_name, ' '), lambda t: t <> '') as given_tokens,
                   -- the other parts of the person's own name, the father's first: his name is the one a
                   -- patronymic chain, a child's list (as the surname) and a cut chain all keep
                   list_filter(string_split(concat_ws(' ', father_name, middle_name, last_name, grandfather_name,
                                                      second_last_name), ' '), lambda t: t <> '') as family_tokens
            from _link_records
        ),
        named as (
            select *,
                   given_tokens[1] as given_name,
                   list_concat(family_tokens, given_tokens[2:]) as other_tokens,
                   list_distinct(list_concat(given_tokens, family_tokens)) as name_tokens
            from derived
        ),
        sounded as (
            select *,
                   list_sort(list_distinct(list_filter(
                       list_transform(name_tokens, lambda t: ibr_phonetic(t)), lambda k: k is not null))) as name_keys
            from named
        )
        select
            source as source_dataset,
            source_record_id as unique_id,
            source || ':' || source_record_id as record_key,
            * exclude (source, source_record_id, street_number, address_line, address_line_2, input_hash,
                       given_tokens, family_tokens, other_tokens, name_tokens, name_keys),
            {incremental.fingerprint_sql((*LINK_FIELDS, *extra_names))} as link_fingerprint,
            nullif(concat_ws(' ', first_name, last_name), '') as name_concat,
            ibr_phonetic(first_name) as first_name_key,
            ibr_phonetic(last_name) as last_name_key,
            ibr_phonetic(given_name) as given_key,
            nullif(array_to_string(other_tokens, ' '), '') as other_names,
            ibr_phonetic(other_tokens[1]) as other_key,
            nullif(name_tokens, []) as name_tokens,
            nullif(list_sort(list_distinct(list_filter(
                list_transform(given_tokens, lambda t: ibr_phonetic(t)), lambda k: k is not null))), []) as given_keys,
            nullif(list_sort(list_distinct(list_filter(
                list_transform(other_tokens, lambda t: ibr_phonetic(t)), lambda k: k is not null))), []) as other_keys,
            nullif(array_to_string(list_sort(name_tokens), ' '), '') as name_sorted,
            nullif(array_to_string(name_keys, ' '), '') as name_sounds,
            nullif(array_to_string(list_sort(string_split(national_id, '')), ''), '') as national_id_digits,
            string_split(address, ' ') as address_tokens,
            nullif(regexp_extract(address, '[0-9]+'), '') as address_number,
            {usable} >= 2 as usable,
            input_hash
        from sounded
    """
    # the SQL, the phonetic key's code and the libraries under it: an upgrade derives every row again
    code = "\n".join(
        [
            records,
            derive,
            inspect.getsource(standardise._phonetic),
            f"jellyfish {importlib.metadata.version('jellyfish')}",
            duckdb.__version__,
        ]
    )
    fingerprint = hashlib.sha256(code.encode()).hexdigest()
    kept = (
        table_exists(con, "linkage", "link_input")
        and table_exists(con, "linkage", "link_input_state")
        and con.execute(
            "select count(*) from linkage.link_input_state where fingerprint = $1", [fingerprint]
        ).fetchall()[0][0]
    )
    hashed_records = f"select *, {input_hash} as input_hash from ({records})"
    with transaction(con):
        if kept:
            # new and changed records: none of the kept rows has their key and tonight's hash
            con.execute(
                f"""
                create or replace temp table _link_records as
                select r.* from ({hashed_records}) r
                anti join linkage.link_input l
                  on l.source_dataset = r.source and l.unique_id = r.source_record_id and l.input_hash = r.input_hash
                order by source, source_record_id  -- the join's order varies; the table's rows should not
                """
            )
            # the changed records' rows and those of records gone from staging go; the new ones come in
            con.execute(
                """
                delete from linkage.link_input where rowid in (
                    select l.rowid from linkage.link_input l
                    semi join _link_records r on r.source = l.source_dataset and r.source_record_id = l.unique_id
                    union all
                    select l.rowid from linkage.link_input l
                    anti join staging.person_records p
                      on p.source = l.source_dataset and p.source_record_id = l.unique_id
                )
                """
            )
            con.execute(f"insert into linkage.link_input by name {derive}")
        else:
            con.execute(f"create or replace temp table _link_records as {hashed_records}")
            con.execute(f"create or replace table linkage.link_input as {derive}")
            con.execute("create or replace table linkage.link_input_state (fingerprint varchar)")
            con.execute("insert into linkage.link_input_state values ($1)", [fingerprint])
            _comment_link_input(con)
        con.execute("drop table _link_records")
    con.execute(read_sql("linkage/dob_defaults.sql"))
    # the dates each source writes when it does not know them (linkage.dob_default): read as the year alone,
    # or as no date
    con.execute(
        """
        create or replace temp view _link_input as
        select i.* exclude (input_hash, date_of_birth, dob_precision, birth_year),
               case when u.placeholder is null then i.date_of_birth end as date_of_birth,
               case when u.placeholder is not null then null
                    when y.kind is not null then 'year' else i.dob_precision end as dob_precision,
               case when u.placeholder is null then i.birth_year end as birth_year,
               coalesce(y.kind, u.kind) as dob_default
        from linkage.link_input i
        left join linkage.dob_default y
          on y.kind = 'year_only' and y.source_dataset = i.source_dataset and i.dob_precision = 'day'
         and y.birth_month = month(i.date_of_birth) and y.birth_day = day(i.date_of_birth)
        left join linkage.dob_default u
          on u.kind = 'unknown' and u.source_dataset = i.source_dataset and u.placeholder = i.date_of_birth
        """
    )


# linkage.link_input's own columns; every link field is staging.person_records' column of that name,
# every other column an extra field of a contract
LINK_INPUT_COLUMNS = {
    "source_dataset": "Source of the record (Splink's source_dataset).",
    "unique_id": "Record id within its source (Splink's unique_id).",
    "record_key": "source:source_record_id.",
    "source_kind": "Kind of source (civil_registry, tax_registry, programme ...).",
    "address": "Street number and address lines, upper-case, letters and digits only.",
    "link_fingerprint": "md5 of the record's linkage fields: a record whose fingerprint differs from the previous "
    "night's is linked again.",
    "name_concat": "First and last name together.",
    "first_name_key": "Metaphone key of the first name.",
    "last_name_key": "Metaphone key of the last name.",
    "address_tokens": "The words of address.",
    "address_number": "The first number in address.",
    "given_name": "The given name: the first word of first_name.",
    "given_key": "Metaphone key of the given name.",
    "other_names": "The other parts of the person's own name, the father's name first (father, middle, last, "
    "grandfather, second last name, other given names).",
    "other_key": "Metaphone key of the first of the other names.",
    "name_tokens": "Every part of the person's own name, once each.",
    "given_keys": "The metaphone keys of every given name (first_name's words), sorted, once each.",
    "other_keys": "The metaphone keys of the other names, sorted, once each.",
    "name_sorted": "The name's parts sorted and joined: the same name in any order.",
    "name_sounds": "The name's sound keys joined: names that sound alike in any order.",
    "national_id_digits": "The national id's characters sorted: the same id with two digits exchanged.",
    "usable": "True when the record carries two kinds of identifying evidence and takes part in the model.",
    "input_hash": "Hash of every staged value the row is derived from: an unchanged hash keeps the row.",
}


def _comment_link_input(con: duckdb.DuckDBPyConnection) -> None:
    """COMMENTs on linkage.link_input (whatever extra fields it holds) and linkage.link_input_state."""
    con.execute(
        "comment on table linkage.link_input is 'One row per staged record, as the linkage model reads it "
        "(staging.person_records with its derived keys): kept between nights, a record derived again only when a "
        "value it is made from changed. Restricted: names, ids, dates of birth.'"
    )
    columns = con.execute(
        "select column_name from duckdb_columns() where schema_name = 'linkage' and table_name = 'link_input'"
    ).fetchall()
    for (column,) in columns:
        if column in LINK_INPUT_COLUMNS:
            text = LINK_INPUT_COLUMNS[column]
        elif column in LINK_FIELDS:
            text = f"staging.person_records.{column} (standardised)."
        else:
            text = "An extra field of the record's contract (staging.person_extra)."
        con.execute(f"comment on column linkage.link_input.{quote_ident(column)} is {literal(text)}")
    con.execute(
        "comment on table linkage.link_input_state is 'How linkage.link_input was made: while this is "
        "unchanged, its rows are kept between nights.'"
    )
    con.execute(
        "comment on column linkage.link_input_state.fingerprint is 'SHA-256 of the SQL that derives the "
        "rows, the phonetic key''s code and the versions of jellyfish and DuckDB.'"
    )


def extra_fields(home: Path) -> dict[str, str]:
    """The contracts' extra fields (`extra_fields:` in `<home>/sources/*.yaml`) and how each is compared."""
    from ingest.contracts import extra_field_kinds, load_contracts

    sources = home / "sources"
    return extra_field_kinds(load_contracts(sources)) if sources.is_dir() else {}
