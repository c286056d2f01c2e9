"""Backfill: `ibr run --since D` reruns night D and every later night, in order, and gives the same warehouse.

A data team backfills after fixing a contract or a drop of a past night. The nights after it build on
it (person ids carry over night to night), so they are rerun too; on unchanged drops the warehouse
must come out as the first time: the same persons under the same ids, the same findings.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from warehouse_digest import warehouse_digest

from pipelines.cli import main
from synthetic import generate

NIGHTS = ("2026-02-01", "2026-03-01")


def _assignments(warehouse: Path) -> set[tuple[str, str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select person_id, source, source_record_id from registry.person_source_link"
        ).fetchall()
    return set(rows)


def test_a_backfill_reruns_the_nights_in_order_and_gives_the_first_warehouse(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    generate(home, people=800, nights=len(NIGHTS), seed=8)
    (home / "linkage.yaml").write_text(yaml.safe_dump({"u_max_pairs": 200_000}), encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    warehouse = home / "warehouse" / "ibr.duckdb"

    assert main(["--home", str(home), "run", "--since", NIGHTS[0], "--no-progress"]) == 0
    first = warehouse_digest(warehouse)
    first_links = _assignments(warehouse)
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("night ")] == [
        f"night {n}" for n in NIGHTS
    ]

    with dg.DagsterInstance.get() as instance:  # one partition per night run, not one per day since 2020
        assert instance.get_dynamic_partitions("nights") == list(NIGHTS)

    assert main(["--home", str(home), "run", "--since", NIGHTS[0], "--no-progress"]) == 0
    assert _assignments(warehouse) == first_links  # every record with the same person id as the first time
    assert warehouse_digest(warehouse) == first


def test_a_backfill_from_a_date_with_no_drop_after_it_says_so(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    generate(home, people=50, nights=1, seed=8)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["--home", str(home), "run", "--since", "2030-01-01"]) == 2
    assert "no drops on or after 2030-01-01" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday"])
def test_a_malformed_date_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys, bad):
    home = tmp_path / "home"
    generate(home, people=50, nights=1, seed=8)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    with pytest.raises(SystemExit) as exit_:
        main(["--home", str(home), "run", "--since", bad])
    assert exit_.value.code == 2
    assert f"'{bad}' is not a date as YYYY-MM-DD" in capsys.readouterr().err


def test_a_backfill_launched_in_the_ui_runs_the_nights_one_at_a_time_in_order(tmp_path, monkeypatch):
    """The UI's backfill of the nights (an asset backfill, run by the daemon) goes through the run queue of the
    dagster.yaml ibr writes: one night at a time, in the order queued, never two nights' steps interleaved.

    The daemon's two loops are stepped by hand (Dagster's test helpers): the backfill loop queues the runs,
    the run queue launches what its limits allow, each run synchronously here."""
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.test_utils import create_test_daemon_workspace_context, instance_for_test
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    from pipelines.cli import DAGSTER_YAML
    from pipelines.nights import add_nights

    home = tmp_path / "home"
    generate(home, people=300, nights=len(NIGHTS), seed=8)
    (home / "linkage.yaml").write_text(yaml.safe_dump({"u_max_pairs": 100_000}), encoding="utf-8")
    monkeypatch.setenv("IBR_HOME", str(home))
    # The daemon's workspace and the run launcher both import the code location afresh only if it is not
    # imported yet; an earlier test's import (built on another IBR_HOME) would give them other assets.
    monkeypatch.delitem(sys.modules, "pipelines.definitions", raising=False)
    overrides = {
        "concurrency": yaml.safe_load(DAGSTER_YAML)["concurrency"],
        "run_launcher": {
            "module": "dagster._core.launcher.sync_in_memory_run_launcher",
            "class": "SyncInMemoryRunLauncher",
        },
    }
    target = ModuleTarget(
        module_name="pipelines.definitions",
        attribute=None,
        working_directory=str(Path(__file__).resolve().parent.parent),
        location_name="ibr",
    )
    with instance_for_test(overrides=overrides) as instance:
        add_nights(instance, NIGHTS)
        with create_test_daemon_workspace_context(target, instance) as context:
            graph = context.create_request_context().asset_graph
            backfill = PartitionBackfill.from_asset_partitions(
                backfill_id="ui",
                asset_graph=graph,
                partition_names=list(NIGHTS),
                asset_selection=[k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable],
                backfill_timestamp=0.0,
                tags={},
                dynamic_partitions_store=instance,
                all_partitions=False,
                title=None,
                description=None,
                run_config=None,
            )
            instance.add_backfill(backfill)
            queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
            launched: list[list[str]] = []
            for _ in range(2 * len(NIGHTS)):
                list(execute_backfill_iteration(context, logging.getLogger("backfill")))
                before = {r.run_id for r in instance.get_runs() if r.status != dg.DagsterRunStatus.QUEUED}
                list(queue.run_iteration(context))
                runs = instance.get_runs()
                launched.append(
                    [
                        r.tags["dagster/partition"]
                        for r in reversed(runs)
                        if r.status != dg.DagsterRunStatus.QUEUED and r.run_id not in before
                    ]
                )
            assert [nights for nights in launched if nights] == [[NIGHTS[0]], [NIGHTS[1]]]
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in instance.get_runs())
            assert instance.get_backfill("ui").status == BulkActionStatus.COMPLETED_SUCCESS
    published = json.loads((home / "warehouse" / "published.json").read_text(encoding="utf-8"))
    assert published["night"] == NIGHTS[-1]
