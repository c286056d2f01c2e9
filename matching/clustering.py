"""Clustering a night's records into persons, and the guard that splits what cannot be one person.

The edges are the model's pairs, the deterministic id pairs and reviewers' must-links, less their
cannot-links and pairs that cannot be one person; the connected components run on the night's
backend (matching.backend). A cluster that is too big, or holds two valid national ids or civil
registration numbers that differ, is re-clustered on strong edges only and flagged for review.
An incremental night clusters only the components that can have changed (`incremental.cluster_scope`)
when its clustering settings are the previous night's (`previous_cluster_sha`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from matching import incremental
from matching.backend import Backend
from matching.config import LinkageConfig
from matching.scratch import copy_result, scratch_connection

# the rows of night $before of a linkage table that an incremental night keeps: records still linked
# tonight (in _link_input) whose component it did not cluster again (outside _scope)
OUTSIDE_SCOPE = (
    "night = $before and record_key not in (select record_key from _scope) "
    "and record_key in (select record_key from _link_input)"
)


def previous_cluster_sha(con: duckdb.DuckDBPyConnection, before: date | None) -> str | None:
    """The clustering settings' fingerprint of the night before (None: none recorded, cluster everything)."""
    if before is None:
        return None
    rows = con.execute(
        "select details->>'cluster_settings', details->>'split_components' from audit.linkage_runs where night = $1",
        [before],
    ).fetchall()
    if not rows or not rows[0][0]:
        return None
    # the split components must be the ones that night recorded: those of a night older than the latest two
    # are dropped (that night's successor clusters everything), a rerun killed half-way may have replaced them
    return str(rows[0][0]) if split_components_sha(con, before) == rows[0][1] else None


def split_components_sha(con: duckdb.DuckDBPyConnection, night: date) -> str:
    """Fingerprint of a night's rows of linkage.split_component (few: only records of split clusters)."""
    value = con.execute(
        "select md5(coalesce(string_agg(record_key || '=' || component_key, ',' order by record_key), '')) "
        "from linkage.split_component where night = $1",
        [night],
    ).fetchall()[0][0]
    return str(value)


def cluster(
    con: duckdb.DuckDBPyConnection,
    home: Path,
    night: date,
    config: LinkageConfig,
    scope_before: date | None,
    backend: Backend,
) -> tuple[int, int]:
    """Cluster records into persons; split and flag clusters that break identity constraints.

    The connected components (Splink's clustering) run on `backend`: on Spark the nodes and edges go
    out and the clusters come back as Parquet. The edges are made and the identity constraints
    checked here, on DuckDB: they read the records (`_link_input`), one row per record.

    Writes `_clusters(record_key, cluster_key)`, `_flagged_records` and tonight's
    `linkage.split_component`. With `scope_before` (an incremental night whose clustering
    settings and decisions are the previous night's), only the records of
    `incremental.cluster_scope` are clustered: everyone else keeps the previous night's person,
    flag and split component (`ids.assign_ids`). Returns the clusters flagged and the records clustered.
    """
    con.execute(
        """
        create or replace temp table _edges as
        with candidate as (
            select record_key_l, record_key_r, match_probability from _model_edges
            union all select record_key_l, record_key_r, 1.0 from _deterministic
            union all select record_key_l, record_key_r, 1.0 from _decisions where decision = 'must_link'
        )
        select least(record_key_l, record_key_r) as record_key_l, greatest(record_key_l, record_key_r) as record_key_r,
               max(match_probability) as match_probability
        from candidate
        group by all
        having (least(record_key_l, record_key_r), greatest(record_key_l, record_key_r)) not in (
            select (least(record_key_l, record_key_r), greatest(record_key_l, record_key_r))
            from _decisions where decision = 'cannot_link'
        );

        -- pairs that cannot be one person whatever else they share (a household phone, a surname):
        -- a different sex and births more than two years apart (a year-only birth may be off by two), or
        -- births both known to the day more than ten years apart and more than one typo apart: a father and
        -- the son named after him (1992-04-20, 2011-04-20); a mistyped year digit (1962, 1992) stays evidence
        create or replace temp macro _impossible(l, r) as
            (l.sex <> r.sex and abs(l.birth_year - r.birth_year) > 2)
            or (l.dob_precision = 'day' and r.dob_precision = 'day'
                and abs(l.birth_year - r.birth_year) > 10
                and damerau_levenshtein(strftime(l.date_of_birth, '%Y%m%d'), strftime(r.date_of_birth, '%Y%m%d')) > 1);
        -- two records that cannot be in one cluster: the pairwise form of _CONFLICTED's identity constraints
        create or replace temp macro _cannot_be_one(l, r) as
            _impossible(l, r)
            -- two valid national ids further apart than one typo (a typo'd id is evidence, not a veto)
            or (l.national_id_valid and r.national_id_valid and damerau_levenshtein(l.national_id, r.national_id) > 1)
            or (l.source_kind = 'civil_registry' and r.source_kind = 'civil_registry'
                and l.civil_registration_number <> r.civil_registration_number);

        -- a select, then an anti join: DuckDB plans a DELETE ... USING with this OR as a nested loop
        create or replace temp table _edges as
        select e.* from _edges e
        anti join (
            select e.record_key_l, e.record_key_r
            from _edges e
            join _link_input l on l.record_key = e.record_key_l
            join _link_input r on r.record_key = e.record_key_r
            where e.match_probability < 1.0 and _impossible(l, r)
        ) x using (record_key_l, record_key_r);
        """
    )
    if scope_before is not None:
        clustered = incremental.cluster_scope(con, scope_before, config.threshold)
        nodes = "select record_key from _link_input semi join _scope using (record_key)"
        in_scope = "and record_key_l in (select record_key from _scope) and record_key_r in (select record_key from _scope)"
    else:
        clustered = int(con.execute("select count(*) from _link_input").fetchall()[0][0])
        nodes, in_scope = "select record_key from _link_input", ""
    scratch = scratch_connection(config, home)
    copy_result(con, nodes, scratch, "nodes")
    copy_result(
        con,
        f"select * from _edges where match_probability >= {float(config.threshold)} {in_scope}",
        scratch,
        "edges",
    )
    clusters = backend.cluster(scratch, "nodes", "edges", "clusters")
    copy_result(
        scratch, f"select record_key, cluster_id as cluster_key from {clusters}", con, "_clusters", temp=True
    )

    flagged = _split_conflicted(con, scratch, backend, config)
    scratch.close()
    if scope_before is not None:
        # outside the scope, last night's flags and split components stand
        con.execute(
            "create or replace temp table _kept_split as "
            f"select record_key, component_key from linkage.split_component where {OUTSIDE_SCOPE}",
            {"before": scope_before},
        )
        con.execute(
            "insert into _split_component select * from _kept_split;"
            "insert into _flagged_records select record_key from _kept_split"
        )
        flagged += con.execute("select count(distinct component_key) from _kept_split").fetchall()[0][0]
    con.execute("delete from linkage.split_component where night = $night", {"night": night})
    con.execute(
        "insert into linkage.split_component select $night, record_key, component_key from _split_component",
        {"night": night},
    )
    # a rerun of tonight (or of the next night) reads the previous night's components; older ones are never read
    con.execute(
        "delete from linkage.split_component where night < "
        "(select max(night) from linkage.record_person where night < $night)",
        {"night": night},
    )
    return int(flagged), clustered


