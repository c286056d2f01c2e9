"""Great Expectations suites: one per source drop, derived from its contract, and one over the registry.

The checks are declared from configuration alone (a `Contract`, the programme rules),
so `source_check_names` and `registry_check_names` can name them when the Dagster
definitions load, without importing Great Expectations (its import costs seconds).
Running a suite reads its tables from DuckDB into pandas ONCE per frame, lets GX 1.x
evaluate every expectation on that frame, and turns each result into a `CheckOutcome`
of the same name.

What DuckDB does and what GX does: DuckDB parses each raw column with the very
expression landing and staging use (`ingest.fields.typed_sql`) and computes what needs
a join (does the enrolment's person exist?) into a column; GX does every expecting.

Example::

    source_check_names(contracts["child_grant"])
    # ['record_id_not_null', 'record_id_unique_in_drop', 'last_name_not_null', ..., 'sex_in_codes',
    #  'date_of_birth_not_in_future', ...]
    result = run_source_suite(con, contracts["child_grant"], date(2026, 4, 1), CheckConfig(), country)
    [o for o in result.outcomes if not o.passed]

Failing samples are keys only (`source:source_record_id`, or a person id): GX's
unexpected lists carry the failing values too (names, dates, ids); they are read for
the key column and never copied into an outcome.

Tolerance: every expectation is strict (one failing row fails it), except
`national_id_matches_pattern`, where mistyped ids are expected. There the share of
non-empty ids allowed to fail is `thresholds["national_id_invalid_share_max"]` of `<home>/checks.yaml`,
read as quality/checks.py documents it ("tolerated share of rows failing"), so GX's
`mostly` is 1 - that share. Its default is 0.1; 1.0 would tolerate every id: the check then only
reports the share; set it to e.g. 0.1 to flag a drop with more than 10% invalid ids.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd

from core.country import Country
from core.sqlutil import literal, qualified, quote_ident, table_exists
from ingest.contracts import CANONICAL_CODES, CANONICAL_FIELDS, Contract
from ingest.fields import text_sql, typed_sql
from quality.checks import CheckConfig
from quality.reconcile import CheckOutcome
from registry.programmes import ProgrammeRules
from staging.standardise import register_functions

MAX_FAILING_KEYS = 20
EARLIEST_BIRTH = date(1900, 1, 1)
EARLIEST_TAX_YEAR = 1990
NOT_A_CODE = "<not a canonical code>"
NO_DROP = "no drop tonight"
# pandas nanosecond timestamps span 1677-09-21 .. 2262-04-11; dates outside are clamped to these bounds,
# which keeps every bound we test (1900, the night) on the same side
_TS_MIN, _TS_MAX = "1678-01-01", "2261-12-31"
# a name the checks never use for a frame column, to carry the failing-sample key
KEY_COLUMN = "record_key"


@dataclass(frozen=True)
class Expect:
    """One check: a GX expectation (class name and arguments) over one frame of a suite.

    `holds` says in words what is true when it passes. `tolerance`, for a check that
    tolerates failing rows, is the share of rows allowed to fail and the outcome observes
    a share; otherwise (None) one failing row fails the check and the outcome observes a
    count. The share is of the rows the expectation reads (non-null: GX's `mostly` is
    1 - tolerance), or, with `share_of_all_rows`, of every row of the frame: "records that
    die before they are born" counts against all records, so that one typo among a
    month's few deaths is not a tenth of them.
    """

    name: str
    frame: str
    expectation: str
    kwargs: dict[str, Any]
    holds: str
    tolerance: float | None = None
    share_of_all_rows: bool = False

    @property
    def threshold(self) -> float:
        return self.tolerance or 0.0

    @property
    def definition(self) -> str:
        """The GX expectation and its arguments, as the auditor's report shows it.

        >>> Expect("person_id_unique", "person", "ExpectColumnValuesToBeUnique", {"column": "person_id"}, "").definition
        'gx.expectations.ExpectColumnValuesToBeUnique(column=person_id) on person'
        """
        arguments = ", ".join(f"{k}={v}" for k, v in sorted(self.kwargs.items()))
        tolerated = f"; mostly={1 - self.tolerance:g}" if self.tolerance is not None else ""
        of_all = " (share of all rows)" if self.share_of_all_rows else ""
        return f"gx.expectations.{self.expectation}({arguments}{tolerated}) on {self.frame}{of_all}"


@dataclass(frozen=True)
class SuiteResult:
    """The outcomes of one suite run, in the order of its check names, and what the run cost."""

    outcomes: list[CheckOutcome]
    rows: int
    seconds_to_pandas: float
    seconds_validate: float
    # rows of a source's frame with a valid national id (None where the source has no national id):
    # the cross-night `national_id_share` takes tonight's count from here instead of testing every id again
    valid_national_ids: int | None = None


# -- source suites ---------------------------------------------------------------------------------


def _ts(value: date | datetime) -> datetime:
    return datetime(value.year, value.month, value.day)


def _source_expectations(contract: Contract, night: date, config: CheckConfig) -> list[Expect]:
    """Every check of one source's drop, in a fixed order; only fields the contract maps are checked."""
    mapped = set(contract.columns)
    checks = [
        Expect(
            "record_id_not_null",
            "drop",
            "ExpectColumnValuesToNotBeNull",
            {"column": "source_record_id"},
            f"every row has its record id ({contract.record_id})",
        ),
        Expect(
            "record_id_unique_in_drop",
            "drop",
            "ExpectColumnValuesToBeUnique",
            {"column": "source_record_id"},
            "no record id appears twice in tonight's drop",
        ),
    ]
    for canonical in dict.fromkeys(contract.required):
        checks.append(
            Expect(
                f"{canonical}_not_null",
                "drop",
                "ExpectColumnValuesToNotBeNull",
                {"column": canonical},
                f"{canonical} (required by the contract) is readable on every row",
            )
        )
    for canonical, codes in CANONICAL_CODES.items():
        if canonical in mapped:
            checks.append(
                Expect(
                    f"{canonical}_in_codes",
                    "drop",
                    "ExpectColumnValuesToBeInSet",
                    {"column": canonical, "value_set": list(codes)},
                    f"{canonical} maps to one of {', '.join(codes)}",
                )
            )
    if "date_of_birth" in mapped:
        checks += [
            Expect(
                "date_of_birth_not_in_future",
                "drop",
                "ExpectColumnValuesToBeBetween",
                {"column": "date_of_birth", "max_value": _ts(night)},
                "no date of birth after the night",
            ),
            Expect(
                "date_of_birth_not_before_1900",
                "drop",
                "ExpectColumnValuesToBeBetween",
                {"column": "date_of_birth", "min_value": _ts(EARLIEST_BIRTH)},
                f"no date of birth before {EARLIEST_BIRTH}",
            ),
        ]
    if "date_of_death" in mapped:
        checks.append(
            Expect(
                "date_of_death_not_in_future",
                "drop",
                "ExpectColumnValuesToBeBetween",
                {"column": "date_of_death", "max_value": _ts(night)},
                "no date of death after the night",
            )
        )
        if "date_of_birth" in mapped:
            checks.append(
                Expect(
                    "birth_before_death",
                    "drop",
                    "ExpectColumnPairValuesAToBeGreaterThanB",
                    {
                        "column_A": "date_of_death",
                        "column_B": "date_of_birth",
                        "or_equal": True,
                        "ignore_row_if": "either_value_is_missing",
                    },
                    "no record dies before it is born",
                    tolerance=config.thresholds["implausible_dates_share_max"],
                    share_of_all_rows=True,
                )
            )
    if "benefit_amount" in mapped:
        checks.append(
            Expect(
                "benefit_amount_not_negative",
                "drop",
                "ExpectColumnValuesToBeBetween",
                {"column": "benefit_amount", "min_value": 0},
                "no negative benefit amount",
            )
        )
    if "income_annual" in mapped:
        checks.append(
            Expect(
                "income_annual_not_negative",
                "drop",
                "ExpectColumnValuesToBeBetween",
                {"column": "income_annual", "min_value": 0},
                "no negative annual income",
            )
        )
    if "tax_year" in mapped:
        checks.append(
            Expect(
                "tax_year_plausible",
                "drop",
                "ExpectColumnValuesToBeBetween",
                {"column": "tax_year", "min_value": EARLIEST_TAX_YEAR, "max_value": night.year},
                f"every tax year lies between {EARLIEST_TAX_YEAR} and the night's year",
            )
        )
    if "period" in mapped:
        month = night.replace(day=1)
        checks.append(
            Expect(
                "period_not_after_night",
                "drop",
                "ExpectColumnValuesToBeBetween",
                {"column": "period", "max_value": _ts(month)},
                "no period after the night's month",
            )
        )
    if "national_id" in mapped:
        checks.append(
            Expect(
                "national_id_matches_pattern",
                "drop",
                "ExpectColumnValuesToBeInSet",
                {"column": "national_id_valid", "value_set": [True]},
                "non-empty national ids match country.yaml's pattern and check digit (as staging's national_id_valid)",
                tolerance=config.thresholds["national_id_invalid_share_max"],
            )
        )
    return checks


