"""A trained model that either backend loads: settings rebuilt from code, plus the trained numbers.

Splink's own `model.json` holds SQL rendered for the backend that trained it (DuckDB's double-quoted
names do not parse on Spark). Beside it, a night that trains writes `model_params.json`: the fields
the model was built for (matching.model.Fields), the blocking rules by name, the prior λ, and m and u
of every comparison level by comparison name and level position. To load it, the settings are built
again from code for the target dialect (matching.model.comparisons) and the numbers copied in; a
level whose label differs from the saved one is an error, not a silent mismatch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matching import model as model_lib
from matching.dialect import Dialect

PARAMS_FILE = "model_params.json"
FORMAT = "ibr-linkage-model/1"
_LEVEL_NUMBERS = ("m_probability", "u_probability", "tf_adjustment_weight")


def _creator(fields: model_lib.Fields, rule_names: list[str], dialect: Dialect) -> Any:
    from splink import SettingsCreator

    candidates = dict(model_lib.blocking_candidates(fields, dialect))
    rules = {name: model_lib.rule_sql(name, candidates) for name in rule_names}
    missing = [name for name, sql in rules.items() if sql is None]
    if missing:
        raise ValueError(f"saved model: blocking rule '{missing[0]}' is not one these fields allow")
    return SettingsCreator(
        link_type="link_and_dedupe",
        unique_id_column_name="unique_id",
        comparisons=[comparison for comparison, _ in model_lib.comparisons(fields, dialect)],
        blocking_rules_to_generate_predictions=[rules[name] for name in rule_names],  # type: ignore[misc]
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def params_of(model: dict[str, Any], fields: model_lib.Fields, rule_names: list[str]) -> dict[str, Any]:
    """The backend-neutral form of a trained Splink model (`linker.misc.save_model_to_json()`)."""
    return {
        "format": FORMAT,
        "trained_on": model.get("sql_dialect"),
        "fields": fields.as_dict(),
        "blocking_rules": list(rule_names),
        "probability_two_random_records_match": model["probability_two_random_records_match"],
        "comparisons": {
            comparison["output_column_name"]: [
                {"label": level.get("label_for_charts")}
                | {key: level[key] for key in _LEVEL_NUMBERS if level.get(key) is not None}
                for level in comparison["comparison_levels"]
            ]
            for comparison in model["comparisons"]
        },
    }


def settings_for(params: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """Splink settings for `dialect`, built from code for the saved fields and carrying the saved numbers."""
    if params.get("format") != FORMAT:
        raise ValueError(f"saved model: format {params.get('format')!r}; expected {FORMAT}")
    fields = model_lib.Fields.from_dict(params["fields"])
    settings: dict[str, Any] = _creator(fields, params["blocking_rules"], dialect).create_settings_dict(
        dialect.name
    )
    settings["sql_dialect"] = dialect.name
    settings["probability_two_random_records_match"] = params["probability_two_random_records_match"]
    saved = params["comparisons"]
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        levels = saved.get(name)
        if levels is None or len(levels) != len(comparison["comparison_levels"]):
            raise ValueError(f"saved model: comparison '{name}' does not match the code's; retrain")
        for level, numbers in zip(comparison["comparison_levels"], levels, strict=True):
            label, was = level.get("label_for_charts"), numbers["label"]
            if label is not None and was is not None and not _same_label(label, was):
                raise ValueError(f"saved model: comparison '{name}': level '{label}' was '{was}'; retrain")
            for key in _LEVEL_NUMBERS:
                if key in numbers:
                    level[key] = numbers[key]
    return settings


def _same_label(a: str, b: str) -> bool:
    # Splink's generated labels quote names the dialect's way ("x" on DuckDB, `x` on Spark)
    return a.replace("`", "").replace('"', "") == b.replace("`", "").replace('"', "")


def save(path: Path, params: dict[str, Any]) -> None:
    path.write_text(json.dumps(params, indent=2), encoding="utf-8")


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        params: dict[str, Any] = json.load(handle)
    return params
