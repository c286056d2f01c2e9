"""The recovery attack on published ministry reports: can a reader work out a hidden (suppressed) count?

An attacker holding every ministry's Parquet tables of one night writes down every linear fact the
tables imply, written here from the tables alone, apart from the report code: every sum (districts
to provinces to the country, paid = its three parts), every number repeated across tables, every
"part of" inequality and every shown share. Each hidden cell is then bounded by linear programming
(it is at least 1: a zero is always shown). A cell is recovered when only one whole number fits.

    python -m bench.attack --home <home>               # every night under <home>/reports
    python -m bench.attack --home <home> --night 2026-04-01

Exit status 1 when any cell is recovered. tests/test_ministry_reports.py runs the same attack on a
generated country; this runs it on any home (`make demo`'s, or a real deployment's).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq

from registry import load_programmes
from reports.ministry_tables import COVERAGE_COUNTS, NATIONAL_ONLY, TABLE_SPECS

ROW_KEYS = {
    "headline": ("programme_id",),
    "findings_summary": ("programme_id",),
    "deceased_paid": ("programme_id",),
    "exclusive_overlap": ("programme_id", "conflicting_programmes", "period_month"),
    "duplicate_enrolment": ("programme_id",),
    "gaps": ("programme_id",),
    "inclusion_errors": ("programme_id",),
    "overlap_matrix": ("programme_id", "other_programme_id"),
    "coverage_by_area": ("area_level", "admin1", "admin2", "programme_id"),
    "confidence": ("programme_id", "finding"),
    "undetermined_reasons": ("programme_id", "unknown_values"),
}
Cell = tuple[str, tuple, str]


def published_counts(out: Path) -> tuple[dict[Cell, float | None], dict[str, list[dict]]]:
    """Every count cell of every ministry's Parquet files: its value, or None where it is hidden."""
    cells: dict[Cell, float | None] = {}
    rows_by_table: dict[str, list[dict]] = {name: [] for name in ROW_KEYS}
    counts = {
        name: [c.name for c in columns if c.kind == "count"] for name, _t, _n, columns, _s in TABLE_SPECS
    }
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        for name, key_columns in ROW_KEYS.items():
            for row in pq.read_table(folder / f"{name}.parquet").to_pylist():
                rows_by_table[name].append(row)
                key = tuple(row[k] for k in key_columns)
                for column in counts[name]:
                    if column in NATIONAL_ONLY and row.get("area_level") != "national":
                        continue  # not published below the country
                    cells[(name, key, column)] = row[column]
    return cells, rows_by_table


