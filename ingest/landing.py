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
  Parquet, over a size cap, no contract for their folder) are copied whole to
  `<home>/quarantine/` (mode 0600) and recorded as rejected, with their rows counted
  where they can be known;
- anything in a drop folder that is not a regular file (a symbolic link, a sub-folder,
  a pipe), and a drop folder that is itself a link, is recorded as rejected and never
  opened, read or copied (core.homefiles opens every file without following links).

A file whose path and bytes were already landed is skipped, so rerunning a night
adds nothing. Reasons name the file, line, column and rule, never a value: they reach
logs, Dagster's event log and the reports. DuckDB's own error texts can quote a value,
so only their exception type (and a line number found in them) is ever passed on.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from core.homefiles import DropFolder, NotAFolder, OpenedFile, make_private
from core.sqlutil import literal, qualified, quote_ident, read_sql, table_exists
from ingest.contracts import Contract
from ingest.fields import contract_checks, field_issue_sql, field_problem_sql, record_id_problem_sql

LINEAGE_COLUMNS = {
    "_file": "varchar",
    "_row_number": "bigint",
    "_file_sha256": "varchar",
    "_night": "date",
    "_ingested_at": "timestamp",
}
DATA_SUFFIXES = {".csv": "csv", ".parquet": "parquet"}
CHUNK = 1 << 22
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Limits:
    """Caps a drop file must stay under, checked before any reader sees it (so a hostile file fails fast).

    Set with `IBR_MAX_FILE_BYTES`, `IBR_MAX_LINE_BYTES` and `IBR_MAX_COLUMNS`; the defaults hold
    a payroll of several million rows and a wide export with room to spare.
    """

    max_file_bytes: int = 8 << 30
    max_line_bytes: int = 1 << 20
    max_columns: int = 2_000

    ENV: ClassVar[dict[str, str]] = {
        "max_file_bytes": "IBR_MAX_FILE_BYTES",
        "max_line_bytes": "IBR_MAX_LINE_BYTES",
        "max_columns": "IBR_MAX_COLUMNS",
    }

    @classmethod
    def from_env(cls) -> Limits:
        values: dict[str, int] = {}
        for key, name in cls.ENV.items():
            text = os.environ.get(name)
            if text is None:
                continue
            try:
                values[key] = int(text.replace("_", ""))
            except ValueError:
                raise ValueError(f"{name}: got {text!r}; expected a whole number") from None
            if values[key] <= 0:
                raise ValueError(f"{name}: got {text!r}; expected a number above 0")
        return cls(**values)


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


# what audit/schema.sql creates: its schemas, tables, typed columns and their comments
_CATALOG = """
    select 'schema', schema_name, '', '', comment from duckdb_schemas()
    where database_name = current_database() and schema_name in ('audit', 'raw', 'staging')
    union all
    select 'table', schema_name, table_name, '', comment from duckdb_tables()
    where database_name = current_database() and schema_name = 'audit'
    union all
    select 'column', schema_name, table_name, column_name || ' ' || data_type, comment from duckdb_columns()
    where database_name = current_database() and schema_name = 'audit'
"""


@functools.cache
def _schema_catalog() -> frozenset[tuple[Any, ...]]:
    """The catalog entries audit/schema.sql makes, read from an empty in-memory database it was run on."""
    with duckdb.connect() as empty:
        empty.execute(read_sql("audit/schema.sql"))
        return frozenset(empty.execute(_CATALOG).fetchall())


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the audit tables (and the raw and staging schemas) where any of them, a column or a comment is
    missing. Every landing, check and staging step calls this; run whole, the script's fifty-odd comments
    rewrote the catalog each time (0.1 s a call, over a second of a near-empty night)."""
    if not _schema_catalog() <= set(con.execute(_CATALOG).fetchall()):
        con.execute(read_sql("audit/schema.sql"))


def drop_folder(home: Path, source: str, night: date) -> Path:
    return home / "drops" / source / night.isoformat()


def drop_files(folder: Path) -> list[Path]:
    """The regular files of one drop folder, in name order, links not followed; dot- and underscore-files
    (manifests) are not data."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(
        p for p in folder.iterdir() if stat.S_ISREG(p.lstat().st_mode) and not p.name.startswith((".", "_"))
    )