def source_checks(contract: Contract) -> dict[str, str]:
    """Name -> what holds when it passes, of every check `run_source_suite` reports for this source,
    in order. Pure and quick (no GX import): for declaring Dagster asset-check specs at load time."""
    return {c.name: c.holds for c in _source_expectations(contract, date(2000, 1, 1), CheckConfig())}


def source_check_names(contract: Contract) -> list[str]:
    """The names of the checks `run_source_suite` reports for this source, in order."""
    return list(source_checks(contract))


def national_id_std_sql(value: str) -> str:
    """The national id as staging keeps it: upper case, everything but letters and digits removed."""
    return f"nullif(regexp_replace(upper({value}), '[^0-9A-Z]', '', 'g'), '')"


def national_id_valid_sql(std_column: str) -> str:
    """True/false for a non-empty id, NULL for none: staging's `national_id_valid` test.

    `std_column` must name a column holding `national_id_std_sql` of the id, computed in an
    inner query: `ibr_luhn_valid` is a macro, and an expression passed to it is repeated for
    every digit (20 times slower at 171,000 ids). Uses the macro
    (`staging.standardise.register_functions`) and the query parameters
    `$national_id_pattern` and `$national_id_check_digit` (from `Country`).
    """
    return (
        f"(case when {std_column} is null then null else coalesce(regexp_full_match({std_column}, "
        f"$national_id_pattern) and ($national_id_check_digit = 'none' or ibr_luhn_valid({std_column})), false) end)"
    )


