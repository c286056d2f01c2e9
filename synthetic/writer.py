"""Writing drops: canonical frames rendered in each source's own columns, formats and
encoding, with a few planted bad rows, plus the ground truth beside the drops.

Rendering follows the contract: canonical fields are renamed to the source's
columns, dates are written with the contract's first date format of the value's
precision (day / month / year), codes are mapped back to the source's own codes,
and CSV files are encoded as the contract says (cp1252, latin-1 ...). Files are
written deterministically (rows ordered by record id, fixed Parquet options), so the
same arguments give byte-identical drops.

Bad rows: in each file, about 0.02 % of rows (at least two in files of 50 rows or
more, one from 20 rows) get an unparseable date, an empty required field or a
non-numeric amount, so that ingestion's quarantine has something to catch; each is
listed in
``truth/bad_rows.parquet``. People involved in a planted delivery error never get a
bad row, so the planted truth stays visible to the warehouse.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from synthetic.noise import MONTH, YEAR
from synthetic.sources import EXTRA, Contract, DropFile

DATE_FIELDS = ("date_of_birth", "enrolment_date", "date_of_death", "assessment_date")
AMOUNT_FIELDS = ("benefit_amount", "income_annual")
BAD_ROW_RATE = 0.0002


def money(expr: pl.Expr) -> pl.Expr:
    """An amount as text with two decimals (``450.00``), as payroll exports write it."""
    cents = (expr * 100).round(0).cast(pl.Int64).cast(pl.String).str.zfill(3)
    return cents.str.slice(0, cents.str.len_chars() - 2) + "." + cents.str.slice(-2)


def _date_text(contract: Contract, column: pl.Expr, precision: pl.Expr | None) -> pl.Expr:
    """A date field in the contract's format for its precision (day when the contract has no
    format for the precision: 1 January or the 1st of the month stands in, as sources do)."""
    day_fmt = contract.format_for("day") or contract.date_formats[0]
    expr = column.dt.to_string(day_fmt)
    if precision is None:
        return expr
    for code, kind in ((MONTH, "month"), (YEAR, "year")):
        fmt = contract.format_for(kind)
        if fmt is not None:
            expr = pl.when(precision == code).then(column.dt.to_string(fmt)).otherwise(expr)
    return expr


def _code_text(contract: Contract, field: str, rng: np.random.Generator, n: int) -> pl.Expr:
    """Canonical codes back to the source's codes; where several source codes mean the same,
    each row uses one of them at random."""
    mapping = contract.codes.get(field)
    if not mapping:
        return pl.col(field)
    by_code: dict[str, list[str]] = {}
    for source_value, code in mapping.items():
        by_code.setdefault(code, []).append(source_value)
    draw = pl.Series(rng.integers(0, 1000, n))
    expr: pl.Expr = pl.lit(None, pl.String)
    for code, values in sorted(by_code.items()):
        pick_value: pl.Expr = pl.lit(values[0])
        for i, value in enumerate(values[1:], start=1):
            pick_value = pl.when(pl.lit(draw) % len(values) == i).then(pl.lit(value)).otherwise(pick_value)
        expr = pl.when(pl.col(field) == code).then(pick_value).otherwise(expr)
    return expr


def render(
    contract: Contract, drop: DropFile, rng: np.random.Generator, amount_as_text: bool
) -> pl.DataFrame:
    """The drop file's rows as the source writes them: its column names, its formats.

    CSV columns are all text. Parquet keeps numbers numeric (unless the source writes
    amounts as text) and dates as text in the contract's format.
    """
    frame = drop.frame.sort("_record_id")
    csv = contract.file_format == "csv"
    precision = pl.col("_dob_precision") if "_dob_precision" in frame.columns else None
    exprs: list[pl.Expr] = [pl.col("_record_id").alias(contract.record_id)]
    for field, column in contract.columns.items():
        if column == contract.record_id:
            continue
        if field not in frame.columns:
            raise ValueError(f"source {contract.name!r}: the generator has no values for field {field!r}")
        value = pl.col(field)
        if field in DATE_FIELDS:
            value = _date_text(contract, value, precision if field == "date_of_birth" else None)
        elif field == "period":
            value = value.dt.to_string(contract.period_formats[0])
        elif field in contract.codes:
            value = _code_text(contract, field, rng, frame.height)
        elif field in AMOUNT_FIELDS:
            value = money(value) if (csv or amount_as_text) else value.cast(pl.Float64)
        elif field == "tax_year":
            value = value.cast(pl.String) if csv else value.cast(pl.Int32)
        exprs.append(value.alias(column))
    for extra in [c for c in frame.columns if c.startswith(EXTRA)]:
        value = pl.col(extra)
        if frame.schema[extra] == pl.Date:
            value = _date_text(contract, value, None)
        elif csv:
            value = value.cast(pl.String)
        exprs.append(value.alias(extra[len(EXTRA) :]))
    return frame.select(exprs)


def bad_row_count(rows: int) -> int:
    """A handful per file: about 0.02 %; at least two in files of 50 rows or more, one from 20."""
    if rows < 20:
        return 0
    return max(1 if rows < 50 else 2, round(rows * BAD_ROW_RATE))


def plant_bad_rows(
    contract: Contract,
    rendered: pl.DataFrame,
    person: np.ndarray,
    protected: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, list[dict[str, str]]]:
    """Break a few rows the way real exports do; returns the file's rows and the truth rows
    (record id, reason, canonical field)."""
    count = bad_row_count(rendered.height)
    eligible_rows = np.flatnonzero(~protected[person])
    if count == 0 or eligible_rows.size == 0:
        return rendered, []
    text = {c for c, t in rendered.schema.items() if t == pl.String}
    options = {
        "unparseable_date": [f for f in DATE_FIELDS if contract.columns.get(f) in text],
        "empty_required_field": [f for f in contract.required if contract.columns[f] != contract.record_id],
        "non_numeric_amount": [f for f in AMOUNT_FIELDS if contract.columns.get(f) in text],
    }
    reasons = [r for r, fields in options.items() if fields]
    if not reasons:
        return rendered, []
    rows = np.sort(rng.choice(eligible_rows, size=min(count, eligible_rows.size), replace=False))
    columns = {c: rendered[c].clone() for c in rendered.columns}
    truth = []
    day_fmt = contract.format_for("day") or contract.date_formats[0]
    for i, row in enumerate(rows.tolist()):
        reason = reasons[(i + int(rng.integers(0, len(reasons)))) % len(reasons)]
        field = options[reason][int(rng.integers(0, len(options[reason])))]
        column = contract.columns[field]
        if reason == "unparseable_date":
            year = str(int(rng.integers(1940, 2020)))
            impossible = (
                day_fmt.replace("%d", "31").replace("%m", "02").replace("%Y", year).replace("%y", year[2:])
            )
            value: str | None = impossible if rng.random() < 0.7 else "UNKNOWN"
        elif reason == "empty_required_field":
            value = None if contract.file_format == "parquet" else ""
        else:
            value = ["N/A", "1,2OO.00", "abc", "-"][int(rng.integers(0, 4))]
        columns[column] = columns[column].scatter(row, value)
        truth.append(
            {"source_record_id": str(rendered[contract.record_id][row]), "reason": reason, "field": field}
        )
    return pl.DataFrame(columns), truth


def write_file(contract: Contract, rows: pl.DataFrame, path: Path) -> None:
    """Write one drop file in the contract's format and encoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if contract.file_format == "parquet":
        rows.write_parquet(
            path, compression="zstd", compression_level=3, statistics=True, row_group_size=250_000
        )
        return
    if contract.encoding in ("utf-8", "utf8"):
        rows.write_csv(path, separator=contract.delimiter, quote_char=contract.quote, include_header=True)
        return
    text = rows.write_csv(separator=contract.delimiter, quote_char=contract.quote, include_header=True)
    with path.open("wb") as handle:
        handle.write(text.encode(contract.encoding))


def extension(contract: Contract) -> str:
    return ".parquet" if contract.file_format == "parquet" else ".csv"
