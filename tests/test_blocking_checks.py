"""Every blocking check stops the publish: a night broken on purpose turns red naming the check, and the
published warehouse stays byte for byte the last good night's.

A good night is published once; each case then breaks the next night, either with a bad drop (what a
source can send) or, for the checks that guard our own code (nothing lost between the layers), by
making a step lose a row.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NIGHT, night_instance, pension_csv

import assets.ingestion
import assets.linkage
import assets.registry
import assets.staging
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings
from quality.checks import DEFAULT_BLOCKING

NEXT_NIGHT = "2026-03-01"
GOOD_ROWS = (
    "B1;Ann;Lee;12/03/1950;2;;P01;2026-01;100",
    "B2;Bo;Mwale;1948;1;;P02;2026-01;100",
)
NEXT_ROWS = (
    "B1;Ann;Lee;12/03/1950;2;;P01;2026-02;100",
    "B2;Bo;Mwale;1948;1;;P02;2026-02;100",
)


def _registry_parquet(path: Path, died: str | None = None) -> None:
    table = pa.table(
        {
            "reg_no": ["R1", "R2"],
            "name": ["Ann Lee", "Bo Mwale"],
            "born": ["1950-03-12", "1948-06-01"],
            "sex": ["F", "M"],
            "nid": [None, None],
            "province": ["P01", "P02"],
            "event": ["birth", "death" if died else "birth"],
            "died": [None, died],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _run(home: Path, night: str) -> dg.ExecuteInProcessResult:
    job = build_defs(Settings(home=home)).resolve_job_def(NIGHTLY_JOB)
    return job.execute_in_process(partition_key=night, instance=night_instance(night), raise_on_error=False)


def _warehouse_digest(home: Path) -> dict[str, str]:
    warehouse = home / "warehouse"
    return {
        str(p.relative_to(warehouse)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(warehouse.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A home whose first night is published: the last good night every case must leave in place."""
    from conftest import home as home_fixture

    home = home_fixture.__wrapped__(tmp_path_factory.mktemp("good"))  # type: ignore[attr-defined]
    (home / "drops" / "pension" / NIGHT).mkdir(parents=True)
    (home / "drops" / "pension" / NIGHT / "pay.csv").write_bytes(pension_csv(*GOOD_ROWS))
    _registry_parquet(home / "drops" / "registry" / NIGHT / "births.parquet")
    result = _run(home, NIGHT)
    assert result.success
    return home


def _lose_a_row(table: str) -> Callable[..., Callable[..., Any]]:
    """Wrap a step's library call so that it deletes one row of `table` after doing its work."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def broken(con: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
            out = original(con, *args, **kwargs)
            con.execute(f"delete from {table} where rowid = (select min(rowid) from {table})")
            return out

        return broken

    return wrap


def _then(sql: str) -> Callable[..., Callable[..., Any]]:
    """Wrap a step's library call so that it runs `sql` after doing its work (a bug in that step)."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def broken(con: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
            out = original(con, *args, **kwargs)
            con.execute(sql)
            return out

        return broken

    return wrap


def _lose_a_landed_row(original: Callable[..., Any]) -> Callable[..., Any]:
    def broken(self: Any, contract: Any) -> Any:
        out = original(self, contract)
        if contract.name == "pension":
            self.con.execute(
                "delete from raw.pension where rowid = (select min(rowid) from raw.pension where _night = $1)",
                [self.night],
            )
        return out

    return broken


# check -> (asset it is on, how to break the next night)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "record_id_unique_in_drop": (
        "raw/pension",
        {"pension": pension_csv(*NEXT_ROWS, "B2;Bo;Mwale;1948;1;;P02;2026-02;100")},
    ),
    "benefit_amount_not_negative": (
        "raw/pension",
        {"pension": pension_csv(NEXT_ROWS[0], "B2;Bo;Mwale;1948;1;;P02;2026-02;-100")},
    ),
    "birth_before_death": ("raw/registry", {"registry_died": "1940-01-01"}),
    "rows_reconcile": (
        "raw/pension",
        {"patch": (assets.ingestion.Lander, "land_source", _lose_a_landed_row)},
    ),
    "one_row_per_source_record": (
        "staging/person_records",
        {"patch": (assets.staging, "build_staging", _lose_a_row("staging.person_records"))},
    ),
    "every_record_linked_once": (
        "registry/person_source_link",
        {"patch": (assets.linkage, "link_night", _lose_a_row("registry.person_source_link"))},
    ),
    "enrolment_person_exists": (
        "registry/enrolment",
        {"patch": (assets.registry, "build_registry", _lose_a_row("registry.person"))},
    ),
    "person_id_unique": (
        "registry/enrolment",
        {
            "patch": (
                assets.registry,
                "build_registry",
                _then("insert into registry.person select * from registry.person limit 1"),
            )
        },
    ),
    # a ministry would read a coverage total the registry does not hold
    "report_totals_match_registry": (
        "reports/coverage_by_area",
        {
            "patch": (
                assets.registry,
                "build_reports",
                _then(
                    "update reports.coverage_by_area set enrolled_persons = enrolled_persons + 1 "
                    "where area_level = 'national'"
                ),
            )
        },
    ),
}


def test_every_default_blocking_check_has_a_case() -> None:
    assert set(CASES) == set(DEFAULT_BLOCKING)


@pytest.mark.parametrize("check", sorted(CASES))
def test_a_failed_blocking_check_stops_the_publish(
    check: str, published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    shutil.copytree(published, home, symlinks=True)
    before = _warehouse_digest(home)
    asset, breakage = CASES[check]

    next_pension = breakage.get("pension", pension_csv(*NEXT_ROWS))
    (home / "drops" / "pension" / NEXT_NIGHT).mkdir(parents=True)
    (home / "drops" / "pension" / NEXT_NIGHT / "pay.csv").write_bytes(next_pension)
    if "registry_died" in breakage:
        _registry_parquet(
            home / "drops" / "registry" / NEXT_NIGHT / "deaths.parquet", breakage["registry_died"]
        )
    if "patch" in breakage:
        owner, name, wrap = breakage["patch"]
        monkeypatch.setattr(owner, name, wrap(getattr(owner, name)))

    result = _run(home, NEXT_NIGHT)

    failed = {
        (e.asset_key.to_user_string(), e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    }
    assert (asset, check) in failed
    published_steps = [e for e in result.all_events if e.is_step_success and e.step_key == "warehouse__ibr"]
    assert not published_steps
    assert _warehouse_digest(home) == before
