"""Privacy end to end: no personal value leaves the restricted tables, and the home is private.

THE MARKER TEST. Every cell of every hostile drop is a unique marker (`MRK0001X`, ...) and the drops go
through every rejection path landing has (a header-less CSV, missing columns, malformed rows, a wrong
encoding, unparseable values, a line or a header over its cap, an oversize file, a wrong file type, a CSV
renamed .parquet, a truncated Parquet, nested Parquet columns, a folder no contract names). A real night
then runs as a data team runs it (`ibr run`, in its own process), and every output is searched: the
console, Dagster's storage (SQLite, compute logs), every file of the home, the analytics warehouse and its
Parquet, the reports, and every table of the working and published databases. Markers may be only in the
restricted `raw.*` and `audit.quarantine` tables and in the quarantined file copies.

Files reached through a link (a symlinked drop file, a symlinked source folder, a sub-folder) carry
`LNK...` markers: those are never read at all, so they are found nowhere, quarantine included.

The same night shows the modes: nothing under the home is readable by other users, and only the analysts'
files are group-readable.
"""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NIGHT, PENSION_HEADER, make_home, pension_csv

IBR = Path(sys.executable).parent / "ibr"
MARKER = re.compile(rb"(?:MRK|LNK)\d{4}X", re.I)
LINKED = re.compile(rb"LNK\d{4}X", re.I)
# small caps, so that the hostile files stay small (the defaults are far larger)
CAPS = {"IBR_MAX_FILE_BYTES": "200000", "IBR_MAX_LINE_BYTES": "4096", "IBR_MAX_COLUMNS": "60"}


class Markers:
    """Hands out unique marker strings: every cell of a hostile file is one."""

    def __init__(self, prefix: str = "MRK") -> None:
        self.prefix = prefix
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count:04d}X"

    def row(self, fields: int, sep: str = ";") -> str:
        return sep.join(self() for _ in range(fields))


def _private_write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(content)
    path.chmod(0o600)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _hostile_drops(home: Path, outside: Path) -> None:
    mark = Markers()
    pension = home / "drops" / "pension" / NIGHT
    registry = home / "drops" / "registry" / NIGHT
    fields = len(PENSION_HEADER.split(";"))
    good = pension_csv("B1;Ann;Lee;01/02/1950;2;;P01;2026-01;100", "B2;Bo;Ng;03/04/1951;1;;P02;2026-01;100")
    _private_write(pension / "a_good.csv", good)
    # a CSV without its header line: line 1 is a row of personal data
    _private_write(pension / "headerless.csv", pension_csv(mark.row(fields), header=mark.row(fields)))
    # the contract's columns are not all there
    short_header = PENSION_HEADER.replace(";AMOUNT", "")
    _private_write(pension / "wrong_columns.csv", pension_csv(mark.row(fields - 1), header=short_header))
    # malformed rows (too few fields, too many), and an unterminated quote that makes the file unreadable
    _private_write(pension / "malformed.csv", pension_csv(mark.row(3), mark.row(fields + 2)))
    _private_write(pension / "quote.csv", pension_csv(f'{mark()};"{mark()};{mark.row(fields - 2)}'))
    # UTF-8 where the contract says cp1252, and a byte cp1252 does not have
    _private_write(pension / "utf8.csv", pension_csv(mark.row(fields) + "é", encoding="utf-8"))
    _private_write(pension / "bad_byte.csv", pension_csv(mark.row(fields)) + mark().encode() + b"\x81\n")
    # every value unparseable: not a date, not a code, not a month, not a number
    _private_write(pension / "unparseable.csv", pension_csv(mark.row(fields), mark.row(fields)))
    # a line over IBR_MAX_LINE_BYTES, a header over IBR_MAX_COLUMNS, a file over IBR_MAX_FILE_BYTES
    _private_write(pension / "long_line.csv", pension_csv(mark.row(fields), mark.row(600)))
    _private_write(pension / "wide.csv", pension_csv(mark.row(100), header=mark.row(100)))
    _private_write(pension / "oversize.csv", pension_csv(*(mark.row(fields) for _ in range(3000))))
    # Parquet bytes in a CSV source
    _private_write(pension / "payroll.parquet", _parquet(pa.table({"BENEF_NO": [mark(), mark()]})))
    # a CSV renamed .parquet, a truncated Parquet, nested columns
    columns = ["reg_no", "name", "born", "sex", "nid", "province", "event", "died"]
    _private_write(registry / "renamed.parquet", pension_csv(mark.row(8, ","), header=",".join(columns)))
    whole = _parquet(pa.table({c: [mark(), mark()] for c in columns}))
    _private_write(registry / "truncated.parquet", whole[: len(whole) // 2])
    nested = {c: [mark(), mark()] for c in columns}
    nested["province"] = pa.array([{"code": mark()}, {"code": mark()}])
    _private_write(registry / "nested.parquet", _parquet(pa.table(nested)))
    # a folder no contract names
    _private_write(home / "drops" / "mystery" / NIGHT / "list.csv", pension_csv(mark.row(fields)))

    # links and folders: never opened, so their LNK markers are found nowhere at all
    link = Markers("LNK")
    secret = outside / "secret.csv"
    _private_write(secret, pension_csv(link.row(fields), link.row(fields)))
    (pension / "linked.csv").symlink_to(secret)
    (pension / "escape.csv").symlink_to(os.path.relpath(secret, pension))  # ../../../../../outside/...
    _private_write(pension / "sub" / "inner.csv", pension_csv(link.row(fields)))
    _private_write(outside / "folder" / NIGHT / "x.csv", pension_csv(link.row(fields)))
    (home / "drops" / "linked_source").symlink_to(outside / "folder")


@dataclass
class Night:
    home: Path
    outside: Path
    run: subprocess.CompletedProcess[bytes]
    validate: subprocess.CompletedProcess[bytes]


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:
    """The conftest home made private (as docs/operations.md asks), hostile drops, then `ibr run`."""
    home = make_home(tmp_path_factory.mktemp("home"))
    outside = tmp_path_factory.mktemp("outside")
    _hostile_drops(home, outside)
    for path in [home, *home.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "IBR_HOME")} | CAPS
    validate = subprocess.run(
        [str(IBR), "--home", str(home), "validate-sources", "--date", NIGHT], capture_output=True, env=env
    )
    run = subprocess.run(
        [str(IBR), "--home", str(home), "run", "--date", NIGHT], capture_output=True, env=env
    )
    yield Night(home, outside, run, validate)


def _tables_with_markers(database: Path, allowed: set[str]) -> dict[str, int]:
    """Every table of a DuckDB file whose text holds a marker, with the count; `allowed` tables skipped."""
    found: dict[str, int] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            if name in allowed or (schema == "raw" and "raw.*" in allowed):
                continue
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" t '
                "where regexp_matches(cast(t as varchar), '(MRK|LNK)[0-9]{4}X', 'i')"
            ).fetchall()[0][0]
            if hits:
                found[name] = hits
    return found