def duckdb_error(exc: duckdb.Error) -> str:
    """DuckDB's error as its exception type and, when its text names one, the line: never the text itself,
    which can quote the offending value."""
    found = re.search(r"\bline[:\s]+(\d+)", str(exc), flags=re.I)
    return type(exc).__name__ + (f" at line {found.group(1)}" if found else "")


@dataclass(frozen=True)
class Scan:
    """What one pass over a file's bytes tells: its hash, its physical lines, and the first line over the cap."""

    sha256: str
    lines: int
    long_line: int | None
    header: bytes

    @property
    def data_lines(self) -> int:
        """Physical lines after the header: what a rejected CSV is counted as."""
        return max(self.lines - 1, 0)


def scan_file(opened: OpenedFile, max_line_bytes: int | None) -> Scan:
    """Hash the open file and count its lines in one pass; with `max_line_bytes`, note the first longer line.

    Works chunk by chunk at C speed (split, not a loop per line): a 50 MB single line costs what
    reading 50 MB costs. `header` is the first line, cut at the cap.
    """
    digest = hashlib.sha256()
    lines = 0
    carry = 0  # length of the line running into the next chunk
    long_line: int | None = None
    header = b""
    offset = 0
    last = b"\n"
    while chunk := os.pread(opened.fd, CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
        last = chunk[-1:]
        if max_line_bytes is None:
            lines += chunk.count(b"\n")
            continue
        if lines == 0 and len(header) <= max_line_bytes:
            header += chunk.split(b"\n", 1)[0][: max_line_bytes + 1 - len(header)]
        # parts[0] continues the line carried from the last chunk, parts[1:-1] are whole lines,
        # and parts[-1] runs on into the next chunk
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            carry += len(parts[0])
            if long_line is None and carry > max_line_bytes:
                long_line = lines + 1
            continue
        if long_line is None:
            middle = parts[1:-1]
            if carry + len(parts[0]) > max_line_bytes:
                long_line = lines + 1
            elif middle and max(map(len, middle)) > max_line_bytes:
                long_line = lines + 2 + next(i for i, p in enumerate(middle) if len(p) > max_line_bytes)
        lines += len(parts) - 1
        carry = len(parts[-1])
        if long_line is None and carry > max_line_bytes:
            long_line = lines + 1
    if last != b"\n":
        lines += 1
    return Scan(digest.hexdigest(), lines, long_line, header)


def parquet_rows(path: str) -> int:
    """Rows a Parquet file's footer declares; 0 when the footer cannot be read."""
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:
        return 0


def _looks_like_text(opened: OpenedFile) -> bool:
    head = os.pread(opened.fd, 1 << 16, 0)
    return bool(head) and b"\x00" not in head


def _utf8_copy(path: str, name: str, encoding: str, workdir: Path, rows_in: int) -> str:
    """Check the declared encoding strictly and return a UTF-8 file DuckDB can read.

    DuckDB reads UTF-8 itself; other encodings are transcoded here in chunks, because
    its `encodings` extension would have to be downloaded. A file that does not decode,
    or a file declared cp1252/latin-1 that is in fact UTF-8 (it would land as mojibake),
    is rejected with the line of the first offending byte.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    utf8_check = codecs.getincrementaldecoder("utf-8")(errors="strict") if encoding != "utf-8" else None
    utf8_valid, saw_non_ascii = True, False
    target = path if encoding == "utf-8" else str(workdir / (name + ".utf8"))
    out = None if encoding == "utf-8" else open(target, "w", encoding="utf-8", newline="")  # noqa: SIM115
    lines_before = 0
    offset = 0
    try:
        with open(path, "rb") as handle:
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
                        rows_in=rows_in,
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
            rows_in=rows_in,
        )
    return target


class Lander:
    """Lands the drop files of one night into one DuckDB connection.

    `dry_run`: the same checks on every file and row, but a rejected file is not copied to
    `quarantine/`; given a scratch connection (`ibr validate-sources`) nothing of the deployment changes.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        home: Path,
        night: date,
        dry_run: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.con = con
        self.home = home
        self.night = night
        self.dry_run = dry_run
        self.limits = limits or Limits.from_env()
        ensure_schema(con)

    # -- bookkeeping -------------------------------------------------------------------------

    def _relative(self, source: str, name: str) -> str:
        return f"{source}/{self.night.isoformat()}/{name}"

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

    def _set_aside(self, opened: OpenedFile, source: str, name: str) -> None:
        """Copy the opened file whole to quarantine/<night>/<source>/, private to the owner."""
        if self.dry_run:
            return
        folder = self.home / "quarantine" / self.night.isoformat() / source
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / name
        partial = folder / f".{name}.copying"
        shutil.copyfile(opened.path, partial)
        make_private(partial)
        os.replace(partial, target)

    def _reject(
        self, opened: OpenedFile, source: str, name: str, sha: str | None, exc: FileRejected
    ) -> FileResult:
        self._set_aside(opened, source, name)
        rel = self._relative(source, name)
        return self._record(
            FileResult(source, rel, "rejected", exc.reason, exc.rows_in, 0, exc.rows_in), sha, opened.size
        )

    def _reject_unread(self, source: str, rel: str, reason: str) -> FileResult:
        """An entry landing must not open (a link, a folder, a pipe): recorded, never read nor copied."""
        self._forget(source, rel)
        return self._record(FileResult(source, rel, "rejected", reason, 0, 0, 0), None, 0)

    # -- public ------------------------------------------------------------------------------

    def land_unknown(self, known_sources: set[str]) -> list[FileResult]:
        """Files in drop folders that name no contract: set aside and recorded, never dropped silently.

        Anything in `drops/` that is not a plain folder (a link, a file) is recorded as rejected, unread.
        """
        results: list[FileResult] = []
        drops = self.home / "drops"
        if not drops.is_dir() or drops.is_symlink():
            return results
        for entry in sorted(drops.iterdir()):
            mode = entry.lstat().st_mode
            if entry.name in known_sources or entry.name.startswith((".", "_")):
                continue
            if not stat.S_ISDIR(mode):
                results.append(
                    self._reject_unread(
                        entry.name,
                        entry.name,
                        f"drops/{entry.name} is not a source folder ({'a symbolic link' if stat.S_ISLNK(mode) else 'a file'}): "
                        "drops/ holds one folder per source; it was not read",
                    )
                )
                continue
            results += self._land_folder(entry.name, None)
        return results

    def land_source(self, contract: Contract) -> list[FileResult]:
        """Land every file of this night's drop folder of one source."""
        return self._land_folder(contract.name, contract)

    def _land_folder(self, source: str, contract: Contract | None) -> list[FileResult]:
        """Every entry of drops/<source>/<night>: regular files are landed (or set aside when no contract
        names the folder), anything else is recorded as rejected without being opened."""
        night = self.night.isoformat()
        try:
            with DropFolder(self.home, ["drops", source, night]) as folder:
                results = []
                for entry in folder.entries():
                    rel = self._relative(source, entry.name)
                    if entry.problem is not None:
                        results.append(
                            self._reject_unread(
                                source,
                                rel,
                                f"{entry.problem}, not a regular file: landing reads only regular files "
                                "in the drop folder; it was not opened",
                            )
                        )
                        continue
                    try:
                        with folder.open(entry.name) as opened:
                            results.append(self._land_opened(source, contract, entry.name, opened))
                    except NotAFolder as exc:  # swapped for something else since the folder was listed
                        results.append(self._reject_unread(source, rel, f"{exc}; it was not read"))
                return results
        except FileNotFoundError:
            return []
        except NotAFolder as exc:
            return [self._reject_unread(source, f"{source}/{night}", f"drops/{exc}")]

    def _land_opened(
        self, source: str, contract: Contract | None, name: str, opened: OpenedFile
    ) -> FileResult:
        if contract is None:
            return self._land_unknown_file(source, name, opened)
        return self.land_file(contract, name, opened)

    def _land_unknown_file(self, source: str, name: str, opened: OpenedFile) -> FileResult:
        rel = self._relative(source, name)
        reason = f"folder drops/{source} names no known source; add sources/{source}.yaml"
        if opened.size > self.limits.max_file_bytes:
            self._forget(source, rel)
            return self._reject(opened, source, name, None, FileRejected(self._too_big(opened)))
        is_parquet = name.lower().endswith(".parquet")
        scan = scan_file(opened, None)
        previous = self._previous(source, rel)
        if previous and previous[0] == scan.sha256:
            return previous[1]
        if previous:
            self._forget(source, rel)
        rows = parquet_rows(opened.path) if is_parquet else scan.data_lines
        return self._reject(opened, source, name, scan.sha256, FileRejected(reason, rows))

    def _too_big(self, opened: OpenedFile) -> str:
        return (
            f"file of {opened.size:,} bytes is over the cap of {self.limits.max_file_bytes:,} bytes "
            "(IBR_MAX_FILE_BYTES): not read, its rows are not counted"
        )

    def land_file(self, contract: Contract, name: str, opened: OpenedFile) -> FileResult:
        source = contract.name
        rel = self._relative(source, name)
        size = opened.size
        if size > self.limits.max_file_bytes:
            self._forget(source, rel)
            return self._reject(opened, source, name, None, FileRejected(self._too_big(opened)))
        suffix_format = DATA_SUFFIXES.get(Path(name).suffix.lower())
        # lines are counted (and held to the cap) in anything that is text, whatever its name says
        is_text = (suffix_format == contract.file.format == "csv") or _looks_like_text(opened)
        scan = scan_file(opened, self.limits.max_line_bytes if is_text else None)
        sha = scan.sha256
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

        try:
            if size == 0:
                raise FileRejected("empty file: no header and no rows")
            if suffix_format != contract.file.format:
                raise FileRejected(
                    f"file type {Path(name).suffix or '(none)'} but the contract's file.format is "
                    f"{contract.file.format}",
                    rows_in=scan.data_lines if is_text else parquet_rows(opened.path),
                )
            if contract.file.format == "csv":
                self._check_csv_caps(contract, scan)
                with tempfile.TemporaryDirectory(prefix="ibr-landing-") as workdir:
                    return self._land_csv(contract, opened, name, rel, scan, Path(workdir))
            return self._land_parquet(contract, opened, rel, scan, is_text)
        except FileRejected as exc:
            self.con.execute("drop table if exists _landing")
            return self._reject(opened, source, name, sha, exc)

    # -- readers -----------------------------------------------------------------------------

    def _check_csv_caps(self, contract: Contract, scan: Scan) -> None:
        """Header width and line length, from the bytes alone: checked before DuckDB reads a byte."""
        limits = self.limits
        header = scan.header.decode(contract.file.encoding, errors="replace")
        fields = header.count(contract.file.delimiter) + 1
        if fields > limits.max_columns:
            raise FileRejected(
                f"line 1 (the header) has {'more than ' if len(scan.header) > limits.max_line_bytes else ''}"
                f"{fields:,} columns, over the cap of {limits.max_columns:,} (IBR_MAX_COLUMNS)",
                rows_in=scan.data_lines,
            )
        if scan.long_line is not None:
            raise FileRejected(
                f"line {scan.long_line} is longer than the cap of {limits.max_line_bytes:,} bytes "
                "(IBR_MAX_LINE_BYTES)",
                rows_in=scan.data_lines,
            )

    def _check_columns(
        self, contract: Contract, header: list[str], rows_in: int, lines: int | None = None
    ) -> None:
        """Every column the contract maps must be in the header. The header's own names are not quoted
        in the reason: when the header line is missing, line 1 is a row of personal data."""
        missing = [c for c in contract.source_columns if c not in header]
        if not missing:
            return
        described = ", ".join(f"{c!r} ({', '.join(contract.fields_of_column(c))})" for c in missing)
        if lines is not None and len(missing) == len(contract.source_columns):
            raise FileRejected(
                f"line 1 is not a header: it has none of the contract's columns ({described}); "
                f"is the header line missing? All {lines:,} line(s) are counted as rows",
                rows_in=lines,
            )
        raise FileRejected(
            f"missing column(s) {described}; the header (line 1) has {len(header):,} column(s)",
            rows_in=rows_in,
        )

    def _land_csv(
        self, contract: Contract, opened: OpenedFile, name: str, rel: str, scan: Scan, workdir: Path
    ) -> FileResult:
        readable = _utf8_copy(opened.path, name, contract.file.encoding, workdir, scan.data_lines)
        options = {
            "d": contract.file.delimiter,
            "q": contract.file.quote,
            "m": max(self.limits.max_line_bytes + 1024, 2_097_152),
        }
        read = (
            "read_csv($p, all_varchar = true, header = true, delim = $d, quote = $q, escape = $q, "
            "store_rejects = true, rejects_table = '_rejects', rejects_scan = '_rejects_scan', "
            "null_padding = false, sample_size = -1, max_line_size = $m)"
        )
        self.con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
        try:
            header = [
                row[0]
                for row in self.con.execute(
                    f"select column_name from (describe select * from {read})",
                    {"p": readable, **options},
                ).fetchall()
            ]
        except duckdb.Error as exc:
            raise FileRejected(
                f"unreadable as CSV with delimiter {contract.file.delimiter!r}: {duckdb_error(exc)}",
                rows_in=scan.data_lines,
            ) from None
        self._check_columns(contract, header, scan.data_lines, scan.lines)
        self.con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
        try:
            self.con.execute(
                f"create or replace temp table _landing as "
                f"select row_number() over () as _ordinal, * from {read}",
                {"p": readable, **options},
            )
        except duckdb.Error as exc:
            raise FileRejected(f"unreadable as CSV: {duckdb_error(exc)}", rows_in=scan.data_lines) from None

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
        return self._validate_and_insert(contract, rel, scan.sha256, opened.size, unreadable, parquet=False)

    def _parquet_footer(self, opened: OpenedFile, scan: Scan, is_text: bool) -> tuple[int, int]:
        """(rows, columns) from the footer; a file that is not Parquet or lost its footer is rejected."""
        head = os.pread(opened.fd, 4, 0)
        tail = os.pread(opened.fd, 4, max(opened.size - 4, 0))
        if head != PARQUET_MAGIC and is_text:
            raise FileRejected(
                "not a Parquet file (it does not begin with PAR1) but text, a CSV renamed .parquet?: "
                f"its {scan.data_lines:,} line(s) after the first are counted as rows",
                rows_in=scan.data_lines,
            )
        if head != PARQUET_MAGIC:
            raise FileRejected(
                "not a Parquet file: it does not begin with PAR1, so its rows cannot be counted"
            )
        if opened.size < 12 or tail != PARQUET_MAGIC:
            raise FileRejected(
                "truncated Parquet file: it ends without its footer (no closing PAR1), so its rows "
                "cannot be counted; ask the source to send it again"
            )
        try:
            import pyarrow.parquet as pq

            metadata = pq.ParquetFile(opened.path).metadata
        except Exception as exc:
            raise FileRejected(
                f"unreadable as Parquet (corrupt footer): {type(exc).__name__}; its rows cannot be counted"
            ) from None
        return int(metadata.num_rows), int(metadata.num_columns)

    def _land_parquet(
        self, contract: Contract, opened: OpenedFile, rel: str, scan: Scan, is_text: bool
    ) -> FileResult:
        rows, columns = self._parquet_footer(opened, scan, is_text)
        if columns > self.limits.max_columns:
            raise FileRejected(
                f"{columns:,} columns, over the cap of {self.limits.max_columns:,} (IBR_MAX_COLUMNS)",
                rows_in=rows,
            )
        try:
            rel_ = self.con.sql("select * from read_parquet($p) limit 0", params={"p": opened.path})
            header = list(rel_.columns)
        except duckdb.Error as exc:
            raise FileRejected(
                f"unreadable as Parquet (truncated or corrupt): {duckdb_error(exc)}", rows_in=rows
            ) from None
        self._check_columns(contract, header, rows)
        nested = [
            f"{name} ({kind})"
            for name, kind in zip(rel_.columns, rel_.types, strict=True)
            if name in contract.source_columns and _is_nested(str(kind))
        ]
        if nested:
            raise FileRejected(
                f"column(s) {', '.join(nested)} hold nested values (a struct, list or map); the contract maps "
                "them onto plain fields (text, number, date): flatten them in the export",
                rows_in=rows,
            )
        cast = ", ".join(
            f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}" for c in contract.source_columns
        )
        try:
            self.con.execute(
                f"create or replace temp table _landing as "
                f"select file_row_number + 1 as _row_number, {cast} "
                f"from read_parquet($p, file_row_number = true)",
                {"p": opened.path},
            )
        except duckdb.Error as exc:
            raise FileRejected(
                f"unreadable as Parquet (truncated or corrupt): {duckdb_error(exc)}", rows_in=rows
            ) from None
        return self._validate_and_insert(contract, rel, scan.sha256, opened.size, 0, parquet=True)

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
    "Limits",
    "drop_files",
    "drop_folder",
    "ensure_schema",
]
