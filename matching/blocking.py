"""Blocking: the rules that choose which record pairs are scored, counted against the night's budget.

`count_blocking` counts the candidate rules (matching.blocking_rules; Splink's blocking analysis) and shares
the night's budget among them: a rule over its share is tightened with a key so that its pairs are still
generated (the one, two or three keys keeping the most pairs within its share). `covered_rules` marks the
rules another generates every pair of; `estimate_recall` measures each kept rule's recall from the night's
links.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import duckdb
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from matching.blocking_rules import TIGHTENING_KEYS, tightened
from matching.dialect import DUCKDB, Dialect

log = logging.getLogger(__name__)


class BlockingBudgetExceeded(RuntimeError):
    """Every blocking rule would generate more comparisons than the configured budget."""


@dataclass(frozen=True)
class BlockingCount:
    name: str
    sql: str
    # the pairs it generates alone; with `alone` false, the pairs it adds to the rules before it
    comparisons: int
    kept: bool = True
    # of tonight's links that other rules found, the share this rule finds too (its recall, estimated without
    # a truth: links found by other rules are a sample of true pairs this rule's keys did not choose); and the
    # links no other rule finds
    recall_estimate: float | None = None
    links_only_it_finds: int | None = None
    alone: bool = True
    # a kept rule whose every pair another kept rule generates (`covered_rules`): not run again in prediction
    covered_by: str | None = None

    @property
    def predicts(self) -> bool:
        """True when the rule generates tonight's pairs: kept, and not covered by another."""
        return self.kept and self.covered_by is None


def narrow_input(
    con: duckdb.DuckDBPyConnection, table: str, rules: list[str], dialect: Dialect = DUCKDB
) -> str:
    """A view of `table` with only the columns `rules` read, and the ids Splink needs; returns its name.

    Splink's blocking counts parse every column name of their input on every call: on the link input's 40-odd
    columns that was nine tenths of the blocking analysis of a few thousand records.
    """
    columns = [row[0] for row in con.execute(f"select * from {table} limit 0").description]
    text = "\n".join(rules)
    read = [
        c
        for c in columns
        if c in ("unique_id", "source_dataset")
        or re.search(rf"\b[lr]\.(?:{re.escape(c)}\b|{re.escape(dialect.quote(c))})", text)
    ]
    name = f"{table}_blocking"
    con.execute(
        f"create or replace view {name} as select {', '.join(dialect.quote(c) for c in read)} from {table}"
    )
    return name


def _count_one(sdf: Any, sql: str, sample: float) -> int:
    [record] = _count(sdf, [sql], sample)
    return int(record["marginal_comparison_count"])