def test_no_marker_leaves_the_restricted_raw_and_quarantine_tables(night):
    """Console, Dagster storage, logs, reports, analytics, audit tables: zero markers."""
    home = night.home
    assert night.run.returncode == 0, night.run.stderr.decode()[-3000:]
    found: dict[str, int] = {}
    for label, text in [
        ("ibr run stdout", night.run.stdout),
        ("ibr run stderr", night.run.stderr),
        ("validate-sources stdout", night.validate.stdout),
        ("validate-sources stderr", night.validate.stderr),
    ]:
        if hits := MARKER.findall(text):
            found[label] = len(hits)
    restricted = {home / "state" / "work.duckdb", home / "warehouse" / "ibr.duckdb"}
    files_searched = 0
    for path in home.rglob("*"):
        relative = path.relative_to(home).parts
        if path.is_symlink() or not path.is_file() or relative[0] in ("drops", "quarantine"):
            continue
        if path in restricted:
            found |= {
                f"{path.name}:{t}": n
                for t, n in _tables_with_markers(path, {"raw.*", "audit.quarantine"}).items()
            }
            continue
        if path.suffix == ".duckdb":
            found |= {f"{path.name}:{t}": n for t, n in _tables_with_markers(path, set()).items()}
        files_searched += 1
        data = path.read_bytes()
        if path.suffix == ".parquet":
            data += str(pq.read_table(path).to_pylist()).encode()
        if hits := MARKER.findall(data):
            found[str(path.relative_to(home))] = len(hits)
    assert files_searched > 20, "Dagster's storage, the reports and the analytics files were searched"
    assert (home / "dagster").is_dir() and any((home / "dagster").rglob("*.db"))
    assert found == {}

    # the markers are where they belong, and those behind links were never read
    with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        quarantined = con.execute(
            "select count(*) from audit.quarantine where regexp_matches(raw_record, 'MRK[0-9]{4}X')"
        ).fetchall()[0][0]
        assert quarantined == 4  # malformed.csv and unparseable.csv, two rows each
        linked = con.execute(
            "select count(*) from audit.quarantine where regexp_matches(raw_record, 'LNK[0-9]{4}X')"
        ).fetchall()[0][0]
        assert linked == 0
    copies = list((home / "quarantine").rglob("*"))
    assert any(MARKER.search(p.read_bytes()) for p in copies if p.is_file())
    assert not any(LINKED.search(p.read_bytes()) for p in copies if p.is_file())


