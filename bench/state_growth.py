"""State size night after night, with and without the retention policy (issue 15).

Generates one country with `--nights` drops, then runs every night twice from scratch: in a home
that keeps everything (`retention.yaml` with every key null) and in one with the policy
(`--keep` linkage and raw nights, the other defaults of pipelines/retention.py). After each night
it records the size of `state/work.duckdb`, of `models/` and of the whole home, and writes a
markdown table to bench/results/.

    python -m bench.state_growth --people 100000 --nights 30 --keep 7          # the issue's figure
    python -m bench.state_growth --people 2000 --nights 8 --keep 3 --engine library

`--engine ibr` (the default) runs each night as `ibr run` does (the Dagster job, publish, then the
retention policy); `--engine library` lands, standardises, links and prunes with the library
functions only (no registry, checks or publish: the working database's history tables, which are
what grows, in a fraction of the time).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

RESULTS = Path(__file__).resolve().parent / "results"
KEEP_ALL: dict[str, int | None] = {
    "linkage_nights": None,
    "raw_nights": None,
    "model_nights": None,
    "quarantine_nights": None,
    "run_history_days": None,
}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


GROWING = (
    ("linkage", "record_person"),
    ("linkage", "review_queue"),
    ("linkage", "scored_pair"),
    ("staging", "record_versions"),
)


def _rows(home: Path) -> dict[str, int]:
    """Rows of the tables that grow night by night, and of every raw table together."""
    import duckdb

    from core.sqlutil import qualified, table_exists, tables_in

    counts: dict[str, int] = {}
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        for schema, table in GROWING:
            if table_exists(con, schema, table):
                counts[f"{schema}.{table}"] = con.execute(
                    f"select count(*) from {qualified(schema, table)}"
                ).fetchall()[0][0]
        counts["raw.*"] = sum(
            con.execute(f"select count(*) from {qualified('raw', t)}").fetchall()[0][0]
            for t in tables_in(con, "raw")
        )
    return counts


def _night_library(home: Path, night: date, prune_after: bool) -> None:
    import duckdb

    from ingest.contracts import load_contracts
    from ingest.landing import Lander
    from matching.config import LinkageConfig
    from matching.linkage import link_night
    from pipelines.retention import prune
    from staging.standardise import build_staging, register_functions

    contracts = load_contracts(home / "sources")
    (home / "state").mkdir(exist_ok=True)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        lander = Lander(con, home, night)
        for contract in contracts.values():
            lander.land_source(contract)
        build_staging(con, home, contracts, night)
        link_night(con, home, night, LinkageConfig.load(home))
    if prune_after:
        prune(home)


def _night_ibr(home: Path, night: date) -> None:
    from pipelines.cli import run_night
    from pipelines.settings import settings_from_env

    if not run_night(settings_from_env(home), night):
        raise SystemExit(f"night {night} failed in {home}")


def run(
    people: int, nights: int, keep: int, engine: str, seed: int, workdir: Path, only: str | None = None
) -> list[dict[str, object]]:
    from synthetic import generate

    base = workdir / "country"
    summary = generate(base, people=people, nights=nights, seed=seed)
    night_dates = [date.fromisoformat(n) for n in summary["nights"]]
    rows: list[dict[str, object]] = []
    policies: list[tuple[str, dict[str, int | None] | None]] = [
        ("keep everything", KEEP_ALL),
        (f"retention, keep {keep}", None),
    ]
    for policy_name, policy in [
        p for p in policies if only is None or (p[1] is None) == (only == "retention")
    ]:
        home = workdir / policy_name.split(",")[0].replace(" ", "_")
        shutil.copytree(base, home)
        written: dict[str, int | None] = policy or {
            "linkage_nights": keep,
            "raw_nights": keep,
            "model_nights": keep,
        }
        (home / "retention.yaml").write_text(yaml.safe_dump(written), encoding="utf-8")
        os.environ["DAGSTER_HOME"] = str(home / "dagster")
        for index, night in enumerate(night_dates, start=1):
            started = time.perf_counter()
            if engine == "library":
                _night_library(home, night, prune_after=policy is None)
            else:
                _night_ibr(home, night)
            rows.append(
                {
                    "policy": policy_name,
                    "night": index,
                    "seconds": time.perf_counter() - started,
                    "work_mib": _size(home / "state" / "work.duckdb") / 2**20,
                    "models_mib": _size(home / "models") / 2**20,
                    "home_mib": (_size(home) - _size(home / "drops") - _size(home / "truth")) / 2**20,
                    "rows": _rows(home),
                }
            )
            print(
                f"{policy_name:>20}  night {index:>2}  {rows[-1]['seconds']:6.1f}s  "
                f"work.duckdb {rows[-1]['work_mib']:8.1f} MiB  state without drops {rows[-1]['home_mib']:8.1f} MiB",
                flush=True,
            )
        shutil.rmtree(home)
    return rows


def report(rows: list[dict[str, object]], people: int, nights: int, keep: int, engine: str) -> str:
    lines = [
        f"# State size over {nights} nights at {people:,} people ({engine} engine)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores. "
        "`python -m bench.state_growth "
        f"--people {people} --nights {nights} --keep {keep} --engine {engine}`",
        "",
        "| policy | night | seconds | state/work.duckdb MiB | models/ MiB | home without drops, truth MiB | "
        + " | ".join(f"{name} rows" for name in [*(f"{s}.{t}" for s, t in GROWING), "raw.*"])
        + " |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * (len(GROWING) + 1),
    ]
    for r in rows:
        counts: dict[str, int] = r["rows"]  # type: ignore[assignment]
        lines.append(
            f"| {r['policy']} | {r['night']} | {r['seconds']:.1f} | {r['work_mib']:.1f} | "
            f"{r['models_mib']:.1f} | {r['home_mib']:.1f} | "
            + " | ".join(f"{counts.get(name, 0):,}" for name in [*(f"{s}.{t}" for s, t in GROWING), "raw.*"])
            + " |"
        )
    lines.append("")
    for policy in dict.fromkeys(str(r["policy"]) for r in rows):
        sizes = [float(r["work_mib"]) for r in rows if r["policy"] == policy]  # type: ignore[arg-type]
        if len(sizes) > 1:
            growth = (sizes[-1] - sizes[0]) / (len(sizes) - 1)
            lines.append(
                f"- {policy}: {sizes[0]:.1f} MiB after night 1, {sizes[-1]:.1f} MiB after night {len(sizes)}: "
                f"{growth:.2f} MiB a night on average"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--keep", type=int, default=7, help="linkage, raw and model nights the policy keeps")
    parser.add_argument("--engine", choices=["ibr", "library"], default="ibr")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--only",
        choices=["keep-all", "retention"],
        help="run one policy (two processes can run side by side)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ibr-state-growth-") as scratch:
        rows = run(args.people, args.nights, args.keep, args.engine, args.seed, Path(scratch), args.only)
    text = report(rows, args.people, args.nights, args.keep, args.engine)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.only}" if args.only else ""
    out = RESULTS / f"{datetime.now(UTC):%Y%m%d-%H%M}-state-growth-{args.people}{suffix}.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