def _tighten(sdf: Any, name: str, sql: str, budget: int, sample: float) -> BlockingCount | None:
    """The rule with one, two or three keys added that keeps the most pairs within the budget; None when no such
    set of keys brings it within.

    A set of keys keeps at most what each of its smaller sets keeps, so a set is counted only when that bound
    beats the best fit found so far, widest bound first, and a set of three only where two were not enough
    (at most MAX_TRIPLES_COUNTED of them). At 4M people a rule on names that sound alike passed its share with
    each single key but the narrowest (its locality), which kept 30,000 of its 900M pairs; with year and month
    of birth it keeps 3.9M. At 10M, pairs of keys were not enough for six rules, which fell to their locality.
    (Choosing instead the keys the same person's records agree on most, measured on records sharing a valid
    national id, chose the same keys or as good on a 200,000-person night at a tight budget: recall 0.9139
    against 0.9142. Not kept.)
    """
    keys = [key for key in TIGHTENING_KEYS if key[1] not in sql]
    counted: dict[tuple[tuple[str, str], ...], int] = {}
    best: tuple[tuple[tuple[str, str], ...], int] = ((), 0)

    def count(chosen: tuple[tuple[str, str], ...]) -> None:
        nonlocal best
        n = counted[chosen] = _count_one(sdf, tightened(name, sql, chosen)[1], sample)
        if 0 < n <= budget and n > best[1]:
            best = (chosen, n)

    def bound(chosen: tuple[tuple[str, str], ...]) -> int:
        """The most pairs `chosen` can keep: the fewest any counted smaller set of its keys keeps."""
        return min(n for subset, n in counted.items() if set(subset) < set(chosen))

    for key in keys:
        count((key,))
    for size, limit in ((2, None), (3, MAX_TRIPLES_COUNTED)):
        sets = [
            tuple(k for k in keys if k in chosen)
            for chosen in {
                frozenset((*subset, key)) for subset in counted if len(subset) == size - 1 for key in keys
            }
            if len(chosen) == size
        ]
        if size == 3:  # only where two keys were not enough: a set holding a pair over the budget
            sets = [
                c
                for c in sets
                if any(len(s) == 2 and counted[s] > budget and set(s) < set(c) for s in counted)
            ]
        for tried, chosen in enumerate(sorted(sets, key=lambda c: (-bound(c), [keys.index(k) for k in c]))):
            if bound(chosen) <= best[1] or (limit is not None and tried >= limit):
                break  # no set left can keep more than the best found
            count(chosen)
    if not best[0]:
        return None
    tight_name, tight_sql = tightened(name, sql, best[0])
    return BlockingCount(tight_name, tight_sql, best[1], True)


MAX_TRIPLES_COUNTED = 6  # _tighten: sets of three keys counted for one rule, widest first


def share_budget(counts: list[int], total: int, per_rule: int) -> int:
    """The most comparisons one rule may keep when rules generating `counts` share `total` (and none passes
    `per_rule`): the level b where the rules' pairs, each cut at b, fill the total. A rule under b keeps all its
    pairs and leaves the rest of its share to the others; those over b are tightened to it."""
    if sum(min(c, per_rule) for c in counts) <= total:
        return per_rule
    low, high = 0, min(max(counts), per_rule)
    while low < high:  # the largest b with sum(min(c, b)) <= total
        middle = (low + high + 1) // 2
        if sum(min(c, middle) for c in counts) <= total:
            low = middle
        else:
            high = middle - 1
    return low


def count_blocking(
    sdf: Any,
    rules: list[tuple[str, str]],
    total_budget: int,
    budget_per_rule: int,
    sample: float,
    together: list[dict[str, Any]] | None = None,
) -> list[BlockingCount]:
    """Count each rule's comparisons alone and share `total_budget` among them (`share_budget`): a rule over its
    share is tightened (a key added, see TIGHTENING_KEYS) so that its pairs are still generated, and left out
    (named in the log) only when no key brings it within. A kept rule another covers is marked (`covered_rules`).

    When all rules together generate no more pairs than the budget, none needs tightening: they are counted
    together in one pass (Splink's cumulative count) and each records the pairs it adds to the rules before it
    (`alone` false), a tenth of the time of counting each alone on a few thousand records. `together`: that
    count (`count_cumulative` of `rules`) when the caller has made it.

    Raises BlockingBudgetExceeded, naming the rules, when every rule that generates any pair is over the budget.
    """
    together = count_cumulative(sdf, rules, sample) if together is None else together
    if together and int(together[-1]["cumulative_comparison_count"]) <= min(total_budget, budget_per_rule):
        return covered_rules(
            [
                BlockingCount(name, sql, int(record["marginal_comparison_count"]), True, alone=False)
                for (name, sql), record in zip(rules, together, strict=True)
            ]
        )
    alone = [_count_one(sdf, sql, sample) for _, sql in rules]
    share = share_budget(alone, total_budget, budget_per_rule)
    counts: list[BlockingCount] = []
    for (name, sql), comparisons_ in zip(rules, alone, strict=True):
        if comparisons_ <= share:
            counts.append(BlockingCount(name, sql, comparisons_, True))
            continue
        tight = _tighten(sdf, name, sql, share, sample)
        if tight is not None:
            log.warning(
                "blocking rule '%s' would generate about %s comparisons, over its share of %s of the night's "
                "budget (linkage.max_comparisons_per_record, max_comparisons_per_rule): tightened to '%s' (%s)",
                name,
                f"{comparisons_:,}",
                f"{share:,}",
                tight.name,
                f"{tight.comparisons:,}",
            )
            counts.append(tight)
            continue
        log.warning(
            "blocking rule '%s' would generate about %s comparisons, over its share of %s of the night's budget "
            "(linkage.max_comparisons_per_record, max_comparisons_per_rule), and no key brings it within: left out",
            name,
            f"{comparisons_:,}",
            f"{share:,}",
        )
        counts.append(BlockingCount(name, sql, comparisons_, False))
    if counts and not any(c.kept and c.comparisons for c in counts) and not all(c.kept for c in counts):
        over = ", ".join(f"'{c.name}' ({c.comparisons:,})" for c in counts if not c.kept)
        raise BlockingBudgetExceeded(
            f"every blocking rule is over its share of {share:,} comparisons "
            f"(linkage.max_comparisons_per_record, max_comparisons_per_rule): {over}; raise the budget"
        )
    return covered_rules(counts)