def country_params(country: Country) -> dict[str, str]:
    """The query parameters `national_id_valid_sql` reads."""
    return {
        "national_id_pattern": country.national_id_pattern,
        "national_id_check_digit": country.national_id_check_digit,
    }


def _timestamp_sql(value: str) -> str:
    """A date as a nanosecond timestamp (pandas datetime64[ns], which GX compares vectorised)."""
    return (
        f"cast(case when {value} < date '{_TS_MIN}' then date '{_TS_MIN}' "
        f"when {value} > date '{_TS_MAX}' then date '{_TS_MAX}' else {value} end as timestamp_ns)"
    )


def _source_frame_sql(contract: Contract, fields: Iterable[str]) -> str:
    """One row per row landed in the night's drop: the record key, the record id, each checked field typed."""
    parquet = contract.file.format == "parquet"
    record_id = text_sql(contract.record_id)
    inner = [
        "_file",
        "_row_number",
        f"{literal(contract.name + ':')} || coalesce({record_id}, '<no record id> ' || _file || ' row ' "
        f"|| cast(_row_number as varchar)) as {KEY_COLUMN}",
        f"{record_id} as source_record_id",
    ]
    outer = [KEY_COLUMN, "source_record_id"]
    for canonical in fields:
        column = contract.columns[canonical]
        kind = CANONICAL_FIELDS[canonical]
        name, text = quote_ident(canonical), quote_ident(f"_text_{canonical}")
        inner.append(f"{typed_sql(contract, canonical, column, parquet)} as {name}")
        if kind in ("date", "month"):
            outer.append(f"{_timestamp_sql(name)} as {name}")
        elif kind in ("number", "integer"):
            # float64: GX's pandas path compares plain float columns vectorised, nullable ints row by row
            outer.append(f"cast({name} as double) as {name}")
        elif kind == "code":
            # an unknown code parses to NULL; keep it visible as a non-code so `<field>_in_codes` sees it
            inner.append(f"{text_sql(column)} as {text}")
            outer.append(
                f"(case when {name} is null and {text} is not null then {literal(NOT_A_CODE)} "
                f"else {name} end) as {name}"
            )
        else:
            outer.append(name)
    if "national_id" in contract.columns:
        inner.append(f"{national_id_std_sql(text_sql(contract.columns['national_id']))} as _national_id_std")
        outer.append(f"{national_id_valid_sql('_national_id_std')} as national_id_valid")
    return (
        f"with landed as (select {', '.join(inner)} from {qualified('raw', contract.name)} "
        f"where _night = $night) "
        f"select {', '.join(outer)} from landed order by _file, _row_number"
    )


