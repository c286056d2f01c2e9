"""Stable person ids: tonight's clusters inherit the ids their records had last night.

Rules (DESIGN.md, issue 3):
- a cluster keeps the id its records had;
- a merge (records of several old ids in one cluster) keeps the oldest id; the
  others are retired, each with a `merge` row in the history;
- a split (an old id's records now in several clusters) keeps the id on the part
  holding most of its records (ties: the part with the smallest record key); the
  other parts get new ids, each with a `split` row;
- clusters with no old id get new ids, numbered on from the largest id ever issued,
  in the order of their smallest record key, so a rerun issues the same ids.

Input is a table or query of (record_key, cluster_key) for tonight and one of
(record_key, person_id) for the previous night. All set-based SQL: a million
clusters need no Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

ID_PREFIX = "P"
ID_DIGITS = 10


@dataclass(frozen=True)
class IdAssignment:
    persons: int
    kept: int
    new: int
    merged: int
    split: int


def format_person_id(number: int) -> str:
    return f"{ID_PREFIX}{number:0{ID_DIGITS}d}"


def assign_stable_ids(
    con: duckdb.DuckDBPyConnection,
    clusters: str,
    previous: str,
    highest_issued: int,
    output: str,
    history: str,
) -> IdAssignment:
    """Write `output(record_key, person_id)` and `history(old_person_id, new_person_id, kind)`.

    `clusters` and `previous` are table names (or parenthesised queries); `highest_issued`
    is the largest id number ever issued, so retired ids are never reused.
    """
    con.execute(
        f"""
        create or replace temp table _votes as
        select c.cluster_key, p.person_id as old_id, count(*) as n, min(c.record_key) as first_record
        from {clusters} c join {previous} p using (record_key)
        group by all;

        -- split rule: each old id goes to the cluster holding most of its records
        create or replace temp table _winners as
        select old_id, cluster_key
        from _votes
        qualify row_number() over (partition by old_id order by n desc, first_record) = 1;

        -- merge rule: a cluster that won several old ids keeps the oldest
        create or replace temp table _kept as
        select cluster_key, min(old_id) as person_id
        from _winners
        group by cluster_key;

        create or replace temp table _new as
        select cluster_key,
               '{ID_PREFIX}' || lpad(cast({int(highest_issued)} + row_number() over (order by first_record) as varchar),
                                     {ID_DIGITS}, '0') as person_id
        from (select cluster_key, min(record_key) as first_record from {clusters} group by cluster_key)
        where cluster_key not in (select cluster_key from _kept);

        create or replace temp table _cluster_ids as
        select * from _kept union all select * from _new;

        create or replace table {output} as
        select c.record_key, i.person_id
        from {clusters} c join _cluster_ids i using (cluster_key)
        order by c.record_key;

        create or replace table {history} as
        -- merges: old ids that won a cluster but were not kept
        select w.old_id as old_person_id, k.person_id as new_person_id, 'merge' as kind
        from _winners w join _kept k using (cluster_key)
        where w.old_id <> k.person_id
        union all
        -- splits: clusters that lost an old id to another cluster
        select v.old_id, i.person_id, 'split'
        from _votes v join _cluster_ids i using (cluster_key)
        join _winners w on w.old_id = v.old_id and w.cluster_key <> v.cluster_key
        where i.person_id <> v.old_id
        order by all;
        """
    )
    counts = con.execute(
        f"""
        select
            (select count(*) from _cluster_ids),
            (select count(*) from _kept),
            (select count(*) from _new),
            (select count(*) from {history} where kind = 'merge'),
            (select count(*) from {history} where kind = 'split')
        """
    ).fetchall()[0]
    con.execute(
        "drop table _votes; drop table _winners; drop table _kept; drop table _new; drop table _cluster_ids"
    )
    return IdAssignment(*(int(v) for v in counts))
