"""Backfill: `ibr run --since D` reruns night D and every later night, in order, and gives the same warehouse.

A data team backfills after fixing a contract or a drop of a past night. The nights after it build on
it (person ids carry over night to night), so they are rerun too; on unchanged drops the warehouse
must come out as the first time: the same persons under the same ids, the same findings.
"""

from __future__ import annotations

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
