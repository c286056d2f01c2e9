"""The one `Definitions` of the project: `dg dev`, `ibr run` and `ibr demo` all load this.

Assets are built from the source contracts found in `<IBR_HOME>/sources/` when the
code location loads: adding a contract and reloading adds its `raw/<source>` asset.
Every step runs in one process, one after another: DuckDB allows a single writer per
file, and DuckDB itself already uses every core inside a step.
"""

from __future__ import annotations

import warnings

import dagster as dg

from assets.ingestion import build_raw_asset, build_unrecognised_asset
from assets.linkage import LINKAGE_KEYS, build_linkage_asset
from assets.publish import build_publish_asset
from assets.registry import (
    FINDING_METRICS,
    REGISTRY_KEYS,
    REPORT_KEYS,
    build_findings_asset,
    build_registry_asset,
)
from assets.resources import IbrHome, SparkSessionResource, WorkDatabase
from assets.staging import FACT_MODELS, PERSON_RECORDS, build_staging_asset
from core.homefiles import private_umask
from ingest.contracts import Contract, load_contracts
from ingest.expected import schedules_of
from pipelines.automation import (
    build_drop_sensor,
    build_failure_sensor,
    build_night_outcome_sensor,
    build_nightly_schedule,
    build_retention_job,
    build_retention_sensor,
)
from pipelines.nights import NIGHTS
from pipelines.settings import Settings, settings_from_env
from quality.checks import CheckConfig
from registry.programmes import ProgrammeRules, load_programmes

NIGHTLY_JOB = "nightly"
# dagster.yaml lets one run with this tag run at a time: nights never interleave in the working database
NIGHTLY_TAG = "ibr/nightly"


def load_source_contracts(settings: Settings) -> dict[str, Contract]:
    if not settings.sources_dir.is_dir():
        warnings.warn(
            f"{settings.sources_dir} does not exist: no sources yet (run `ibr generate` or add contracts)",
            stacklevel=2,
        )
        return {}
    return load_contracts(settings.sources_dir)


def load_rules(settings: Settings) -> ProgrammeRules:
    path = settings.home / "programmes.yaml"
    if not path.is_file():
        warnings.warn(f"{path} does not exist: the registry has no programme rules yet", stacklevel=2)
        return ProgrammeRules(path, (), ())
    return load_programmes(path)


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    # `dg dev` and the daemon load this without `ibr`: what the runs create under the home stays private
    private_umask()
    settings = settings or settings_from_env()
    contracts = load_source_contracts(settings)
    check_config = CheckConfig.load(settings.home)
    partitions = NIGHTS  # one key per drop date launched (pipelines/nights.py), not one per calendar day

    raw_assets = [build_raw_asset(c, partitions, check_config) for c in contracts.values()]
    raw_keys = [dg.AssetKey(["raw", name]) for name in contracts]
    unrecognised = build_unrecognised_asset(set(contracts), partitions)
    staging = build_staging_asset(contracts, raw_keys, partitions, check_config)
    staging_keys = [PERSON_RECORDS, *(dg.AssetKey(["staging", m]) for m in FACT_MODELS)]
    linkage = build_linkage_asset(partitions, check_config)
    registry = build_registry_asset(partitions, load_rules(settings), check_config)
    findings = build_findings_asset(partitions, check_config)
    publish = build_publish_asset(
        [
            *staging_keys,
            *LINKAGE_KEYS,
            *REGISTRY_KEYS,
            *REPORT_KEYS,
            FINDING_METRICS,
            dg.AssetKey(["raw", "unrecognised_drops"]),
        ],
        partitions,
    )

    assets = [*raw_assets, unrecognised, staging, linkage, registry, findings, publish]
    check_config.require_known(
        {(spec.asset_key.to_user_string(), spec.name) for asset in assets for spec in asset.check_specs}
    )
    nightly = dg.define_asset_job(
        NIGHTLY_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions,
        description="One night: land every source's drops, standardise, link, build the registry and findings, check, publish.",
        tags={NIGHTLY_TAG: "1"},
    )
    settings.work_db.parent.mkdir(parents=True, exist_ok=True)
    expected = schedules_of(contracts)
    retention = build_retention_job(tags={NIGHTLY_TAG: "1"})  # queued behind nights, never beside one
    return dg.Definitions(
        assets=assets,
        jobs=[nightly, retention],
        schedules=[build_nightly_schedule(settings, nightly, expected)],
        sensors=[
            build_drop_sensor(settings, nightly, expected),
            build_failure_sensor(settings, nightly),
            build_night_outcome_sensor(settings, nightly),
            build_retention_sensor(settings, nightly, retention),
        ],
        resources={
            "work_db": WorkDatabase(database=str(settings.work_db)),
            "ibr_home": IbrHome(path=str(settings.home)),
            "spark": SparkSessionResource(master=settings.spark_master),
        },
        executor=dg.in_process_executor,
    )


defs = build_defs()
