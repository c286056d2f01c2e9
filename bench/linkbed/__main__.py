"""Score the pipeline and the expert Splink scripts on the independent test bed, in the same run.

    python -m bench.linkbed --schemas all --records 5000 --runs 1
    python -m bench.linkbed --schemas dedupe_no_sex_no_id,non_latin --records 2000 --keep /tmp/bed
    python -m bench.linkbed --schemas sp --records 3000     # the social-protection schemas (bench/linkbed/sp.py)

Each run of each schema writes a fresh home (seed + run), runs `ibr run` on it as a subprocess
(a new user's night, nothing else), reads `registry.person_source_link` from the published
warehouse read-only (or, when the night failed after linkage, `linkage.record_person` from the
working database), runs the schema's expert script, and scores both against the home's truth
with pairwise precision, recall and F1 over every record of the truth. Writes a markdown table
to bench/results/linkbed-<time>-<records>.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from bench.linkbed.expert import MODELS, run_expert
from bench.linkbed.expert_sp import SP_MODELS
from bench.linkbed.metrics import PairScore, pairwise_score, read_truth
from bench.linkbed.schemas import DROP_DATE, SCHEMAS, SP_SCHEMAS, write_home

RESULTS = Path(__file__).resolve().parent.parent / "results"
IBR = Path(sys.executable).with_name("ibr")


def run_ours(home: Path, timeout: float) -> dict[str, Any]:
    """`ibr run` on the home; its clustering (None when the night never linked), seconds and error lines."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [str(IBR), "--home", str(home), "run", "--date", DROP_DATE.isoformat(), "--no-progress"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output, ok = done.stdout + done.stderr, done.returncode == 0
    except subprocess.TimeoutExpired:
        output, ok = f"timed out after {timeout:.0f}s", False
    seconds = time.perf_counter() - started
    (home / "ibr_run.log").write_text(output, encoding="utf-8")
    errors = _errors(output)
    return {
        "ok": ok,
        "seconds": seconds,
        "errors": errors,
        "assignments": read_ours(home),
        **link_stats(home),
    }


def _errors(output: str) -> list[str]:
    """The distinct exception lines of a night's output, the root causes first (not Dagster's wrappers)."""
    lines = [line.strip() for line in output.splitlines() if "Exception:" in line or "Error:" in line]
    causes = [line for line in lines if not line.startswith(("dagster.", "step failed:"))]
    return [line[:400] for line in dict.fromkeys(causes or lines)]


def link_stats(home: Path) -> dict[str, Any]:
    """The linkage step's own seconds and the records it left out for want of identifiers (audit.linkage_runs)."""
    path = home / "warehouse" / "ibr.duckdb"
    if not path.exists():
        return {"link_seconds": None, "insufficient": None}
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.sql(
            "select details, insufficient_identifiers from audit.linkage_runs where night = $1",
            params=[DROP_DATE],
        ).fetchall()
        guard = dict(
            con.sql(
                "select metric, value from audit.linkage_metrics where night = $1 and list_contains($2, metric)",
                params=[DROP_DATE, list(GUARD_METRICS)],
            ).fetchall()
        )
    if not rows:
        return {"link_seconds": None, "insufficient": None}
    seconds = json.loads(rows[0][0]).get("seconds", {})
    return {
        "link_seconds": sum(float(v) for v in seconds.values()),
        "insufficient": rows[0][1],
        "guard": guard,
    }


# the identity guard and the review queue, as the night measured them against the home's truth
GUARD_METRICS = ("guard_splits", "guard_splits_right", "review_pairs_per_1000", "review_true_match_share")


def read_ours(home: Path) -> pl.DataFrame | None:
    """(record_key, predicted) from the published warehouse, else from the working database's linkage."""
    queries: list[tuple[Path, str, list[object]]] = [
        (
            home / "warehouse" / "ibr.duckdb",
            "select source || ':' || source_record_id as record_key, person_id as predicted "
            "from registry.person_source_link",
            [],
        ),
        (
            home / "state" / "work.duckdb",
            "select record_key, person_id as predicted from linkage.record_person where night = $1",
            [DROP_DATE],
        ),
    ]
    for path, query, params in queries:
        if not path.exists():
            continue
        try:
            with duckdb.connect(str(path), read_only=True) as con:
                frame = pl.from_arrow(con.sql(query, params=params or None).to_arrow_table())
        except duckdb.Error:
            continue
        if isinstance(frame, pl.DataFrame) and frame.height:
            return frame
    return None


