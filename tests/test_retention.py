"""Retention: a data team prunes old history every night and the nights after it come out the same.

One small country (800 people, 4 nights) is landed, standardised and linked night by night with the
library functions (no Dagster), twice from the same first three nights: once keeping everything, once
pruning to 2 nights after nights 3 and 4. The pruned state holds only 2 nights of linkage history and
fewer raw rows, the file is smaller once compacted, night 4 still links incrementally, and everything a
night builds (records, enrolments, taxes, person ids) equals the run that kept everything.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ingest.contracts import load_contracts
from ingest.landing import Lander
from matching.config import LinkageConfig
from matching.linkage import LinkageSummary, link_night
from pipelines.retention import RetentionPolicy, prune, prune_folders, prune_logs
from staging.standardise import build_staging, register_functions
from synthetic import generate

NIGHTS = (date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1))
CONFIG = LinkageConfig(u_max_pairs=200_000, mode="incremental")
KEEP_TWO = RetentionPolicy(linkage_nights=2, raw_nights=2, compact_free_share=0.0)


def run_night(home: Path, night: date) -> LinkageSummary:
    contracts = load_contracts(home / "sources")
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        lander = Lander(con, home, night)
        for contract in contracts.values():
            lander.land_source(contract)
        build_staging(con, home, contracts, night)
        return link_night(con, home, night, CONFIG)


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three nights linked, then the 4th: `kept` keeps everything, `pruned` prunes after nights 3 and 4."""
    base = tmp_path_factory.mktemp("base") / "home"
    generate(base, people=800, nights=len(NIGHTS), seed=15)
    (base / "state").mkdir()
    for night in NIGHTS[:3]:
        run_night(base, night)
    kept = shutil.copytree(base, base.parent.parent / "kept")
    pruned = shutil.copytree(base, base.parent.parent / "pruned")
    run_night(kept, NIGHTS[3])
    first = prune(pruned, KEEP_TWO)
    assert first.linkage_cutoff == NIGHTS[1]
    summary = run_night(pruned, NIGHTS[3])
    assert summary.mode == "incremental", summary.mode_reason
    prune(pruned, KEEP_TWO)
    return {"kept": kept, "pruned": pruned}


