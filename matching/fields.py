"""The fields of a night's link input: which ones take part in the linkage, measured on the data.

`profile` measures every candidate field (how many records fill it, how many distinct values it holds, how
many sources) and, for the fields a household may share, whether agreement there is identity evidence or
household evidence (`shared_by_others`). A field takes part when enough records fill it and it is not
constant, whether one source fills it (duplicates inside that source) or several; nothing downstream names a
field that no source fills.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import duckdb

# the parts of a person's own name; the link input holds them together as tokens and sound keys
NAME_PARTS = ("first_name", "middle_name", "last_name", "second_last_name", "father_name", "grandfather_name")
# the fields a comparison or blocking rule may use, besides the contract's extra fields
CANDIDATE_FIELDS = (
    *NAME_PARTS,
    "mother_name",
    "date_of_birth",
    "sex",
    "national_id",
    "civil_registration_number",
    "tax_number",
    "phone",
    "admin1",
    "admin2",
    "locality",
    "postcode",
    "address",
)
IDENTIFIERS = ("national_id", "civil_registration_number", "tax_number", "phone")
# fields people of one household may share: measured per night (FieldProfile.shared_by_others)
SHAREABLE = ("phone", "address")
# a shareable field is household evidence, not identity evidence, when this share of the records that hold
# a value another record of their source also holds are someone else (another given name). Measured: households'
# phones and addresses 0.75-0.96 (the demo, the test bed's social-protection schemas); a phone or address of one
# person 0.29 (the test bed's address_heavy: typo'd given names and people who moved count as someone else)
HOUSEHOLD_SHARE = 0.5
# a field takes part when at least this share of records fills it, and this many records
MIN_FILL_SHARE = 0.01
MIN_FILLED_RECORDS = 20

EXTRA_COMPARES = ("exact", "fuzzy", "token", "date")


@dataclass(frozen=True)
class FieldProfile:
    """How much of a field the link input holds."""

    name: str
    filled: int
    distinct: int
    sources: int
    # of the records that share a value of this field with another record of their source, the share that are
    # someone else (another given name): near 0 for a field that belongs to one person, near 1 for one a
    # household shares (None: not measured)
    shared_by_others: float | None = None

    @property
    def household(self) -> bool:
        """Agreement on this field says "same household", not "same person" (measured, not assumed)."""
        return self.shared_by_others is not None and self.shared_by_others >= HOUSEHOLD_SHARE

    def usable(self, records: int) -> bool:
        filled_enough = self.filled >= MIN_FILLED_RECORDS and self.filled >= MIN_FILL_SHARE * records
        if self.name in IDENTIFIERS and self.sources < 2 and self.distinct >= 0.999 * self.filled:
            # an id one source alone carries, each value once: no pair can ever agree on it
            return False
        return filled_enough and self.distinct >= 2


@dataclass(frozen=True)
class Fields:
    """The fields a night's model uses, with their profiles and the extra fields' kinds."""

    used: frozenset[str]
    profiles: Mapping[str, FieldProfile]
    records: int
    extra: Mapping[str, str]  # extra field column -> compare kind

    def __contains__(self, name: object) -> bool:
        return name in self.used

    def all(self, *names: str) -> bool:
        return all(name in self.used for name in names)

    def any(self, *names: str) -> bool:
        return any(name in self.used for name in names)

    def household(self, name: str) -> bool:
        """A used field that people of one household share (FieldProfile.household)."""
        return name in self.used and name in self.profiles and self.profiles[name].household

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "used": sorted(self.used),
            "profiles": {
                name: {"filled": p.filled, "distinct": p.distinct, "sources": p.sources}
                | ({"shared_by_others": p.shared_by_others} if p.shared_by_others is not None else {})
                for name, p in sorted(self.profiles.items())
            },
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> Fields:
        """The fields as `as_dict` saved them (with a model, so that its settings can be rebuilt from code)."""
        profiles = {
            name: FieldProfile(
                name, int(p["filled"]), int(p["distinct"]), int(p["sources"]), p.get("shared_by_others")
            )
            for name, p in saved["profiles"].items()
        }
        return cls(frozenset(saved["used"]), profiles, int(saved["records"]), dict(saved["extra"]))


def profile(con: duckdb.DuckDBPyConnection, table: str, extra: Mapping[str, str] | None = None) -> Fields:
    """Fill and cardinality of every candidate field of `table` (a link input with `source_dataset`)."""
    extra = dict(extra or {})
    present = {
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() where table_name = $1", [table]
        ).fetchall()
    }
    names = [n for n in (*CANDIDATE_FIELDS, *extra) if n in present]
    if not names:
        return Fields(frozenset(), {}, 0, extra)
    selects = ", ".join(
        f"count({_q(n)}), {'count(distinct' if n in IDENTIFIERS else 'approx_count_distinct('} {_q(n)}), "
        f"count(distinct case when {_q(n)} is not null "
        "then source_dataset end)"
        for n in names
    )
    row = con.execute(f"select count(*), {selects} from {table}").fetchall()[0]
    records = int(row[0])
    profiles = {
        name: FieldProfile(name, int(row[1 + 3 * i]), int(row[2 + 3 * i]), int(row[3 + 3 * i]))
        for i, name in enumerate(names)
    }
    used = frozenset(name for name, p in profiles.items() if p.usable(records))
    if "given_key" in present:
        for name in SHAREABLE:
            if name in used:
                profiles[name] = replace(profiles[name], shared_by_others=shared_by_others(con, table, name))
    return Fields(used, profiles, records, {k: v for k, v in extra.items() if k in used})


def shared_by_others(con: duckdb.DuckDBPyConnection, table: str, name: str) -> float | None:
    """Of the records holding a value of `name` that another record of their source holds too, the share
    that are someone else: each value's records count once per distinct given name beyond the first.

    A phone one person gives on every record of a duplicated list scores 0; a phone a family of five
    shares scores 0.8. Measured within each source, so that no linkage is needed to know it.
    """
    row = con.execute(
        f"""
        select sum(people - 1) / nullif(sum(records - 1), 0) from (
            select count(*) as records, count(distinct given_key) as people
            from {table}
            where {_q(name)} is not null and given_key is not null
            group by source_dataset, {_q(name)}
            having count(*) > 1
        )
        """
    ).fetchall()[0]
    return None if row[0] is None else round(float(row[0]), 4)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
