"""The Dagster nightly job end to end on a tiny home: the same definitions `dg dev` and `ibr run` use."""

from __future__ import annotations

import hashlib

import dagster as dg
import duckdb
from conftest import NIGHT, night_instance, pension_csv

from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings


def run(home, night: str = NIGHT) -> dg.ExecuteInProcessResult:
    defs = build_defs(Settings(home=home))
    job = defs.resolve_job_def(NIGHTLY_JOB)
    return job.execute_in_process(partition_key=night, instance=night_instance(night), raise_on_error=False)


def test_nightly_job_lands_checks_and_publishes(home, drop):
    drop(
        "pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100", "B2;Bo;;x;1;;P01;2026-01;100")
    )
    drop("stray", "x.csv", b"a\n1\n")
    result = run(home)
    assert result.success
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    blocking = {
        ("raw/pension", "rows_reconcile"),
        ("raw/pension", "record_id_unique_in_drop"),
        ("raw/registry", "rows_reconcile"),
        ("staging/person_records", "one_row_per_source_record"),
        ("registry/person_source_link", "every_record_linked_once"),
        ("registry/enrolment", "enrolment_person_exists"),
    }
    assert blocking <= set(checks)
    assert all(checks.values()), [k for k, ok in checks.items() if not ok]
    # the Dagster catalog shows the data dictionary: each table's comment, columns with theirs, and rows
    person = dg.AssetKey(["registry", "person"])
    spec = {s.key: s for a in build_defs(Settings(home=home)).assets or [] for s in getattr(a, "specs", [])}
    assert (spec[person].description or "").startswith("One row per person")
    materialized = {
        m.asset_key: m.metadata for m in result.asset_materializations_for_node("registry_tables")
    }
    schema = materialized[person]["dagster/column_schema"].schema
    assert {c.name: c.description for c in schema.columns}["person_id"]
    assert materialized[person]["dagster/row_count"].value == 1
    with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        recorded = con.execute(
            "select asset, check_name, severity, passed from audit.checks where run_id = $1", [result.run_id]
        ).fetchall()
    assert {(a, c) for a, c, _, _ in recorded} == set(checks)
    assert {(a, c) for a, c, severity, _ in recorded if severity == "blocking"} >= blocking
    warehouse = home / "warehouse" / "ibr.duckdb"
    assert oct(warehouse.stat().st_mode & 0o777) == "0o600"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from staging.person_records").fetchall() == [(1,)]
        assert con.execute("select count(*) from audit.quarantine").fetchall() == [(1,)]
        assert con.execute("select source, status from audit.files order by 1").fetchall() == [
            ("pension", "partial"),
            ("stray", "rejected"),
        ]


def test_rerunning_a_night_changes_nothing(home, drop):
    """A rerun of the same night gives the same warehouse contents (timestamps aside)."""
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100"))

    def snapshot() -> str:
        with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
            rows = con.execute(
                "select * exclude (landed_at) from audit.files union all by name "
                "select source, source_record_id, full_name as file_path from staging.person_records order by all"
            ).fetchall()
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    assert run(home).success
    first = snapshot()
    assert run(home).success
    assert snapshot() == first


def test_every_check_passes_on_a_clean_country(tmp_path):
    """A generated country without noise: every check of every layer passes, and there are well over 30."""
    from synthetic import generate

    generate(tmp_path, people=1500, nights=1, seed=3, noise="clean")
    result = run(tmp_path, night="2026-02-01")
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    failed = [
        (e.asset_key.to_user_string(), e.check_name, e.description) for e in evaluations if not e.passed
    ]
    assert failed == []
    assert len({(e.asset_key.to_user_string(), e.check_name) for e in evaluations}) >= 100
    assert len({e.check_name for e in evaluations}) >= 30


def test_a_first_night_whose_every_file_is_rejected_completes_with_everything_counted(home, drop):
    """Every file of the very first night is bad: the night still runs to its end and counts every row."""
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100", header="A;B;C"))
    drop("registry", "reg.parquet", b"reg_no,name\nR1,Ann Lee\nR2,Bo Ng\n")
    result = run(home)
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert failures == []
    assert result.success
    with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        assert con.execute(
            "select file_path, status, rows_in, rows_rejected from audit.files order by 1"
        ).fetchall() == [
            ("pension/2026-02-01/pay.csv", "rejected", 2, 2),
            ("registry/2026-02-01/reg.parquet", "rejected", 2, 2),
        ]
        assert con.execute("select count(*) from staging.person_records").fetchall() == [(0,)]


def test_a_failed_nights_summary_counts_the_nights_own_files(home, drop):
    """The summary reads the working database: a night that never published is still counted."""
    from datetime import date

    from ingest.landing import Lander
    from pipelines.cli import night_summary

    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100", header="A;B;C"))
    settings = Settings(home=home)
    settings.work_db.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.work_db)) as con:
        from ingest.contracts import load_contracts

        Lander(con, home, date.fromisoformat(NIGHT)).land_source(load_contracts(home / "sources")["pension"])
    assert not settings.warehouse_db.exists()
    summary = night_summary(settings, date.fromisoformat(NIGHT))
    assert "files 1 (1 rejected), rows in 2, accepted 0, quarantined 2" in summary