# identity constraints: too big, a reviewer's cannot-link inside, or two records that cannot be one person
# (`_cannot_be_one`, chained through others: two valid national ids more than a typo apart, two different
# registration numbers as the civil registry itself holds them, where the registry that issues a number lists
# one person under it and copies in programme lists may be mistyped, its own may not)
_CONFLICTED = """
    create or replace temp table _conflicted as
    select cluster_key from {clusters} group by cluster_key having count(*) > $max_size
    union
    select l.cluster_key from _decisions d
    join {clusters} l on l.record_key = d.record_key_l
    join {clusters} r on r.record_key = d.record_key_r
    where d.decision = 'cannot_link' and l.cluster_key = r.cluster_key
    union
    select a.cluster_key
    from {clusters} a join _link_input l using (record_key)
    join {clusters} b on b.cluster_key = a.cluster_key and b.record_key > a.record_key
    join _link_input r on r.record_key = b.record_key
    where _cannot_be_one(l, r)
"""


def split_ladder(threshold: float, strong_threshold: float) -> list[float]:
    """The thresholds a conflicted cluster is clustered again at, lowest first: it is cut at the weakest
    links that remove the conflict, not at every link below the strong threshold."""
    steps = [0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999]
    return sorted({t for t in steps if threshold < t < strong_threshold} | {strong_threshold})