def _frame_columns(checks: list[Expect]) -> list[str]:
    """The canonical fields the checks read (frame columns other than the key and the record id)."""
    columns: dict[str, None] = {}
    for check in checks:
        for key in ("column", "column_A", "column_B"):
            value = check.kwargs.get(key)
            if isinstance(value, str) and value in CANONICAL_FIELDS:
                columns[value] = None
    return list(columns)


def run_source_suite(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    night: date,
    config: CheckConfig,
    country: Country,
) -> SuiteResult:
    """Validate the rows of `raw.<source>` landed on `night` against the checks derived from the contract.

    `country` (`core.country.load_country(home)`) gives the national id pattern and
    check digit. A night without rows for the source passes every check with observed 0
    ("no drop tonight").
    """
    checks = _source_expectations(contract, night, config)
    if not table_exists(con, "raw", contract.name):
        return _all_pass(checks, NO_DROP)
    started = time.perf_counter()
    if "national_id" in contract.columns:
        register_functions(con)
    frame = _to_pandas(
        con.sql(
            _source_frame_sql(contract, _frame_columns(checks)),
            params={"night": night, **(country_params(country) if "national_id" in contract.columns else {})},
        )
    )
    seconds_to_pandas = time.perf_counter() - started
    if frame.empty:
        files = 0
        if table_exists(con, "audit", "files"):
            files = con.execute(
                "select count(*) from audit.files where source = $1 and night = $2", [contract.name, night]
            ).fetchall()[0][0]
        reason = f"no rows landed tonight ({files} file(s): see audit.files)" if files else NO_DROP
        return SuiteResult(_all_pass(checks, reason).outcomes, 0, seconds_to_pandas, 0.0)
    outcomes, seconds_validate = _validate({"drop": frame}, checks, suite=f"source_{contract.name}")
    valid = int(frame["national_id_valid"].eq(True).sum()) if "national_id_valid" in frame else None
    return SuiteResult(outcomes, len(frame), seconds_to_pandas, seconds_validate, valid)


# -- registry suite --------------------------------------------------------------------------------