def test_every_hostile_file_is_counted_with_a_reason_naming_the_rule(night):
    """Nothing is lost: every file in audit.files, rows in = accepted + rejected, a reason for each."""
    with duckdb.connect(str(night.home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        files = {
            path: (status, rows_in, accepted, rejected, reason)
            for path, status, rows_in, accepted, rejected, reason in con.execute(
                "select file_path, status, rows_in, rows_accepted, rows_rejected, reason from audit.files"
            ).fetchall()
        }
    assert all(rows_in == acc + rej for _, rows_in, acc, rej, _ in files.values())
    p, r = f"pension/{NIGHT}/", f"registry/{NIGHT}/"
    expected = {
        p + "a_good.csv": ("accepted", 2, None),
        p + "headerless.csv": ("rejected", 2, "line 1 is not a header"),
        p + "wrong_columns.csv": ("rejected", 1, "missing column(s) 'AMOUNT' (benefit_amount)"),
        p + "malformed.csv": ("partial", 2, "CSV row unreadable: MISSING COLUMNS at column"),
        p + "quote.csv": ("rejected", 1, "unreadable as CSV with delimiter ';': InvalidInputException"),
        p + "utf8.csv": ("rejected", 1, "but the file is UTF-8"),
        p + "bad_byte.csv": ("rejected", 2, "not valid cp1252 (the contract's file.encoding): line 3"),
        p + "unparseable.csv": ("partial", 2, "row(s) quarantined"),
        p + "long_line.csv": (
            "rejected",
            2,
            "line 3 is longer than the cap of 4,096 bytes (IBR_MAX_LINE_BYTES)",
        ),
        p + "wide.csv": ("rejected", 1, "over the cap of 60 (IBR_MAX_COLUMNS)"),
        p + "oversize.csv": ("rejected", 0, "over the cap of 200,000 bytes (IBR_MAX_FILE_BYTES)"),
        p + "payroll.parquet": ("rejected", 2, "file type .parquet but the contract's file.format is csv"),
        p + "linked.csv": ("rejected", 0, "a symbolic link, not a regular file"),
        p + "escape.csv": ("rejected", 0, "a symbolic link, not a regular file"),
        p + "sub": ("rejected", 0, "a sub-folder, not a regular file"),
        r + "renamed.parquet": ("rejected", 1, "a CSV renamed .parquet?"),
        r + "truncated.parquet": ("rejected", 0, "truncated Parquet file"),
        r + "nested.parquet": ("rejected", 2, "province (STRUCT(code VARCHAR))"),
        f"mystery/{NIGHT}/list.csv": ("rejected", 1, "names no known source"),
        "linked_source": ("rejected", 0, "drops/linked_source is not a source folder (a symbolic link)"),
    }
    assert set(files) == set(expected)
    for path, (status, rows_in, reason) in expected.items():
        got = files[path]
        assert (got[0], got[1]) == (status, rows_in), (path, got)
        assert reason is None or reason in (got[4] or ""), (path, got[4])
    assert files[p + "unparseable.csv"][3] == 2


def test_nothing_under_the_home_is_readable_by_others(night):
    """After a night: no file or folder other users can read; the analysts' files only group-readable."""
    home = night.home
    modes = {
        path: stat.S_IMODE(path.lstat().st_mode) for path in [home, *home.rglob("*")] if not path.is_symlink()
    }
    assert [str(p) for p, m in modes.items() if m & 0o007] == []
    shared = {p for p, m in modes.items() if m & 0o070}
    analysts = {
        home,
        home / "warehouse",
        home / "warehouse" / "ibr_analytics.duckdb",
        home / "warehouse" / "DATA_DICTIONARY_ANALYTICS.md",
        home / "warehouse" / ".parquet",
    }
    parquet = (home / "warehouse" / "parquet").resolve()
    analysts |= {parquet, *parquet.iterdir()}
    assert shared == analysts, sorted(str(p) for p in shared ^ analysts)
    for private in [
        home / "state" / "work.duckdb",
        home / "warehouse" / "ibr.duckdb",
        home / "quarantine" / NIGHT / "pension" / "headerless.csv",
        *(home / "dagster").rglob("*.db"),
    ]:
        assert modes[private] == 0o600, private
    assert modes[home / "quarantine"] == modes[home / "state"] == 0o700
    assert modes[home / "warehouse" / "ibr_analytics.duckdb"] == 0o640


def test_ibr_warns_naming_what_others_can_read(night):
    """A file made readable by others is named in the warning at start; its content is not shown."""
    target = night.home / "quarantine" / NIGHT / "pension" / "headerless.csv"
    target.chmod(0o644)
    try:
        result = subprocess.run(
            [str(IBR), "--home", str(night.home), "validate-sources", "--date", "2026-01-01"],
            capture_output=True,
        )
    finally:
        target.chmod(0o600)
    err = result.stderr.decode()
    assert "1 path(s) under" in err and str(target) in err
    assert not MARKER.search(result.stderr + result.stdout)
