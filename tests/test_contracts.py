"""Contracts: a data team fixes a broken contract from the error message alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import PENSION_CONTRACT

from ingest.contracts import ContractError, ExtraField, extra_field_kinds, load_contract, load_contracts


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
    (
        "delimiter over 4 bytes",
        changed(file={"format": "csv", "delimiter": ";;;;;"}),
        "'file.delimiter': got ';;;;;'; must be 1 to 4 bytes",
    ),
    ("empty delimiter", changed(file={"format": "csv", "delimiter": ""}), "'file.delimiter': got ''"),
    ("delimiter with a newline", changed(file={"format": "csv", "delimiter": ",\n"}), "'file.delimiter'"),
    ("delimiter holding the quote", changed(file={"format": "csv", "delimiter": '",'}), "'file.delimiter'"),
    ("required not a list", changed(required="last_name"), "'required': must be a list"),
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
        "'date_formats[0]': 'dd/mm/yyyy' is not a strptime",
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
        "must map a name (first_name, last_name, full_name, father_name)",
    ),
]


def extras(**fields: object) -> dict:
    return changed(extra_fields=fields)


# a data team names extra fields; the names become SQL identifiers and linkage's comparison columns
EXTRA_CASES = [
    (
        "SQL in a name",
        extras(**{'x"; drop table raw.pension; --': {"column": "X"}}),
        "'extra_fields.x\"; drop",
    ),
    (
        "upper case name",
        extras(BirthPlace={"column": "BP"}),
        "'extra_fields.BirthPlace': not a valid field name",
    ),
    ("name with a space", extras(**{"birth place": {"column": "BP"}}), "must match ^[a-z][a-z0-9_]{0,62}$"),
    ("name starting with a digit", extras(**{"1st_place": {"column": "BP"}}), "not a valid field name"),
    ("canonical name", extras(postcode={"column": "PC"}), "'extra_fields.postcode': is a canonical field"),
    ("person_records column", extras(birth_year={"column": "BY"}), "'extra_fields.birth_year': is a name"),
    ("Splink pair suffix", extras(place_l={"column": "P"}), "'extra_fields.place_l': is a name the registry"),
    ("Splink prefix", extras(gamma_place={"column": "P"}), "'extra_fields.gamma_place': is a name"),
    (
        "unknown compare",
        extras(email={"column": "E", "compare": "soundex"}),
        "'extra_fields.email.compare': got",
    ),
    (
        "no column",
        extras(email={"compare": "exact"}),
        "'extra_fields.email.column': missing (required): a column of the source's drop files",
    ),
    ("unknown key", extras(email={"column": "E", "weight": 3}), "'extra_fields.email.weight': unknown key"),
    ("not a mapping", changed(extra_fields=["email"]), "'extra_fields': must be a mapping"),
]


@pytest.mark.parametrize(("description", "contract", "message"), EXTRA_CASES, ids=[c[0] for c in EXTRA_CASES])
def test_hostile_or_clashing_extra_field_names_are_refused(tmp_path, description, contract, message):
    """An extra field's name reaches SQL and linkage: refused unless it is a plain new name, naming contract and key."""
    path = write(tmp_path, contract)
    with pytest.raises(ContractError) as error:
        load_contract(path)
    assert str(path) in str(error.value)
    assert message in str(error.value), description


def test_extra_fields_load_and_tell_linkage_how_to_compare_them(tmp_path):
    """Matching reads the extra fields of every contract, and how to compare each, from one call."""
    write(
        tmp_path,
        extras(
            birth_place={"column": "BIRTH_PLACE", "compare": "fuzzy"},
            occupation={"column": "OCCUPATION"},
            baptism={"column": "BAPTISED", "compare": "date"},
        ),
    )
    contracts = load_contracts(tmp_path)
    pension = contracts["pension"]
    assert pension.extra_fields["occupation"] == ExtraField(column="OCCUPATION", compare="exact")
    assert set(pension.source_columns[-3:]) == {"BIRTH_PLACE", "OCCUPATION", "BAPTISED"}  # landed in raw
    assert pension.fields_of_column("BIRTH_PLACE") == ["extra_fields.birth_place"]
    assert extra_field_kinds(contracts) == {"baptism": "date", "birth_place": "fuzzy", "occupation": "exact"}


def test_one_extra_field_compared_two_ways_is_refused(tmp_path):
    write(tmp_path, extras(email={"column": "EMAIL", "compare": "exact"}))
    write(tmp_path, {**extras(email={"column": "MAIL", "compare": "fuzzy"}), "name": "other"}, name="other")
    with pytest.raises(
        ContractError,
        match="'extra_fields.email.compare': is 'exact' but .*other.yaml compares 'email' as 'fuzzy'",
    ):
        load_contracts(tmp_path)


VALID_CASES = [
    ("two-character delimiter", changed(file={"format": "csv", "delimiter": ", "}), ", "),
    ("four-byte delimiter", changed(file={"format": "csv", "delimiter": "|~~|"}), "|~~|"),
    ("non-ASCII delimiter", changed(file={"format": "csv", "delimiter": "¦"}), "¦"),
]


@pytest.mark.parametrize(
    ("description", "contract", "delimiter"), VALID_CASES, ids=[c[0] for c in VALID_CASES]
)
def test_multi_character_delimiters_are_accepted(tmp_path, description, contract, delimiter):
    """Registries export with ', ' or '||': up to 4 bytes, what DuckDB's CSV reader takes."""
    assert load_contract(write(tmp_path, contract)).file.delimiter == delimiter, description


def test_required_may_be_empty(tmp_path):
    """A source where no field is required lands every row with a record id (`required: []`)."""
    assert load_contract(write(tmp_path, changed(required=[]))).required == ()
    assert load_contract(write(tmp_path, changed(required=None))).required == ()  # the key left out


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
