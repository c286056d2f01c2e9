"""`make bench PEOPLE=N`: time each pipeline stage on a generated country.

Each run generates a fresh country in a temporary home and runs the stages in
order, each in its own child process so that its peak RSS is its own (read with
wait4). Reported: the median wall time over the runs and the largest peak RSS,
written as a markdown table to bench/results/ and printed.

    python -m bench.run --people 1000000 --nights 3 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.stages import STAGES

RESULTS = Path(__file__).resolve().parent / "results"


def run_stage(
    stage: str, home: Path, people: int, nights: int, seed: int, timeout: float
) -> dict[str, object]:
    """Run one stage in a child process; wall seconds, peak RSS (MiB) and what the stage reported.

    A stage still running after `timeout` seconds is killed and reported as timed out, so one
    runaway stage (the plain Splink baseline on a big country) does not sink the whole bench.
    """
    command = [
        sys.executable,
        "-m",
        "bench.child",
        stage,
        str(home),
        json.dumps({"people": people, "nights": nights, "seed": seed}),
    ]
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out:
        child = subprocess.Popen(command, stdout=out, text=True, cwd=Path(__file__).resolve().parent.parent)
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        output = out.read()
    if child.returncode != 0 and seconds >= timeout:
        return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, "timed_out": True}
    if child.returncode != 0:
        raise SystemExit(f"stage {stage} failed with exit code {child.returncode}")
    reported = json.loads(output.strip().splitlines()[-1])
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, **reported}


def _incremental_lines(measurements: dict[str, list[dict[str, object]]]) -> list[str]:
    """Incremental vs full re-link of the second night: wall-time ratio, records scored, agreement."""
    full, incremental = measurements["link_full_next"], measurements["link_incremental"]
    ratios = [
        float(str(inc["seconds"])) / float(str(ful["seconds"]))
        for ful, inc in zip(full, incremental, strict=True)
    ]
    lines = [
        f"link_incremental / link_full_next wall time, per run: {', '.join(f'{r:.2f}' for r in ratios)} "
        f"(median {statistics.median(ratios):.2f})"
    ]
    changes = measurements.get("standardise_next", [])
    if changes:
        lines.append(
            "second night: new or changed records, per run: "
            + ", ".join(f"{float(str(c['share_new_or_changed'])):.2%}" for c in changes)
        )
    lines.append(
        "records scored (incremental / full), per run: "
        + ", ".join(
            f"{inc.get('records_scored')} / {ful.get('records_scored')}"
            for ful, inc in zip(full, incremental, strict=True)
        )
    )
    agreement = [r for r in full + incremental if "agreement_pairwise" in r]
    if agreement:
        lines.append(
            "agreement with the full re-link, per run: "
            + ", ".join(
                f"pairwise {r['agreement_pairwise']}, identical clusters {r['agreement_identical_clusters']}, "
                f"same person id {r['agreement_same_person_id']}"
                for r in agreement
            )
        )
    return lines


def _num(result: dict[str, object], key: str) -> float:
    return float(str(result[key]))


def _seconds_map(result: dict[str, object], key: str) -> dict[str, float]:
    """A stage's {name: seconds} report (an empty one when the stage did not report it)."""
    value = result.get(key)
    return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _checks_seconds(runs: list[dict[str, object]]) -> str:
    """Each run's checks' seconds and their share of the night, as one comma-separated list."""
    return ", ".join(
        f"{_num(r, 'checks_seconds'):.1f}s ({_num(r, 'checks_share'):.1%} of the night)" for r in runs
    )


def _per_step(runs: list[dict[str, object]], key: str) -> dict[str, list[float]]:
    """{step: [seconds of each run]} from every run's {step: seconds} report under `key`."""
    steps: dict[str, list[float]] = {}
    for r in runs:
        for step, seconds in _seconds_map(r, key).items():
            steps.setdefault(step, []).append(seconds)
    return steps


def _finished(measurements: dict[str, list[dict[str, object]]], stage: str) -> list[dict[str, object]]:
    """A stage's runs that did not time out."""
    return [r for r in measurements.get(stage, []) if not r.get("timed_out")]


