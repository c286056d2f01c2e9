"""Link time of one staged night on Spark against DuckDB, and DuckDB's scaling with the country's size.

Each run links a fresh copy of the staged state in its own process, DuckDB then Spark (alternated on a
shared machine, the ratio is taken within the run); Spark's time includes starting its session, which
the report also gives on its own. The two backends' persons are compared on every record pair.

    # Spark local[2] against DuckDB on 1M people (stages the country first when --home is empty)
    python -m bench.spark_link ratio --home /tmp/c1m --people 1000000 --runs 2
    # DuckDB alone at 1M, 2M and 4M people
    python -m bench.spark_link curve --root /tmp/curve --people 1000000,2000000,4000000

Reports go to bench/results/spark-link-*.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.link_compare import NIGHT, stage

ROOT = Path(__file__).resolve().parent.parent

# run in a child: link the staged night on one backend; print the times, the accuracy and the assignment's path
_LINK = """
import sys, time, logging
from datetime import date
from pathlib import Path
import duckdb
started = time.perf_counter()
from matching.linkage import LinkageConfig, link_night
from matching.standardise import register_functions
logging.basicConfig(level=logging.ERROR)
home, backend, master = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
spark, spark_start = None, 0.0
if backend == "spark":
    from matching.spark import SparkConfig, session
    spark = session(SparkConfig(master=master, driver_memory=sys.argv[4]))
    spark_start = time.perf_counter() - started
config = LinkageConfig(retrain=True, backend=backend)
with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
    register_functions(con)
    summary = link_night(con, home, date.fromisoformat(sys.argv[5]), config, spark=spark)
    con.execute(
        "copy (select record_key, person_id from linkage.record_person where night = $1) to $2 (format parquet)",
        [date.fromisoformat(sys.argv[5]), str(home / "assignment.parquet")],
    )
m = summary.metrics
print(f"RESULT {time.perf_counter() - started:.1f} {spark_start:.1f} {m.pairwise_precision:.4f} "
      f"{m.pairwise_recall:.4f} {summary.comparisons}")
"""


def _link(staged: Path, backend: str, master: str, memory: str) -> tuple[list[float], Path]:
    """(seconds, spark start seconds, precision, recall, comparisons) of one link of a copy of `staged`."""
    copy = Path(tempfile.mkdtemp(prefix=f"ibr-{backend}-", dir=staged.parent))
    shutil.rmtree(copy)
    shutil.copytree(staged, copy, ignore=shutil.ignore_patterns("models", "assignment.parquet"))
    out = subprocess.run(
        [sys.executable, "-c", _LINK, str(copy), backend, master, memory, NIGHT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{backend} link failed (exit {out.returncode}): {out.stderr[-2000:]}")
    return [float(v) for v in lines[-1].split()[1:]], copy


def _agreement(left: Path, right: Path) -> tuple[float, float]:
    import duckdb

    from matching.incremental import compare_assignments

    with duckdb.connect() as con:
        found = compare_assignments(
            con,
            f"select * from read_parquet('{left / 'assignment.parquet'}')",
            f"select * from read_parquet('{right / 'assignment.parquet'}')",
        )
    all_pairs = found.records * (found.records - 1) // 2
    disagree = found.pairs_left + found.pairs_right - 2 * found.pairs_both
    return 1 - disagree / all_pairs, found.pairwise_agreement


def ratio(home: Path, people: int, runs: int, master: str, memory: str) -> str:
    if not (home / "state" / "work.duckdb").exists():
        stage(home, people)
    rows = []
    for run in range(1, runs + 1):
        duck, duck_home = _link(home, "duckdb", master, memory)
        spark, spark_home = _link(home, "spark", master, memory)
        pairs, linked = _agreement(duck_home, spark_home)
        rows.append((run, duck, spark, pairs, linked))
        shutil.rmtree(duck_home)
        shutil.rmtree(spark_home)
    lines = [
        f"# Spark ({master}, driver {memory}) against DuckDB: link_night on {people:,} people "
        f"({time.strftime('%Y-%m-%d %H:%M')} UTC)",
        "",
        "| run | DuckDB s | Spark s (of which session start) | Spark/DuckDB | precision D/S | recall D/S "
        "| record pairs agreeing | linked pairs Jaccard |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run, duck, spark, pairs, linked in rows:
        lines.append(
            f"| {run} | {duck[0]:.1f} | {spark[0]:.1f} ({spark[1]:.1f}) | {spark[0] / duck[0]:.2f} "
            f"| {duck[2]:.4f}/{spark[2]:.4f} | {duck[3]:.4f}/{spark[3]:.4f} | {pairs:.6f} | {linked:.4f} |"
        )
    lines += ["", f"median ratio: {statistics.median(s[0] / d[0] for _, d, s, _, _ in rows):.2f}"]
    return "\n".join(lines) + "\n"


def curve(root: Path, sizes: list[int], memory: str) -> str:
    lines = [
        f"# DuckDB link_night by country size ({time.strftime('%Y-%m-%d %H:%M')} UTC)",
        "",
        "| people | link s | comparisons | precision | recall |",
        "|---|---|---|---|---|",
    ]
    for people in sizes:
        home = root / f"c{people}"
        if not (home / "state" / "work.duckdb").exists():
            stage(home, people)
        got, copy = _link(home, "duckdb", "local[2]", memory)
        shutil.rmtree(copy)
        lines.append(f"| {people:,} | {got[0]:.1f} | {int(got[4]):,} | {got[2]:.4f} | {got[3]:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("ratio", help="Spark against DuckDB on one staged country")
    r.add_argument("--home", type=Path, required=True)
    r.add_argument("--people", type=int, default=1_000_000)
    r.add_argument("--runs", type=int, default=2)
    r.add_argument("--master", default="local[2]")
    r.add_argument("--driver-memory", default="12g")
    c = sub.add_parser("curve", help="DuckDB alone at several sizes")
    c.add_argument("--root", type=Path, required=True)
    c.add_argument("--people", default="1000000,2000000,4000000")
    args = parser.parse_args(argv)
    if args.command == "ratio":
        report = ratio(args.home, args.people, args.runs, args.master, args.driver_memory)
    else:
        report = curve(args.root, [int(p) for p in args.people.split(",")], "12g")
    out = ROOT / "bench" / "results" / f"spark-link-{args.command}-{time.strftime('%Y%m%d-%H%M')}.md"
    out.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
