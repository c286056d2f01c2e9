"""Landing: every row of every drop ends in raw or in quarantine, counted, with a clear reason.

One test per bad-input class a data team meets in real drops. Each asserts the
reason names the file, row and field, and that `rows_in = accepted + rejected`.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import NIGHT, PENSION_HEADER, pension_csv

from ingest.contracts import load_contracts
from ingest.landing import FileResult, Lander, Limits, duckdb_error, ensure_schema

GOOD = "B1;José;Durán;01/02/1950;1;;Nórte;2026-01;100"


def land(con: duckdb.DuckDBPyConnection, home: Path, night: str = NIGHT) -> list[FileResult]:
    contracts = load_contracts(home / "sources")
    lander = Lander(con, home, date.fromisoformat(night))
    results = [r for c in contracts.values() for r in lander.land_source(c)]
    return results + lander.land_unknown(set(contracts))


def files(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "select file_path, status, rows_in, rows_accepted, rows_rejected, reason from audit.files order by file_path"
    ).fetchall()


def assert_reconciles(con: duckdb.DuckDBPyConnection) -> None:
    bad = con.execute(
        "select file_path from audit.files where rows_in <> rows_accepted + rows_rejected"
    ).fetchall()
    assert bad == []


def test_clean_cp1252_file_lands_every_row_with_lineage(con, home, drop):
    """A clean file lands whole; each raw row knows its file, line and the file's hash."""
    drop("pension", "pay.csv", pension_csv(GOOD, "B2;Ann;Lee;1950;2;;P02;2026-01;100.50"))
    [result] = land(con, home)
    assert (result.status, result.rows_in, result.rows_accepted, result.rows_rejected) == (
        "accepted",
        2,
        2,
        0,
    )
    rows = con.execute(
        'select "BENEF_NO", "FIRST", _file, _row_number, length(_file_sha256) from raw.pension'
    ).fetchall()
    assert rows == [
        ("B1", "José", "pension/2026-02-01/pay.csv", 2, 64),
        ("B2", "Ann", "pension/2026-02-01/pay.csv", 3, 64),
    ]


def test_bad_rows_go_to_quarantine_naming_row_and_field_but_not_the_value(con, home, drop):
    """Empty required field, unreadable required amount, short row, no record id: quarantined, rest kept.
    An impossible date of birth (optional in this contract) keeps its row, recorded in audit.field_issues."""
    drop(
        "pension",
        "pay.csv",
        pension_csv(
            GOOD,
            "B2;Ann;;01/02/1950;2;;P01;2026-01;100",  # empty required surname
            "B3;Ann;Lee;31/02/1950;2;;P01;2026-01;100",  # impossible date of birth: optional, kept
            "B4;Ann;Lee;01/02/1950;7;;P01;2026-01;lots",  # unknown sex code and non-numeric (required) amount
            "B5;Bo;Ng",  # truncated row
            ";Cy;Wu;01/02/1950;2;;P01;2026-01;90",  # no record id
            "B7;Di;Ko;03/03/1951;2;;P01;2026-01;90",
        ),
    )
    [result] = land(con, home)
    assert (result.status, result.rows_in, result.rows_accepted, result.rows_rejected) == ("partial", 7, 3, 4)
    quarantine = dict(
        (
            (row, reason)
            for row, reason in con.execute("select row_number, reason from audit.quarantine").fetchall()
        )
    )
    assert quarantine[3].startswith("last_name (column SURNAME): empty")
    # the required field decides; the optional field's problem is named too, after it
    assert quarantine[5] == (
        "benefit_amount (column AMOUNT): not a number; sex (column GENDER): not one of the codes 1, 2"
    )
    assert "MISSING COLUMNS" in quarantine[6]
    assert quarantine[7].startswith("record_id (column BENEF_NO): empty")
    assert set(quarantine) == {3, 5, 6, 7}
    issues = con.execute(
        "select row_number, source_record_id, field, rule, reason from audit.field_issues"
    ).fetchall()
    assert issues == [
        (4, "B3", "date_of_birth", "not_a_date", "date_of_birth (column DOB): not a date in %d/%m/%Y or %Y")
    ]
    # the value itself never reaches a reason (reasons go to logs); the row is kept whole in raw_record / raw
    reasons = [*quarantine.values(), issues[0][4], result.reason or ""]
    assert not any("31/02/1950" in r or "lots" in r or "7" in r.split(":")[-1] for r in reasons)
    kept = con.execute("select raw_record from audit.quarantine where row_number = 5").fetchall()[0][0]
    assert "lots" in kept
    assert con.execute("select _row_number from raw.pension order by 1").fetchall() == [(2,), (4,), (8,)]
    assert "1 value(s) of optional fields unreadable" in (result.reason or "")
    assert_reconciles(con)