def _last_steps(runs: list[dict[str, object]]) -> str:
    """The last run's seconds per step, as one line."""
    return "seconds per step, last run: " + ", ".join(
        f"{k} {float(v):.1f}" for k, v in _seconds_map(runs[-1], "seconds_by_step").items()
    )


def _medians(runs: list[dict[str, object]], full: list[dict[str, object]], key: str) -> str:
    """The median `key` seconds of the runs over the full night's, as `a / b = ratio`."""
    mine, theirs = (statistics.median(_num(r, key) for r in rs) for rs in (runs, full))
    return f"{mine:.1f}s / {theirs:.1f}s = {mine / theirs:.3f}"


def _against(runs: list[dict[str, object]], full: list[dict[str, object]], key: str) -> str:
    """Each run's `key` seconds over the full night's of the same run, then the medians'."""
    ratios = [_num(r, key) / _num(f, key) for f, r in zip(full, runs, strict=False)]
    return f"per run: {', '.join(f'{r:.3f}' for r in ratios)}; medians {_medians(runs, full, key)}"


def _night_lines(measurements: dict[str, list[dict[str, object]]]) -> list[str]:
    """The whole nights: checks' seconds and share, seconds per step, the incremental night against the full one."""
    lines: list[str] = []
    full = _finished(measurements, "night")
    if full:
        night_median = statistics.median(_num(r, "seconds") for r in full)
        lines += [
            "",
            f"## Full night ({full[0].get('night')}): every step, check and report, as `ibr run` runs it",
            "",
            "run_night wall time, per run (the stage's time less the interpreter start): "
            + ", ".join(f"{_num(r, 'run_seconds'):.1f}s" for r in full),
            "of which the Dagster run (start to end, per run): "
            + ", ".join(f"{r.get('dagster_run_seconds')}s" for r in full)
            + "; the steps' sum: "
            + ", ".join(f"{r.get('steps_seconds')}s" for r in full)
            + " (the rest: importing Dagster, loading the definitions, the run's own bookkeeping)",
            "checks' seconds (sum of every asset's `checks_seconds`), per run: "
            + _checks_seconds(full)
            + f"; median share {statistics.median(_num(r, 'checks_share') for r in full):.1%}",
            "check evaluations, per run: "
            + ", ".join(
                f"{r.get('check_evaluations')} ({r.get('checks_failed')} failed, "
                f"{r.get('checks_failed_blocking')} of them blocking)"
                for r in full
            ),
            f"linkage: mode {full[-1].get('mode')} ({full[-1].get('mode_reason')}), "
            f"records scored {full[-1].get('records_scored')}",
            "",
            "| step | median s | share of the night | checks s (median) |",
            "|---|---|---|---|",
        ]
        steps = _per_step(full, "seconds_by_step")
        checks = _per_step(full, "checks_seconds_by_step")
        for step, values in sorted(steps.items(), key=lambda kv: -statistics.median(kv[1])):
            median = statistics.median(values)
            own = f"{statistics.median(checks[step]):.1f}" if step in checks else ""
            lines.append(f"| {step} | {median:.1f} | {median / night_median:.1%} | {own} |")
    floor = _finished(measurements, "night_floor")
    for stage, title in (
        (
            "night_incremental",
            "the night after `night` (a month end: every payroll sends a new month), ~1% new or changed",
        ),
        ("night_daily", "the day after `night`: ~1% new or changed, every other record sent again unchanged"),
    ):
        lines += _partial_night_lines(stage, title, measurements, full, floor)
    if floor:
        lines += [
            "",
            f"## The fixed cost of a night: the second night of a {floor[0].get('people')}-person country",
            "",
            "run_night wall time, per run: " + ", ".join(f"{_num(r, 'run_seconds'):.1f}s" for r in floor),
            _last_steps(floor),
        ]
        if full:
            lines.append(
                f"floor / full night, {_against(floor, full, 'run_seconds')} "
                "(no incremental night of the full country can take less)"
            )
    return lines


