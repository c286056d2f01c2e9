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
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.stages import STAGES

RESULTS = Path(__file__).resolve().parent / "results"


def run_stage(stage: str, home: Path, people: int, nights: int, seed: int) -> dict[str, object]:
    """Run one stage in a child process; wall seconds, peak RSS (MiB) and what the stage reported."""
    command = [
        sys.executable,
        "-m",
        "bench.child",
        stage,
        str(home),
        json.dumps({"people": people, "nights": nights, "seed": seed}),
    ]
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"stage {stage} failed with exit code {child.returncode}")
    reported = json.loads(output.strip().splitlines()[-1])
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, **reported}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset, in order")
    args = parser.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]

    measurements: dict[str, list[dict[str, object]]] = {s: [] for s in stages}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="ibr-bench-") as tmp:
            home = Path(tmp)
            for stage in stages:
                result = run_stage(stage, home, args.people, args.nights, args.seed)
                measurements[stage].append(result)
                print(
                    f"run {run + 1}/{args.runs} {stage}: {result['seconds']:.1f}s, {result['peak_rss_mib']:.0f} MiB",
                    flush=True,
                )

    lines = [
        f"# Bench: {args.people:,} people, {args.nights} nights, {args.runs} runs",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}",
        "",
        "| stage | median s | min s | max s | peak RSS MiB (max) | rows |",
        "|---|---|---|---|---|---|",
    ]
    for stage, results in measurements.items():
        seconds = [float(str(r["seconds"])) for r in results]
        rss = max(float(str(r["peak_rss_mib"])) for r in results)
        rows = results[-1].get("rows") or results[-1].get("records") or ""
        lines.append(
            f"| {stage} | {statistics.median(seconds):.1f} | {min(seconds):.1f} | {max(seconds):.1f} | {rss:.0f} | {rows} |"
        )
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