def run_schema(schema: str, args: argparse.Namespace, seed: int, root: Path) -> dict[str, Any]:
    home = root / schema
    info = write_home(schema, home, args.records, seed, args.noise_scale, args.heavy)
    truth = read_truth(str(home / "truth" / "records.parquet"))
    ours = run_ours(home, args.timeout)
    result: dict[str, Any] = {
        "schema": schema,
        "records": sum(info.records.values()),
        "people": info.people,
        "true_pairs": info.true_pairs,
        "ours_ok": ours["ok"],
        "ours_seconds": ours["seconds"],
        "ours_errors": ours["errors"],
        "ours_link_seconds": ours["link_seconds"],
        "ours_insufficient": ours["insufficient"],
        "ours_guard": ours.get("guard", {}),
        "ours": pairwise_score(truth, ours["assignments"]) if ours["assignments"] is not None else None,
    }
    try:
        expert = run_expert(schema, home, seed, MODELS | SP_MODELS)
        predicted = expert["assignments"].rename({"unique_id": "record_key", "cluster_id": "predicted"})
        result |= {"expert": pairwise_score(truth, predicted), "expert_seconds": expert["seconds"]}
    except Exception as exc:  # a failed expert script is reported, and the other schemas go on
        result |= {"expert": None, "expert_seconds": None, "expert_error": f"{type(exc).__name__}: {exc}"}
    return result


def _fmt(score: PairScore | None) -> str:
    return "-" if score is None else f"{score.precision:.4f} / {score.recall:.4f} / {score.f1:.4f}"


