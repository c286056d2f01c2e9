"""Clerical review: reviewers' decisions override the model from the next run on.

Workflow (README, "Reviewing matches"): pairs in the uncertain band land in
`linkage.review_queue` (restricted warehouse) with both records side by side. A
reviewer writes decisions as CSV files in `<home>/reviews/`, one row per pair:

    source_l,source_record_id_l,source_r,source_record_id_r,decision,reviewer,note
    old_age_pension,OAP-001,civil_registry,CR-123,must_link,amina,same person (checked ID card)

`decision` is `must_link` or `cannot_link`. Every file is read on every run, so a
decision holds until its row is removed. A malformed file stops the linkage with an
error naming the file, the row and the field.

`write_review_queue` fills tonight's queue from the night's edges and flagged clusters, leaving out
the pairs a reviewer has already decided.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb

from matching.config import LinkageConfig

REQUIRED = ("source_l", "source_record_id_l", "source_r", "source_record_id_r", "decision")
DECISIONS = ("must_link", "cannot_link")


class ReviewFileError(ValueError):
    """A review decision file is malformed; the message names the file, row and field."""


def read_decisions(folder: Path) -> list[tuple[str, str, str]]:
    """(record_key_l, record_key_r, decision) from every CSV in the folder; later files win on a pair."""
    decisions: dict[tuple[str, str], str] = {}
    if not folder.is_dir():
        return []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise ReviewFileError(
                    f"{path}: missing column(s) {', '.join(missing)}; need {', '.join(REQUIRED)}"
                )
            for line, row in enumerate(reader, start=2):
                for column in REQUIRED:
                    if not (row.get(column) or "").strip():
                        raise ReviewFileError(f"{path}: row {line}: '{column}' is empty")
                decision = row["decision"].strip()
                if decision not in DECISIONS:
                    raise ReviewFileError(
                        f"{path}: row {line}: 'decision': got {decision!r}; allowed: {', '.join(DECISIONS)}"
                    )
                left = f"{row['source_l'].strip()}:{row['source_record_id_l'].strip()}"
                right = f"{row['source_r'].strip()}:{row['source_record_id_r'].strip()}"
                decisions[(min(left, right), max(left, right))] = decision
    return [(left, right, decision) for (left, right), decision in sorted(decisions.items())]


def load_decisions(con: duckdb.DuckDBPyConnection, home: Path) -> int:
    """Load the decisions into the temp table `_decisions(record_key_l, record_key_r, decision)`."""
    rows = read_decisions(home / "reviews")
    con.execute(
        "create or replace temp table _decisions (record_key_l varchar, record_key_r varchar, decision varchar)"
    )
    if rows:
        con.executemany("insert into _decisions values (?, ?, ?)", [list(r) for r in rows])
    return len(rows)


def write_review_queue(con: duckdb.DuckDBPyConnection, night: date, config: LinkageConfig) -> int:
    """The pairs a clerk must decide, with both records side by side: for two persons the night left apart,
    their strongest link, when it is uncertain (between the review band's lower end and the threshold) or
    was cut by the identity guard (at or above the threshold, inside a cluster it split) between persons who
    could be one (no two of their records break an identity constraint: `clustering._cannot_be_one`). A pair whose
    records are one person through stronger links is not asked about, and two persons are asked about once."""
    con.execute("delete from linkage.review_queue where night = $night", {"night": night})
    con.execute(
        """
        insert into linkage.review_queue
        with person as (
            select record_key, person_id from linkage.record_person where night = $night
        ),
        apart as (
            -- one question per two persons: their strongest link (a clerk decides persons, not every pair)
            select e.*, least(l.person_id, r.person_id) as person_a, greatest(l.person_id, r.person_id) as person_b
            from _edges e
            join person l on l.record_key = e.record_key_l
            join person r on r.record_key = e.record_key_r
            where l.person_id <> r.person_id
            qualify row_number() over (
                partition by least(l.person_id, r.person_id), greatest(l.person_id, r.person_id)
                order by e.match_probability desc, e.record_key_l, e.record_key_r
            ) = 1
        ),
        guard_cut as (
            select e.* from apart e
            where e.match_probability >= $threshold
              and e.record_key_l in (select record_key from _flagged_records)
              and e.record_key_r in (select record_key from _flagged_records)
        ),
        -- two persons holding records that cannot be one person (two valid ids, two registration numbers,
        -- births twenty years apart): no decision of a clerk could join them, the cut is settled
        settled as (
            select distinct g.person_a, g.person_b
            from guard_cut g
            join person pa on pa.person_id = g.person_a
            join _link_input l on l.record_key = pa.record_key
            join person pb on pb.person_id = g.person_b
            join _link_input r on r.record_key = pb.record_key
            where _cannot_be_one(l, r)
        ),
        pairs as (
            select record_key_l, record_key_r, match_probability, 'uncertain' as reason
            from apart where match_probability >= $lower and match_probability < $threshold
            union all
            select g.record_key_l, g.record_key_r, g.match_probability, 'cut by the identity guard'
            from guard_cut g anti join settled s using (person_a, person_b)
        )
        select $night, p.record_key_l, p.record_key_r, max(p.match_probability), string_agg(distinct p.reason, '; '),
               any_value(l.first_name), any_value(r.first_name), any_value(l.last_name), any_value(r.last_name),
               any_value(l.date_of_birth), any_value(r.date_of_birth), any_value(l.sex), any_value(r.sex),
               any_value(l.national_id), any_value(r.national_id), any_value(l.admin2), any_value(r.admin2)
        from pairs p
        join _link_input l on l.record_key = p.record_key_l
        join _link_input r on r.record_key = p.record_key_r
        where (p.record_key_l, p.record_key_r) not in (select (record_key_l, record_key_r) from _decisions)
        group by p.record_key_l, p.record_key_r
        order by 4 desc, 2, 3
        """,
        {"night": night, "lower": config.review_lower, "threshold": config.threshold},
    )
    return int(
        con.execute(
            "select count(*) from linkage.review_queue where night = $night", {"night": night}
        ).fetchall()[0][0]
    )