def _registry_expectations(programmes: ProgrammeRules, night: date, config: CheckConfig) -> list[Expect]:
    month = night.replace(day=1)
    checks = [
        Expect(
            "person_id_not_null",
            "person",
            "ExpectColumnValuesToNotBeNull",
            {"column": "person_id"},
            "every golden record has a person id",
        ),
        Expect(
            "person_id_unique",
            "person",
            "ExpectColumnValuesToBeUnique",
            {"column": "person_id"},
            "one golden record per person id",
        ),
        Expect(
            "birth_before_death",
            "person",
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {
                "column_A": "date_of_death",
                "column_B": "date_of_birth",
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            },
            "nobody in registry.person dies before being born",
            tolerance=config.thresholds["implausible_dates_share_max"],
            share_of_all_rows=True,
        ),
        Expect(
            "source_record_unique_in_links",
            "link",
            # one column, `source:source_record_id` (a source name holds no colon): a compound key took
            # GX three times as long over 1.7 million links
            "ExpectColumnValuesToBeUnique",
            {"column": KEY_COLUMN},
            "each (source, source_record_id) appears once in registry.person_source_link",
        ),
        Expect(
            "enrolment_person_exists",
            "enrolment",
            "ExpectColumnValuesToNotBeNull",
            {"column": "registry_person_id"},
            "every enrolment's person is in registry.person",
        ),
        Expect(
            "programme_id_in_programmes",
            "enrolment",
            "ExpectColumnValuesToBeInSet",
            {"column": "programme_id", "value_set": programmes.ids},
            "every enrolment's programme is in programmes.yaml",
        ),
        Expect(
            "enrolment_status_in_codes",
            "enrolment",
            "ExpectColumnValuesToBeInSet",
            {"column": "enrolment_status", "value_set": list(CANONICAL_CODES["enrolment_status"])},
            f"enrolment status is one of {', '.join(CANONICAL_CODES['enrolment_status'])}",
        ),
        Expect(
            "benefit_amount_not_negative",
            "enrolment",
            "ExpectColumnValuesToBeBetween",
            {"column": "benefit_amount_monthly", "min_value": 0},
            "no negative monthly amount",
        ),
    ]
    for programme in programmes.programmes:
        highest = (
            programme.benefit_value_max
            if programme.benefit_value_max is not None
            else programme.benefit_value_monthly
        )
        checks.append(
            Expect(
                f"benefit_amount_in_range_{programme.programme_id}",
                "enrolment",
                "ExpectColumnValuesToBeBetween",
                {
                    "column": "benefit_amount_per_record",
                    "min_value": 0,
                    "max_value": float(highest),
                    # programme ids match ^[a-z][a-z0-9_]*$ (registry.programmes): safe inside the condition
                    "row_condition": f'programme_id=="{programme.programme_id}"',
                    "condition_parser": "pandas",
                },
                f"{programme.programme_id} pays 0..{highest:g} a month per payroll record",
            )
        )
    checks.append(
        Expect(
            "period_not_after_night",
            "enrolment",
            "ExpectColumnValuesToBeBetween",
            {"column": "period_month", "max_value": _ts(month)},
            "no month paid after the night's month",
        )
    )
    return checks


def registry_checks(programmes: ProgrammeRules) -> dict[str, str]:
    """Name -> what holds when it passes, of every check `run_registry_suite` reports, in order (pure, no GX)."""
    return {c.name: c.holds for c in _registry_expectations(programmes, date(2000, 1, 1), CheckConfig())}


def registry_check_names(programmes: ProgrammeRules) -> list[str]:
    """The names of the checks `run_registry_suite` reports, in order."""
    return list(registry_checks(programmes))


REGISTRY_FRAMES = {
    "person": f"""
        select coalesce(person_id, '<no person id>') as {KEY_COLUMN}, person_id,
               {_timestamp_sql("date_of_birth")} as date_of_birth,
               {_timestamp_sql("date_of_death")} as date_of_death
        from registry.person
        order by person_id
    """,
    "link": f"""
        select source || ':' || source_record_id as {KEY_COLUMN}
        from registry.person_source_link
        order by source, source_record_id
    """,
    # the join is DuckDB's; the expecting (registry_person_id not null) is GX's
    "enrolment": f"""
        with persons as (select distinct person_id from registry.person)
        select coalesce(e.person_id, '<no person id>') as {KEY_COLUMN},
               persons.person_id as registry_person_id,
               e.programme_id,
               e.enrolment_status,
               cast(e.benefit_amount_monthly as double) as benefit_amount_monthly,
               cast(e.benefit_amount_monthly as double) / greatest(e.source_records, 1) as benefit_amount_per_record,
               {_timestamp_sql("e.period_month")} as period_month
        from registry.enrolment e
        left join persons on persons.person_id = e.person_id
        order by e.person_id, e.programme_id, e.period_month
    """,
}