def _partial_night_lines(
    stage: str,
    title: str,
    measurements: dict[str, list[dict[str, object]]],
    full: list[dict[str, object]],
    floor: list[dict[str, object]],
) -> list[str]:
    """One incremental night: what changed, what linkage scored, its steps, its time against the full night
    (whole, and above the fixed floor of a night, as issue 15 measures it)."""
    nights = _finished(measurements, stage)
    if not nights:
        return []
    lines = [
        "",
        f"## `{stage}` ({nights[0].get('night')}): {title}",
        "",
        "linkage mode, per run: " + ", ".join(f"{r.get('mode')} ({r.get('mode_reason')})" for r in nights),
        "new or changed records, per run: "
        + ", ".join(
            f"{r.get('new')} new + {r.get('changed')} changed of {r.get('rows')} "
            f"= {_num(r, 'share_new_or_changed'):.2%} (rows edited in the drops {r.get('rows_edited')})"
            for r in nights
        ),
        "records scored, per run: "
        + ", ".join(f"{r.get('records_scored')} of {r.get('rows')}" for r in nights),
        "checks' seconds, per run: " + _checks_seconds(nights),
        "check evaluations, per run: "
        + ", ".join(f"{r.get('check_evaluations')} ({r.get('checks_failed')} failed)" for r in nights),
        _last_steps(nights),
    ]
    if full:
        # the nights as `ibr run` runs them (run_seconds): the stage's time also holds the interpreter
        # start and the writing of its drops (prepare_seconds)
        lines += [
            f"{stage} / full night, run_night wall time, {_against(nights, full, 'run_seconds')}",
            f"(whole stages, with the interpreter start and the writing of the drops: {_medians(nights, full, 'seconds')})",
        ]
    if full and floor:
        lines.append(
            f"{stage} above the floor / full night above the floor, {_above_floor(nights, full, floor)}"
        )
        lines += ["", *_above_floor_by_part(nights, full, floor)]
    return lines


def _steps_in(run: dict[str, object], steps: Callable[[str], bool]) -> float:
    """A run's seconds in the steps `steps` accepts."""
    return sum(v for k, v in _seconds_map(run, "seconds_by_step").items() if steps(k))


# the parts a night's time above the floor is read by, each a run's seconds in it
PARTS: tuple[tuple[str, Callable[[dict[str, object]], float]], ...] = (
    ("landing and staging", lambda r: _steps_in(r, lambda s: s.startswith("raw__") or s == "staging_tables")),
    ("linkage", lambda r: _steps_in(r, lambda s: s == "record_linkage")),
    (
        "registry, findings, publish",
        lambda r: _steps_in(r, lambda s: s in ("registry_tables", "findings", "warehouse__ibr")),
    ),
    ("the rest (Dagster, imports, the run)", lambda r: _num(r, "run_seconds") - _num(r, "steps_seconds")),
)


def _above_floor_by_part(
    runs: list[dict[str, object]], full: list[dict[str, object]], floor: list[dict[str, object]]
) -> list[str]:
    """Where a night's time above the floor goes: per part, the median seconds of its steps in this night,
    the full night and the floor, and the part's time above the floor as a share of the full night's."""
    whole_above = statistics.median(_num(r, "run_seconds") for r in full) - statistics.median(
        _num(r, "run_seconds") for r in floor
    )
    lines = [
        "| part (steps) | full night s | this night s | floor s | this night above the floor s "
        "| share of the full night above the floor |",
        "|---|---|---|---|---|---|",
    ]
    for name, seconds in PARTS:
        mine, whole, fixed = (statistics.median(seconds(r) for r in group) for group in (runs, full, floor))
        lines.append(
            f"| {name} | {whole:.1f} | {mine:.1f} | {fixed:.1f} | {mine - fixed:.1f} | {(mine - fixed) / whole_above:.3f} |"
        )
    return lines


def _above_floor(
    runs: list[dict[str, object]], full: list[dict[str, object]], floor: list[dict[str, object]]
) -> str:
    """(night - floor) / (full night - floor) in run_night seconds, each run's, then the medians' (target <= 0.10)."""

    def above(night: float, whole: float, fixed: float) -> float:
        return (night - fixed) / (whole - fixed)

    ratios = [
        above(_num(r, "run_seconds"), _num(f, "run_seconds"), _num(c, "run_seconds"))
        for r, f, c in zip(runs, full, floor, strict=False)
    ]
    night, whole, fixed = (
        statistics.median(_num(r, "run_seconds") for r in group) for group in (runs, full, floor)
    )
    return (
        f"per run: {', '.join(f'{r:.3f}' for r in ratios)}; medians ({night:.1f}s - {fixed:.1f}s) / "
        f"({whole:.1f}s - {fixed:.1f}s) = {above(night, whole, fixed):.3f} (target <= 0.10)"
    )


