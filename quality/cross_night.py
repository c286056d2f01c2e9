"""Cross-night checks: tonight against the latest earlier night that has a value.

Plain functions over the pipeline's DuckDB connection; the history they compare with
is what the warehouse keeps across nights anyway, so they need no state of their own:

- `drop_volume`: rows in tonight's files against the previous drop, from `audit.files`;
- `national_id_share`: share of the rows landed with a valid national id, from
  `raw.<source>` (which keeps every night's rows with `_night`);
- `linked_share` and `cluster_size_distribution`: tonight from
  `registry.person_source_link`, earlier nights from `linkage.record_person` (one row per
  night and record; `audit.linkage_runs` keeps only records and persons per night).

Each outcome's `observed` is the signed change against the earlier night (a relative
change for the volume, a change in points of a share for the others) and `threshold`
the change allowed (`<home>/checks.yaml` thresholds); the description gives both nights'
values. A night without an earlier one to compare passes and says so.

Two rules keep small numbers from raising false alarms (synthetic and real deltas of a
dozen rows swing by half from month to month):

- a delta source's first drop is its initial full load: later drops, which hold only
  the new and changed records, are compared with each other, never with it;
- a drop volume change of fewer than `VOLUME_MIN_ROWS_CHANGE` rows is not judged, nor a
  national id share over fewer than `SHARE_MIN_ROWS` rows (on either night).

Example::

    source_cross_night(con, contracts["tax_registry"], date(2026, 4, 1), CheckConfig(), country)
    linkage_drift(con, date(2026, 4, 1), CheckConfig())
"""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb

from core.country import Country
from core.sqlutil import qualified, table_exists
from ingest.contracts import Contract
from ingest.fields import text_sql
from ingest.landing import ensure_schema
from quality.checks import CheckConfig
from quality.expectations import country_params, national_id_std_sql, national_id_valid_sql
from quality.reconcile import CheckOutcome
from staging.standardise import register_functions

VOLUME_MIN_ROWS_CHANGE = 20
SHARE_MIN_ROWS = 100
LARGE_CLUSTER_RECORDS = 5

# name -> what holds when it passes, in the order the functions report them (for Dagster check specs)
SOURCE_CROSS_NIGHT_CHECKS = {
    "drop_volume": "rows in tonight's files within ±drop_volume_change of the previous drop's",
    "national_id_share": "share of rows with a valid national id falls by at most national_id_share_drop points",
}
LINKAGE_DRIFT_CHECKS = {
    "linked_share": "share of records linked to another record moves by at most linked_share_change points",
    "cluster_size_distribution": (
        f"share of persons with {LARGE_CLUSTER_RECORDS}+ records moves by at most large_cluster_share_change points"
    ),
}


def source_cross_night(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    night: date,
    config: CheckConfig,
    country: Country,
    valid_tonight: int | None = None,
) -> list[CheckOutcome]:
    """`drop_volume` and `national_id_share` of one source's drop, against its previous drop.

    `valid_tonight`: tonight's rows with a valid national id when the source suite already counted
    them (`SuiteResult.valid_national_ids`); otherwise they are counted here.
    """
    return [
        drop_volume(con, contract, night, config),
        national_id_share(con, contract, night, config, country, valid_tonight),
    ]


def _baseline(candidates: list[date], night: date, initial_load: date | None) -> date | None:
    """The latest candidate night before `night`, never a delta source's initial (full) load."""
    earlier = [n for n in candidates if n < night and n != initial_load]
    return max(earlier) if earlier else None


def _initial_load(contract: Contract, nights: list[date]) -> date | None:
    """A delta source's first drop holds everything so far: it is no baseline for the deltas after it."""
    return min(nights) if contract.drop_mode == "delta" and nights else None


def _no_baseline(initial_load: date | None, night: date) -> str:
    if initial_load is not None and initial_load < night:
        return f"first delta drop after the initial load of {initial_load}: no earlier delta to compare with"
    return "first drop of this source: nothing earlier to compare with"


