"""Standardisation: the canonical person record that linkage and the registry rely on."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NIGHT, pension_csv

from ingest.contracts import load_contracts
from ingest.landing import Lander
from staging.standardise import build_staging


def luhn(digits: str) -> str:
    """Append the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return digits + str((10 - total % 10) % 10)


def run_nights(con, home, *nights: str):
    contracts = load_contracts(home / "sources")
    for night in nights:
        lander = Lander(con, home, date.fromisoformat(night))
        for contract in contracts.values():
            lander.land_source(contract)
    return build_staging(con, home, contracts, date.fromisoformat(nights[-1]))


def records(con, source: str) -> dict[str, dict]:
    rel = con.sql(f"select * from staging.person_records where source = '{source}'")
    return {
        row[rel.columns.index("source_record_id")]: dict(zip(rel.columns, row, strict=True))
        for row in rel.fetchall()
    }


def test_names_dates_codes_ids_and_areas_are_standardised(con, home, drop):
    valid = luhn("123456789")
    mistyped = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    drop(
        "pension",
        "pay.csv",
        pension_csv(
            f"B1;  José-Luis ;O'Dúrán;01/02/1950;1;{valid[:4]}-{valid[4:]};NÓRTE;2026-01;100",
            f"B2;Ørjan;Šuster;1961;2;{mistyped};p02;2026-01;100",
            # a letter O typed for a zero: invalid, and no failure (DuckDB evaluates both sides of an AND)
            f"B3;Ann;Lee;1955;2;{valid[:3]}O{valid[4:]};P01;2026-01;100",
        ),
    )
    run_nights(con, home, NIGHT)
    pension = records(con, "pension")
    assert (pension["B1"]["first_name"], pension["B1"]["last_name"]) == ("jose luis", "oduran")
    assert pension["B1"]["date_of_birth"] == date(1950, 2, 1) and pension["B1"]["dob_precision"] == "day"
    assert pension["B2"]["date_of_birth"] == date(1961, 1, 1) and pension["B2"]["dob_precision"] == "year"
    assert (pension["B1"]["sex"], pension["B2"]["sex"]) == ("M", "F")
    assert (pension["B1"]["national_id"], pension["B1"]["national_id_valid"]) == (valid, True)
    assert (pension["B2"]["national_id"], pension["B2"]["national_id_valid"]) == (mistyped, False)
    assert (pension["B3"]["national_id"], pension["B3"]["national_id_valid"]) == (
        f"{valid[:3]}O{valid[4:]}",
        False,
    )
    assert (pension["B1"]["admin1"], pension["B2"]["admin1"]) == ("P01", "P02")
    assert (pension["B2"]["first_name"], pension["B2"]["last_name"]) == ("orjan", "suster")


def test_full_name_is_split_and_parquet_dates_read(con, home, drop, tmp_path):
    table = pa.table(
        {
            "reg_no": ["R1", "R2", "R3"],
            "name": ["Ann Mary Lee", "KOFI, Ama Serwa", "Solo"],
            "born": pa.array([date(1950, 1, 2), date(1960, 3, 4), None]),
            "sex": ["F", "f", None],
            "nid": [None, None, None],
            "province": ["Sul", "sul", None],
            "event": ["birth", "death", "birth"],
            "died": pa.array([None, date(2026, 1, 5), None], type=pa.date32()),
        }
    )
    path = drop("registry", "reg.parquet")
    pq.write_table(table, path)
    run_nights(con, home, NIGHT)
    reg = records(con, "registry")
    assert (reg["R1"]["first_name"], reg["R1"]["middle_name"], reg["R1"]["last_name"]) == (
        "ann",
        "mary",
        "lee",
    )
    assert (reg["R2"]["first_name"], reg["R2"]["middle_name"], reg["R2"]["last_name"]) == (
        "ama",
        "serwa",
        "kofi",
    )
    assert (reg["R3"]["first_name"], reg["R3"]["last_name"]) == ("solo", None)
    assert reg["R1"]["date_of_birth"] == date(1950, 1, 2) and reg["R2"]["sex"] == "F"
    death = con.execute(
        "select date_of_death from staging.civil_event where source_record_id = 'R2'"
    ).fetchall()
    assert death == [(date(2026, 1, 5),)]