_RUN_LINE = re.compile(r"^run \d+/\d+ (\w+): ([\d.]+)s, (\d+) MiB (\{.*\})$", re.MULTILINE)


def _measurements_from_log(text: str) -> dict[str, list[dict[str, object]]]:
    """The measurements a bench printed, one `run i/n stage: <s>s, <MiB> MiB {json}` line per stage and run."""
    measurements: dict[str, list[dict[str, object]]] = {}
    for stage, seconds, rss, extra in _RUN_LINE.findall(text):
        result = {"seconds": float(seconds), "peak_rss_mib": float(rss), **json.loads(extra)}
        measurements.setdefault(stage, []).append(result)
    if not measurements:
        raise SystemExit("no 'run i/n stage: ...' lines in the log")
    return measurements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset, in order")
    parser.add_argument("--stage-timeout", type=float, default=1800, help="seconds before a stage is killed")
    parser.add_argument(
        "--from-log",
        type=Path,
        help="write the report from the 'run i/n stage: ...' lines of an earlier bench's output instead of running",
    )
    args = parser.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]

    measurements: dict[str, list[dict[str, object]]] = {s: [] for s in stages}
    if args.from_log:
        measurements = _measurements_from_log(args.from_log.read_text(encoding="utf-8"))
    for run in range(0 if args.from_log else args.runs):
        with tempfile.TemporaryDirectory(prefix="ibr-bench-") as tmp:
            home = Path(tmp)
            for stage in stages:
                result = run_stage(stage, home, args.people, args.nights, args.seed, args.stage_timeout)
                measurements[stage].append(result)
                extra = {k: v for k, v in result.items() if k not in ("seconds", "peak_rss_mib")}
                print(
                    f"run {run + 1}/{args.runs} {stage}: {result['seconds']:.1f}s, "
                    f"{result['peak_rss_mib']:.0f} MiB {json.dumps(extra, default=str)}",
                    flush=True,
                )

    lines = [
        f"# Bench: {args.people:,} people, {args.nights} nights, {args.runs} runs",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}",
        "",
        "| stage | median s | min s | max s | peak RSS MiB (max) | rows | F1 (pairwise) | timed out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stage, results in measurements.items():
        seconds = [float(str(r["seconds"])) for r in results]
        rss = max(float(str(r["peak_rss_mib"])) for r in results)
        rows = results[-1].get("rows") or results[-1].get("records") or ""
        f1 = [float(str(r["pairwise_f1"])) for r in results if "pairwise_f1" in r]
        timed_out = sum(bool(r.get("timed_out")) for r in results)
        lines.append(
            f"| {stage} | {statistics.median(seconds):.1f} | {min(seconds):.1f} | {max(seconds):.1f} | {rss:.0f} "
            f"| {rows} | {statistics.median(f1) if f1 else ''} | {timed_out or ''} |"
        )
    if "link" in measurements and "plain_splink" in measurements:
        ratios = [
            float(str(ours["seconds"])) / float(str(plain["seconds"]))
            for ours, plain in zip(measurements["link"], measurements["plain_splink"], strict=True)
        ]
        lines += [
            "",
            f"link / plain_splink wall time, per run: {', '.join(f'{r:.2f}' for r in ratios)} "
            f"(median {statistics.median(ratios):.2f}; a timed-out baseline makes this an upper bound)",
        ]
    if "link_full_next" in measurements and "link_incremental" in measurements:
        lines += ["", *_incremental_lines(measurements)]
    if {"night", "night_incremental", "night_daily", "night_floor"} & measurements.keys():
        lines += _night_lines(measurements)
    table = "\n".join(lines) + "\n"
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y%m%d-%H%M}-{args.people}.md"
    out.write_text(table, encoding="utf-8")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