def test_file_in_wrong_encoding_is_rejected_with_the_line(con, home, drop):
    """A UTF-8 file where the contract says cp1252 would land garbled: rejected, set aside, counted."""
    drop("pension", "pay.csv", pension_csv(GOOD, GOOD.replace("B1", "B2"), encoding="utf-8"))
    [result] = land(con, home)
    assert result.status == "rejected"
    assert "declared cp1252" in (result.reason or "") and "UTF-8" in (result.reason or "")
    assert (result.rows_in, result.rows_rejected) == (2, 2)
    assert (home / "quarantine" / NIGHT / "pension" / "pay.csv").exists()


def test_invalid_utf8_is_rejected_naming_the_line(con, home, drop):
    """Bytes that are not UTF-8 in a UTF-8 source: rejected, naming the line of the first bad byte."""
    contract = (home / "sources" / "pension.yaml").read_text().replace("cp1252", "utf-8")
    (home / "sources" / "pension.yaml").write_text(contract)
    drop("pension", "pay.csv", pension_csv("B0;Al;Bo;01/02/1950;1;;P01;2026-01;1", GOOD, encoding="cp1252"))
    [result] = land(con, home)
    assert result.status == "rejected"
    assert "not valid utf-8" in (result.reason or "") and "line 3" in (result.reason or "")
    assert result.rows_in == result.rows_rejected == 2


def test_missing_column_rejects_the_file_naming_column_and_field(con, home, drop):
    """A drop without a mapped column cannot be read as the contract says: rejected with a clear reason."""
    header = PENSION_HEADER.replace("DOB", "BIRTH")
    drop("pension", "pay.csv", pension_csv(GOOD, header=header))
    [result] = land(con, home)
    assert result.status == "rejected"
    assert "missing column(s) 'DOB' (date_of_birth)" in (result.reason or "")
    assert result.rows_in == result.rows_rejected == 1


def test_empty_and_header_only_files(con, home, drop):
    """A zero-byte file is rejected; a header-only file is recorded as empty; neither loses anything."""
    drop("pension", "a_empty.csv", b"")
    drop("pension", "b_header.csv", (PENSION_HEADER + "\n").encode())
    results = {r.file_path.rsplit("/", 1)[1]: r for r in land(con, home)}
    assert results["a_empty.csv"].status == "rejected" and "empty file" in (
        results["a_empty.csv"].reason or ""
    )
    assert results["b_header.csv"].status == "empty" and results["b_header.csv"].rows_in == 0
    assert_reconciles(con)


def test_truncated_csv_quarantines_the_cut_row(con, home, drop):
    """A CSV cut off mid-row (transfer died): the complete rows land, the cut one is quarantined."""
    content = pension_csv(GOOD, "B2;Ann;Lee;01/02/1950;2;;P01;2026-01;100")
    drop("pension", "pay.csv", content[: len(content) - 20])
    [result] = land(con, home)
    assert (result.rows_in, result.rows_accepted, result.rows_rejected) == (2, 1, 1)
    assert con.execute("select row_number from audit.quarantine").fetchall() == [(3,)]


def test_truncated_parquet_is_rejected(con, home, drop, tmp_path):
    """A Parquet file cut short is unreadable: rejected as a file, copied to quarantine/."""
    table = pa.table(
        {
            "reg_no": ["R1"],
            "name": ["Ann Lee"],
            "born": ["1950-01-01"],
            "sex": ["F"],
            "nid": [None],
            "province": ["P01"],
            "event": ["birth"],
            "died": [None],
        }
    )
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole)
    drop("registry", "reg.parquet", whole.read_bytes()[:-40])
    [result] = land(con, home)
    assert result.status == "rejected" and "Parquet" in (result.reason or "")
    assert (home / "quarantine" / NIGHT / "registry" / "reg.parquet").exists()