def test_snapshot_keeps_every_record_seen_and_marks_the_current_ones(con, home, drop):
    """A beneficiary who left the payroll keeps a staged record (their past payments link to it), not current."""
    drop(
        "pension",
        "jan.csv",
        pension_csv("B1;A;Lee;1950;1;;P01;2026-01;100", "B2;B;Ng;1950;2;;P01;2026-01;100"),
    )
    drop("pension", "feb.csv", pension_csv("B1;A;Lee;1950;1;;P01;2026-02;110"), night="2026-03-01")
    summary = run_nights(con, home, NIGHT, "2026-03-01")
    pension = records(con, "pension")
    assert summary.person_records == 2
    assert (pension["B1"]["is_current"], pension["B2"]["is_current"]) == (True, False)
    enrolments = con.execute(
        "select source_record_id, period_month, benefit_amount_monthly from staging.enrolment order by 1, 2"
    ).fetchall()
    assert [(r[0], r[1].isoformat(), float(r[2])) for r in enrolments] == [
        ("B1", "2026-01-01", 100.0),
        ("B1", "2026-02-01", 110.0),
        ("B2", "2026-01-01", 100.0),
    ]


def test_staging_as_of_an_earlier_night_ignores_later_drops(con, home, drop):
    """Backfilling a past night rebuilds staging from the drops up to that night only."""
    drop("pension", "jan.csv", pension_csv("B1;A;Lee;1950;1;;P01;2026-01;100"))
    drop("pension", "feb.csv", pension_csv("B9;Z;Ko;1950;1;;P01;2026-02;100"), night="2026-03-01")
    run_nights(con, home, NIGHT, "2026-03-01")
    summary = build_staging(con, home, load_contracts(home / "sources"), date.fromisoformat(NIGHT))
    assert summary.by_source == {"pension": 1}


def test_other_scripts_are_transliterated(con):
    """Names typed in another script or with letters strip_accents keeps (ł, ß) still compare as ASCII."""
    from staging.standardise import register_functions

    register_functions(con)
    got = con.execute(
        "select ibr_clean_name('Łukasz'), ibr_clean_name('Дмитрий'), ibr_clean_name('Strauß')"
    ).fetchall()
    assert got == [("lukasz", "dmitrii", "strauss")]


def _versions(con) -> list[tuple]:
    return con.execute("select * from staging.record_versions order by all").fetchall()


def _person_records(con) -> list[tuple]:
    return con.execute("select * from staging.person_records order by all").fetchall()


def _staged(con) -> tuple[list[tuple], list[tuple]]:
    return _versions(con), _person_records(con)


def _from_scratch(home, night: str) -> tuple[list[tuple], list[tuple]]:
    """What a fresh working database gives: the same raw rows, typed and standardised all at once."""
    with duckdb.connect() as fresh:
        contracts = load_contracts(home / "sources")
        for each in sorted({p.name for p in (home / "drops" / "pension").iterdir()}):
            if each <= night:
                lander = Lander(fresh, home, date.fromisoformat(each))
                for contract in contracts.values():
                    lander.land_source(contract)
        build_staging(fresh, home, contracts, date.fromisoformat(night))
        return _staged(fresh)


def test_typed_rows_kept_between_nights_equal_typing_everything_again(con, home, drop):
    """Only files landed since are typed, and only their records standardised again, each night; backfills,
    replaced files and changed contracts must still give exactly what doing it all from scratch gives."""
    drop(
        "pension",
        "jan.csv",
        pension_csv("B1;A;Lee;1950;1;;P01;2026-01;100", "B2;B;Ng;01/02/1950;2;;P01;2026-01;100"),
    )
    drop("pension", "feb.csv", pension_csv("B1;A;Lee;1950;1;;P01;2026-02;110"), night="2026-03-01")
    run_nights(con, home, NIGHT, "2026-03-01")
    assert _staged(con) == _from_scratch(home, "2026-03-01")
    assert len(_versions(con)) == 3
    current = "select source_record_id, is_current from staging.person_records order by 1"
    assert con.execute(current).fetchall() == [("B1", True), ("B2", False)]

    # a backfill of the first night: the later drop's rows leave, and come back when the night after runs
    build_staging(con, home, load_contracts(home / "sources"), date.fromisoformat(NIGHT))
    assert _staged(con) == _from_scratch(home, NIGHT)
    assert con.execute(current).fetchall() == [("B1", True), ("B2", True)]  # back in the latest snapshot
    run_nights(con, home, "2026-03-01")
    assert _staged(con) == _from_scratch(home, "2026-03-01")

    # a file replaced in place (new bytes) is landed afresh: its old rows' typing goes
    drop(
        "pension",
        "feb.csv",
        pension_csv("B1;A;Lee;1950;1;;P01;2026-02;120", "B3;C;Ko;1949;1;;P02;2026-02;90"),
        night="2026-03-01",
    )
    run_nights(con, home, "2026-03-01")
    assert _staged(con) == _from_scratch(home, "2026-03-01")
    assert len(_versions(con)) == 4

    # the contract's date format changes (month first): every row of the source is typed again
    contract = home / "sources" / "pension.yaml"
    text = contract.read_text(encoding="utf-8")
    assert "- '%d/%m/%Y'" in text
    contract.write_text(text.replace("- '%d/%m/%Y'", "- '%m/%d/%Y'"), encoding="utf-8")
    run_nights(con, home, "2026-03-01")
    assert _staged(con) == _from_scratch(home, "2026-03-01")
    born = con.execute(
        "select date_of_birth from staging.record_versions where source_record_id = 'B2'"
    ).fetchall()
    assert born == [(date(1950, 1, 2),)]


