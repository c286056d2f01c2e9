"""Link time of one staged night on Spark against DuckDB, DuckDB's scaling with the country's size, and
the demo's nights on both backends.

`ratio`: each run links a fresh copy of the staged state in its own process, DuckDB then Spark
(alternated on a shared machine, the ratio is taken within the run); Spark's time includes starting its
session, which the report also gives on its own. The two backends' persons are compared on every record
pair. A Spark link still running after --timeout seconds is killed and reported as a lower bound.

`curve`: per size, bench.run's `generate` and `night` stages (the full night as `ibr run` runs it, in a
child whose peak RSS wait4 reads), then the night's comparisons and accuracy from its working database.
Each size's home is removed after its night.

`demo`: the demo country (20,000 people, 3 nights) run night by night with `ibr run` in two copies of
one generated home, the second with `backend: spark` in linkage.yaml; per night the two backends'
persons are compared on every record pair, and their planted findings (audit.finding_metrics) side by side.

    # Spark local[2] against DuckDB on 1M people (stages the country first when --home is empty)
    python -m bench.spark_link ratio --home /tmp/c1m --people 1000000 --runs 2
    # DuckDB alone, full nights at 1M, 2M and 4M people
    python -m bench.spark_link curve --root /tmp/curve --people 1000000,2000000,4000000
    # the demo's nights on DuckDB and on Spark
    python -m bench.spark_link demo --root /tmp/demo

Reports go to bench/results/spark-link-*.md.
"""

from __future__ import annotations

import argparse
import json
import os
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
from matching.config import LinkageConfig
from matching.linkage import link_night
from staging.standardise import register_functions
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