def reader_relations(
    rows: dict[str, list[dict]], exclusive: Sequence[Sequence[str]]
) -> list[tuple[dict[Cell, float], str]]:
    """Linear facts about the published counts, written from the tables alone: (coefficients, "==" or "<=") of
    sum(coefficient * cell) against 0. Written here again, apart from the report code, as an attacker would."""
    facts: list[tuple[dict[Cell, float], str]] = []

    def equal(total: Cell, parts: list[Cell]) -> None:
        coefficients = {total: 1.0}
        for part in parts:
            coefficients[part] = coefficients.get(part, 0.0) - 1.0
        facts.append((coefficients, "=="))

    def at_most(small: Cell, big: Cell) -> None:
        facts.append(({small: 1.0, big: -1.0}, "<="))

    def cov(row: dict, column: str) -> Cell:
        return ("coverage_by_area", tuple(row[k] for k in ROW_KEYS["coverage_by_area"]), column)

    coverage = rows["coverage_by_area"]
    for row in coverage:
        level, province, programme = row["area_level"], row["admin1"], row["programme_id"]
        if level == "national":
            parts = [r for r in coverage if r["programme_id"] == programme and r["area_level"] == "admin1"]
        elif level == "admin1":
            parts = [
                r
                for r in coverage
                if r["programme_id"] == programme and r["area_level"] == "admin2" and r["admin1"] == province
            ]
        else:
            parts = []
        for column in COVERAGE_COUNTS:
            if parts and column not in NATIONAL_ONLY:
                equal(cov(row, column), [cov(r, column) for r in parts])
        equal(
            cov(row, "enrolled_persons"),
            [
                cov(row, c)
                for c in (
                    "eligible_enrolled_persons",
                    "enrolled_not_eligible_persons",
                    "enrolled_undetermined_persons",
                )
            ],
        )
        if level == "national":
            equal(
                cov(row, "eligible_persons"),
                [cov(row, "eligible_enrolled_persons"), cov(row, "eligible_not_enrolled_persons")],
            )
            equal(
                cov(row, "undetermined_persons"),
                [cov(row, "enrolled_undetermined_persons"), cov(row, "undetermined_not_enrolled_persons")],
            )
        else:
            at_most(cov(row, "eligible_enrolled_persons"), cov(row, "eligible_persons"))
            at_most(cov(row, "enrolled_undetermined_persons"), cov(row, "undetermined_persons"))
        if row["coverage_share"] is not None and row["eligible_persons"] is not None:
            # a share shown over a shown denominator: numerator = share * denominator
            facts.append(
                (
                    {
                        cov(row, "eligible_enrolled_persons"): 1.0,
                        cov(row, "eligible_persons"): -row["coverage_share"],
                    },
                    "==",
                )
            )
    programmes = {r["programme_id"] for r in rows["headline"]}
    for programme in programmes:
        paid = ("headline", (programme,), "enrolled_persons")
        equal(paid, [("coverage_by_area", ("national", None, None, programme), "enrolled_persons")])
        equal(paid, [("overlap_matrix", (programme, programme), "persons")])
        summary = ("findings_summary", (programme,))
        for column, table in (
            ("deceased_paid_persons", "deceased_paid"),
            ("duplicate_enrolment_persons", "duplicate_enrolment"),
            ("gap_persons", "gaps"),
            ("inclusion_error_persons", "inclusion_errors"),
        ):
            if any(r["programme_id"] == programme for r in rows[table]):
                equal((*summary, column), [(table, (programme,), "persons")])
        overlaps = [
            ("exclusive_overlap", tuple(r[k] for k in ROW_KEYS["exclusive_overlap"]), "persons")
            for r in rows["exclusive_overlap"]
            if r["programme_id"] == programme
        ]
        total = (*summary, "exclusive_overlap_persons")
        # distinct people over the rows: at least any one row, at most their sum
        for overlap in overlaps:
            at_most(overlap, total)
        facts.append(({total: 1.0, **{o: -1.0 for o in overlaps}}, "<="))
        deceased, gaps = ("deceased_paid", (programme,)), ("gaps", (programme,))
        at_most((*deceased, "persons_paid_in_latest_period"), (*deceased, "persons"))
        if any(r["programme_id"] == programme for r in rows["gaps"]):
            equal(
                (*gaps, "persons"),
                [
                    (*gaps, c)
                    for c in ("listed_not_paid_persons", "paid_elsewhere_persons", "unserved_persons")
                ],
            )
        national = ("coverage_by_area", ("national", None, None, programme))
        # a gap is an eligible person not paid; with no exclusive partner, every such person is a gap
        if any(r["programme_id"] == programme for r in rows["gaps"]):
            if any(programme in group for group in exclusive):
                at_most((*gaps, "persons"), (*national, "eligible_not_enrolled_persons"))
            else:
                equal((*gaps, "persons"), [(*national, "eligible_not_enrolled_persons")])
        for row in (r for r in rows["confidence"] if r["programme_id"] == programme):
            finding = ("confidence", (programme, row["finding"]))
            at_most((*finding, "review_persons"), (*finding, "persons"))
            if row["finding"] == "paid_not_eligible":
                equal((*finding, "persons"), [(*national, "enrolled_not_eligible_persons")])
            else:
                equal((*finding, "persons"), [(*summary, f"{row['finding']}_persons")])
            if row["review_share"] is not None and row["persons"] is not None:
                facts.append(
                    ({(*finding, "review_persons"): 1.0, (*finding, "persons"): -row["review_share"]}, "==")
                )
        reasons = [r for r in rows["undetermined_reasons"] if r["programme_id"] == programme]
        for column, part in (
            ("undetermined_persons", "persons"),
            ("enrolled_undetermined_persons", "enrolled_persons"),
        ):
            by_reason: list[Cell] = [
                ("undetermined_reasons", (programme, r["unknown_values"]), part) for r in reasons
            ]
            if reasons:
                equal(("coverage_by_area", ("national", None, None, programme), column), by_reason)
        for r in reasons:
            reason = ("undetermined_reasons", (programme, r["unknown_values"]))
            at_most((*reason, "enrolled_persons"), (*reason, "persons"))
    for row in rows["overlap_matrix"]:
        mine, other = row["programme_id"], row["other_programme_id"]
        equal(("overlap_matrix", (mine, other), "persons"), [("overlap_matrix", (other, mine), "persons")])
        # people paid by both are among those paid by either
        at_most(("overlap_matrix", (mine, other), "persons"), ("overlap_matrix", (mine, mine), "persons"))
    return facts