def test_typed_rows_kept_from_another_layout_are_typed_again(con, home, drop, monkeypatch):
    """A new canonical field (a code upgrade) changes the table's columns: it is made again, not patched."""
    import ingest.contracts
    import staging.standardise

    drop("pension", "jan.csv", pension_csv("B1;A;Lee;1950;1;;P01;2026-01;100"))
    run_nights(con, home, NIGHT)
    fields = {**ingest.contracts.CANONICAL_FIELDS, "nickname": "name"}
    monkeypatch.setattr(staging.standardise, "CANONICAL_FIELDS", fields)
    build_staging(con, home, load_contracts(home / "sources"), date.fromisoformat(NIGHT))
    columns = [r[0] for r in con.execute("describe staging.record_versions").fetchall()]
    assert "nickname" in columns
    assert con.execute("select count(*) from staging.record_versions").fetchall() == [(1,)]


def test_a_night_killed_between_typing_and_standardising_is_finished_by_the_rerun(
    con, home, drop, monkeypatch
):
    """The typed rows commit first, the person records after: the records typed but not yet standardised stay
    listed in staging.pending_records, so the rerun standardises them."""
    import staging.standardise

    drop("pension", "jan.csv", pension_csv("B1;A;Lee;1950;1;;P01;2026-01;100"))
    drop("pension", "feb.csv", pension_csv("B1;Ann;Lee;1950;1;;P01;2026-02;100"), night="2026-03-01")
    run_nights(con, home, NIGHT)

    def killed(*_args):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(staging.standardise, "update_person_records", killed)
    with pytest.raises(KeyboardInterrupt):
        run_nights(con, home, "2026-03-01")
    assert con.execute("select source_record_id from staging.pending_records").fetchall() == [("B1",)]
    monkeypatch.undo()
    run_nights(con, home, "2026-03-01")
    assert _staged(con) == _from_scratch(home, "2026-03-01")
    assert records(con, "pension")["B1"]["first_name"] == "ann"


def test_the_fields_left_out_of_a_person_records_content_are_read_by_no_person_record():
    """A payroll re-sent with a new month moves only a person record's lineage: that holds while the fields
    left out of `content_md5` are the facts tables' own."""
    import re

    from core.sqlutil import SQL_ROOT
    from staging.standardise import FACT_ONLY_FIELDS

    template = (SQL_ROOT / "staging" / "person_records.sql.j2").read_text(encoding="utf-8")
    assert [f for f in FACT_ONLY_FIELDS if re.search(rf"\b{f}\b", template)] == []


ADDRESS_CONTRACT = {
    "name": "survey",
    "kind": "social_registry",
    "file": {"format": "csv", "encoding": "utf-8", "delimiter": ", "},
    "date_formats": ["%Y%m%d"],
    "record_id": "rec_id",
    "columns": {
        "first_name": "given_name",
        "last_name": "surname",
        "date_of_birth": "date_of_birth",
        "street_number": "street_number",
        "address_line": "address_1",
        "address_line_2": "address_2",
        "locality": "suburb",
        "postcode": "postcode",
    },
    "required": [],
    "extra_fields": {
        "birth_place": {"column": "birth_place", "compare": "fuzzy"},
        "occupation": {"column": "occupation", "compare": "exact"},
        "baptised": {"column": "baptised", "compare": "date"},
    },
}
SURVEY_HEADER = (
    "rec_id, given_name, surname, date_of_birth, street_number, address_1, address_2, suburb, postcode, "
    "birth_place, occupation, baptised"
)


def survey_csv(*rows: str) -> bytes:
    return ("\n".join([SURVEY_HEADER, *rows]) + "\n").encode("utf-8")


@pytest.fixture
def survey(home):
    """A one-source registry export as public benchmarks ship it: ', ' between values, no sex, no id."""
    import yaml

    (home / "sources" / "survey.yaml").write_text(yaml.safe_dump(ADDRESS_CONTRACT), encoding="utf-8")
    return home


