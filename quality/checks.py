"""Which checks block the publish, their thresholds, and the record of every result in `audit.checks`.

Severity is configuration: `<home>/checks.yaml` (optional) overrides the defaults below.
A key is a check name (it applies to that check on every asset) or `asset:check`
(one asset only, e.g. `raw/tax_registry:drop_volume`); the most specific key wins::

    severity:
      drop_volume: blocking                  # every source
      raw/tax_registry:drop_volume: warning  # except the tax registry
    thresholds:
      drop_volume_change: 0.5                # |rows tonight / rows last night - 1| allowed

A blocking check that fails stops the publish (the last good warehouse stays); a
warning is reported and the night goes on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    create_model,
    field_validator,
)

from quality.reconcile import CheckOutcome

Severity = Literal["blocking", "warning"]
SEVERITIES: tuple[Severity, ...] = ("blocking", "warning")
LAYERS = ("source", "staging", "linkage", "registry", "reports", "cross_night")

# checks whose failure means data was lost, invented or is not fit to publish
DEFAULT_BLOCKING = frozenset(
    {
        "rows_reconcile",
        "one_row_per_source_record",
        "every_record_linked_once",
        "record_id_unique_in_drop",
        "enrolment_person_exists",
        "benefit_amount_not_negative",
        "birth_before_death",
        "person_id_unique",
        "report_totals_match_registry",
    }
)

DEFAULT_THRESHOLDS: dict[str, float] = {
    # |rows landed tonight / rows landed the previous night with a drop - 1|
    "drop_volume_change": 0.5,
    # fall of the share of records with a valid national id, in points, against the previous night
    "national_id_share_drop": 0.10,
    # change of the share of records linked to at least one other record, in points
    "linked_share_change": 0.05,
    # change of the share of persons in clusters of 5 or more records, in points
    "large_cluster_share_change": 0.02,
    # share of a drop's non-empty national ids allowed to fail the country's pattern and check digit
    # (mistyped ids are expected in programme lists; more than this says the export itself is wrong)
    "national_id_invalid_share_max": 0.1,
    # share of records (of a drop, or of registry.person) allowed to die before they are born: a mistyped
    # year on a few death registrations is data to report; more says the export swapped or broke the dates
    "implausible_dates_share_max": 0.001,
}


class CheckConfigError(ValueError):
    pass


# a threshold is a number: YAML's `yes` (a bool) or "0.5" (a string) are mistakes, not 1 and 0.5
_Threshold = Annotated[StrictFloat | StrictInt, Field(ge=0)]


# `thresholds:` of checks.yaml: one optional field per default threshold, each a number >= 0
Thresholds = create_model(  # type: ignore[call-overload]
    "Thresholds",
    __config__=ConfigDict(extra="forbid"),
    **{name: (_Threshold, Field(default=value)) for name, value in DEFAULT_THRESHOLDS.items()},
)


class ChecksFile(BaseModel):
    """`<home>/checks.yaml`: severities by check (or `asset:check`) and thresholds; both optional."""

    model_config = ConfigDict(extra="forbid", title="IBR checks")
    severity: dict[str, Severity] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)  # type: ignore[valid-type]

    @field_validator("severity", "thresholds", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return {} if value is None else value


def _message(path: Path, raw: dict[str, Any], error: ValidationError) -> str:
    """Today's wording for the first mistake pydantic found: the file, the key, what is allowed."""
    errors = error.errors()
    unknown = sorted(
        str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
    )
    if unknown:
        return f"{path}: unknown key(s) {unknown}; allowed: severity, thresholds"
    first = errors[0]
    section, key = (str(part) for part in first["loc"][:2])
    if section == "severity":
        return f"{path}: severity.{key}: got {first['input']!r}; allowed: {', '.join(SEVERITIES)}"
    if first["type"] == "extra_forbidden":
        return f"{path}: thresholds.{key}: unknown; allowed: {', '.join(sorted(DEFAULT_THRESHOLDS))}"
    return f"{path}: thresholds.{key}: got {raw['thresholds'][key]!r}; expected a number >= 0"