def drop_volume(
    con: duckdb.DuckDBPyConnection, contract: Contract, night: date, config: CheckConfig
) -> CheckOutcome:
    """Rows in tonight's files (audit.files rows_in) against the latest earlier night with rows.

    A snapshot source that sends its file again byte for byte (landing records it as a
    duplicate and lands nothing) has sent the same rows as before: the file counts the rows
    of the file it repeats. A delta source's repeated file brought nothing new and counts none.
    """
    allowed = config.thresholds["drop_volume_change"]
    if not table_exists(con, "audit", "files"):
        return CheckOutcome("drop_volume", True, 0.0, allowed, "no drop tonight")
    repeats_count = contract.drop_mode == "snapshot"
    rows = con.execute(
        """
        select f.night,
               sum(case when f.status = 'duplicate' and $repeats_count then coalesce(o.rows_in, 0)
                        else f.rows_in end)::bigint,
               count(*) filter (where f.status = 'duplicate')
        from audit.files f
        left join (
            -- the landed file each repeat repeats: from an earlier night (a copy sent twice in one night
            -- is one file's rows), and landed (a rejected file's bytes sent again are no drop)
            select file_sha256, min(night) as night, max(rows_in) as rows_in from audit.files
            where source = $source and status in ('accepted', 'partial', 'empty') group by file_sha256
        ) o on f.status = 'duplicate' and o.file_sha256 = f.file_sha256 and o.night < f.night
        where f.source = $source and f.night <= $night
        group by f.night order by f.night
        """,
        {"source": contract.name, "night": night, "repeats_count": repeats_count},
    ).fetchall()
    by_night = {n: int(count) for n, count, _ in rows}
    if night not in by_night:
        return CheckOutcome("drop_volume", True, 0.0, allowed, "no drop tonight")
    tonight = by_night[night]
    repeated = next(int(k) for n, _, k in rows if n == night)
    initial_load = _initial_load(contract, list(by_night))
    baseline = _baseline([n for n, count in by_night.items() if count > 0], night, initial_load)
    if baseline is None:
        return CheckOutcome(
            "drop_volume", True, 0.0, allowed, f"{tonight} row(s) in; {_no_baseline(initial_load, night)}"
        )
    before = by_night[baseline]
    change = tonight / before - 1
    within = abs(change) <= allowed
    small = abs(tonight - before) < VOLUME_MIN_ROWS_CHANGE
    description = f"{tonight} row(s) in vs {before} on {baseline}: {change:+.1%}, allowed ±{allowed:.0%}"
    if repeated:
        counted = "counted with the rows of the file each repeats" if repeats_count else "counted as no rows"
        description += f"; {repeated} file(s) repeat one already landed, {counted}"
    if small and not within:
        description += f"; passed: a change of fewer than {VOLUME_MIN_ROWS_CHANGE} rows is not judged"
    return CheckOutcome("drop_volume", within or small, round(change, 6), allowed, description)


def national_id_share(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    night: date,
    config: CheckConfig,
    country: Country,
    valid_tonight: int | None = None,
) -> CheckOutcome:
    """Share of tonight's landed rows with a valid national id (staging's test) against the previous drop's.

    Fails when it falls by more than `national_id_share_drop` points; a rise always passes. Each
    night's counts are kept in `audit.drop_stats`, so the previous drop is not read again (testing
    every id's check digit is the costly part); a night without kept counts is counted from raw.
    """
    allowed = config.thresholds["national_id_share_drop"]
    column = contract.column_for("national_id")
    if column is None:
        return CheckOutcome("national_id_share", True, 0.0, allowed, "national_id not mapped by the contract")
    if not table_exists(con, "raw", contract.name):
        return CheckOutcome("national_id_share", True, 0.0, allowed, "no drop tonight")
    table = qualified("raw", contract.name)
    rows = dict(
        con.execute(
            f"select _night, count(*) from {table} where _night <= $night group by _night", {"night": night}
        ).fetchall()
    )
    if night not in rows:
        return CheckOutcome("national_id_share", True, 0.0, allowed, "no rows landed tonight")
    judged = [n for n, count in rows.items() if count >= SHARE_MIN_ROWS]
    baseline = _baseline(judged, night, _initial_load(contract, list(rows)))
    ensure_schema(con)  # audit.drop_stats
    params = country_params(country)
    rule = hashlib.sha256(
        f"{column}\n{params['national_id_pattern']}\n{params['national_id_check_digit']}".encode()
    ).hexdigest()
    kept = con.execute(
        "select night, rows_landed, valid_national_ids from audit.drop_stats "
        "where source = $source and night = $baseline and id_rule = $rule",
        {"source": contract.name, "baseline": baseline, "rule": rule},
    ).fetchall()
    # counts kept for the baseline hold only while its rows are the same (a night landed again may differ)
    # and were made under tonight's rule (country.yaml or the contract's id column may have changed)
    valid = {n: int(v) for n, landed, v in kept if landed == rows[n]}
    if valid_tonight is not None:
        valid[night] = valid_tonight
    missing = [n for n in (night, baseline) if n is not None and n not in valid]
    if missing:
        register_functions(con)
        valid |= dict(
            con.execute(
                f"select _night, count(*) filter (where {national_id_valid_sql('_std')}) "
                f"from (select _night, {national_id_std_sql(text_sql(column))} as _std from {table} "
                "where list_contains($nights, _night)) group by _night",
                {"nights": missing, **params},
            ).fetchall()
        )
    total = int(rows[night])
    con.execute(
        "insert or replace into audit.drop_stats values ($source, $night, $rows, $valid, $rule)",
        {"source": contract.name, "night": night, "rows": total, "valid": valid[night], "rule": rule},
    )
    share = valid[night] / total
    if total < SHARE_MIN_ROWS:
        return CheckOutcome(
            "national_id_share",
            True,
            0.0,
            allowed,
            f"{share:.1%} of {total} row(s) have a valid national id; under {SHARE_MIN_ROWS} rows a share is not judged",
        )
    if baseline is None:
        return CheckOutcome(
            "national_id_share",
            True,
            0.0,
            allowed,
            f"{share:.1%} of {total} row(s) have a valid national id; no earlier drop of {SHARE_MIN_ROWS}+ rows "
            "to compare with",
        )
    before = valid[baseline] / rows[baseline]
    change = share - before
    return CheckOutcome(
        "national_id_share",
        change >= -allowed,
        round(change, 6),
        allowed,
        f"{share:.1%} of {total} row(s) have a valid national id vs {before:.1%} on {baseline}: "
        f"{change * 100:+.1f} points, a fall of up to {allowed * 100:.0f} points allowed",
    )