def test_parquet_with_nested_columns_is_rejected_naming_them(con, home, drop, tmp_path):
    """An export that keeps a struct or a list where the contract expects one value per row: no guessing."""
    table = pa.table(
        {
            "reg_no": ["R1", "R2"],
            "name": ["Ann Lee", "Bo Ng"],
            "born": ["1950-01-01", "1951-01-01"],
            "sex": ["F", "M"],
            "nid": [None, None],
            "province": pa.array([{"code": "P01"}, {"code": "P02"}]),
            "event": ["birth", "birth"],
            "died": pa.array([[None], []], pa.list_(pa.string())),
        }
    )
    pq.write_table(table, tmp_path / "reg.parquet")
    drop("registry", "reg.parquet", (tmp_path / "reg.parquet").read_bytes())
    [result] = land(con, home)
    assert (result.status, result.rows_in, result.rows_rejected) == ("rejected", 2, 2)
    assert "province (STRUCT(code VARCHAR))" in (result.reason or "")
    assert "died (VARCHAR[])" in (result.reason or "")
    assert (home / "quarantine" / NIGHT / "registry" / "reg.parquet").exists()
    assert_reconciles(con)


def test_a_rejected_file_is_tried_again_once_its_contract_is_fixed(con, home, drop):
    """The operations guide says: fix the contract, rerun the night. The same bytes must then land."""
    header = PENSION_HEADER.replace(";AMOUNT", ";PAID")
    drop("pension", "pay.csv", pension_csv("B1;Ann;Lee;1950;2;;P01;2026-01;100", header=header))
    [first] = land(con, home)
    assert first.status == "rejected" and "AMOUNT" in (first.reason or "")

    contract = home / "sources" / "pension.yaml"
    contract.write_text(
        contract.read_text(encoding="utf-8").replace("benefit_amount: AMOUNT", "benefit_amount: PAID"),
        encoding="utf-8",
    )
    [again] = land(con, home)
    assert (again.status, again.rows_accepted) == ("accepted", 1)
    assert con.execute("select count(*) from audit.files").fetchall() == [(1,)]  # the rejection is replaced
    assert_reconciles(con)


def test_folder_of_unknown_source_is_set_aside(con, home, drop):
    """Drops in a folder that names no contract are recorded and kept, never silently ignored."""
    drop("mystery", "list.csv", b"a,b\n1,2\n3,4\n")
    [result] = land(con, home)
    assert (result.source, result.status, result.rows_in, result.rows_rejected) == (
        "mystery",
        "rejected",
        2,
        2,
    )
    assert "names no known source" in (result.reason or "")
    assert (home / "quarantine" / NIGHT / "mystery" / "list.csv").exists()


def test_wrong_file_type_is_rejected(con, home, drop):
    """A Parquet file in a CSV source's drop is rejected with the contract's expected format."""
    drop("pension", "pay.parquet", b"PAR1not really")
    [result] = land(con, home)
    assert result.status == "rejected" and "file.format is csv" in (result.reason or "")


def test_hostile_column_names_stay_names(con, home, drop):
    """Column names from contracts and headers are quoted: an injection attempt is just a column."""
    hostile = 'AMOUNT"; drop table audit.files; --'
    contract = (
        (home / "sources" / "pension.yaml")
        .read_text()
        .replace("benefit_amount: AMOUNT", f"benefit_amount: '{hostile}'")
    )
    (home / "sources" / "pension.yaml").write_text(contract)
    header = PENSION_HEADER.replace(";AMOUNT", ';"' + hostile.replace('"', '""') + '"')
    drop("pension", "pay.csv", pension_csv(GOOD, header=header))
    [result] = land(con, home)
    assert result.status == "accepted"
    assert con.execute(f'select "{hostile.replace(chr(34), chr(34) * 2)}" from raw.pension').fetchall() == [
        ("100",)
    ]
    assert con.execute("select count(*) from audit.files").fetchall() == [(1,)]


