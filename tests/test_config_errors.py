"""Configuration errors from the pydantic models: file, key path and what is allowed, every fault at once.

A data team fixing a contract, programmes.yaml or linkage.yaml reads every problem of the file from one
message, each naming the file and the key path (`file.format`, `codes.sex.2`, `date_formats[0]`), never
pydantic's Python words.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import PENSION_CONTRACT

from ingest.contracts import ContractError, load_contract
from matching.config import LinkageConfig
from registry.programmes import ProgrammesError, load_programmes

SHIPPED_PROGRAMMES = Path(__file__).resolve().parent.parent / "programmes.yaml"


def _contract(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "pension.yaml"
    path.write_text(yaml.safe_dump({**copy.deepcopy(PENSION_CONTRACT), **changes}), encoding="utf-8")
    return path


CONTRACT_CASES = [
    (
        "several faults, each on its line",
        {"kind": "payroll", "file": {"format": "xlsx", "encodng": "utf-8"}},
        [
            "'kind': got 'payroll'; allowed: civil_registry, tax_registry",
            "'file.format': got 'xlsx'; allowed: csv, parquet",
            "'file.encodng': unknown key; allowed: delimiter, encoding, format, header, quote",
        ],
    ),
    (
        "a code outside the canonical ones",
        {"codes": {"sex": {1: "M", 2: "female"}}},
        ["'codes.sex.2': got 'female'"],
    ),
    (
        "a column that is not text",
        {"columns": {"last_name": 5}},
        ["'columns.last_name': must be text, got int"],
    ),
    ("an empty record id", {"record_id": ""}, ["'record_id': must not be empty"]),
    ("an unknown required field", {"required": ["last_name", "dob"]}, ["'required[1]': got 'dob'; allowed:"]),
    (
        "a weekly day that is no day",
        {"schedule": {"cadence": "weekly", "day": True}},
        ["'schedule.day': got True"],
    ),
]


@pytest.mark.parametrize(
    ("description", "changes", "expected"), CONTRACT_CASES, ids=[c[0] for c in CONTRACT_CASES]
)
def test_contract_errors_name_the_file_and_every_key_path(tmp_path, description, changes, expected):
    path = _contract(tmp_path, **changes)
    with pytest.raises(ContractError) as error:
        load_contract(path)
    lines = str(error.value).splitlines()
    assert all(line.startswith(f"{path}: '") for line in lines), description
    for message in expected:
        assert any(message in line for line in lines), (description, message, lines)
    assert "Input should" not in str(error.value) and "pydantic" not in str(error.value)


def test_yaml_number_keys_of_codes_are_source_values_as_text(tmp_path):
    """`codes: {sex: {1: M, 2: F}}` is how YAML reads a payroll's numeric codes: they compare as text."""
    contract = load_contract(_contract(tmp_path, codes={"sex": {1: "M", 2: "F"}}))
    assert contract.codes == {"sex": {"1": "M", "2": "F"}}


@pytest.mark.parametrize(
    ("description", "change", "expected"),
    [
        (
            "a missing key",
            lambda r: r["programmes"][0].pop("name"),
            "programme 'old_age_pension': 'name': missing",
        ),
        (
            "a means test without its threshold",
            lambda r: r["programmes"][1].update(means_test={}),
            "programme 'child_grant': 'means_test.income_annual_max': missing (required)",
        ),
        (
            "a range upside down",
            lambda r: r["programmes"][0].update(benefit_value_min=10, benefit_value_max=5),
            "programme 'old_age_pension': 'benefit_value_min': is above 'benefit_value_max'",
        ),
        (
            "a small cell of one",
            lambda r: r.update(small_cell_min=1),
            "'small_cell_min': got 1; must be >= 2",
        ),
        ("no programmes", lambda r: r.update(programmes=[]), "'programmes': must not be empty"),
    ],
)
def test_programmes_errors_name_the_programme_and_the_key(tmp_path, description, change, expected):
    rules = yaml.safe_load(SHIPPED_PROGRAMMES.read_text(encoding="utf-8"))
    change(rules)
    path = tmp_path / "programmes.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    with pytest.raises(ProgrammesError) as error:
        load_programmes(path)
    assert str(error.value).startswith(f"{path}: "), description
    assert expected in str(error.value), description


def test_linkage_yaml_errors_name_the_file_and_the_key(tmp_path):
    (tmp_path / "linkage.yaml").write_text("memory_limit: lots\ncolour: red\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        LinkageConfig.load(tmp_path)
    text = str(error.value)
    assert "linkage.yaml: 'memory_limit': got 'lots'; expected e.g. 6GB" in text
    assert "linkage.yaml: 'colour': unknown key; allowed: backend, em_max_pairs" in text
