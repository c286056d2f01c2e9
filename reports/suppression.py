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

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SMALL_CELL_MIN = 5
# how far above its value a hidden cell may go in the programmes that move many cells at once (any bound
# keeps them bounded; a cell moved within it is moved within no bound too)
CAP = 1e6


@dataclass(frozen=True)
class Relation:
    """``total = sum(parts)`` over cell keys, as a reader of the published tables could write it."""

    total: Hashable
    parts: tuple[Hashable, ...]
    _cells: tuple[Hashable, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cells", (self.total, *self.parts))  # read millions of times a night

    def cells(self) -> tuple[Hashable, ...]:
        return self._cells


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
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    threshold: int = SMALL_CELL_MIN,
    unpublished: Collection[Any] = (),
    weight: Mapping[Any, float] | None = None,
) -> Suppression:
    """Primary suppression of small counts, then complementary suppression to a fixed point.

    ``values`` maps each count cell to its value; a relation naming a cell that ``values``
    lacks treats it as 0 (a row that is not there counts nobody). Two rounds, repeated until
    neither hides anything more:

    1. every relation with exactly one hidden cell gets a second: the smallest other
       non-zero cell of the relation (the standard rule);
    2. every hidden cell is bounded as a reader would bound it (``intervals``: each hidden
       cell at least 1, the relations propagated both ways; then, when that finds nothing,
       ``pinned_cells``: every relation at once, by linear programming); a cell left with one
       possible value gets a complement in one of its relations: the smallest non-zero cell shown.

    ``unpublished`` cells are never shown and never chosen, and may be 0: they turn an
    inequality a reader knows into a relation (eligible and paid <= eligible is
    ``eligible = eligible_paid + eligible_not_paid``, the last unpublished).

    ``weight`` makes some cells dearer to hide as complements (a cell's price is its value times
    its weight, default 1): a country total or a headline is hidden only when no cheaper cell will do.

    The result is deterministic: among equal candidates the first in the relations' order is taken.
    """
    if threshold < 1:
        raise ValueError(f"small-cell threshold must be at least 1, got {threshold}")
    primary = frozenset(key for key, value in values.items() if is_small(value, threshold))
    hidden = set(primary)
    by_cell: dict[Any, list[int]] = {}
    for index, relation in enumerate(relations):
        for cell in relation.cells():
            by_cell.setdefault(cell, []).append(index)
    unknown = frozenset(unpublished)
    prices = weight or {}
    # each group's bounds by its hidden cells (intervals)
    cache: dict[Any, dict[Any, tuple[float, float]]] = {}
    while True:
        _single_hidden(values, relations, by_cell, hidden, unknown, prices)
        bounds = intervals(values, relations, hidden, unknown, cache=cache, by_cell=by_cell)
        pinned = {c for c in hidden if bounds[c][0] >= bounds[c][1]}
        if not pinned:
            pinned = pinned_cells(values, relations, hidden, unknown, by_cell=by_cell)
        added = False
        for cell in sorted(pinned, key=repr):
            complement = _nearest_complement(cell, values, relations, by_cell, hidden, unknown, prices)
            if complement is not None:
                hidden.add(complement)
                added = True
        if not added:
            break
    # the greedy rounds may hide more than needed: give back the dearest complements one by one
    # (a country total first) wherever the cells stay safe without them
    for cell in sorted(hidden - primary, key=lambda c: (-float(values[c]) * prices.get(c, 1.0), repr(c))):
        if prices.get(cell, 1.0) <= 1.0 or cell not in hidden:
            continue
        twins = _twins(cell, relations, by_cell)  # the same number elsewhere is shown with it, or not at all
        if twins & primary:
            continue
        trial = hidden - twins
        if _safe(values, relations, by_cell, trial, unknown, twins, cache):
            hidden = trial
            continue
        # not safe alone: shown again with cheaper cells hidden in its place, when such cells exist
        price = float(values[cell]) * prices.get(cell, 1.0)
        cover = _cheaper_cover(
            values, relations, by_cell, trial, unknown, prices, twins, price, primary, cache
        )
        if cover is not None:
            hidden = cover
    return Suppression(primary, frozenset(hidden) - primary)