def _split_conflicted(
    con: duckdb.DuckDBPyConnection,
    scratch: duckdb.DuckDBPyConnection,
    backend: Backend,
    config: LinkageConfig,
) -> int:
    """Split the clusters of `_clusters` that break an identity constraint, and flag their records.

    A conflicted cluster is clustered again on its own edges at the next threshold of `split_ladder`;
    the pieces that no longer break a constraint are kept, the others go on to the next threshold. So a
    cluster is cut where its weakest links are, and a true link stronger than the link that made the
    conflict is kept. Writes `_flagged_records` and `_split_component` (each split record's cluster before
    the split); returns the clusters split.
    """
    con.execute(_CONFLICTED.format(clusters="_clusters"), {"max_size": config.max_cluster_size})
    flagged = int(con.execute("select count(*) from _conflicted").fetchall()[0][0])
    con.execute(
        """
        create or replace temp table _split_component as
        select record_key, 'component:' || cluster_key as component_key
        from _clusters where cluster_key in (select cluster_key from _conflicted);
        create or replace temp table _flagged_records as select record_key from _split_component;
        create or replace temp table _pending as select record_key from _split_component;
        """
    )
    for step, threshold in enumerate(split_ladder(config.threshold, config.strong_threshold)):
        if not con.execute("select count(*) from _pending").fetchall()[0][0]:
            break
        copy_result(con, "select record_key from _pending", scratch, "split_nodes")
        copy_result(
            con,
            f"""
            select e.* from _edges e
            semi join _pending l on l.record_key = e.record_key_l
            semi join _pending r on r.record_key = e.record_key_r
            where e.match_probability >= {float(threshold)}
            """,
            scratch,
            "split_edges",
        )
        pieces = backend.cluster(scratch, "split_nodes", "split_edges", "split_clusters")
        copy_result(
            scratch,
            f"select record_key, 'split{step}:' || cluster_id as cluster_key from {pieces}",
            con,
            "_pieces",
            temp=True,
        )
        con.execute(
            "update _clusters set cluster_key = p.cluster_key from _pieces p where _clusters.record_key = p.record_key"
        )
        con.execute(_CONFLICTED.format(clusters="_pieces"), {"max_size": config.max_cluster_size})
        con.execute(
            "create or replace temp table _pending as "
            "select record_key from _pieces where cluster_key in (select cluster_key from _conflicted)"
        )
    _keep_apart(con, config)
    return flagged


# pairs of records of one cluster among `_pending` that cannot be one person, or a reviewer said are not
_CONFLICTING_PAIRS = """
    with pending as (select i.*, c.cluster_key from _link_input i join _clusters c using (record_key)
                     semi join _pending using (record_key))
    select l.record_key, r.record_key
    from pending l join pending r on l.cluster_key = r.cluster_key and l.record_key < r.record_key
    where _cannot_be_one(l, r)
    union all
    select d.record_key_l, d.record_key_r from _decisions d
    where d.decision = 'cannot_link'
      and d.record_key_l in (select record_key from _pending) and d.record_key_r in (select record_key from _pending)
"""


def _keep_apart(con: duckdb.DuckDBPyConnection, config: LinkageConfig) -> None:
    """Re-cluster the pieces still conflicted at the strongest threshold: reviewers' must-links first, then the
    model's edges strongest first, never joining two groups that hold records which cannot be one person (or
    would pass the size limit).

    Before, such a piece stayed whole and flagged: two people of the civil registry, each with their own id,
    joined by a third record that resembles both (a disability record typed by a caregiver), were published as
    one person. Each record now goes with the group its strongest links lead to; the records stay flagged.
    """
    pending = [
        row[0] for row in con.execute("select record_key from _pending order by record_key").fetchall()
    ]
    if not pending:
        return
    apart: dict[str, set[str]] = {key: set() for key in pending}
    for left, right in con.execute(_CONFLICTING_PAIRS).fetchall():
        apart[left].add(right)
        apart[right].add(left)
    # a reviewer's must-link joins first, whatever the records hold (a person registered twice in the civil
    # registry has two registration numbers); then the model's edges, strongest first
    links = con.execute(
        f"""
        select x.record_key_l, x.record_key_r, x.reviewed from (
            select record_key_l, record_key_r, 1.0 as match_probability, true as reviewed
            from _decisions where decision = 'must_link'
            union all
            select record_key_l, record_key_r, match_probability, false
            from _edges where match_probability >= {float(config.threshold)}
        ) x
        join _clusters l on l.record_key = x.record_key_l join _clusters r on r.record_key = x.record_key_r
        where l.cluster_key = r.cluster_key
          and x.record_key_l in (select record_key from _pending) and x.record_key_r in (select record_key from _pending)
        order by x.reviewed desc, x.match_probability desc, x.record_key_l, x.record_key_r
        """
    ).fetchall()
    group = {key: key for key in pending}  # each record's group, named by a member
    members = {key: {key} for key in pending}
    for left, right, reviewed in links:
        a, b = group[left], group[right]
        if a == b:
            continue
        if not reviewed and (
            len(members[a]) + len(members[b]) > config.max_cluster_size
            or any(apart[key] & members[b] for key in members[a])
        ):
            continue
        if len(members[a]) < len(members[b]):
            a, b = b, a
        for key in members.pop(b):
            group[key] = a
            members[a].add(key)
    apart_table = pa.table({"record_key": pending, "cluster_key": [f"apart:{group[key]}" for key in pending]})
    con.register("_apart", apart_table)
    con.execute(
        "update _clusters set cluster_key = a.cluster_key from _apart a where _clusters.record_key = a.record_key"
    )
    con.unregister("_apart")
