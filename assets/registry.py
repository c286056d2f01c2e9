"""Registry and findings assets: who receives what, and where the system fails people."""

import time
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from assets.common import (
    WORK_DB_POOL,
    check_specs,
    night_of,
    report_checks,
    table_description,
    table_metadata,
)
from assets.linkage import LINKAGE_KEYS
from assets.resources import IbrHome, WorkDatabase
from quality.checks import CheckConfig
from quality.expectations import registry_checks, run_registry_suite
from quality.reconcile import report_totals_match_registry
from registry import build_registry, build_reports, evaluate_findings, load_programmes
from registry.build import REGISTRY_MODELS
from registry.findings import REPORT_MODELS
from registry.programmes import ProgrammeRules

REGISTRY_KEYS = [dg.AssetKey(["registry", model]) for model in REGISTRY_MODELS]
REPORT_KEYS = [dg.AssetKey(["reports", model]) for model in ("eligibility", *REPORT_MODELS)]
FINDING_METRICS = dg.AssetKey(["audit", "finding_metrics"])


REGISTRY_CHECKED = dg.AssetKey(["registry", "enrolment"])


def build_registry_asset(
    partitions: dg.PartitionsDefinition, rules: ProgrammeRules, check_config: CheckConfig
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        pool=WORK_DB_POOL,
        name="registry_tables",
        specs=[
            dg.AssetSpec(
                key,
                deps=LINKAGE_KEYS,
                group_name="registry",
                kinds={"duckdb"},
                description=table_description(key),
            )
            for key in REGISTRY_KEYS
        ],
        partitions_def=partitions,
        check_specs=check_specs(REGISTRY_CHECKED, registry_checks(rules).items(), check_config),
    )
    def registry_tables(context: AssetExecutionContext, work_db: WorkDatabase, ibr_home: IbrHome):  # type: ignore[no-untyped-def]
        home = Path(ibr_home.path)
        rules = load_programmes(home / "programmes.yaml")
        with work_db.connect() as con:
            counts = build_registry(con, home, night_of(context), rules)
            checks_started = time.perf_counter()
            suite = run_registry_suite(con, rules, night_of(context), check_config)
            results = report_checks(con, context, REGISTRY_CHECKED, "registry", suite.outcomes, check_config)
            checks_seconds = time.perf_counter() - checks_started
            tables = {key: table_metadata(con, "registry", key.path[-1]) for key in REGISTRY_KEYS}
        context.log.info(
            f"registry suite: {len(suite.outcomes)} checks over {suite.rows:,} rows; "
            f"{suite.seconds_to_pandas:.1f}s to pandas, {suite.seconds_validate:.1f}s to validate"
        )
        for key in REGISTRY_KEYS:
            metadata: dict[str, Any] = {"rows": counts.get(key.path[-1], 0), **tables[key]}
            if key == REGISTRY_CHECKED:
                metadata["checks_seconds"] = round(checks_seconds, 2)
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
        yield from results

    return registry_tables


REPORTS_CHECKED = dg.AssetKey(["reports", "coverage_by_area"])
REPORT_CHECKS = (
    (
        "report_totals_match_registry",
        "every programme's coverage totals equal the registry's paid and eligible persons, provinces add up to the "
        "nation, and everyone in deceased_paid is deceased in the registry",
    ),
)


def build_findings_asset(
    partitions: dg.PartitionsDefinition, check_config: CheckConfig | None = None
) -> dg.AssetsDefinition:
    config = check_config or CheckConfig()

    @dg.multi_asset(
        pool=WORK_DB_POOL,
        name="findings",
        specs=[
            *(
                dg.AssetSpec(
                    key,
                    deps=REGISTRY_KEYS,
                    group_name="reports",
                    kinds={"duckdb"},
                    description=table_description(key),
                )
                for key in REPORT_KEYS
            ),
            dg.AssetSpec(
                FINDING_METRICS,
                deps=REGISTRY_KEYS,
                group_name="reports",
                kinds={"duckdb"},
                description="Findings found against the planted truth, where one exists.",
            ),
        ],
        partitions_def=partitions,
        check_specs=check_specs(REPORTS_CHECKED, REPORT_CHECKS, config),
    )
    def findings(context: AssetExecutionContext, work_db: WorkDatabase, ibr_home: IbrHome):  # type: ignore[no-untyped-def]
        home = Path(ibr_home.path)
        rules = load_programmes(home / "programmes.yaml")
        night = night_of(context)
        with work_db.connect() as con:
            counts = build_reports(con, home, night, rules)
            metrics = evaluate_findings(con, home, night)
            tables = {key: table_metadata(con, "reports", key.path[-1]) for key in REPORT_KEYS}
            results = report_checks(
                con, context, REPORTS_CHECKED, "reports", [report_totals_match_registry(con)], config
            )
        for key in REPORT_KEYS:
            yield dg.MaterializeResult(
                asset_key=key, metadata={"rows": counts.get(key.path[-1], 0), **tables[key]}
            )
        yield dg.MaterializeResult(
            asset_key=FINDING_METRICS,
            metadata={
                f"{kind}_{name}": float(value)
                for kind, values in metrics.items()
                for name, value in values.items()
                if name in ("precision", "recall")
            },
        )
        yield from results

    return findings