def test_rerun_is_idempotent_and_identical_bytes_are_not_landed_twice(con, home, drop):
    """Landing the same night twice adds nothing; the same file under another name is a counted duplicate."""
    content = pension_csv(GOOD)
    drop("pension", "pay.csv", content)
    land(con, home)
    land(con, home)
    assert con.execute("select count(*) from raw.pension").fetchall() == [(1,)]
    assert len(files(con)) == 1
    drop("pension", "pay_copy.csv", content)
    land(con, home)
    statuses = [(f[0].rsplit("/", 1)[1], f[1], f[2]) for f in files(con)]
    assert statuses == [("pay.csv", "accepted", 1), ("pay_copy.csv", "duplicate", 0)]
    assert con.execute("select count(*) from raw.pension").fetchall() == [(1,)]


def test_a_rejected_file_sent_again_is_tried_again_not_called_landed(con, home, drop):
    """The same bytes as a rejected file are not 'already landed': they are read again under tonight's contract."""
    content = pension_csv(GOOD, GOOD.replace("B1", "B2"), encoding="utf-8")  # the contract says cp1252
    drop("pension", "pay.csv", content)
    [first] = land(con, home)
    assert first.status == "rejected"
    contract = home / "sources" / "pension.yaml"
    contract.write_text(contract.read_text().replace("cp1252", "utf-8"))  # the data team fixes the contract
    later = (date.fromisoformat(NIGHT) + timedelta(days=1)).isoformat()
    drop("pension", "pay.csv", content, night=later)  # the source sends the same file the next night
    [again] = land(con, home, later)
    assert (again.status, again.rows_accepted) == ("accepted", 2), again.reason
    assert con.execute("select count(*) from raw.pension").fetchall() == [(2,)]
    assert_reconciles(con)


def test_file_replaced_in_place_is_landed_afresh(con, home, drop):
    """A corrected file dropped over the old one replaces its rows: nothing doubled, nothing stale."""
    path = drop("pension", "pay.csv", pension_csv(GOOD, "B2;Ann;;x;2;;P01;2026-01;100"))
    land(con, home)
    path.write_bytes(pension_csv(GOOD, "B2;Ann;Lee;01/01/1950;2;;P01;2026-01;100"))
    land(con, home)
    assert con.execute("select count(*) from raw.pension").fetchall() == [(2,)]
    assert con.execute("select count(*) from audit.quarantine").fetchall() == [(0,)]
    assert [f[1] for f in files(con)] == ["accepted"]


@pytest.mark.parametrize("rows", [0, 1, 57])
def test_counts_reconcile_for_any_mix(con, home, drop, rows):
    """rows_in always equals the data lines sent, and accepted + rejected."""
    lines = [(GOOD.replace("B1", f"B{i}") if i % 3 else f"B{i};x;;bad;9;;;2026-01;z") for i in range(rows)]
    drop("pension", "pay.csv", pension_csv(*lines))
    [result] = land(con, home)
    assert result.rows_in == rows
    assert_reconciles(con)
    raw = con.execute("select count(*) from raw.pension").fetchall()[0][0] if result.rows_accepted else 0
    quarantined = con.execute("select count(*) from audit.quarantine").fetchall()[0][0]
    assert raw + quarantined == rows


def _contract(home: Path, **changes: object) -> None:
    """Rewrite the pension contract with some keys changed."""
    path = home / "sources" / "pension.yaml"
    contract = {**yaml.safe_load(path.read_text(encoding="utf-8")), **changes}
    path.write_text(yaml.safe_dump(contract), encoding="utf-8")


# (description, row, field, rule, what the reason says): each row lands; its one bad value is recorded
OPTIONAL_CASES = [
    (
        "malformed date of birth",
        "B1;Al;Lee;19450493;1;;P01;2026-01;100",
        "date_of_birth",
        "not_a_date",
        "date_of_birth (column DOB): not a date in %d/%m/%Y or %Y",
    ),
    (
        "sex code outside the contract's codes",
        "B1;Al;Lee;01/02/1950;X;;P01;2026-01;100",
        "sex",
        "unknown_code",
        "sex (column GENDER): not one of the codes 1, 2",
    ),
    (
        "non-numeric amount the contract does not require",
        "B1;Al;Lee;01/02/1950;1;;P01;2026-01;n/a",
        "benefit_amount",
        "not_a_number",
        "benefit_amount (column AMOUNT): not a number",
    ),
]