def rows(home: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_pruned_tables_hold_only_the_kept_nights(homes):
    pruned, kept = homes["pruned"], homes["kept"]
    for table in ("record_person", "scored_pair", "review_queue", "split_component"):
        nights = {r[0] for r in rows(pruned, f"select distinct night from linkage.{table}")}
        assert nights <= set(NIGHTS[2:]), table
    assert {r[0] for r in rows(pruned, "select distinct night from linkage.record_person")} == set(NIGHTS[2:])
    assert len({r[0] for r in rows(kept, "select distinct night from linkage.record_person")}) == 4
    # superseded versions of re-sent snapshots left raw and staging
    old = "select count(*) from staging.record_versions where _night < '2026-04-01'"
    assert rows(pruned, old)[0][0] < rows(kept, old)[0][0]


def test_the_next_night_after_pruning_equals_a_run_that_kept_everything(homes):
    pruned, kept = homes["pruned"], homes["kept"]
    for sql in (
        "select record_key, person_id, flag from linkage.record_person where night = '2026-05-01' order by all",
        "select * from staging.person_records order by all",
        "select * from staging.enrolment order by all",
        "select * from staging.tax_income order by all",
        "select * from staging.civil_event order by all",
    ):
        assert rows(pruned, sql) == rows(kept, sql), sql


def test_person_ids_of_pruned_nights_are_never_given_again(homes):
    pruned = homes["pruned"]
    retired = rows(pruned, "select max(cast(substr(person_id, 2) as bigint)) from linkage.retired_person_id")[
        0
    ][0]
    assert retired is not None
    highest_kept = rows(
        pruned, "select max(cast(substr(person_id, 2) as bigint)) from linkage.record_person"
    )[0][0]
    assert highest_kept >= retired


def test_pruning_shrinks_the_file(tmp_path, homes):
    home = shutil.copytree(homes["kept"], tmp_path / "home")
    db = home / "state" / "work.duckdb"
    before = db.stat().st_size
    summary = prune(home, KEEP_TWO)
    assert summary.compacted
    assert db.stat().st_size < before
    assert db.stat().st_mode & 0o777 == 0o600
    with duckdb.connect(str(db), read_only=True) as con:  # comments survive the rewrite (data dictionary)
        comment = con.execute(
            "select comment from duckdb_tables() where schema_name = 'linkage' and table_name = 'record_person'"
        ).fetchall()[0][0]
    assert comment.startswith("One row per night")


def test_a_policy_file_with_an_unknown_key_names_it_and_the_allowed_keys(tmp_path):
    (tmp_path / "retention.yaml").write_text("linkage_night: 3\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"retention.yaml: 'linkage_night': unknown key; allowed: linkage_nights"
    ):
        RetentionPolicy.load(tmp_path)
    (tmp_path / "retention.yaml").write_text("linkage_nights: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"'linkage_nights': .*greater than or equal to 2"):
        RetentionPolicy.load(tmp_path)


def test_a_rerun_of_a_pruned_night_is_refused_naming_the_oldest_night_that_can_be_rerun(
    homes, tmp_path, capsys
):
    """A night whose previous night was pruned would give new person ids: ibr says so instead of running it."""
    from pipelines.cli import main

    home = shutil.copytree(homes["pruned"], tmp_path / "home")
    assert main(["--home", str(home), "run", "--since", "2026-04-01", "--no-progress"]) == 2
    assert "the oldest night that can be rerun is 2026-05-01" in capsys.readouterr().err


def test_run_history_older_than_the_policy_goes_and_an_unfinished_run_stays():
    import dagster as dg

    from pipelines.retention import prune_run_history

    with dg.DagsterInstance.ephemeral() as instance:
        for status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.STARTED):
            instance.add_run(
                dg.DagsterRun(job_name="nightly", run_id=f"run-{status.value.lower()}", status=status)
            )
        assert prune_run_history(instance, 90, now=datetime.now(UTC)) == 0  # all made just now
        assert prune_run_history(instance, 90, now=datetime.now(UTC) + timedelta(days=91)) == 2
        assert [r.run_id for r in instance.get_runs()] == ["run-started"]


def test_model_and_quarantine_folders_keep_the_newest_nights(tmp_path):
    for night in ("2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"):
        (tmp_path / "models" / night).mkdir(parents=True)
        (tmp_path / "quarantine" / night).mkdir(parents=True)
    (tmp_path / "models" / "notes").mkdir()  # not a night: never touched
    assert prune_folders(tmp_path / "quarantine", 2, keep_one_before=False) == [
        "quarantine/2026-01-01",
        "quarantine/2026-02-01",
    ]
    # trained on 2026-01-01 (its folder holds the charts); each later night copied the night before's model
    for night, before in (
        ("2026-02-01", "2026-01-01"),
        ("2026-03-01", "2026-02-01"),
        ("2026-04-01", "2026-03-01"),
    ):
        (tmp_path / "models" / night / "reused_from.txt").write_text(before + "\n")
    (tmp_path / "models" / "2026-05-01").mkdir()
    (tmp_path / "models" / "2026-05-01" / "reused_from.txt").write_text("2026-04-01\n")
    # keep 2 (and 2026-03-01, the one before): 2026-02-01 goes, the training night's folder stays
    assert prune_folders(tmp_path / "models", 2, keep_one_before=True) == ["models/2026-02-01"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "2026-01-01",
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
        "notes",
    ]
    # the kept folders name the training night directly, so the auditor report still finds its charts
    assert (tmp_path / "models" / "2026-03-01" / "reused_from.txt").read_text() == "2026-01-01\n"
    for night in ("2026-03-01", "2026-04-01", "2026-05-01"):  # retrained since: the old charts may go
        (tmp_path / "models" / night / "reused_from.txt").unlink()
    assert prune_folders(tmp_path / "models", 2, keep_one_before=True) == ["models/2026-01-01"]


def test_night_logs_keep_the_newest_nights(tmp_path):
    logs = tmp_path / "state" / "logs"
    logs.mkdir(parents=True)
    for name in (
        "2026-01-01_aaaaaaaa.log",
        "2026-01-01_bbbbbbbb.log",
        "2026-02-01_cccccccc.log",
        "notes.log",
    ):
        (logs / name).write_text("x")
    assert prune_logs(logs, 1) == ["logs/2026-01-01_aaaaaaaa.log", "logs/2026-01-01_bbbbbbbb.log"]
    assert sorted(p.name for p in logs.iterdir()) == ["2026-02-01_cccccccc.log", "notes.log"]
