"""Contracts: a data team fixes a broken contract from the error message alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import PENSION_CONTRACT

from ingest.contracts import ContractError, load_contract, load_contracts


def write(tmp_path: Path, contract: dict, name: str = "pension") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(contract), encoding="utf-8")
    return path


def changed(**changes: object) -> dict:
    contract = {**PENSION_CONTRACT, **changes}
    return {k: v for k, v in contract.items() if v is not None}


CASES = [
    ("unknown kind", changed(kind="payroll"), "'kind': got 'payroll'; allowed: civil_registry"),
    (
        "unknown encoding",
        changed(file={"format": "csv", "encoding": "ebcdic"}),
        "'file.encoding': got 'ebcdic'",
    ),
    ("unknown format", changed(file={"format": "xlsx"}), "'file.format': got 'xlsx'; allowed: csv, parquet"),
    ("two-char delimiter", changed(file={"format": "csv", "delimiter": ";;"}), "'file.delimiter'"),
    ("unknown top-level key", changed(colums={}), "'colums': unknown key"),
    (
        "unknown canonical field",
        changed(columns={**PENSION_CONTRACT["columns"], "dob": "DOB"}),
        "'columns.dob': not a canonical field; allowed: first_name",
    ),
    ("required but unmapped", changed(required=["phone"]), "'required': 'phone' is required but not mapped"),
    (
        "code outside canonical",
        changed(codes={"sex": {"1": "male"}}),
        "'codes.sex.1': got 'male'; allowed: F, M",
    ),
    ("programme without id", changed(programme_id=None), "'programme_id': a programme source needs one"),
    (
        "bad date format",
        changed(date_formats=["dd/mm/yyyy"]),
        "'date_formats': 'dd/mm/yyyy' is not a strptime",
    ),
    (
        "name and file disagree",
        changed(name="pensions"),
        "'name': is 'pensions' but the file is pension.yaml",
    ),
    (
        "programme without amount",
        changed(
            columns={k: v for k, v in PENSION_CONTRACT["columns"].items() if k != "benefit_amount"},
            required=["last_name"],
        ),
        "'columns.benefit_amount': missing: a programme source must map it",
    ),
    (
        "no name at all",
        changed(columns={"period": "M", "benefit_amount": "A"}, required=[]),
        "must map last_name or full_name",
    ),
]


@pytest.mark.parametrize(("description", "contract", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_contract_names_file_key_and_allowed_values(tmp_path, description, contract, message):
    path = write(tmp_path, contract)
    with pytest.raises(ContractError) as error:
        load_contract(path)
    assert str(path) in str(error.value)
    assert message in str(error.value), description


def test_valid_contract_loads_with_defaults(tmp_path):
    write(tmp_path, PENSION_CONTRACT)
    contract = load_contracts(tmp_path)["pension"]
    assert contract.column_for("date_of_birth") == "DOB"
    assert contract.source_columns[0] == "BENEF_NO"
    assert contract.period_formats == ("%Y-%m",)
    assert contract.file.quote == '"'


def test_not_yaml_is_a_clear_error(tmp_path):
    (tmp_path / "pension.yaml").write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contracts(tmp_path)


def test_missing_sources_folder(tmp_path):
    with pytest.raises(ContractError, match="no sources folder"):
        load_contracts(tmp_path / "nope")