@pytest.mark.parametrize(
    ("description", "row", "field", "rule", "reason"), OPTIONAL_CASES, ids=[c[0] for c in OPTIONAL_CASES]
)
def test_unreadable_optional_value_keeps_its_row_with_one_recorded_issue(
    con, home, drop, description, row, field, rule, reason
):
    """A bad value in a field the contract does not require no longer loses the person: the row lands, staging
    reads the value as null, and audit.field_issues names the file, row, field and rule (never the value)."""
    _contract(home, required=["last_name", "period"])
    drop("pension", "pay.csv", pension_csv(row))
    [result] = land(con, home)
    assert (result.status, result.rows_in, result.rows_accepted, result.rows_rejected) == (
        "accepted",
        1,
        1,
        0,
    )
    assert con.execute("select count(*) from audit.quarantine").fetchall() == [(0,)]
    issues = con.execute(
        "select file_path, row_number, source_record_id, field, rule, reason from audit.field_issues"
    ).fetchall()
    assert issues == [("pension/2026-02-01/pay.csv", 2, "B1", field, rule, reason)], description
    assert (
        result.reason
        == f"1 value(s) of optional fields unreadable, set to null with the row kept; first: row 2: {reason}"
    )
    assert_reconciles(con)


# (description, row, reason): a bad value in a required field or the record id still sets the row aside
STRICT_CASES = [
    ("empty required surname", "B1;Al;;01/02/1950;1;;P01;2026-01;100", "last_name (column SURNAME): empty"),
    ("malformed required period", "B1;Al;Lee;01/02/1950;1;;P01;Jan;100", "period (column MONTH): not a date"),
    (
        "non-numeric required amount",
        "B1;Al;Lee;01/02/1950;1;;P01;2026-01;n/a",
        "benefit_amount (column AMOUNT)",
    ),
    ("no record id", ";Al;Lee;01/02/1950;1;;P01;2026-01;100", "record_id (column BENEF_NO): empty"),
]


@pytest.mark.parametrize(("description", "row", "reason"), STRICT_CASES, ids=[c[0] for c in STRICT_CASES])
def test_bad_required_field_or_record_id_still_quarantines(con, home, drop, description, row, reason):
    drop("pension", "pay.csv", pension_csv(row))
    [result] = land(con, home)
    assert (result.status, result.rows_accepted, result.rows_rejected) == ("partial", 0, 1), description
    [(quarantined,)] = con.execute("select reason from audit.quarantine").fetchall()
    assert quarantined.startswith(reason)
    assert con.execute("select count(*) from audit.field_issues").fetchall() == [(0,)]
    assert_reconciles(con)


def test_two_character_delimiter_with_spaces_and_no_required_field_lands(con, home, drop):
    """Exports such as 'rec_id, given_name, surname' (', ' between values, padded values) land whole with
    `delimiter: ", "`; with `required: []` a row needs only its record id."""
    _contract(home, file={"format": "csv", "encoding": "utf-8", "delimiter": ", "}, required=[])
    header = ", ".join(PENSION_HEADER.split(";"))
    drop(
        "pension",
        "pay.csv",
        pension_csv(
            "B1, Al , Lee, 01/02/1950, 1, , P01, 2026-01, 100",
            'B2, "Lee, Jr", Ng, 1950, 2, , P01, 2026-01, 90',
            "B3, , , , , , , , ",
            header=header,
            encoding="utf-8",
        ),
    )
    [result] = land(con, home)
    assert (result.status, result.rows_in, result.rows_accepted) == ("accepted", 3, 3), result.reason
    rows = con.execute('select "BENEF_NO", "FIRST", "SURNAME" from raw.pension order by 1').fetchall()
    assert rows == [("B1", "Al ", "Lee"), ("B2", "Lee, Jr", "Ng"), ("B3", None, None)]  # as landed
    assert_reconciles(con)