def bounds(
    cells: dict[Cell, float | None], facts: list[tuple[dict[Cell, float], str]]
) -> dict[Cell, tuple[float, float]]:
    """The tightest interval of every hidden cell given the facts (a linear programme per cell and direction).

    Hidden cells are at least 1 (a zero is always shown); a cell of a row that is not published is 0."""
    from scipy.optimize import linprog

    hidden = sorted((c for c, v in cells.items() if v is None), key=repr)
    index = {c: i for i, c in enumerate(hidden)}
    a_eq: list[list[float]] = []
    a_ub: list[list[float]] = []
    b_eq: list[float] = []
    b_ub: list[float] = []
    for coefficients, sense in facts:
        row = [0.0] * len(hidden)
        constant = 0.0
        for cell, coefficient in coefficients.items():
            if cell in index:
                row[index[cell]] += coefficient
            else:
                constant += coefficient * (cells.get(cell) or 0.0)
        if not any(row):
            # a fact between shown numbers only: it must hold, or the attacker's facts are wrong
            assert (abs(constant) < 1e-6) if sense == "==" else (constant <= 1e-6), coefficients
            continue
        (a_eq if sense == "==" else a_ub).append(row)
        (b_eq if sense == "==" else b_ub).append(-constant)
    intervals: dict[Cell, tuple[float, float]] = {}
    for cell, i in index.items():
        ends = []
        for sign in (1.0, -1.0):
            objective = [0.0] * len(hidden)
            objective[i] = sign
            result = linprog(
                objective,
                A_ub=a_ub or None,
                b_ub=b_ub or None,
                A_eq=a_eq or None,
                b_eq=b_eq or None,
                bounds=[(1, None)] * len(hidden),
                method="highs",
            )
            assert result.status in (0, 3), (cell, result.message)  # 3: unbounded above
            ends.append(sign * result.fun if result.status == 0 else float("inf"))
        intervals[cell] = (ends[0], ends[1])
    return intervals


def recovered(intervals: dict[Cell, tuple[float, float]]) -> dict[Cell, tuple[float, float]]:
    """The hidden cells whose interval holds one whole number only."""
    return {
        cell: (low, high)
        for cell, (low, high) in intervals.items()
        if math.isfinite(high) and math.floor(high + 1e-6) <= math.ceil(low - 1e-6)
    }


def attack(folder: Path, exclusive: Sequence[Sequence[str]]) -> tuple[int, dict[Cell, tuple[float, float]]]:
    """(hidden cells, the recovered ones with their interval) for one night's reports folder."""
    cells, rows = published_counts(folder)
    intervals = bounds(cells, reader_relations(rows, exclusive))
    return len(intervals), recovered(intervals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, required=True, help="a deployment home with reports/")
    parser.add_argument("--night", help="one night (YYYY-MM-DD); default every night under reports/")
    args = parser.parse_args(argv)
    exclusive = load_programmes(args.home / "programmes.yaml").exclusive
    folders = sorted(p for p in (args.home / "reports").iterdir() if p.is_dir())
    if args.night:
        folders = [f for f in folders if f.name == args.night]
    if not folders:
        parser.error(f"no reports under {args.home / 'reports'}")
    found = 0
    for folder in folders:
        hidden, cells = attack(folder, exclusive)
        found += len(cells)
        print(f"{folder.name}: {len(cells)} of {hidden} hidden cells recovered")
        for cell, (low, high) in cells.items():
            # cell keys are area codes, programme ids and column names: no personal value
            print(f"  {cell}: between {low:g} and {high:g}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
