"""The JSON Schemas `ibr schema` writes for editors, from the models the loaders validate with.

One pydantic model per file a deployment writes, defined beside its loader: a source contract
(`sources/<name>.yaml`, ingest.contracts.ContractModel), `programmes.yaml`
(registry.programmes.ProgrammesModel), `checks.yaml` (quality.checks.ChecksFile), `linkage.yaml`
(matching.config.LinkageModel, built from `LinkageConfig`'s own fields) and `retention.yaml`
(pipelines.retention.RetentionPolicy). The loaders validate every file with these models and say
their errors as file, key path and what is allowed (core.configerrors), so a schema is what the
loaders accept, less the rules across fields it cannot say (a contract's name equals its file's,
an eligibility expression binds against the golden record). The schemas give an editor completion
and the same shape checks as the file is typed.

    ibr schema --out schemas/     # contract, programmes, checks, linkage, retention .schema.json
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from ingest.contracts import ContractModel
from matching.config import LinkageModel
from pipelines.retention import RetentionPolicy
from quality.checks import ChecksFile
from registry.programmes import ProgrammesModel

SCHEMAS: dict[str, type[BaseModel]] = {
    "contract": ContractModel,
    "programmes": ProgrammesModel,
    "checks": ChecksFile,
    "linkage": LinkageModel,
    "retention": RetentionPolicy,
}


def write_schemas(out: Path) -> list[Path]:
    """Write `<name>.schema.json` for every configuration file into `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
