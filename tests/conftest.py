"""Shared fixtures: a tiny hand-made deployment home with one programme and one registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

NIGHT = "2026-02-01"

PENSION_CONTRACT = {
    "name": "pension",
    "kind": "programme",
    "programme_id": "pension",
    "description": "test payroll",
    "drop_mode": "snapshot",
    "file": {"format": "csv", "encoding": "cp1252", "delimiter": ";"},
    "date_formats": ["%d/%m/%Y", "%Y"],
    "record_id": "BENEF_NO",
    "columns": {
        "first_name": "FIRST",
        "last_name": "SURNAME",
        "date_of_birth": "DOB",
        "sex": "GENDER",
        "national_id": "NRC",
        "admin1": "PROVINCE",
        "period": "MONTH",
        "benefit_amount": "AMOUNT",
    },
    "required": ["last_name", "period", "benefit_amount"],
    "codes": {"sex": {"1": "M", "2": "F"}},
}

REGISTRY_CONTRACT = {
    "name": "registry",
    "kind": "civil_registry",
    "drop_mode": "delta",
    "file": {"format": "parquet"},
    "record_id": "reg_no",
    "columns": {
        "full_name": "name",
        "date_of_birth": "born",
        "sex": "sex",
        "national_id": "nid",
        "admin1": "province",
        "event_type": "event",
        "date_of_death": "died",
    },
    "full_name_order": "given_first",
    "required": ["full_name"],
}

PENSION_HEADER = "BENEF_NO;FIRST;SURNAME;DOB;GENDER;NRC;PROVINCE;MONTH;AMOUNT"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A deployment home with two contracts, a country file and an admin gazetteer, and no drops."""
    return make_home(tmp_path)


def make_home(tmp_path: Path) -> Path:
    """The `home` fixture's files written into `tmp_path` (for module-scoped fixtures)."""
    (tmp_path / "sources").mkdir()
    for contract in (PENSION_CONTRACT, REGISTRY_CONTRACT):
        (tmp_path / "sources" / f"{contract['name']}.yaml").write_text(
            yaml.safe_dump(contract), encoding="utf-8"
        )
    (tmp_path / "country.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "Testland",
                "national_id": {"pattern": "^[0-9]{10}$", "check_digit": "luhn"},
                "phone": {"country_code": "260", "national_digits": 9},
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "programmes.yaml").write_text(
        yaml.safe_dump(
            {
                "programmes": [
                    {
                        "programme_id": "pension",
                        "name": "Test pension",
                        "ministry": "Ministry of Tests",
                        "benefit_type": "cash",
                        "benefit_value_monthly": 100,
                        "eligibility": "not is_deceased and age_years >= 65",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "admin_areas.csv").write_text(
        "admin1_code,admin1_name,admin2_code,admin2_name\nP01,Nórte,P01D01,Alpha\nP02,Sul,P02D01,Beta\n",
        encoding="utf-8",
    )
    return tmp_path


@pytest.fixture
def drop(home: Path) -> Callable[..., Path]:
    """Write one drop file: drop("pension", "pay.csv", b"...") -> path."""

    def write(source: str, name: str, content: bytes | None = None, night: str = NIGHT) -> Path:
        folder = home / "drops" / source / night
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if content is not None:
            path.write_bytes(content)
        return path

    return write


def pension_csv(*rows: str, header: str = PENSION_HEADER, encoding: str = "cp1252") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def night_instance(*nights: str):  # -> dg.DagsterInstance (dagster imported only by the tests that run jobs)
    """An ephemeral Dagster instance that knows the nights' partition keys, as `ibr run` adds them."""
    import dagster as dg

    from pipelines.nights import add_nights

    instance = dg.DagsterInstance.ephemeral()
    add_nights(instance, nights)
    return instance