# (description, value in the file, column of staging.person_records, standardised value)
ADDRESS_CASES = [
    ("house number with a letter", "12 A", "street_number", "12a"),
    ("house number range", "12-14", "street_number", "12-14"),
    ("address punctuation and case", "  Flat 3 -  O'Neil St. ", "address_line", "flat 3 oneil st"),
    ("second line transliterated", "Корпус 2", "address_line_2", "korpus 2"),
    ("locality keeps its digits", "Ward  No.9", "locality", "ward no 9"),
    ("locality accents", "São  Tomé", "locality", "sao tome"),
    ("postcode spaces and case", "sw1a  1aa", "postcode", "SW1A1AA"),
    ("postcode dash", "1234-567", "postcode", "1234567"),
    ("empty after cleaning", " .. ", "address_line", None),
]


@pytest.mark.parametrize(
    ("description", "value", "column", "expected"), ADDRESS_CASES, ids=[c[0] for c in ADDRESS_CASES]
)
def test_address_fields_are_standardised_for_comparison(
    con, survey, drop, description, value, column, expected
):
    """Linkage compares house numbers, address lines, localities and postcodes as written differently by
    different registries: case, spacing, punctuation and script must not make two equal addresses differ."""
    fields = {
        "street_number": "",
        "address_line": "",
        "address_line_2": "",
        "locality": "",
        "postcode": "",
    } | {column: value}
    row = ", ".join(
        [
            "r1",
            "ann",
            "lee",
            "19500201",
            fields["street_number"],
            fields["address_line"],
            fields["address_line_2"],
            fields["locality"],
            fields["postcode"],
            "",
            "",
            "",
        ]
    )
    drop("survey", "list.csv", survey_csv(row))
    run_nights(con, survey, NIGHT)
    assert records(con, "survey")["r1"][column] == expected, description


def _extras(con) -> list[tuple]:
    return con.execute("select * from staging.person_extra order by all").fetchall()


def test_extra_fields_reach_person_extra_and_stay_in_step_on_later_nights(con, survey, drop):
    """Extra fields of a contract reach staging.person_extra standardised, one row per record and non-empty field,
    from the same version of the record as staging.person_records; an incremental night equals a full build."""
    drop(
        "survey",
        "list.csv",
        survey_csv(
            "r1, Ann, Lee, 19450493, 3, Main St, , Hilltop, 2600, Kraków  Nowa Huta, teacher , 19500105",
            "r2, Bo, Ng, 19500201, , , , , , , , ",
        ),
    )
    run_nights(con, survey, NIGHT)
    survey_records = records(con, "survey")
    assert survey_records["r1"]["date_of_birth"] is None  # malformed, optional: the person is kept
    assert _extras(con) == [
        ("survey", "r1", "baptised", "1950-01-05"),
        ("survey", "r1", "birth_place", "KRAKOW NOWA HUTA"),
        ("survey", "r1", "occupation", "TEACHER"),
    ]
    assert con.execute("select field, rule from audit.field_issues order by all").fetchall() == [
        ("date_of_birth", "not_a_date")
    ]

    # the next night: r1 changes only an extra field (its person fields do not), r3 is new, r2 is gone
    later = "2026-03-01"
    drop(
        "survey",
        "list.csv",
        survey_csv(
            "r1, Ann, Lee, 19450493, 3, Main St, , Hilltop, 2600, Kraków, teacher, 19500105",
            "r3, Cy, Wu, 19600101, , , , , , , Nurse, ",
        ),
        night=later,
    )
    run_nights(con, survey, later)
    assert _extras(con) == [
        ("survey", "r1", "baptised", "1950-01-05"),
        ("survey", "r1", "birth_place", "KRAKOW"),
        ("survey", "r1", "occupation", "TEACHER"),
        ("survey", "r3", "occupation", "NURSE"),
    ]
    with duckdb.connect() as fresh:
        contracts = load_contracts(survey / "sources")
        for night in (NIGHT, later):
            lander = Lander(fresh, survey, date.fromisoformat(night))
            for contract in contracts.values():
                lander.land_source(contract)
        build_staging(fresh, survey, contracts, date.fromisoformat(later))
        assert _extras(fresh) == _extras(con)
        assert _person_records(fresh) == _person_records(con)

    # a contract without its extra fields: their rows leave person_extra on the next night
    import yaml

    (survey / "sources" / "survey.yaml").write_text(
        yaml.safe_dump({k: v for k, v in ADDRESS_CONTRACT.items() if k != "extra_fields"}), encoding="utf-8"
    )
    run_nights(con, survey, later)
    assert _extras(con) == []