def _link(
    staged: Path, backend: str, master: str, memory: str, timeout: float | None = None
) -> tuple[list[float] | None, Path]:
    """(seconds, spark start seconds, precision, recall, comparisons) of one link of a copy of `staged`;
    None when it ran longer than `timeout` seconds and was killed."""
    copy = Path(tempfile.mkdtemp(prefix=f"ibr-{backend}-", dir=staged.parent))
    shutil.rmtree(copy)
    shutil.copytree(staged, copy, ignore=shutil.ignore_patterns("models", "assignment.parquet"))
    try:
        out = subprocess.run(
            [sys.executable, "-c", _LINK, str(copy), backend, master, memory, NIGHT],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, copy
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{backend} link failed (exit {out.returncode}): {out.stderr[-2000:]}")
    return [float(v) for v in lines[-1].split()[1:]], copy


def _agreement(left: str, right: str, attach: tuple[Path, ...] = ()) -> tuple[float, float, int]:
    """(share of all record pairs both queries put in the same person or both apart, Jaccard of the linked
    pairs, the record pairs they disagree on); the databases in `attach` are attached read-only as a0, a1, ..."""
    import duckdb

    from matching.incremental import compare_assignments

    with duckdb.connect() as con:
        for number, path in enumerate(attach):
            con.execute(f"attach '{path}' as a{number} (read_only)")
        found = compare_assignments(con, left, right)
    all_pairs = found.records * (found.records - 1) // 2
    disagree = found.pairs_left + found.pairs_right - 2 * found.pairs_both
    return 1 - disagree / all_pairs, found.pairwise_agreement, disagree


def ratio(home: Path, people: int, runs: int, master: str, memory: str, timeout: float | None) -> str:
    if not (home / "state" / "work.duckdb").exists():
        stage(home, people)
    lines = [
        f"# Spark ({master}, driver {memory}) against DuckDB: link_night on {people:,} people "
        f"({time.strftime('%Y-%m-%d %H:%M')} UTC)",
        "",
        "| run | DuckDB s | Spark s (of which session start) | Spark/DuckDB | precision D/S | recall D/S "
        "| record pairs agreeing | linked pairs Jaccard |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for run in range(1, runs + 1):
        duck, duck_home = _link(home, "duckdb", master, memory)
        spark, spark_home = _link(home, "spark", master, memory, timeout)
        assert duck is not None
        if spark is None:
            ratios.append(float(timeout or 0) / duck[0])
            lines.append(
                f"| {run} | {duck[0]:.1f} | > {timeout:.0f} (killed) | > {ratios[-1]:.2f} "
                f"| {duck[2]:.4f}/- | {duck[3]:.4f}/- | - | - |"
            )
        else:
            left, right = (
                f"select * from read_parquet('{h / 'assignment.parquet'}')" for h in (duck_home, spark_home)
            )
            pairs, linked, disagree = _agreement(left, right)
            ratios.append(spark[0] / duck[0])
            lines.append(
                f"| {run} | {duck[0]:.1f} | {spark[0]:.1f} ({spark[1]:.1f}) | {ratios[-1]:.2f} "
                f"| {duck[2]:.4f}/{spark[2]:.4f} | {duck[3]:.4f}/{spark[3]:.4f} | {pairs:.6f} ({disagree:,} differ) | {linked:.4f} |"
            )
        print(lines[-1], flush=True)
        shutil.rmtree(duck_home)
        shutil.rmtree(spark_home)
    killed = " (a killed run counts as its lower bound)" if any(">" in line for line in lines[4:]) else ""
    lines += ["", f"median ratio: {statistics.median(ratios):.2f}{killed}"]
    return "\n".join(lines) + "\n"


def curve(root: Path, sizes: list[int], timeout: float) -> str:
    import duckdb

    from bench.run import run_stage

    lines = [
        f"# Full nights on DuckDB by country size ({time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores)",
        "",
        f"Code: {_commit()}",
        "",
        "| people | records | night s | record_linkage s | peak RSS GiB | comparisons | precision | recall "
        "| rules kept / tightened / dropped | tightened (comparisons) | dropped (comparisons, untightened) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for people in sizes:
        home = root / f"c{people}"
        shutil.rmtree(home, ignore_errors=True)
        failure = None
        night: dict[str, object] = {}
        try:
            run_stage("generate", home, people, 1, 42, timeout)
            night = run_stage("night", home, people, 1, 42, timeout)
        except SystemExit as failed:
            failure = str(failed)
        finally:
            work = home / "night" / "state" / "work.duckdb"
            found = None
            if work.exists():
                try:
                    with duckdb.connect(str(work), read_only=True) as con:
                        found = con.execute(
                            "select comparisons, (select value from audit.linkage_metrics where metric = "
                            "'pairwise_precision'), (select value from audit.linkage_metrics where metric = "
                            "'pairwise_recall'), details from audit.linkage_runs"
                        ).fetchone()
                except duckdb.Error as error:  # a night killed before linkage wrote its run
                    print(f"{people:,}: no linkage run in {work}: {error}", flush=True)
            # the night's linkage log (its stages with their times) outlives the home
            for log_file in (home / "night" / "state" / "logs").glob("*.log"):
                shutil.copy(log_file, root / f"c{people}-{log_file.name}")
            shutil.rmtree(home, ignore_errors=True)
        gib = float(str(night.get("peak_rss_mib", "nan"))) / 1024
        if failure is not None or night.get("timed_out") or found is None:
            what = f"failed: {failure}" if failure is not None else f"> {timeout:.0f} (killed)"
            if found is None:
                lines.append(f"| {people:,} | | {what} | | {gib:.2f} | | | | | | |")
            else:
                lines.append(
                    f"| {people:,} | | {what} | | {gib:.2f} | {int(found[0]):,} | {_num(found[1])} "
                    f"| {_num(found[2])} | {_rules(found[3])} |"
                )
                details += _rule_details(people, found[3])
            print(lines[-1], flush=True)
            break
        steps = night.get("seconds_by_step")
        linkage = float(steps["record_linkage"]) if isinstance(steps, dict) else float("nan")
        lines.append(
            f"| {people:,} | {night.get('rows')} | {float(str(night['seconds'])):.1f} | {linkage:.1f} | {gib:.2f} "
            f"| {int(found[0]):,} | {_num(found[1])} | {_num(found[2])} | {_rules(found[3])} |"
        )
        print(lines[-1], flush=True)
        details += _rule_details(people, found[3])
        if isinstance(steps, dict):
            details.append(
                "night seconds by step: "
                + ", ".join(
                    f"{k} {float(v):.1f}" for k, v in sorted(steps.items(), key=lambda kv: -float(kv[1]))
                )
            )
        print("\n".join(details[-40:]), flush=True)
    lines += [
        *details,
        "",
        "night s: bench.run's `night` stage (the child's wall time: the interpreter start and `ibr run` of the "
        "first night); peak RSS: the child's, with its descendants, from wait4.",
    ]
    return "\n".join(lines) + "\n"


TIGHTENED = " & "  # matching.model.TIGHTENED: a rule over the budget tightened with keys is "<rule> & <key>"


def _num(value: object) -> str:
    """A metric to 4 places; empty when the night did not record it."""
    return "" if value is None else f"{float(str(value)):.4f}"


def _rules(details: str) -> str:
    """Blocking rules kept as they are / tightened / dropped (kept false: over the budget per rule and no key
    brought them within), then the tightened and the dropped ones with their comparisons, as table cells."""
    blocking = json.loads(details).get("blocking") or []
    plain = [b for b in blocking if b.get("kept", True) and TIGHTENED not in b["name"]]
    tight = [b for b in blocking if b.get("kept", True) and TIGHTENED in b["name"]]
    dropped = [b for b in blocking if not b.get("kept", True)]

    def named(rules: list[dict[str, object]]) -> str:
        return ", ".join(f"{b['name']} ({int(str(b['comparisons'])):,})" for b in rules) or "none"

    return f"{len(plain)} / {len(tight)} / {len(dropped)} | {named(tight)} | {named(dropped)}"


def _rule_details(people: int, details: str) -> list[str]:
    """Per size: every blocking rule (name, comparisons, kept) and the linkage's seconds by step, from
    audit.linkage_runs.details."""
    found = json.loads(details)
    lines = [
        "",
        f"### {people:,} people: blocking rules (audit.linkage_runs.details)",
        "",
        "| rule | comparisons | kept | recall estimated | links only it finds |",
        "|---|---|---|---|---|",
    ]
    for b in found.get("blocking") or []:
        state = (
            "DROPPED"
            if not b.get("kept", True)
            else f"covered by {b['covered_by']}"
            if b.get("covered_by")
            else ("tightened" if TIGHTENED in b["name"] else "yes")
        )
        recall = b.get("recall_estimate")
        lines.append(
            f"| {b['name']} | {int(b['comparisons']):,} | {state} | {'' if recall is None else f'{recall:.4f}'} "
            f"| {b.get('links_only_it_finds') if b.get('links_only_it_finds') is not None else ''} |"
        )
    seconds = found.get("seconds") or {}
    lines += [
        "",
        "linkage seconds by step: "
        + (", ".join(f"{k} {float(v):.1f}" for k, v in seconds.items()) or "none"),
        f"mode {found.get('mode_reason')!s:.80}; trained {found.get('trained')}; backend {found.get('backend')}; "
        f"records scored {found.get('records_scored')}",
    ]
    return lines


def _commit() -> str:
    """HEAD's short hash and subject, and whether matching/ (edited by others meanwhile) differs from it;
    BENCH_CODE names the code instead when the bench runs from an exported snapshot (no git there)."""
    if os.environ.get("BENCH_CODE"):
        return os.environ["BENCH_CODE"]
    head = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "matching", "pipelines", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head[:160]}" + (
        f" (working tree differs: {' '.join(dirty.split())[:200]})" if dirty else " (clean)"
    )


def _ibr_run(home: Path, night: str) -> tuple[float, float]:
    """`ibr run --date night` in `home` in a child process: (seconds, peak RSS GiB with the child's descendants)."""
    env = {**os.environ, "IBR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    started = time.perf_counter()
    with (home / f"run-{night}.log").open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "--home", str(home), "run", "--date", night],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"night {night} failed in {home}: see {home / f'run-{night}.log'}")
    return time.perf_counter() - started, usage.ru_maxrss / 2**20