def _cheaper_cover(
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    by_cell: Mapping[Any, list[int]],
    trial: set[Any],
    unknown: frozenset[Any],
    prices: Mapping[Any, float],
    shown: set[Any],
    budget: float,
    primary: frozenset[Any],
    cache: dict[Any, dict[Any, tuple[float, float]]] | None = None,
    rounds: int = 12,
) -> set[Any] | None:
    """The hidden cells with ``shown`` (a dear complement and its twins) shown again and cheaper cells
    hidden in its place, costing less than ``budget`` in all; None when no such set is found.

    The same two rounds as ``suppress`` over ``trial``, with ``shown`` never chosen, and one more move:
    a complement that a reader could work out once ``shown`` is back protects nothing, so it is shown
    too (the country's eligible people, hidden only beside its eligible and paid). The child grant's
    country row: paid 8,420 = eligible and paid 8,401 + not eligible 16 + "<5" cannot be judged.
    Hiding 8,401 (and with it the country's coverage share) protects the small cell, but so does
    hiding the 16, at a fraction of the price."""
    hidden = set(trial)
    released = set(shown)
    added: set[Any] = set()
    for _ in range(rounds):
        before = set(hidden)
        _single_hidden(values, relations, by_cell, hidden, unknown, prices, exclude=released)
        bounds = intervals(values, relations, hidden, unknown, cache=cache, by_cell=by_cell)
        pinned = {c for c in hidden if bounds[c][0] >= bounds[c][1]}
        if not pinned:
            near = released | added | (hidden - before)
            pinned = pinned_cells(values, relations, hidden, unknown, near=near, by_cell=by_cell)
        for cell in sorted(pinned - primary, key=repr):
            for twin in _twins(cell, relations, by_cell):
                if twin in hidden and twin not in primary:
                    hidden.discard(twin)
                    released.add(twin)
                    added.discard(twin)
        for cell in sorted(pinned & primary, key=repr):
            complement = _nearest_complement(
                cell, values, relations, by_cell, hidden, unknown, prices, exclude=released
            )
            if complement is None:
                return None
            hidden.add(complement)
            added.add(complement)
        added |= hidden - before
        if hidden == before:
            break
        if sum(float(values[c]) * prices.get(c, 1.0) for c in hidden - trial) >= budget:
            return None
    if not _safe(values, relations, by_cell, hidden, unknown, released, cache):
        return None
    return hidden


def _nearest_complement(
    cell: Any,
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    by_cell: Mapping[Any, list[int]],
    hidden: set[Any],
    unknown: frozenset[Any],
    prices: Mapping[Any, float],
    exclude: Collection[Any] = (),
) -> Any:
    """The cheapest shown non-zero cell in the relations nearest to a pinned ``cell``, or None.

    First the cell's own relations; when every other cell there is hidden, unpublished or 0 (a district
    whose paid, and both its province's totals, are hidden already), the relations of those hidden
    cells, and so on outward: hiding a cell there widens what the pinned cell's neighbours can be.
    """
    seen_cells, seen_relations = {cell}, set()
    frontier = [cell]
    while frontier:
        candidates: list[tuple[float, int, Any]] = []
        next_frontier: list[Any] = []
        for current in frontier:
            for index in by_cell.get(current, []):
                if index in seen_relations:
                    continue
                seen_relations.add(index)
                for c in relations[index].cells():
                    if c in seen_cells:
                        continue
                    seen_cells.add(c)
                    if c in hidden or c in unknown:
                        next_frontier.append(c)
                    elif c not in exclude and values.get(c) not in (None, 0):
                        candidates.append((float(values[c]) * prices.get(c, 1.0), len(candidates), c))
        if candidates:
            return min(candidates, key=lambda c: (c[0], c[1]))[2]
        frontier = next_frontier
    return None


def _safe(
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    by_cell: Mapping[Any, list[int]],
    hidden: set[Any],
    unknown: frozenset[Any],
    shown: set[Any],
    cache: dict[Any, dict[Any, tuple[float, float]]] | None = None,
) -> bool:
    """True when showing the ``shown`` cells again leaves no hidden cell that a reader can work out."""
    for index in {i for cell in shown for i in by_cell.get(cell, [])}:
        cells = relations[index].cells()
        if not any(c in unknown for c in cells) and sum(1 for c in cells if c in hidden) == 1:
            return False
    bounds = intervals(values, relations, hidden, unknown, cache=cache, by_cell=by_cell)
    if any(low >= high for low, high in bounds.values()):
        return False
    return not pinned_cells(values, relations, hidden, unknown, near=shown, by_cell=by_cell)