def run_registry_suite(
    con: duckdb.DuckDBPyConnection, programmes: ProgrammeRules, night: date, config: CheckConfig
) -> SuiteResult:
    """Validate the registry built for `night` (registry.person, registry.person_source_link, registry.enrolment).

    `benefit_amount_in_range_<programme>`: registry.enrolment adds up a person's payroll
    records of a month (two records paid means paid twice: reports.duplicate_enrolment),
    so the amount per record, `benefit_amount_monthly / source_records`, must lie in
    0..`benefit_value_max` (or `benefit_value_monthly` for a programme whose amount does
    not vary). 0 is allowed: suspended and exited months pay nothing.
    """
    checks = _registry_expectations(programmes, night, config)
    started = time.perf_counter()
    frames = {name: _to_pandas(con.sql(sql)) for name, sql in REGISTRY_FRAMES.items()}
    seconds_to_pandas = time.perf_counter() - started
    outcomes, seconds_validate = _validate(frames, checks, suite="registry")
    return SuiteResult(outcomes, sum(len(f) for f in frames.values()), seconds_to_pandas, seconds_validate)


# -- running GX ------------------------------------------------------------------------------------


def _to_pandas(relation: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """A query's rows as the frame GX validates, text held as Arrow strings.

    Python string objects took 2.9 s for the registry's 3.8 million rows at a million people,
    Arrow strings 1.2 s, with the same outcomes.
    """
    import pyarrow as pa

    return relation.to_arrow_table().to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def _all_pass(checks: list[Expect], description: str) -> SuiteResult:
    outcomes = [
        CheckOutcome(c.name, True, 0.0, c.threshold, description, definition=c.definition) for c in checks
    ]
    return SuiteResult(outcomes, 0, 0.0, 0.0)


def _quiet_gx_loggers() -> None:
    """GX logs at INFO from some modules (one sets its own logger to INFO on import): warnings and up only."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("great_expectations.") and isinstance(logger, logging.Logger) and logger.level:
            logger.setLevel(logging.WARNING)


def _import_gx() -> Any:
    """Import GX quietly and offline: no usage statistics, and warnings and errors only in the logs."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    _quiet_gx_loggers()
    # GX imports pyspark when it is installed (the Spark linkage backend installs it), to offer Spark batches
    # we never use: seconds of import, and pyspark.sql.connect calls sys.exit(0) in a process whose __main__
    # has no file (`python -c`, pytest-xdist workers): the night would end there, "successfully". GX takes a
    # failed import as "no Spark", so it is shown none; when a Spark night imported pyspark already, only
    # Spark Connect is hidden from it.
    hidden = [name for name in ("pyspark", "pyspark.sql.connect") if name not in sys.modules][:1]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import great_expectations as gx
            from great_expectations.execution_engine import pandas_execution_engine
    finally:
        for name in hidden:
            sys.modules.pop(name, None)
    # GX fingerprints every pandas batch under this many bytes (an md5 over pandas' hash of every row) for
    # its batch markers. Nothing here reads them, and at a million rows the hashing took 4 s of a night.
    pandas_execution_engine.HASH_THRESHOLD = 0
    _quiet_gx_loggers()
    return gx


def _context(gx: Any) -> Any:
    """An in-memory context: no `gx/` folder, no Data Docs site (not even a temporary one), no
    analytics, no progress bars; nothing is kept once the suite has run."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _validate(
    frames: dict[str, pd.DataFrame], checks: list[Expect], suite: str
) -> tuple[list[CheckOutcome], float]:
    """Run each frame's expectations in one GX validation; outcomes in the order of `checks`."""
    gx = _import_gx()
    import great_expectations.expectations as gxe

    started = time.perf_counter()
    context = _context(gx)
    datasource = context.data_sources.add_pandas(name=suite)
    results: dict[str, Any] = {}
    for frame_name, frame in frames.items():
        frame_checks = [c for c in checks if c.frame == frame_name]
        if not frame_checks or frame.empty:
            continue
        batch = datasource.add_dataframe_asset(name=frame_name).add_batch_definition_whole_dataframe("whole")
        expectations = [
            getattr(gxe, c.expectation)(
                **c.kwargs,
                **(
                    {"mostly": 1.0 - c.tolerance}
                    if c.tolerance is not None and not c.share_of_all_rows
                    else {}
                ),
                meta={"check": c.name},
            )
            for c in frame_checks
        ]
        gx_suite = context.suites.add(
            gx.ExpectationSuite(name=f"{suite}_{frame_name}", expectations=expectations)
        )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{suite}_{frame_name}", data=batch, suite=gx_suite)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = definition.run(
                batch_parameters={"dataframe": frame},
                result_format={
                    "result_format": "SUMMARY",
                    "unexpected_index_column_names": [KEY_COLUMN],
                    "partial_unexpected_count": MAX_FAILING_KEYS,
                },
            )
        for result in run.results:
            results[result.expectation_config.meta["check"]] = result
    seconds = time.perf_counter() - started
    outcomes = []
    for check in checks:
        if check.name in results:
            outcomes.append(replace(_outcome(check, results[check.name]), definition=check.definition))
        else:
            outcomes.append(
                CheckOutcome(
                    check.name,
                    True,
                    0.0,
                    check.threshold,
                    f"no rows: {check.holds}",
                    definition=check.definition,
                )
            )
    return outcomes, seconds