def _findings(home: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """{(night, kind): (planted, found)} from audit.finding_metrics."""
    import duckdb

    with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select cast(night as varchar), kind, expected, true_positives from audit.finding_metrics"
        ).fetchall()
    return {(night, kind): (int(expected), int(found)) for night, kind, expected, found in rows}


def demo(root: Path, people: int, nights: int, spark: dict[str, object]) -> str:
    import yaml

    from pipelines.settings import Settings, drop_nights
    from synthetic import generate

    country = root / "country"
    shutil.rmtree(root, ignore_errors=True)
    generate(country, people=people, nights=nights, seed=42)
    homes = {backend: root / backend for backend in ("duckdb", "spark")}
    for home in homes.values():
        shutil.copytree(country, home)
    (homes["spark"] / "linkage.yaml").write_text(
        yaml.safe_dump({"backend": "spark", "spark": spark}), encoding="utf-8"
    )
    lines = [
        f"# The demo's nights ({people:,} people) on DuckDB and on Spark ({time.strftime('%Y-%m-%d %H:%M')} UTC)",
        "",
        f"Spark: linkage.yaml `backend: spark`, `spark: {spark}`; DuckDB: the demo's defaults (no linkage.yaml). "
        "s: `ibr run --date` in a child; GiB: that child's peak RSS from wait4, which does not count Spark's JVM "
        "(pyspark starts it and never waits for it).",
        "",
        "| night | DuckDB s / GiB | Spark s / GiB | mode D/S | record pairs agreeing | linked pairs Jaccard "
        "| findings planted / found D | planted / found S | same findings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for night in [n.isoformat() for n in drop_nights(Settings(home=country))]:
        timed = {backend: _ibr_run(home, night) for backend, home in homes.items()}
        works = tuple(home / "state" / "work.duckdb" for home in homes.values())
        query = "select record_key, person_id from a{}.linkage.record_person where night = '" + night + "'"
        pairs, linked, disagree = _agreement(query.format(0), query.format(1), works)
        modes = "/".join(
            str(_one(work, f"select mode from audit.linkage_runs where night = '{night}'")) for work in works
        )
        found = {b: {k: v for (n, k), v in _findings(h).items() if n == night} for b, h in homes.items()}
        total = {b: tuple(sum(v[i] for v in f.values()) for i in (0, 1)) for b, f in found.items()}
        lines.append(
            f"| {night} | {timed['duckdb'][0]:.1f} / {timed['duckdb'][1]:.2f} | {timed['spark'][0]:.1f} / "
            f"{timed['spark'][1]:.2f} | {modes} | {pairs:.6f} ({disagree:,} differ) | {linked:.4f} | {total['duckdb'][0]} / "
            f"{total['duckdb'][1]} | {total['spark'][0]} / {total['spark'][1]} "
            f"| {'yes' if found['duckdb'] == found['spark'] else 'NO'} |"
        )
        print(lines[-1], flush=True)
    lines += ["", "| night | kind | planted | found DuckDB | found Spark |", "|---|---|---|---|---|"]
    duck, on_spark = _findings(homes["duckdb"]), _findings(homes["spark"])
    for key in sorted(duck.keys() | on_spark.keys()):
        planted = duck.get(key, on_spark.get(key, (0, 0)))[0]
        lines.append(
            f"| {key[0]} | {key[1]} | {planted} | {duck.get(key, ('', '-'))[1]} | {on_spark.get(key, ('', '-'))[1]} |"
        )
    return "\n".join(lines) + "\n"


def _one(database: Path, sql: str) -> object:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(sql).fetchone()
    return row[0] if row else None


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
    r.add_argument("--timeout", type=float, default=None, help="seconds before a Spark link is killed")
    c = sub.add_parser("curve", help="DuckDB full nights at several sizes")
    c.add_argument("--root", type=Path, required=True)
    c.add_argument("--people", default="1000000,2000000,4000000")
    c.add_argument("--timeout", type=float, default=3600, help="seconds before a stage is killed")
    d = sub.add_parser("demo", help="the demo's nights on both backends")
    d.add_argument("--root", type=Path, required=True)
    d.add_argument("--people", type=int, default=20_000)
    d.add_argument("--nights", type=int, default=3)
    d.add_argument("--driver-memory", default="4g")
    d.add_argument("--shuffle-partitions", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "ratio":
        report = ratio(args.home, args.people, args.runs, args.master, args.driver_memory, args.timeout)
    elif args.command == "curve":
        report = curve(args.root, [int(p) for p in args.people.split(",")], args.timeout)
    else:
        spark = {
            "master": "local[2]",
            "driver_memory": args.driver_memory,
            "shuffle_partitions": args.shuffle_partitions,
        }
        report = demo(args.root, args.people, args.nights, spark)
    out = ROOT / "bench" / "results" / f"spark-link-{args.command}-{time.strftime('%Y%m%d-%H%M')}.md"
    out.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