class _Programme:
    """One group's relations as a linear programme over its hidden cells, which HiGHS solves again warm (from
    the last basis) as only the objective or the bounds change: most of a group's solves cost a few pivots."""

    def __init__(
        self, coefficients: Mapping[tuple[int, int], float], rhs: Sequence[float], lower: Sequence[float]
    ) -> None:
        """``coefficients``: (relation row, cell column) -> coefficient; row r says sum of its terms = rhs[r]."""
        import highspy  # imported here: only a night that reports needs it
        import numpy as np

        self.size = len(lower)
        self.columns = np.arange(self.size, dtype=np.int32)
        self.lower = np.asarray(lower, dtype=float)
        # the matrix column by column, rows ascending within a column (HiGHS's column-wise format)
        ordered = sorted((column, row, value) for (row, column), value in coefficients.items())
        start = np.zeros(self.size + 1, dtype=np.int32)
        np.add.at(start, [column + 1 for column, _, _ in ordered], 1)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.size, len(rhs)
        lp.col_cost_ = np.zeros(self.size)
        lp.col_lower_ = self.lower
        lp.col_upper_ = np.full(self.size, highspy.kHighsInf)
        lp.row_lower_ = lp.row_upper_ = np.asarray(rhs, dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.cumsum(start, dtype=np.int32)
        lp.a_matrix_.index_ = np.array([row for _, row, _ in ordered], dtype=np.int32)
        lp.a_matrix_.value_ = np.array([value for _, _, value in ordered], dtype=float)
        # the bare solver (as scipy's linprog uses it): `highspy.Highs` adds callbacks and prints a banner
        self.highs = highspy._Highs()  # type: ignore[attr-defined]  # exported, but not in its stubs
        self.highs.setOptionValue("output_flag", False)
        self.highs.passModel(lp)
        self.status = highspy.HighsModelStatus
        self.infinity = highspy.kHighsInf

    def upper(self, upper: Mapping[int, float]) -> None:
        """Cap the columns of ``upper`` (the rest unbounded above)."""
        import numpy as np

        bound = np.full(self.size, self.infinity)
        for column, value in upper.items():
            bound[column] = value
        self.highs.changeColsBounds(self.size, self.columns, self.lower, bound)

    def solve(self, objective: Any) -> tuple[str, Any]:
        """Minimise ``objective``: ("optimal", x), ("infeasible", None), ("unbounded", None) or ("other", None)."""
        self.highs.changeColsCost(self.size, self.columns, objective)
        self.highs.run()
        status = self.highs.getModelStatus()
        if status == self.status.kOptimal:
            return "optimal", self.highs.getSolution().col_value
        # as scipy's linprog reads them: a model error counts as infeasible (the group is then all pinned), and
        # "unbounded or infeasible" as neither (the cell is not freed by it: hidden rather than shown)
        if status in (self.status.kInfeasible, self.status.kModelError):
            return "infeasible", None
        if status == self.status.kUnbounded:
            return "unbounded", None
        return "other", None


def _moved_together(programme: _Programme, index: dict[Any, int], true: dict[Any, float]) -> set[Any] | None:
    """The hidden cells of one group that a feasible point moves a whole unit from their true value, found
    a few cells at a time: the sum of the cells not yet moved is maximised (then minimised), each cell
    capped far above its value so that the programme stays bounded; a cell the solution moves is free (the
    point is feasible, capped or not), and the rest are solved again until a round moves none. The cells
    left are settled one by one. None when the relations do not hold on the numbers (infeasible)."""
    import numpy as np

    programme.upper({index[cell]: value + CAP for cell, value in true.items()})
    free: set[Any] = set()
    try:
        for sign in (-1.0, 1.0):
            while True:
                rest = [c for c in true if c not in free]
                if not rest:
                    return free
                objective = np.zeros(programme.size)
                objective[[index[c] for c in rest]] = sign
                status, x = programme.solve(objective)
                if status == "infeasible":
                    return None
                if status != "optimal":
                    break
                moved = {c for c in rest if abs(x[index[c]] - true[c]) >= 1 - 1e-6}
                if not moved:
                    break
                free |= moved
        return free
    finally:
        programme.upper({})


def _twins(cell: Any, relations: Sequence[Relation], by_cell: Mapping[Any, list[int]]) -> set[Any]:
    """The cell and every cell a one-part relation says holds the same number, transitively."""
    found, pending = {cell}, [cell]
    while pending:
        for index in by_cell.get(pending.pop(), []):
            if len(relations[index].parts) == 1:
                for other in relations[index].cells():
                    if other not in found:
                        found.add(other)
                        pending.append(other)
    return found


def _single_hidden(
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    by_cell: Mapping[Any, list[int]],
    hidden: set[Any],
    unpublished: frozenset[Any],
    prices: Mapping[Any, float],
    exclude: Collection[Any] = (),
) -> None:
    """Round 1: no relation keeps exactly one hidden cell (it would be the total less the parts).

    ``exclude``: cells never chosen as complements."""
    pending = list(range(len(relations)))
    queued = set(pending)
    while pending:
        index = pending.pop(0)
        queued.discard(index)
        cells = relations[index].cells()
        if any(c in unpublished for c in cells) or sum(1 for c in cells if c in hidden) != 1:
            continue  # a relation with an unpublished cell has two unknowns at least
        candidates = [
            (float(values[c]) * prices.get(c, 1.0), position, c)
            for position, c in enumerate(cells)
            if c not in hidden and c not in exclude and values.get(c) not in (None, 0)
        ]
        if not candidates:  # without exclude, cannot happen while hidden cells are >= 1
            continue
        chosen = min(candidates, key=lambda c: (c[0], c[1]))[2]
        hidden.add(chosen)
        for other in by_cell.get(chosen, []):
            if other not in queued:
                pending.append(other)
                queued.add(other)


def intervals(
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    hidden: Collection[Any],
    unpublished: Collection[Any] = (),
    passes: int = 200,
    cache: dict[Any, dict[Any, tuple[float, float]]] | None = None,
    by_cell: Mapping[Any, list[int]] | None = None,
) -> dict[Any, tuple[float, float]]:
    """What a reader can tell of each hidden cell: (lowest, highest) value, from the relations alone.

    Shown cells are known; a hidden cell is at least 1 (zeros are shown) and has no upper
    bound until a relation gives one; each relation ``total = sum(parts)`` bounds the total
    by the parts and each part by the total less the others; a relation is taken again whenever
    a bound of one of its cells moved, until nothing moves (at most ``passes`` looks per relation
    on average; the bounds are valid, if looser, when it stops early).

    Relations that share no hidden or unpublished cell bound each other's cells in nothing, so each
    such group is worked out alone; ``cache`` (one dict per ``values`` and ``relations``, as
    ``suppress`` keeps it) holds each group's bounds by the cells hidden in it, and a later call
    whose hidden cells differ elsewhere reads them back instead of working them out again (``by_cell``:
    see ``_groups``).
    """
    unknown = set(unpublished)
    secret = set(hidden) | unknown
    bounds: dict[Any, tuple[float, float]] = {}
    for group, members in _groups(relations, secret, by_cell):
        key = (tuple(group), members, frozenset(members & unknown))
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = _group_intervals(
                values, [relations[number] for number in group], members, unknown, passes
            )
            if cache is not None:
                cache[key] = found
        bounds.update(found)
    return {cell: bounds.get(cell, (1.0, math.inf)) for cell in secret - unknown}


def _groups(
    relations: Sequence[Relation], secret: Collection[Any], by_cell: Mapping[Any, list[int]] | None = None
) -> list[tuple[list[int], frozenset[Any]]]:
    """The relations holding a ``secret`` cell, as groups of relation numbers that share secret cells
    (union-find), each with its secret cells: what one group's cells can be does not depend on another's.
    ``by_cell`` (each cell's relation numbers) spares looking through the relations that hold no secret cell."""
    parent: dict[Any, Any] = {}

    def root(cell: Any) -> Any:
        while parent.setdefault(cell, cell) != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    numbers = (
        sorted({n for cell in secret for n in by_cell.get(cell, ())})
        if by_cell is not None
        else range(len(relations))
    )
    involved: list[tuple[int, list[Any]]] = []
    for number in numbers:
        cells = [c for c in relations[number].cells() if c in secret]
        if cells:
            involved.append((number, cells))
            first = root(cells[0])
            for cell in cells[1:]:
                other = root(cell)
                if other != first:
                    parent[other] = first
    groups: dict[Any, tuple[list[int], set[Any]]] = {}
    for number, cells in involved:
        numbers_in, members = groups.setdefault(root(cells[0]), ([], set()))
        numbers_in.append(number)
        members.update(cells)
    return [(numbers_in, frozenset(members)) for numbers_in, members in groups.values()]


def _group_intervals(
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    secret: frozenset[Any],
    unknown: set[Any],
    passes: int,
) -> dict[Any, tuple[float, float]]:
    """``intervals`` over one group of relations; ``secret``: their hidden and unpublished cells."""
    low: dict[Any, float] = {}
    high: dict[Any, float] = {}
    for relation in relations:
        for cell in relation.cells():
            if cell in unknown:
                low[cell], high[cell] = 0.0, math.inf
            elif cell in secret:
                low[cell], high[cell] = 1.0, math.inf
            else:
                value = float(values.get(cell) or 0)
                low[cell] = high[cell] = value
    # a work list: a relation is looked at again only when one of its cells' bounds moved
    touching: dict[Any, list[int]] = {}
    for number, relation in enumerate(relations):
        for cell in relation.cells():
            touching.setdefault(cell, []).append(number)
    pending = list(range(len(relations)))
    queued = set(pending)
    budget = passes * max(len(relations), 1)
    while pending and budget > 0:
        budget -= 1
        number = pending.pop()
        queued.discard(number)
        relation = relations[number]
        moved: list[Any] = []
        parts = relation.parts
        parts_low = sum(low[c] for c in parts)
        infinite = sum(1 for c in parts if high[c] == math.inf)
        finite_high = sum(high[c] for c in parts if high[c] != math.inf)
        parts_high = math.inf if infinite else finite_high
        total = relation.total
        if total in secret:
            if parts_low > low[total]:
                low[total] = parts_low
                moved.append(total)
            if parts_high < high[total]:
                high[total] = parts_high
                moved.append(total)
        for part in parts:
            if part not in secret:
                continue
            others_low = parts_low - low[part]
            others_infinite = infinite - (1 if high[part] == math.inf else 0)
            others_high = (
                math.inf if others_infinite else finite_high - (0 if high[part] == math.inf else high[part])
            )
            new_low = low[total] - others_high
            new_high = high[total] - others_low
            if new_low > low[part]:
                low[part] = new_low
                moved.append(part)
            if new_high < high[part]:
                high[part] = new_high
                moved.append(part)
        for cell in moved:
            for other in touching[cell]:
                if other not in queued:
                    queued.add(other)
                    pending.append(other)
    return {cell: (low[cell], high[cell]) for cell in secret - unknown}


def pinned_cells(
    values: Mapping[Any, Any],
    relations: Sequence[Relation],
    hidden: Collection[Any],
    unpublished: Collection[Any] = (),
    near: Collection[Any] = (),
    by_cell: Mapping[Any, list[int]] | None = None,
) -> set[Any]:
    """The hidden cells a reader can work out exactly, using every relation at once (linear programming).

    ``near``: only the groups of relations that hold one of these cells (the rest did not change);
    ``by_cell``: see ``_groups``.

    Each hidden cell is at least 1, each unpublished one at least 0. A cell is pinned when
    its lowest and highest feasible values leave one whole number. Its true value is
    feasible, so one solve usually settles it: a maximum above the true value (or a minimum
    below it) leaves at least two. Relations that share no unknown cell are solved apart.
    """
    import numpy as np

    unknown = set(unpublished)
    secret = set(hidden) | unknown
    pinned: set[Any] = set()
    for numbers, members in _groups(relations, secret, by_cell):
        group = [relations[number] for number in numbers]
        if near and not any(c in near for r in group for c in r.cells()):
            continue
        variables = sorted(members, key=repr)
        index = {c: i for i, c in enumerate(variables)}
        coefficients: dict[tuple[int, int], float] = {}  # a cell twice in one relation: its terms add up
        rhs = []
        for number, relation in enumerate(group):
            constant = 0.0
            for cell, sign in ((relation.total, 1.0), *((p, -1.0) for p in relation.parts)):
                if cell in index:
                    term = (number, index[cell])
                    coefficients[term] = coefficients.get(term, 0.0) + sign
                else:
                    constant += sign * float(values.get(cell) or 0)
            rhs.append(-constant)
        true = {c: float(values.get(c) or 0) for c in variables if c not in unknown}
        programme = _Programme(coefficients, rhs, [0.0 if c in unknown else 1.0 for c in variables])
        free = _moved_together(programme, index, true)
        if free is None:
            # the relations do not hold on these numbers (a relation written wrong): nothing in this
            # group can be vouched for, so all of it counts as pinned and gets complements
            pinned |= set(true)
            continue
        for cell in (c for c in variables if c in true and c not in free):
            for sign in (-1.0, 1.0):  # the maximum first: most hidden cells could be larger
                objective = np.zeros(len(variables))
                objective[index[cell]] = sign
                status, x = programme.solve(objective)
                if status == "unbounded" or (  # unbounded: not pinned
                    status == "optimal" and abs(x[index[cell]] - true[cell]) >= 1 - 1e-6
                ):
                    free.add(cell)
                    break
            if cell not in free:
                pinned.add(cell)
    return pinned