def test_extra_fields_land_in_raw_and_a_bad_extra_date_is_recorded(con, home, drop):
    """Extra fields are columns like any other: landed as text, missing ones reject the file by name."""
    _contract(
        home,
        extra_fields={
            "birth_place": {"column": "BIRTH_PLACE", "compare": "fuzzy"},
            "baptised": {"column": "BAPT", "compare": "date"},
        },
    )
    header = PENSION_HEADER + ";BIRTH_PLACE;BAPT"
    drop(
        "pension",
        "pay.csv",
        pension_csv(GOOD + ";Lusaka;01/01/1950", GOOD.replace("B1", "B2") + ";;31/31/1950", header=header),
    )
    [result] = land(con, home)
    assert (result.status, result.rows_accepted) == ("accepted", 2)
    assert con.execute('select "BIRTH_PLACE" from raw.pension order by 1').fetchall() == [
        ("Lusaka",),
        (None,),
    ]
    issues = con.execute("select row_number, field, rule from audit.field_issues").fetchall()
    assert issues == [(3, "extra_fields.baptised", "not_a_date")]

    drop(
        "pension",
        "other.csv",
        pension_csv(GOOD.replace("B1", "B9") + ";Ndola", header=PENSION_HEADER + ";BIRTH_PLACE"),
    )
    other = [r for r in land(con, home) if r.file_path.endswith("other.csv")][0]
    assert other.status == "rejected"
    assert "missing column(s) 'BAPT' (extra_fields.baptised)" in (other.reason or "")


def test_links_are_never_followed_nor_read(con, home, drop, tmp_path_factory):
    """A drop file that links to /etc/passwd or to a file outside the home, and a drop folder that is a link:
    rejected naming the path, nothing read, nothing copied to quarantine/, no content in any reason."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "pay.csv").write_bytes(pension_csv(GOOD))
    folder = drop("pension", "a.csv").parent
    (folder / "passwd.csv").symlink_to("/etc/passwd")
    (folder / "outside.csv").symlink_to(outside / "pay.csv")
    (home / "drops" / "registry").mkdir()
    (home / "drops" / "registry" / NIGHT).symlink_to(outside, target_is_directory=True)
    results = {r.file_path: r for r in land(con, home)}
    assert set(results) == {
        f"pension/{NIGHT}/passwd.csv",
        f"pension/{NIGHT}/outside.csv",
        f"registry/{NIGHT}",
    }
    for path, result in results.items():
        assert (result.status, result.rows_in) == ("rejected", 0), path
        assert "symbolic link" in (result.reason or ""), path
    assert "drops/registry/2026-02-01 is a symbolic link" in (results[f"registry/{NIGHT}"].reason or "")
    assert not any("root" in (r.reason or "") or "Lee" in (r.reason or "") for r in results.values())
    assert not (home / "quarantine").exists()
    assert not con.execute("select count(*) from duckdb_tables() where schema_name = 'raw'").fetchall()[0][0]
    assert con.execute("select count(*) from audit.files where file_sha256 is not null").fetchall() == [(0,)]


def test_sub_folders_and_pipes_in_a_drop_folder_are_recorded_unread(con, home, drop):
    """Entries that are not regular files were silently skipped: now each is a rejected row of audit.files."""
    drop("pension", "pay.csv", pension_csv(GOOD))
    folder = drop("pension", "nested/inner.csv", None).parent.parent
    (folder / "nested").mkdir()
    (folder / "nested" / "inner.csv").write_bytes(pension_csv(GOOD))
    os.mkfifo(folder / "pipe.csv")
    results = {r.file_path.rsplit("/", 1)[1]: r for r in land(con, home)}
    assert results["pay.csv"].status == "accepted"
    assert results["nested"].status == "rejected" and "a sub-folder" in (results["nested"].reason or "")
    assert results["pipe.csv"].status == "rejected" and "a named pipe" in (results["pipe.csv"].reason or "")
    assert con.execute("select count(*) from raw.pension").fetchall() == [(1,)]
    assert_reconciles(con)


@pytest.mark.parametrize(
    ("description", "content", "reason"),
    [
        (
            "a 50 MB single line",
            b"B" * (50 << 20),
            "line 1 is longer than the cap of 1,048,576 bytes (IBR_MAX_LINE_BYTES)",
        ),
        (
            "a 200,000-column header",
            ";".join(f"C{i}" for i in range(200_000)).encode() + b"\n1;2\n",
            "line 1 (the header) has more than ",
        ),
        ("a long line after good ones", pension_csv(GOOD, "B2;" + "x" * (2 << 20)), "line 3 is longer than"),
    ],
)
def test_caps_reject_hostile_sizes_fast_naming_the_cap(con, home, drop, description, content, reason):
    """What took 208 s and an OutOfMemoryException is rejected in seconds, naming the file's line and the cap."""
    drop("pension", "pay.csv", content)
    started = time.perf_counter()
    [result] = land(con, home)
    assert time.perf_counter() - started < 10, description
    assert result.status == "rejected" and reason in (result.reason or ""), (description, result.reason)
    assert_reconciles(con)


