"""Landing: one night's drop files of one source into `raw.<source>`, bad rows into quarantine.

Every file ends in `audit.files` with `rows_in = rows_accepted + rows_rejected`:
- accepted rows go to `raw.<source>` with lineage (file, row number, sha256, night);
- rows DuckDB's CSV reader cannot parse, rows without a record id, and rows whose
  required fields (the contract's `required`) are empty or unreadable go to
  `audit.quarantine` with the row number, the field and the reason;
- an unreadable value of an optional field (a malformed date, a code outside `codes`, a
  non-numeric amount) keeps its row: staging reads it as null, and `audit.field_issues`
  records the row, the field and the rule;
- files that cannot be read at all (empty, wrong encoding, missing columns, corrupt
  Parquet, no contract for their folder) are copied whole to `<home>/quarantine/`
  and recorded as rejected.

A file whose path and bytes were already landed is skipped, so rerunning a night
adds nothing. Reasons name the file, row and field, never a value: they reach logs.
"""

from __future__ import annotations

import codecs
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from ingest.contracts import Contract
from ingest.fields import contract_checks, field_issue_sql, field_problem_sql, record_id_problem_sql
from ingest.sqlutil import literal, qualified, quote_ident, read_sql, table_exists

LINEAGE_COLUMNS = {
    "_file": "varchar",
    "_row_number": "bigint",
    "_file_sha256": "varchar",
    "_night": "date",
    "_ingested_at": "timestamp",
}
DATA_SUFFIXES = {".csv": "csv", ".parquet": "parquet"}
CHUNK = 1 << 22


def _is_nested(duckdb_type: str) -> bool:
    """A column type holding more than one value per row: STRUCT(...), MAP(...), UNION(...), X[] or X[n]."""
    return duckdb_type.startswith(("STRUCT", "MAP", "UNION")) or duckdb_type.endswith("]")


