"""Tonight's person ids: the stable-id rules over tonight's clusters, written to the registry.

`assign_ids` carries ids over from the previous night (matching.stable_ids decides who keeps,
merges, splits or gets a new id), writes `linkage.record_person`, the id history and
`registry.person_source_link`. On an incremental night the records outside the clustering scope
keep their row of the night before (`clustering.OUTSIDE_SCOPE`).
"""

from __future__ import annotations

import dataclasses
from datetime import date

import duckdb

from core.sqlutil import read_sql
from matching.backend import Backend
from matching.clustering import OUTSIDE_SCOPE
from matching.stable_ids import IdAssignment, assign_stable_ids


def assign_ids(
    con: duckdb.DuckDBPyConnection,
    night: date,
    run_id: str,
    scope_before: date | None = None,
    backend: Backend | None = None,
) -> IdAssignment:
    """Carry person ids over from the latest night before this one; rerunning a night recomputes from the same state.

    With `scope_before` only the records of `_scope` were clustered: the stable-id rules run on
    them, and every other record keeps its row of that night (person, link strength, flag). The
    rules run on `backend` (on Spark, beside the clustering); what is kept of them runs here.
    """
    in_scope = "and record_key in (select record_key from _scope)" if scope_before is not None else ""
    con.execute(
        f"""
        create or replace temp table _previous as
        select record_key, person_id from linkage.record_person
        where night = (select max(night) from linkage.record_person where night < $night) {in_scope}
        """,
        {"night": night},
    )
    highest = con.execute(
        """
        select coalesce(max(cast(substr(person_id, 2) as bigint)), 0) from (
            select person_id from linkage.record_person where night < $night
            union all select new_person_id from registry.person_id_history where night < $night
            -- nights the retention policy pruned (pipelines/retention.py): their ids are never given again
            union all select person_id from linkage.retired_person_id where night < $night
        )
        """,
        {"night": night},
    ).fetchall()[0][0]
    summary = assign_stable_ids(con, "_clusters", "_previous", int(highest), "_assigned", "_history", backend)
    con.execute("delete from linkage.record_person where night = $night", {"night": night})
    if scope_before is not None:
        con.execute(
            f"""
            insert into linkage.record_person
                (night, record_key, source, source_record_id, person_id, match_probability, flag, link_fingerprint)
            select $night, record_key, source, source_record_id, person_id, match_probability, flag, link_fingerprint
            from linkage.record_person
            where {OUTSIDE_SCOPE}
            """,
            {"night": night, "before": scope_before},
        )
        unaffected = con.execute(
            "select count(distinct person_id) from linkage.record_person "
            "where night = $night and record_key not in (select record_key from _scope)",
            {"night": night},
        ).fetchall()[0][0]
        summary = dataclasses.replace(
            summary, persons=summary.persons + unaffected, kept=summary.kept + unaffected
        )
    con.execute(
        """
        insert into linkage.record_person
            (night, record_key, source, source_record_id, person_id, match_probability, flag, link_fingerprint)
        with directed as (
            select record_key_l as record_key, record_key_r as other_key, match_probability from _edges
            union all
            select record_key_r, record_key_l, match_probability from _edges
        ),
        strongest as (
            select d.record_key, max(d.match_probability) as match_probability
            from directed d
            join _assigned a using (record_key)
            join _assigned o on o.record_key = d.other_key
            where a.person_id = o.person_id
            group by d.record_key
        )
        select $night, a.record_key, i.source_dataset, i.unique_id, a.person_id, s.match_probability,
               case when not i.usable then 'insufficient_identifiers'
                    when f.record_key is not null then 'needs_review' end,
               i.link_fingerprint
        from _assigned a
        join _link_input i using (record_key)
        left join strongest s using (record_key)
        left join _flagged_records f using (record_key)
        """,
        {"night": night},
    )
    con.execute("delete from registry.person_id_history where night = $night", {"night": night})
    con.execute(
        "insert into registry.person_id_history select $night, old_person_id, new_person_id, kind, $run from _history",
        {"night": night, "run": run_id},
    )
    con.execute(
        """
        create or replace table registry.person_source_link as
        select r.person_id, r.source, r.source_record_id, r.match_probability,
               case when r.flag = 'insufficient_identifiers' then 'singleton: insufficient identifiers'
                    when count(*) over (partition by r.person_id) = 1 then 'singleton'
                    when r.match_probability >= 1.0 then 'deterministic or reviewed'
                    else 'probabilistic' end as link_method,
               r.flag is not null and r.flag = 'needs_review' as needs_review,
               r.night as linked_night
        from linkage.record_person r
        where r.night = $night
        order by r.person_id, r.source, r.source_record_id
        """,
        {"night": night},
    )
    con.execute(read_sql("registry/comments.sql"))
    return summary