@contextmanager
def quiet_sampling() -> Iterator[None]:
    """Splink's blocking analysis, without its warning that a sampled count rests on few pairs (a rare
    rule sampled at 10% of a million records): counts decide only whether a rule fits the budget."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The sampled blocking analysis estimate", category=UserWarning
        )
        yield


def _count(sdf: Any, rules: list[str], sample: float) -> list[dict[str, Any]]:
    """Splink's blocking count of `rules` in order (each rule's pairs beyond the earlier ones', and the total)."""
    with quiet_sampling():
        return [
            dict(record)
            for record in count_comparisons_from_blocking_rules(
                sdf,
                blocking_rules=rules,
                link_type="link_and_dedupe",
                unique_id_column_name="unique_id",
                source_dataset_column_name="source_dataset",
                record_sample_proportion=sample,
            )
        ]


def count_all_blocking(sdf: Any, rules: list[tuple[str, str]], sample: float) -> int:
    """Distinct pairs all rules generate together (a pair found by two rules is scored once)."""
    records = count_cumulative(sdf, rules, sample)
    return int(records[-1]["cumulative_comparison_count"]) if records else 0


def count_cumulative(sdf: Any, rules: list[tuple[str, str]], sample: float) -> list[dict[str, Any]]:
    """Splink's cumulative count of `rules` in order: per rule the pairs it adds, and the running total."""
    return _count(sdf, [sql for _, sql in rules], sample) if rules else []


# an equality on a field implies the equality of what the link input derives from it (matching.link_input):
# the given name is first_name's first word, the keys are its sound, the year is the date's
_IMPLIES: dict[str, tuple[str, ...]] = {
    "first_name": ("given_name", "first_name_key", "left(first_name, 1)", "left(first_name, 2)"),
    "given_name": ("given_key", "left(given_name, 1)"),
    "last_name": ("last_name_key", "left(last_name, 3)"),
    "date_of_birth": ("birth_year", "month(date_of_birth)", "day(date_of_birth)"),
    "national_id": ("national_id_digits", "left(national_id, 5)", "right(national_id, 5)"),
    "address": ("address_number",),
}


def _atoms(sql: str) -> set[str]:
    """A rule's conditions (its SQL is a conjunction; a tightened rule is "(rule) and key ..."), each equality of
    one expression on both records written as that expression without the `l.` (`month(date_of_birth)`)."""
    sql = sql.strip()
    if sql.startswith("("):
        i = _closing(sql)
        inner, rest = sql[1:i], sql[i + 1 :].strip()
        if not rest:
            return _atoms(inner) if " or " not in inner else {sql}
        if rest.startswith("and "):
            return (_atoms(inner) if " or " not in inner else {sql[: i + 1]}) | _atoms(rest[4:])
    atoms = set()
    for part in re.split(r"\s+and\s+(?![^(]*\))", sql):
        left, eq, right = part.partition(" = ")
        if eq and re.sub(r"\bl\.", "r.", left) == right and "r." not in left:
            atoms.add(re.sub(r"\bl\.", "", left))
        else:
            atoms.add(part)
    return atoms