class FileRejected(Exception):
    """The whole file is set aside; the message is the reason (no personal data)."""

    def __init__(self, reason: str, rows_in: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rows_in = rows_in


@dataclass(frozen=True)
class FileResult:
    source: str
    file_path: str
    status: str
    reason: str | None
    rows_in: int
    rows_accepted: int
    rows_rejected: int


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(read_sql("audit/schema.sql"))


def drop_folder(home: Path, source: str, night: date) -> Path:
    return home / "drops" / source / night.isoformat()


def drop_files(folder: Path) -> list[Path]:
    """The files of one drop folder, in name order; dot- and underscore-files (manifests) are not data."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def count_data_lines(path: Path) -> int:
    """Physical lines after the header; what a rejected CSV is counted as."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def parquet_rows(path: Path) -> int:
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:
        return 0


def _utf8_copy(path: Path, encoding: str, workdir: Path) -> Path:
    """Check the declared encoding strictly and return a UTF-8 file DuckDB can read.

    DuckDB reads UTF-8 itself; other encodings are transcoded here in chunks, because
    its `encodings` extension would have to be downloaded. A file that does not decode,
    or a file declared cp1252/latin-1 that is in fact UTF-8 (it would land as mojibake),
    is rejected with the line of the first offending byte.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    utf8_check = codecs.getincrementaldecoder("utf-8")(errors="strict") if encoding != "utf-8" else None
    utf8_valid, saw_non_ascii = True, False
    target = path if encoding == "utf-8" else workdir / (path.name + ".utf8")
    out = None if encoding == "utf-8" else target.open("w", encoding="utf-8", newline="")
    lines_before = 0
    offset = 0
    try:
        with path.open("rb") as handle:
            while True:
                chunk = handle.read(CHUNK)
                final = not chunk
                try:
                    text = decoder.decode(chunk, final=final)
                except UnicodeDecodeError as exc:
                    line = lines_before + chunk[: max(exc.start, 0)].count(b"\n") + 1
                    raise FileRejected(
                        f"not valid {encoding} (the contract's file.encoding): line {line}, "
                        f"byte {offset + max(exc.start, 0)}",
                        rows_in=count_data_lines(path),
                    ) from None
                if utf8_check is not None and utf8_valid:
                    saw_non_ascii = saw_non_ascii or any(b > 127 for b in chunk)
                    try:
                        utf8_check.decode(chunk, final=final)
                    except UnicodeDecodeError:
                        utf8_valid = False
                if out is not None:
                    out.write(text)
                if final:
                    break
                lines_before += chunk.count(b"\n")
                offset += len(chunk)
    finally:
        if out is not None:
            out.close()
    if utf8_check is not None and utf8_valid and saw_non_ascii:
        raise FileRejected(
            f"declared {encoding} (the contract's file.encoding) but the file is UTF-8: "
            "its accented letters would land garbled",
            rows_in=count_data_lines(path),
        )
    return target


class Lander:
    """Lands the drop files of one night into one DuckDB connection.

    `dry_run`: the same checks on every file and row, but a rejected file is not copied to
    `quarantine/`; given a scratch connection (`ibr validate-sources`) nothing of the deployment changes.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, home: Path, night: date, dry_run: bool = False
    ) -> None:
        self.con = con
        self.home = home
        self.night = night
        self.dry_run = dry_run
        ensure_schema(con)

    # -- bookkeeping -------------------------------------------------------------------------

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.home / "drops").as_posix()

    def _previous(self, source: str, rel: str) -> tuple[str, FileResult] | None:
        rows = self.con.execute(
            "select file_sha256, status, reason, rows_in, rows_accepted, rows_rejected "
            "from audit.files where source = $1 and file_path = $2",
            [source, rel],
        ).fetchall()
        if not rows:
            return None
        sha, status, reason, rows_in, acc, rej = rows[0]
        return sha, FileResult(source, rel, status, reason, rows_in, acc, rej)

    def _forget(self, source: str, rel: str) -> None:
        """A file replaced in place (same path, new bytes) is landed afresh: drop what the old one left."""
        self.con.execute("delete from audit.quarantine where source = $1 and file_path = $2", [source, rel])
        self.con.execute("delete from audit.field_issues where source = $1 and file_path = $2", [source, rel])
        self.con.execute("delete from audit.files where source = $1 and file_path = $2", [source, rel])
        if table_exists(self.con, "raw", source):
            self.con.execute(f"delete from {qualified('raw', source)} where _file = $1", [rel])

    def _record(self, result: FileResult, sha: str | None, size: int) -> FileResult:
        assert result.rows_in == result.rows_accepted + result.rows_rejected, result
        self.con.execute(
            "insert into audit.files values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, current_timestamp)",
            [
                self.night,
                result.source,
                result.file_path,
                sha,
                size,
                result.status,
                result.reason,
                result.rows_in,
                result.rows_accepted,
                result.rows_rejected,
            ],
        )
        return result

    def _set_aside(self, path: Path, source: str) -> None:
        if self.dry_run:
            return
        target = self.home / "quarantine" / self.night.isoformat() / source / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)

    def _reject(self, path: Path, source: str, sha: str | None, size: int, exc: FileRejected) -> FileResult:
        self._set_aside(path, source)
        rel = self._relative(path)
        return self._record(
            FileResult(source, rel, "rejected", exc.reason, exc.rows_in, 0, exc.rows_in), sha, size
        )

    # -- public ------------------------------------------------------------------------------

    def land_unknown(self, known_sources: set[str]) -> list[FileResult]:
        """Files in drop folders that name no contract: set aside and recorded, never dropped silently."""
        results: list[FileResult] = []
        drops = self.home / "drops"
        if not drops.is_dir():
            return results
        for folder in sorted(p for p in drops.iterdir() if p.is_dir() and p.name not in known_sources):
            for path in drop_files(folder / self.night.isoformat()):
                rel = self._relative(path)
                sha = sha256_of(path)
                previous = self._previous(folder.name, rel)
                if previous and previous[0] == sha:
                    results.append(previous[1])
                    continue
                if previous:
                    self._forget(folder.name, rel)
                rows = parquet_rows(path) if path.suffix.lower() == ".parquet" else count_data_lines(path)
                reason = f"folder drops/{folder.name} names no known source; add sources/{folder.name}.yaml"
                results.append(
                    self._reject(path, folder.name, sha, path.stat().st_size, FileRejected(reason, rows))
                )
        return results

    def land_source(self, contract: Contract) -> list[FileResult]:
        """Land every file of this night's drop folder of one source."""
        return [
            self.land_file(contract, path)
            for path in drop_files(drop_folder(self.home, contract.name, self.night))
        ]

    def land_file(self, contract: Contract, path: Path) -> FileResult:
        source = contract.name
        rel = self._relative(path)
        size = path.stat().st_size
        sha = sha256_of(path)
        previous = self._previous(source, rel)
        # a file landed before is not landed twice; a rejected one is tried again (its contract may be fixed)
        if previous and previous[0] == sha and previous[1].status != "rejected":
            return previous[1]
        if previous:
            self._forget(source, rel)

        # a file whose bytes were rejected before is tried again: its contract may have been fixed since
        same_bytes = self.con.execute(
            "select file_path from audit.files where source = $1 and file_sha256 = $2 "
            "and status not in ('duplicate', 'rejected') order by file_path limit 1",
            [source, sha],
        ).fetchall()
        if same_bytes:
            reason = f"same bytes as {same_bytes[0][0]}, already landed; its rows are not landed twice"
            return self._record(FileResult(source, rel, "duplicate", reason, 0, 0, 0), sha, size)

        suffix_format = DATA_SUFFIXES.get(path.suffix.lower())
        try:
            if size == 0:
                raise FileRejected("empty file: no header and no rows")
            if suffix_format != contract.file.format:
                raise FileRejected(
                    f"file type {path.suffix or '(none)'} but the contract's file.format is {contract.file.format}",
                    rows_in=count_data_lines(path) if suffix_format == "csv" else parquet_rows(path),
                )
            with tempfile.TemporaryDirectory(prefix="ibr-landing-") as workdir:
                if contract.file.format == "csv":
                    return self._land_csv(contract, path, rel, sha, size, Path(workdir))
                return self._land_parquet(contract, path, rel, sha, size)
        except FileRejected as exc:
            self.con.execute("drop table if exists _landing")
            return self._reject(path, source, sha, size, exc)

    # -- readers -----------------------------------------------------------------------------

    def _check_columns(self, contract: Contract, header: list[str], rows_in: int) -> None:
        missing = [c for c in contract.source_columns if c not in header]
        if missing:
            described = ", ".join(f"{c!r} ({', '.join(contract.fields_of_column(c))})" for c in missing)
            shown = ", ".join(repr(h) for h in header[:40])
            raise FileRejected(f"missing column(s) {described}; the file has: {shown}", rows_in=rows_in)

    def _land_csv(
        self, contract: Contract, path: Path, rel: str, sha: str, size: int, workdir: Path
    ) -> FileResult:
        readable = _utf8_copy(path, contract.file.encoding, workdir)
        options = {"d": contract.file.delimiter, "q": contract.file.quote}
        read = (
            "read_csv($p, all_varchar = true, header = true, delim = $d, quote = $q, escape = $q, "
            "store_rejects = true, rejects_table = '_rejects', rejects_scan = '_rejects_scan', "
            "null_padding = false, sample_size = -1)"
        )
        self.con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
        try:
            header = [
                row[0]
                for row in self.con.execute(
                    f"select column_name from (describe select * from {read})",
                    {"p": str(readable), **options},
                ).fetchall()
            ]
        except duckdb.Error as exc:
            raise FileRejected(
                f"unreadable as CSV with delimiter {contract.file.delimiter!r}: {type(exc).__name__}",
                rows_in=count_data_lines(path),
            ) from None
        self._check_columns(contract, header, count_data_lines(path))
        self.con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
        try:
            self.con.execute(
                f"create or replace temp table _landing as "
                f"select row_number() over () as _ordinal, * from {read}",
                {"p": str(readable), **options},
            )
        except duckdb.Error as exc:
            raise FileRejected(
                f"unreadable as CSV: {type(exc).__name__}", rows_in=count_data_lines(path)
            ) from None

        # Rows DuckDB could not parse: one quarantine row per line, with its error types and columns.
        self.con.execute(
            """
            create or replace temp table _bad_lines as
            select line, string_agg(distinct error_type || coalesce(' at column ' || column_name, ''), '; ') as reason,
                   any_value(csv_line) as csv_line
            from _rejects group by line
            """
        )
        # Accepted row i is data line i plus the rejected lines before it (header = line 1).
        self.con.execute(
            """
            create or replace temp table _landing as
            with bad as (select line - 1 - row_number() over (order by line) as accepted_before from _bad_lines)
            select l.*, l._ordinal + 1 + (select count(*) from bad where bad.accepted_before < l._ordinal) as _row_number
            from _landing l
            """
        )
        self.con.execute(
            """
            insert into audit.quarantine
            select $night, $source, $file, line, null, null, 'CSV row unreadable: ' || reason, csv_line,
                   current_timestamp
            from _bad_lines
            """,
            {"night": self.night, "source": contract.name, "file": rel},
        )
        unreadable = self.con.execute("select count(*) from _bad_lines").fetchall()[0][0]
        return self._validate_and_insert(contract, rel, sha, size, unreadable, parquet=False)

    def _land_parquet(self, contract: Contract, path: Path, rel: str, sha: str, size: int) -> FileResult:
        try:
            rel_ = self.con.sql("select * from read_parquet($p) limit 0", params={"p": str(path)})
            header = list(rel_.columns)
        except duckdb.Error as exc:
            raise FileRejected(
                f"unreadable as Parquet (truncated or corrupt): {type(exc).__name__}"
            ) from None
        self._check_columns(contract, header, parquet_rows(path))
        nested = [
            f"{name} ({kind})"
            for name, kind in zip(rel_.columns, rel_.types, strict=True)
            if name in contract.source_columns and _is_nested(str(kind))
        ]
        if nested:
            raise FileRejected(
                f"column(s) {', '.join(nested)} hold nested values (a struct, list or map); the contract maps "
                "them onto plain fields (text, number, date): flatten them in the export",
                rows_in=parquet_rows(path),
            )
        cast = ", ".join(
            f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in contract.source_columns
        )
        try:
            self.con.execute(
                f"create or replace temp table _landing as "
                f"select file_row_number + 1 as _row_number, {cast} "
                f"from read_parquet($p, file_row_number = true)",
                {"p": str(path)},
            )
        except duckdb.Error as exc:
            raise FileRejected(
                f"unreadable as Parquet (truncated or corrupt): {type(exc).__name__}",
                rows_in=parquet_rows(path),
            ) from None
        return self._validate_and_insert(contract, rel, sha, size, 0, parquet=True)

    def _validate_and_insert(
        self, contract: Contract, rel: str, sha: str, size: int, unreadable: int, parquet: bool
    ) -> FileResult:
        """Check each mapped field against its type: rows with a bad id or required field to quarantine,
        the others to raw, with each unreadable optional value in audit.field_issues."""
        problems = [record_id_problem_sql(contract)]
        for canonical, column in contract.columns.items():
            problems.append(field_problem_sql(contract, canonical, column, parquet=parquet))
        issues = [field_issue_sql(c) for c in contract_checks(contract, parquet=parquet) if not c.strict]
        issue_list = (
            f"list_filter([{', '.join(issues)}], lambda i: i is not null)"
            if issues
            else "cast([] as struct(field varchar, source_column varchar, rule varchar, reason varchar)[])"
        )
        self.con.execute(
            "create or replace temp table _checked as select *, "
            f"list_filter([{', '.join(problems)}], lambda p: p is not null) as _problems, "
            f"{issue_list} as _issues from _landing"
        )
        columns = contract.source_columns
        record = (
            "to_json(struct_pack("
            + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns)
            + "))"
        )
        params = {"night": self.night, "source": contract.name, "file": rel}
        self.con.execute(
            f"""
            insert into audit.quarantine
            select $night, $source, $file, _row_number, nullif(trim({quote_ident(contract.record_id)}), ''),
                   split_part(_problems[1], ' (column ', 1),
                   array_to_string(_problems || list_transform(_issues, lambda i: i.reason), '; '),
                   {record}, current_timestamp
            from _checked where len(_problems) > 0
            """,
            params,
        )
        self.con.execute(
            f"""
            insert into audit.field_issues
            select $night, $source, $file, _row_number, source_record_id,
                   issue.field, issue.source_column, issue.rule, issue.reason, current_timestamp
            from (
                select _row_number, nullif(trim({quote_ident(contract.record_id)}), '') as source_record_id,
                       unnest(_issues) as issue
                from _checked where len(_problems) = 0
            )
            order by _row_number
            """,
            params,
        )
        self._ensure_raw_table(contract)
        column_list = ", ".join(quote_ident(c) for c in columns)
        self.con.execute(
            f"""
            insert into {qualified("raw", contract.name)} ({column_list}, {", ".join(LINEAGE_COLUMNS)})
            select {column_list}, $file, _row_number, $sha, $night, current_timestamp
            from _checked where len(_problems) = 0
            order by _row_number
            """,
            {"file": rel, "sha": sha, "night": self.night},
        )
        accepted, invalid, nulled = self.con.execute(
            "select count(*) filter (where len(_problems) = 0), count(*) filter (where len(_problems) > 0), "
            "coalesce(sum(len(_issues)) filter (where len(_problems) = 0), 0) from _checked"
        ).fetchall()[0]
        self.con.execute("drop table if exists _checked; drop table if exists _landing")
        rejected = invalid + unreadable
        rows_in = accepted + rejected
        if rows_in == 0:
            status, reason = "empty", "header only: no data rows"
        elif rejected:
            first = self.con.execute(
                "select row_number, reason from audit.quarantine where source = $1 and file_path = $2 "
                "order by row_number limit 1",
                [contract.name, rel],
            ).fetchall()[0]
            status, reason = "partial", f"{rejected} row(s) quarantined; first: row {first[0]}: {first[1]}"
        else:
            status, reason = "accepted", None
        if nulled:
            first = self.con.execute(
                "select row_number, reason from audit.field_issues where source = $1 and file_path = $2 "
                "order by row_number, field limit 1",
                [contract.name, rel],
            ).fetchall()[0]
            kept = f"{nulled} value(s) of optional fields unreadable, set to null with the row kept; first: row {first[0]}: {first[1]}"
            reason = f"{reason}; {kept}" if reason else kept
        return self._record(
            FileResult(contract.name, rel, status, reason, rows_in, accepted, rejected), sha, size
        )

    def _ensure_raw_table(self, contract: Contract) -> None:
        table = qualified("raw", contract.name)
        existing = {
            row[0]
            for row in self.con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' and table_name = $1",
                [contract.name],
            ).fetchall()
        }
        wanted = {c: "varchar" for c in contract.source_columns} | LINEAGE_COLUMNS
        if not existing:
            body = ", ".join(f"{quote_ident(c)} {t}" for c, t in wanted.items())
            self.con.execute(f"create table {table} ({body})")
            self.con.execute(
                f"comment on table {table} is "
                "'One row per accepted row of every landed file of this source, as landed (all text), with lineage.'"
            )
        for column, sql_type in wanted.items():
            if column not in existing:  # the contract gained a column: older rows keep null there
                if existing:
                    self.con.execute(f"alter table {table} add column {quote_ident(column)} {sql_type}")
                self.con.execute(
                    f"comment on column {table}.{quote_ident(column)} is {literal(_raw_column_comment(contract, column))}"
                )


RAW_LINEAGE_COMMENTS = {
    "_file": "File the row came from, relative to drops/.",
    "_row_number": "Line number of the row in that file (header = line 1); 1-based row for Parquet.",
    "_file_sha256": "SHA-256 of the file.",
    "_night": "Drop date (night) of the file.",
    "_ingested_at": "When the row was landed (UTC).",
}


def _raw_column_comment(contract: Contract, column: str) -> str:
    if column in RAW_LINEAGE_COMMENTS:
        return RAW_LINEAGE_COMMENTS[column]
    if column == contract.record_id:
        return "The source's record id, as landed."
    return f"Source column as landed (text); the contract maps it to {', '.join(contract.fields_of_column(column))}."


__all__ = [
    "FileRejected",
    "FileResult",
    "Lander",
    "drop_files",
    "drop_folder",
    "ensure_schema",
]