def _cluster_shares(
    con: duckdb.DuckDBPyConnection, links: str, params: dict[str, object]
) -> tuple[int, float, float]:
    """Records, share of records in a person with 2+ records, share of persons with 5+ records."""
    records, linked, large = con.execute(
        f"""
        with persons as (select person_id, count(*) as records from ({links}) group by person_id)
        select coalesce(sum(records), 0)::bigint,
               coalesce(sum(records) filter (where records >= 2) / sum(records), 0),
               coalesce(count(*) filter (where records >= {LARGE_CLUSTER_RECORDS}) / nullif(count(*), 0), 0)
        from persons
        """,
        params,
    ).fetchall()[0]
    return int(records), float(linked), float(large)


def linkage_drift(con: duckdb.DuckDBPyConnection, night: date, config: CheckConfig) -> list[CheckOutcome]:
    """`linked_share` and `cluster_size_distribution` tonight against the latest earlier linked night."""
    linked_allowed = config.thresholds["linked_share_change"]
    large_allowed = config.thresholds["large_cluster_share_change"]
    records, linked, large = _cluster_shares(con, "select person_id from registry.person_source_link", {})
    if records == 0:
        return [
            CheckOutcome("linked_share", True, 0.0, linked_allowed, "no linked records tonight"),
            CheckOutcome("cluster_size_distribution", True, 0.0, large_allowed, "no linked records tonight"),
        ]
    previous = None
    if table_exists(con, "linkage", "record_person"):
        previous = con.execute(
            "select max(night) from linkage.record_person where night < $night", {"night": night}
        ).fetchall()[0][0]
    if previous is None:
        first = "first linked night: nothing earlier to compare with"
        return [
            CheckOutcome(
                "linked_share",
                True,
                0.0,
                linked_allowed,
                f"{linked:.1%} of {records} records share their person with another record; {first}",
            ),
            CheckOutcome(
                "cluster_size_distribution",
                True,
                0.0,
                large_allowed,
                f"{large:.2%} of persons have {LARGE_CLUSTER_RECORDS}+ records; {first}",
            ),
        ]
    _, linked_before, large_before = _cluster_shares(
        con, "select person_id from linkage.record_person where night = $previous", {"previous": previous}
    )
    linked_change = linked - linked_before
    large_change = large - large_before
    return [
        CheckOutcome(
            "linked_share",
            abs(linked_change) <= linked_allowed,
            round(linked_change, 6),
            linked_allowed,
            f"{linked:.1%} of {records} records share their person with another record vs {linked_before:.1%} "
            f"on {previous}: {linked_change * 100:+.2f} points, allowed ±{linked_allowed * 100:g} points",
        ),
        CheckOutcome(
            "cluster_size_distribution",
            abs(large_change) <= large_allowed,
            round(large_change, 6),
            large_allowed,
            f"{large:.2%} of persons have {LARGE_CLUSTER_RECORDS}+ records vs {large_before:.2%} on {previous}: "
            f"{large_change * 100:+.2f} points, allowed ±{large_allowed * 100:g} points",
        ),
    ]