def _closing(sql: str) -> int:
    """The index of the parenthesis closing the one `sql` opens with."""
    depth = 0
    for index, char in enumerate(sql):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return index
    return len(sql) - 1


def _implied(atoms: set[str]) -> set[str]:
    closure, pending = set(atoms), list(atoms)
    while pending:
        for implied in _IMPLIES.get(pending.pop(), ()):
            if implied not in closure:
                closure.add(implied)
                pending.append(implied)
    return closure


def covered_rules(counts: list[BlockingCount]) -> list[BlockingCount]:
    """Each kept rule whose pairs another kept rule generates too, marked `covered_by` that rule.

    A rule is covered when every condition of another follows from its own (first_name+date_of_birth is
    inside date_of_birth+first_initial: the same first name has the same initial). Splink scores a pair
    once but still joins every rule and checks each candidate against every rule before it: a covered rule
    only costs time (at 200,000 people, a covered rule of 290,000 candidates cost 1.3 s of predict and found
    nothing). Decided from the rules' SQL, not from counts, so it holds on sampled counts and every night.
    """
    kept = [c for c in counts if c.kept]
    atoms = {c.name: _atoms(c.sql) for c in kept}
    covered: dict[str, str] = {}
    for rule in kept:
        closure = _implied(atoms[rule.name])
        for other in kept:
            if other.name == rule.name or other.name in covered:
                continue
            same = atoms[other.name] == atoms[rule.name]
            if atoms[other.name] <= closure and (not same or kept.index(other) < kept.index(rule)):
                covered[rule.name] = other.name
                break
    return [replace(c, covered_by=covered[c.name]) if c.name in covered else c for c in counts]


def estimate_recall(
    con: duckdb.DuckDBPyConnection, counts: list[BlockingCount], threshold: float
) -> list[BlockingCount]:
    """Each kept rule's recall estimated from tonight's links (scratch tables `edges` and `link_input`).

    A link found by other rules is a true pair (as far as the model can tell) whose fields did not have to
    agree on this rule's keys; the share of those this rule generates too estimates its recall. The links
    only one rule finds say what leaving it out would cost. Rules are evaluated on the linked pairs alone,
    so the estimate costs one pass over the links.
    """
    kept = [c for c in counts if c.kept]
    if len(kept) < 2:
        return counts
    flags = ", ".join(f"coalesce(({c.sql}), false)::int as hit_{i}" for i, c in enumerate(kept))
    con.execute(
        f"""
        create or replace temp table _rule_hits as
        select {flags} from edges e
        join link_input l on l.record_key = e.record_key_l
        join link_input r on r.record_key = e.record_key_r
        where e.match_probability >= {float(threshold)!r}
        """
    )
    total = " + ".join(f"hit_{i}" for i in range(len(kept)))
    aggregates = ", ".join(
        f"count(*) filter (where {total} - hit_{i} > 0), "
        f"count(*) filter (where hit_{i} = 1 and {total} > 1), "
        f"count(*) filter (where hit_{i} = 1 and {total} = 1)"
        for i in range(len(kept))
    )
    row = con.execute(f"select {aggregates} from _rule_hits").fetchall()[0]
    con.execute("drop table _rule_hits")
    estimates = {}
    for i, c in enumerate(kept):
        by_others, both, only = row[3 * i : 3 * i + 3]
        estimates[c.name] = (round(both / by_others, 4) if by_others else None, int(only))
    return [
        replace(c, recall_estimate=estimates[c.name][0], links_only_it_finds=estimates[c.name][1])
        if c.name in estimates
        else c
        for c in counts
    ]