def _metric(values: dict[str, float], name: str, share: bool = False) -> str:
    v = values.get(name)
    return "-" if v is None else (f"{v:.1%}" if share else f"{v:,.1f}")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _pooled(results: list[dict[str, Any]]) -> list[str]:
    """The social-protection schemas as one registry: every run's pairs added up (the issue's target is on
    this F1, not on each schema's)."""
    lines = []
    for side in ("ours", "expert"):
        scores = [r[side] for r in results if r["schema"] in SP_SCHEMAS and r[side] is not None]
        if len({r["schema"] for r in results if r["schema"] in SP_SCHEMAS}) < 2 or not scores:
            return []
        pooled = PairScore(
            records=sum(s.records for s in scores),
            records_missing=sum(s.records_missing for s in scores),
            true_pairs=sum(s.true_pairs for s in scores),
            predicted_pairs=sum(s.predicted_pairs for s in scores),
            true_positive_pairs=sum(s.true_positive_pairs for s in scores),
        )
        lines.append(f"| {side} | {pooled.true_pairs:,} | {_fmt(pooled)} |")
    return [
        "",
        "The social-protection schemas pooled (every run's pairs added up):",
        "",
        "| linkage | true pairs | P / R / F1 |",
        "|---|---|---|",
        *lines,
    ]


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"# Linkage test bed: ours vs expert Splink 5 ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`python -m bench.linkbed --schemas {args.schemas} --records {args.records} --runs {args.runs} --seed {args.seed}"
        f"{f' --noise-scale {args.noise_scale}' if args.noise_scale != 1.0 else ''}{' --heavy' if args.heavy else ''}`",
        "",
        "Pairwise P / R / F1 over every record of the truth (a record our night lost counts as a cluster of its own);",
        "seconds: ours = the whole `ibr run` night (landing, checks, registry, publish) and its linkage step alone",
        "(audit.linkage_runs), expert = read, clean, train, predict, cluster. Several runs: the median run by our F1, seconds as medians.",
        "",
        "| schema | records | people | true pairs | ours P / R / F1 | ours s (link) | expert P / R / F1 | expert s | F1 ours - expert | night |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for schema in dict.fromkeys(r["schema"] for r in results):
        runs = [r for r in results if r["schema"] == schema]
        ranked = sorted(runs, key=lambda r: r["ours"].f1 if r["ours"] else -1.0)
        mid = ranked[len(ranked) // 2]
        ours_s = _median([r["ours_seconds"] for r in runs])
        link_s = _median([r["ours_link_seconds"] for r in runs if r["ours_link_seconds"] is not None])
        expert_s = _median([r["expert_seconds"] for r in runs if r["expert_seconds"] is not None])
        delta = f"{mid['ours'].f1 - mid['expert'].f1:+.4f}" if mid["ours"] and mid["expert"] else "-"
        status = f"{sum(r['ours_ok'] for r in runs)}/{len(runs)} ok"
        lines.append(
            f"| {schema} | {mid['records']:,} | {mid['people']:,} | {mid['true_pairs']:,} | {_fmt(mid['ours'])} | "
            f"{ours_s:.1f} ({'-' if link_s is None else f'{link_s:.1f}'}) | {_fmt(mid['expert'])} | {'-' if expert_s is None else f'{expert_s:.1f}'} | {delta} | {status} |"
        )
        for k, r in enumerate(runs):
            if r["ours"] and r["ours"].records_missing:
                notes.append(
                    f"- {schema}, run {k}: {r['ours'].records_missing:,} records absent from our registry (quarantined)"
                )
            if r["ours_insufficient"]:
                notes.append(
                    f"- {schema}, run {k}: {r['ours_insufficient']:,} records left alone by our linkage (insufficient identifiers)"
                )
            if not r["ours_ok"]:
                notes.append(
                    f"- {schema}, run {k}: our night FAILED: "
                    + ("; ".join(r["ours_errors"][:3]) or "see ibr_run.log")
                )
            if r.get("expert_error"):
                notes.append(f"- {schema}, run {k}: the expert script failed: {r['expert_error']}")
    lines += _pooled(results)
    lines += [
        "",
        "Our identity guard and clerical review load (the median run), measured by the night against the truth:",
        "",
        "| schema | clusters split | splits right | review pairs per 1,000 records | review pairs that are one person |",
        "|---|---|---|---|---|",
    ]
    for schema in dict.fromkeys(r["schema"] for r in results):
        runs = sorted(
            (r for r in results if r["schema"] == schema), key=lambda r: r["ours"].f1 if r["ours"] else -1.0
        )
        guard = runs[len(runs) // 2].get("ours_guard") or {}

        lines.append(
            f"| {schema} | {_metric(guard, 'guard_splits')} | {_metric(guard, 'guard_splits_right', True)} | "
            f"{_metric(guard, 'review_pairs_per_1000')} | {_metric(guard, 'review_true_match_share', True)} |"
        )
    if notes:
        lines += ["", "Notes:", *dict.fromkeys(notes)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.linkbed", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--schemas",
        default="all",
        help=f"comma-separated, or all, or sp (the social-protection ones): {', '.join(SCHEMAS)}",
    )
    parser.add_argument("--records", type=int, default=5000, help="about this many records per schema")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--noise-scale", type=float, default=1.0, help="every error rate times this (null rates unchanged)"
    )
    parser.add_argument(
        "--heavy", action="store_true", help="heavy duplication: 1-12 records per person in each source"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed for one `ibr run`")
    parser.add_argument(
        "--keep", type=Path, help="write the homes here and keep them (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    groups = {"all": list(SCHEMAS), "sp": list(SP_SCHEMAS)}
    names = [n for part in args.schemas.split(",") for n in groups.get(part, [part])]
    unknown = [n for n in names if n not in SCHEMAS]
    if unknown:
        parser.error(f"unknown schema {unknown[0]!r}; allowed: {', '.join(SCHEMAS)}, all, sp")
    logging.getLogger("splink").setLevel(logging.ERROR)
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="linkbed-") as scratch:
            root = (args.keep / f"run{run}") if args.keep else Path(scratch)
            for name in names:
                result = run_schema(name, args, args.seed + run, root)
                print(
                    f"run {run} {name}: ours {_fmt(result['ours'])} in {result['ours_seconds']:.1f}s "
                    f"({'ok' if result['ours_ok'] else 'FAILED'}); expert {_fmt(result['expert'])}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(result)
    text = report(results, args)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"linkbed-{datetime.now(UTC):%Y%m%d-%H%M}-{args.records}.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
