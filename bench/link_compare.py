"""Link time and peak RSS of two checkouts' linkage on the same staged country, alternated run by run.

The machine is shared, so each run links with the baseline tree and then with this one, and the ratio
is taken within the run; the report gives every ratio and their median.

    # once: a staged (landed and standardised, not linked) country
    python -m bench.link_compare stage --home /tmp/c1m --people 1000000
    # a baseline checkout, e.g. `git worktree add /tmp/base <commit>`
    python -m bench.link_compare compare --home /tmp/c1m --baseline /tmp/base --runs 3
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NIGHT = "2026-02-01"
ROOT = Path(__file__).resolve().parent.parent

# run in a child with the tree to test first on sys.path; prints the link time and the accuracy
_LINK = """
import sys, time, logging
from datetime import date
from pathlib import Path
import duckdb
from matching.config import LinkageConfig
from matching.linkage import link_night
from staging.standardise import register_functions
logging.basicConfig(level=logging.ERROR)
home = Path(sys.argv[1])
started = time.perf_counter()
with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
    register_functions(con)
    summary = link_night(con, home, date.fromisoformat(sys.argv[2]), LinkageConfig.load(home))
m = summary.metrics
print(f"RESULT {time.perf_counter() - started:.1f} {m.pairwise_precision:.4f} {m.pairwise_recall:.4f}")
"""


def stage(home: Path, people: int) -> None:
    from datetime import date

    import duckdb

    from ingest.contracts import load_contracts
    from ingest.landing import Lander
    from staging.standardise import build_staging, register_functions
    from synthetic import generate

    generate(home, people=people, nights=1, seed=7)
    (home / "state").mkdir(exist_ok=True)
    night = date.fromisoformat(NIGHT)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        contracts = load_contracts(home / "sources")
        lander = Lander(con, home, night)
        for contract in contracts.values():
            lander.land_source(contract)
        build_staging(con, home, contracts, night)


def _link(tree: Path, staged: Path) -> tuple[float, float, float, float]:
    """(seconds, peak RSS GiB, precision, recall) of one link_night with `tree`'s code on a copy of `staged`."""
    with tempfile.TemporaryDirectory(dir=staged.parent) as scratch:
        home = Path(scratch) / "home"
        shutil.copytree(staged, home)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        with subprocess.Popen(
            [sys.executable, "-c", _LINK, str(home), NIGHT],
            env=env,
            cwd=tree,  # `python -c` puts the working folder first on sys.path: it must be the tree tested
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as child:
            # wait4: this child's own peak RSS (kilobytes on Linux), not the largest of all children so far
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            out, err = (
                child.stdout.read() if child.stdout else "",
                child.stderr.read() if child.stderr else "",
            )
        found = re.search(r"RESULT (\S+) (\S+) (\S+)", out)
        if child.returncode or not found:
            raise SystemExit(f"link with {tree} failed:\n{err[-2000:]}")
        return float(found[1]), usage.ru_maxrss / 2**20, float(found[2]), float(found[3])


def compare(home: Path, baseline: Path, runs: int) -> str:
    lines = [
        f"# link_night: {ROOT.name} against {baseline} ({time.strftime('%Y-%m-%d %H:%M')} UTC)",
        "",
        "| run | baseline s | this s | ratio | baseline GiB | this GiB | baseline P / R | this P / R |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for run in range(1, runs + 1):
        base = _link(baseline, home)
        this = _link(ROOT, home)
        ratios.append(this[0] / base[0])
        lines.append(
            f"| {run} | {base[0]:.1f} | {this[0]:.1f} | {ratios[-1]:.2f} | {base[1]:.2f} | {this[1]:.2f} "
            f"| {base[2]:.4f} / {base[3]:.4f} "
            f"| {this[2]:.4f} / {this[3]:.4f} |"
        )
        print(lines[-1], flush=True)
    lines += ["", f"median ratio {statistics.median(ratios):.2f}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stage")
    p.add_argument("--home", type=Path, required=True)
    p.add_argument("--people", type=int, default=1_000_000)
    p = sub.add_parser("compare")
    p.add_argument("--home", type=Path, required=True)
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.command == "stage":
        stage(args.home, args.people)
    else:
        report = compare(args.home, args.baseline, args.runs)
        out = ROOT / "bench" / "results" / f"link-compare-{time.strftime('%Y%m%d-%H%M')}.md"
        out.write_text(report + "\n", encoding="utf-8")
        print(f"written: {out}")


if __name__ == "__main__":
    main()