def test_file_size_and_width_caps_are_configurable(con, home, drop, monkeypatch, tmp_path):
    monkeypatch.setenv("IBR_MAX_FILE_BYTES", "2000")  # the Parquet file below is about 1,200 bytes
    drop("pension", "pay.csv", pension_csv(*(GOOD.replace("B1", f"B{i}") for i in range(50))))
    monkeypatch.setenv("IBR_MAX_COLUMNS", "3")
    table = pa.table({f"c{i}": [str(i)] for i in range(5)})
    pq.write_table(table, tmp_path / "wide.parquet")
    drop("registry", "wide.parquet", (tmp_path / "wide.parquet").read_bytes())
    results = {r.source: r for r in land(con, home)}
    assert "over the cap of 2,000 bytes (IBR_MAX_FILE_BYTES)" in (results["pension"].reason or "")
    assert (home / "quarantine" / NIGHT / "pension" / "pay.csv").stat().st_mode & 0o777 == 0o600
    assert "5 columns, over the cap of 3 (IBR_MAX_COLUMNS)" in (results["registry"].reason or "")
    assert (results["registry"].rows_in, results["registry"].rows_rejected) == (1, 1)
    monkeypatch.setenv("IBR_MAX_COLUMNS", "many")
    with pytest.raises(ValueError, match="IBR_MAX_COLUMNS: got 'many'"):
        Limits.from_env()


def test_a_header_less_csv_counts_every_row_and_quotes_none(con, home, drop):
    """Line 1 is a data row when the header is missing: both rows counted, no value in the reason."""
    drop("pension", "pay.csv", pension_csv("B2;Ann;Lee;01/02/1950;2;;P01;2026-01;100", header=GOOD))
    [result] = land(con, home)
    assert (result.status, result.rows_in, result.rows_rejected) == ("rejected", 2, 2)
    assert "line 1 is not a header" in (result.reason or "")
    assert not any(value in (result.reason or "") for value in ("José", "Durán", "01/02/1950", "Ann", "B1"))


def test_a_csv_renamed_parquet_and_a_truncated_parquet_say_so(con, home, drop, tmp_path):
    drop("registry", "a_renamed.parquet", b"reg_no,name\nR1,Ann Lee\nR2,Bo Ng\nR3,Cy Wu\n")
    pq.write_table(pa.table({"reg_no": ["R1", "R2"]}), tmp_path / "t.parquet")
    drop("registry", "b_cut.parquet", (tmp_path / "t.parquet").read_bytes()[:-30])
    renamed, cut = land(con, home)
    assert (renamed.status, renamed.rows_in) == ("rejected", 3) and "CSV renamed .parquet" in (
        renamed.reason or ""
    )
    assert (cut.status, cut.rows_in) == ("rejected", 0) and "truncated Parquet" in (cut.reason or "")


def test_duckdb_errors_are_passed_on_as_their_type_and_line_only(con):
    """DuckDB's messages quote values ("Could not convert string 'Durán'"): never passed through."""
    with pytest.raises(duckdb.Error) as caught:
        con.execute("select 'Durán on line 7'::integer")
    assert duckdb_error(caught.value) == "ConversionException at line 7"


def test_the_audit_schema_is_made_whole_again_where_a_table_column_or_comment_is_missing(tmp_path):
    with duckdb.connect(str(tmp_path / "work.duckdb")) as con:
        ensure_schema(con)
        columns = "select table_name, column_name, data_type, comment from duckdb_columns() where schema_name = 'audit'"
        whole = sorted(con.execute(columns).fetchall())
        con.execute("comment on column audit.files.source is 'edited by hand'")
        con.execute("alter table audit.checks drop column definition")
        con.execute("drop table audit.field_issues")
        ensure_schema(con)
        assert sorted(con.execute(columns).fetchall()) == whole