def _failing_keys(result: dict[str, Any]) -> list[str]:
    """Only the key column of GX's failing sample: the failing values themselves are never kept."""
    keys = [
        str(row[KEY_COLUMN]) for row in result.get("partial_unexpected_index_list") or [] if KEY_COLUMN in row
    ]
    return list(dict.fromkeys(keys))[:MAX_FAILING_KEYS]


def _raised(info: Any) -> bool:
    """GX 1.x reports an error either flat or keyed by the metric that raised it."""
    if not isinstance(info, dict):
        return False
    if info.get("raised_exception"):
        return True
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def _outcome(check: Expect, result: Any) -> CheckOutcome:
    if _raised(result.exception_info):
        # GX's error message may quote values: it is not copied
        return CheckOutcome(
            check.name, False, 0.0, check.threshold, f"GX raised an error evaluating it: {check.holds}"
        )
    detail = result.result or {}
    failing = int(detail.get("unexpected_count") or 0)
    rows = int(detail.get("element_count") or 0)
    checked = rows - int(detail.get("missing_count") or 0)
    keys = _failing_keys(detail)
    if check.tolerance is not None:
        of = rows if check.share_of_all_rows else checked
        share = failing / of if of else 0.0
        # GX judged `mostly` over the rows it read; a share of all rows is judged here
        success = share <= check.tolerance if check.share_of_all_rows else bool(result.success)
        verdict = "within" if success else "above"
        description = (
            f"{failing} of {of} row(s) fail ({share:.1%}), {verdict} the tolerated {check.tolerance * 100:g}%: "
            f"{check.holds}"
        )
        return CheckOutcome(check.name, success, round(share, 6), check.tolerance, description, keys)
    description = (
        f"{check.holds}: {checked} row(s) checked"
        if result.success
        else (f"{failing} row(s) break it: {check.holds}")
    )
    return CheckOutcome(check.name, bool(result.success), float(failing), 0.0, description, keys)
