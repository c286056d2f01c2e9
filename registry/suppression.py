"""Small-cell suppression with complementary (secondary) suppression: the one routine every report uses.

Primary suppression hides every count of 1 to ``threshold - 1`` people. That alone is not
enough: a district showing "paid 29, eligible and paid 26, paid not eligible <5" gives the
hidden 3 back by subtraction. So the published numbers are described by the linear
relations a reader can use (``Relation``: a total equals the sum of its parts; two cells
of different tables that hold the same number are a relation with one part), and for each
relation that holds exactly one hidden cell, the smallest other non-zero cell of the
relation is hidden too; this is repeated until no relation has exactly one hidden cell.

Zeros are never hidden (a zero is public knowledge: nobody), so every hidden cell is at
least 1, and a complement is never chosen among zeros. Which hidden cells are small and
which are complements is not published: both show the same mark.

Example::

    values = {"total": 29, "a": 26, "b": 3}
    suppress(values, [Relation("total", ("a", "b"))]).hidden
    # {'b', 'a'}: with b hidden, a (the smallest other non-zero cell) goes too
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SMALL_CELL_MIN = 5


@dataclass(frozen=True)
class Relation:
    """``total = sum(parts)`` over cell keys, as a reader of the published tables could write it."""

    total: Hashable
    parts: tuple[Hashable, ...]

    def cells(self) -> tuple[Hashable, ...]:
        return (self.total, *self.parts)


@dataclass(frozen=True)
class Suppression:
    """The cells to hide: ``primary`` (counts of 1 to threshold-1) and ``complementary`` (hidden to protect them)."""

    primary: frozenset[Hashable]
    complementary: frozenset[Hashable]

    @property
    def hidden(self) -> frozenset[Hashable]:
        return self.primary | self.complementary


def is_small(value: Any, threshold: int = SMALL_CELL_MIN) -> bool:
    """True for a count of 1 to threshold-1 (0 is shown: it reveals nobody)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < threshold


def suppress(
    values: Mapping[Any, Any], relations: Sequence[Relation], threshold: int = SMALL_CELL_MIN
) -> Suppression:
    """Primary suppression of small counts, then complementary suppression to a fixed point.

    ``values`` maps each count cell to its value; a relation naming a cell that ``values``
    lacks treats it as 0 (a row that is not there counts nobody). The result is
    deterministic: among equal candidates the first in the relation's order is taken.
    """
    if threshold < 1:
        raise ValueError(f"small-cell threshold must be at least 1, got {threshold}")
    primary = frozenset(key for key, value in values.items() if is_small(value, threshold))
    hidden = set(primary)
    by_cell: dict[Hashable, list[int]] = {}
    for index, relation in enumerate(relations):
        for cell in relation.cells():
            by_cell.setdefault(cell, []).append(index)
    pending = list(range(len(relations)))
    queued = set(pending)
    while pending:
        index = pending.pop(0)
        queued.discard(index)
        cells = relations[index].cells()
        if sum(1 for c in cells if c in hidden) != 1:
            continue
        candidates = [
            (float(values[c]), position, c)
            for position, c in enumerate(cells)
            if c not in hidden and values.get(c) not in (None, 0)
        ]
        if not candidates:  # cannot happen while hidden cells are >= 1: the hidden cell would equal 0
            raise ValueError(f"relation {relations[index]} has one hidden cell and nothing else to hide")
        _, _, chosen = min(candidates, key=lambda c: (c[0], c[1]))
        hidden.add(chosen)
        for other in by_cell.get(chosen, []):
            if other not in queued:
                pending.append(other)
                queued.add(other)
    return Suppression(primary, frozenset(hidden) - primary)
