"""JSON Schemas for the configuration files: an editor that checks a file against them agrees with ibr.

The schemas `ibr schema` writes must accept every example the repository ships (the synthetic
country's contracts and programmes.yaml, and the defaults of the optional files), reject what the
loaders reject for shape (an unknown key, a value outside the allowed ones), and the linkage schema
must carry `LinkageConfig`'s own field names and defaults.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from matching.config import LinkageConfig, LinkageModel
from pipelines.cli import main
from pipelines.retention import RetentionPolicy
from quality.checks import DEFAULT_THRESHOLDS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("schemas")
    assert main(["--home", str(out / "home"), "schema", "--out", str(out)]) == 0
    return {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in out.glob("*.schema.json")}


def _validate(schema: dict[str, object], document: object) -> None:
    jsonschema.Draft202012Validator(schema).validate(document)


def test_every_file_has_a_schema(schemas):
    assert set(schemas) == {"contract", "programmes", "checks", "linkage", "retention"}


@pytest.mark.parametrize("path", sorted((REPO / "sources").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_contracts_validate(schemas, path):
    _validate(schemas["contract"], yaml.safe_load(path.read_text(encoding="utf-8")))


def test_the_shipped_programmes_validate(schemas):
    _validate(schemas["programmes"], yaml.safe_load((REPO / "programmes.yaml").read_text(encoding="utf-8")))


def test_the_documented_checks_and_defaults_validate(schemas):
    _validate(
        schemas["checks"], {"severity": {"drop_volume": "blocking"}, "thresholds": dict(DEFAULT_THRESHOLDS)}
    )
    _validate(
        schemas["linkage"], {"match_threshold": None, "mode": "incremental", "full_relink_weekday": None}
    )
    _validate(schemas["retention"], RetentionPolicy().model_dump())


@pytest.mark.parametrize(
    "schema, document, why",
    [
        (
            "contract",
            {
                "name": "x",
                "kind": "ministry",
                "file": {"format": "csv"},
                "record_id": "id",
                "columns": {"last_name": "N"},
            },
            "a kind that is not one of the five",
        ),
        (
            "contract",
            {
                "name": "x",
                "kind": "programme",
                "file": {"format": "csv"},
                "record_id": "id",
                "columns": {"surname": "N"},
            },
            "a field that is not canonical",
        ),
        (
            "contract",
            {
                "name": "x",
                "kind": "programme",
                "file": {"format": "xlsx"},
                "record_id": "id",
                "columns": {"last_name": "N"},
            },
            "a format ibr does not read",
        ),
        ("checks", {"severity": {"drop_volume": "fatal"}}, "a severity that is neither blocking nor warning"),
        ("checks", {"thresholds": {"drop_volume_chnage": 0.5}}, "a misspelt threshold"),
        ("linkage", {"mode": "sometimes"}, "a mode that is not auto, full or incremental"),
        ("linkage", {"u_max_pair": 1}, "a misspelt key"),
        ("retention", {"linkage_nights": 1}, "fewer nights than the next night reads"),
    ],
)
def test_what_the_loaders_reject_the_schemas_reject(schemas, schema, document, why):
    with pytest.raises(jsonschema.ValidationError):
        _validate(schemas[schema], document)


def test_the_linkage_schema_has_linkage_configs_names_and_defaults():
    assert {name: field.default for name, field in LinkageModel.model_fields.items()} == {
        f.name: f.default for f in dataclasses.fields(LinkageConfig)
    }
    assert LinkageModel.model_validate({"match_threshold": None}).model_dump()["match_threshold"] is None


def test_the_contract_schema_is_the_model_the_loader_validates_with(schemas):
    """One definition per file kind: the contract and programmes loaders validate with the models the
    schemas are written from, so a key added to one is in the other."""
    from ingest.contracts import ContractModel
    from pipelines.config_schema import SCHEMAS
    from registry.programmes import ProgrammesModel

    assert SCHEMAS["contract"] is ContractModel and SCHEMAS["programmes"] is ProgrammesModel
    assert set(schemas["contract"]["properties"]) == set(ContractModel.model_fields)
