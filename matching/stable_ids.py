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

Input is a table of (record_key, cluster_key) for tonight and one of
(record_key, person_id) for the previous night. All set-based SQL that DuckDB and
Spark SQL both read: a million clusters need no Python loop, and on a `backend:
spark` night the rules run on Spark beside the clustering (matching.backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from matching.backend import Backend

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


def _steps(
    clusters: str, previous: str, highest_issued: int, output: str, history: str
) -> list[tuple[str, str]]:
    """The rules as (table, select) steps in order, in SQL both backends read (no qualify, using or `not in`)."""
    return [
        (
            "_votes",
            f"""
            select c.cluster_key, p.person_id as old_id, count(*) as n, min(c.record_key) as first_record
            from {clusters} c join {previous} p on c.record_key = p.record_key
            group by c.cluster_key, p.person_id
            """,
        ),
        # split rule: each old id goes to the cluster holding most of its records
        (
            "_winners",
            """
            select old_id, cluster_key from (
                select old_id, cluster_key,
                       row_number() over (partition by old_id order by n desc, first_record) as place
                from _votes
            ) ranked
            where place = 1
            """,
        ),
        # merge rule: a cluster that won several old ids keeps the oldest
        ("_kept", "select cluster_key, min(old_id) as person_id from _winners group by cluster_key"),
        (
            "_new",
            f"""
            select cluster_key,
                   '{ID_PREFIX}' || lpad(cast({int(highest_issued)} + row_number() over (order by first_record) as string),
                                         {ID_DIGITS}, '0') as person_id
            from (select cluster_key, min(record_key) as first_record from {clusters} group by cluster_key) f
            where not exists (select 1 from _kept k where k.cluster_key = f.cluster_key)
            """,
        ),
        (
            "_cluster_ids",
            "select cluster_key, person_id from _kept union all select cluster_key, person_id from _new",
        ),
        (
            output,
            f"""
            select c.record_key, i.person_id
            from {clusters} c join _cluster_ids i on c.cluster_key = i.cluster_key
            """,
        ),
        (
            history,
            """
            -- merges: old ids that won a cluster but were not kept
            select w.old_id as old_person_id, k.person_id as new_person_id, 'merge' as kind
            from _winners w join _kept k on w.cluster_key = k.cluster_key
            where w.old_id <> k.person_id
            union all
            -- splits: clusters that lost an old id to another cluster
            select v.old_id, i.person_id, 'split'
            from _votes v join _cluster_ids i on v.cluster_key = i.cluster_key
            join _winners w on w.old_id = v.old_id and w.cluster_key <> v.cluster_key
            where i.person_id <> v.old_id
            """,
        ),
    ]


def assign_stable_ids(
    con: duckdb.DuckDBPyConnection,
    clusters: str,
    previous: str,
    highest_issued: int,
    output: str,
    history: str,
    backend: Backend | None = None,
) -> IdAssignment:
    """Write `output(record_key, person_id)` and `history(old_person_id, new_person_id, kind)` as tables of `con`.

    `clusters` and `previous` are tables of `con`; `highest_issued` is the largest id number ever issued,
    so retired ids are never reused. On a Spark `backend` the rules run there: the two tables go out and
    the two results come back as Parquet.
    """
    steps = _steps(clusters, previous, int(highest_issued), output, history)
    if backend is not None and backend.spark is not None:
        backend.run(con, [clusters, previous], steps, [output, history])
    else:
        results = (output, history)
        for name, select in steps:
            con.execute(
                f"create or replace {'table' if name in results else 'temp table'} {name} as {select}"
            )
        for name, _ in steps:
            if name not in results:
                con.execute(f"drop table {name}")
    persons, new = con.execute(
        f"select count(distinct person_id), count(distinct person_id) filter "
        f"(where cast(substr(person_id, {len(ID_PREFIX) + 1}) as bigint) > {int(highest_issued)}) from {output}"
    ).fetchall()[0]
    merged, split = con.execute(
        f"select count(*) filter (where kind = 'merge'), count(*) filter (where kind = 'split') from {history}"
    ).fetchall()[0]
    return IdAssignment(int(persons), int(persons) - int(new), int(new), int(merged), int(split))
