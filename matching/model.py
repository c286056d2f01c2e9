"""The Splink model, chosen from the fields the data has, in three parts and the EM sessions that train it.

- matching.fields: `profile` measures every candidate field of the link input (how many records fill it, how
  many distinct values, whether a household shares it); nothing downstream names a field no source fills;
- matching.comparisons: `comparisons`, one Splink comparison per field group the input fills;
- matching.blocking_rules: `blocking_candidates`, exact rules first, then rules that survive a typo in a name,
  a date or an id, and the keys a rule is tightened with;
- matching.blocking: `count_blocking` shares the night's comparison budget among them, tightening a rule over
  its share with up to three keys (never dropping it while keys bring it within);
- here: `em_sessions`, EM sessions picked so that every comparison has its m estimated in at least one session
  that does not block on it, and the deterministic pre-link on valid national ids.

This module is the face the rest of the linkage reads them through::

    fields = profile(con, "link_input")
    comparisons(fields)          # what Splink compares
    blocking_candidates(fields)  # [(name, sql), ...]
"""

from __future__ import annotations

from matching.blocking import (
    BlockingBudgetExceeded,
    BlockingCount,
    count_all_blocking,
    count_blocking,
    count_cumulative,
    estimate_recall,
    narrow_input,
    quiet_sampling,
    share_budget,
)
from matching.blocking_rules import (
    TIGHTENED,
    TIGHTENING_KEYS,
    blocking_candidates,
    rule_name,
    rule_sql,
    tightened,
)
from matching.comparisons import comparisons
from matching.dialect import DUCKDB, Dialect
from matching.fields import (
    CANDIDATE_FIELDS,
    HOUSEHOLD_SHARE,
    IDENTIFIERS,
    NAME_PARTS,
    FieldProfile,
    Fields,
    profile,
    shared_by_others,
)

__all__ = [
    "CANDIDATE_FIELDS",
    "DETERMINISTIC_SQL",
    "HOUSEHOLD_SHARE",
    "IDENTIFIERS",
    "NAME_PARTS",
    "TIGHTENED",
    "TIGHTENING_KEYS",
    "BlockingBudgetExceeded",
    "BlockingCount",
    "FieldProfile",
    "Fields",
    "blocking_candidates",
    "comparisons",
    "count_all_blocking",
    "count_blocking",
    "count_cumulative",
    "deterministic_sql",
    "em_sessions",
    "estimate_recall",
    "narrow_input",
    "profile",
    "quiet_sampling",
    "rule_name",
    "rule_sql",
    "share_budget",
    "shared_by_others",
    "tightened",
    "trained_by",
]


# a pair whose valid national ids agree, unless the records contradict it twice over (births years apart
# and given names unlike): an id copied onto a relative's record, not one person
def deterministic_sql(dialect: Dialect = DUCKDB) -> str:
    return (
        "l.national_id = r.national_id and l.national_id_valid and r.national_id_valid "
        "and not ("
        "  l.birth_year is not null and r.birth_year is not null and abs(l.birth_year - r.birth_year) > 1"
        "  and l.first_name is not null and r.first_name is not null"
        f"  and {dialect.jaro_winkler('l.first_name', 'r.first_name')} < 0.8"
        ")"
    )


DETERMINISTIC_SQL = deterministic_sql(DUCKDB)


# EM sessions to try, in order: (fields blocked on, SQL). Each trains every comparison it does not block on.
_EM_SESSIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("national_id",), "l.national_id = r.national_id"),
    (
        ("date_of_birth",),
        "l.date_of_birth = r.date_of_birth and l.dob_precision = 'day' and r.dob_precision = 'day'",
    ),
    # the same name in the same place first: common names are shared by strangers, and a session blocked on
    # the name alone counts their different birth dates as errors of one person's records
    (
        ("first_name", "last_name", "locality"),
        "l.first_name = r.first_name and l.last_name = r.last_name and l.locality = r.locality",
    ),
    (
        ("first_name", "last_name", "admin2"),
        "l.first_name = r.first_name and l.last_name = r.last_name and l.admin2 = r.admin2",
    ),
    (("first_name", "locality"), "l.name_sounds = r.name_sounds and l.locality = r.locality"),
    (("first_name", "last_name"), "l.first_name = r.first_name and l.last_name = r.last_name"),
    (("first_name",), "l.name_sounds = r.name_sounds"),
    (("last_name", "date_of_birth"), "l.last_name = r.last_name and l.birth_year = r.birth_year"),
    (("first_name", "date_of_birth"), "l.first_name = r.first_name and l.birth_year = r.birth_year"),
    (("postcode",), "l.postcode = r.postcode"),
    (("address",), "l.address = r.address"),
    (("phone",), "l.phone = r.phone"),
    (("locality", "first_name"), "l.locality = r.locality and left(l.first_name, 1) = left(r.first_name, 1)"),
    (("admin2", "first_name"), "l.admin2 = r.admin2 and l.first_name = r.first_name"),
    (("last_name",), "l.last_name = r.last_name"),
)


def em_sessions(fields: Fields) -> list[tuple[frozenset[str], str]]:
    """Candidate EM sessions on these fields: (the fields each blocks on, its SQL), in order of preference.

    The caller keeps those with pairs and stops once every comparison has been left free by one
    session (`trained_by`).
    """
    sessions = []
    for needs, sql in _EM_SESSIONS:
        if fields.all(*needs):
            # blocking on any name part leaves the name comparison (which reads them all) untrained
            blocked = set(needs) | (set(NAME_PARTS) if set(needs) & set(NAME_PARTS) else set())
            sessions.append((frozenset(blocked), sql))
    return sessions


def trained_by(session_fields: frozenset[str], comparison_fields: list[frozenset[str]]) -> set[int]:
    """The comparisons (by position) a session blocked on `session_fields` estimates: those it leaves free."""
    return {i for i, reads in enumerate(comparison_fields) if not (reads & session_fields)}