@dataclass(frozen=True)
class CheckConfig:
    severity: dict[str, Severity] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    path: Path | None = None

    @classmethod
    def load(cls, home: Path) -> CheckConfig:
        """Read `<home>/checks.yaml` through `ChecksFile`; an error names the file, the key and what is allowed."""
        path = home / "checks.yaml"
        if not path.is_file():
            return cls()
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise CheckConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise CheckConfigError(f"{path}: expected a mapping with 'severity' and/or 'thresholds'")
        try:
            parsed = ChecksFile.model_validate(raw)
        except ValidationError as exc:
            raise CheckConfigError(_message(path, raw, exc)) from None
        thresholds = dict(DEFAULT_THRESHOLDS)
        given: BaseModel = parsed.thresholds
        thresholds.update({k: float(v) for k, v in given.model_dump(exclude_unset=True).items()})
        return cls(severity={str(k): v for k, v in parsed.severity.items()}, thresholds=thresholds, path=path)

    def require_known(self, checks: set[tuple[str, str]]) -> None:
        """Fail on a severity key that names no check: a typo would otherwise change nothing, silently.

        `checks` holds every (asset, check name) the definitions declare, as "raw/pension", "drop_volume".
        A key `asset:check` for an asset that is not there (a source retired, its contract removed) only
        warns: the nights of the other sources must go on.
        """
        names = {name for _asset, name in checks}
        assets = {asset for asset, _name in checks}
        qualified = {f"{asset}:{name}" for asset, name in checks}
        unknown, retired = [], []
        for key in sorted(self.severity):
            asset, _, name = key.rpartition(":")
            if key in names or key in qualified:
                continue
            if asset and asset not in assets and name in names:
                retired.append(key)
            else:
                unknown.append(key)
        if retired:
            warnings.warn(
                f"{self.path}: severity: {', '.join(repr(k) for k in retired)} name(s) an asset that is not "
                "defined (a source without a contract?): ignored",
                stacklevel=2,
            )
        if unknown:
            raise CheckConfigError(
                f"{self.path}: severity: {', '.join(repr(k) for k in unknown)} name(s) no check; "
                f"use a check name ({', '.join(sorted(names)[:8])}, ...) or asset:check "
                "(see `ibr status` or audit.checks for every name)"
            )

    def severity_of(self, asset: str, check: str) -> Severity:
        qualified = f"{asset}:{check}"
        if qualified in self.severity:
            return self.severity[qualified]
        if check in self.severity:
            return self.severity[check]
        return "blocking" if check in DEFAULT_BLOCKING else "warning"

    def is_blocking(self, asset: str, check: str) -> bool:
        return self.severity_of(asset, check) == "blocking"


def record_checks(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    night: date,
    asset: str,
    layer: str,
    outcomes: list[CheckOutcome],
    config: CheckConfig,
) -> None:
    """Append the outcomes to audit.checks (a rerun of the same run and asset replaces its rows)."""
    if layer not in LAYERS:
        raise ValueError(f"layer {layer!r}: expected one of {', '.join(LAYERS)}")
    con.execute(
        "delete from audit.checks where run_id = $1 and night = $2 and asset = $3 and check_name = any($4)",
        [run_id, night, asset, [o.name for o in outcomes]],
    )
    rows: list[list[Any]] = [
        [
            run_id,
            night,
            asset,
            o.name,
            layer,
            config.severity_of(asset, o.name),
            o.passed,
            o.observed,
            o.threshold,
            o.description,
            o.failing_keys[:20],
            o.definition or None,
        ]
        for o in outcomes
    ]
    if rows:
        con.execute("alter table audit.checks add column if not exists definition varchar")
        con.executemany(
            "insert into audit.checks (run_id, night, asset, check_name, layer, severity, passed, observed, "
            "threshold, description, failing_keys, definition, checked_at) values "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, current_timestamp at time zone 'UTC')",
            rows,
        )
