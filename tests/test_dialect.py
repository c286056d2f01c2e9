"""The SQL we write by hand is rendered for the backend it runs on, and a model's numbers survive the move.

Users rely on `backend: spark` running the same comparisons as DuckDB: no DuckDB-only function may
reach Spark, and a saved model loads on either backend with the same λ, m and u.
"""

from __future__ import annotations

import pytest

from matching import model as model_lib
from matching import portable_model
from matching.dialect import DUCKDB, SPARK, dialect

EVERY_FIELD = model_lib.Fields(
    used=frozenset({*model_lib.CANDIDATE_FIELDS, "birth place", "occupation", "clinic_visit"}),
    profiles={},
    records=10_000,
    extra={"birth place": "token", "occupation": "fuzzy", "clinic_visit": "date"},
)
DUCKDB_ONLY = ("jaro_winkler_similarity", "list_intersect", "string_split", '"')


def rendered(settings: dict) -> str:
    return "\n".join(
        [
            level["sql_condition"]
            for comparison in settings["comparisons"]
            for level in comparison["comparison_levels"]
        ]
        + [rule["blocking_rule"] for rule in settings["blocking_rules_to_generate_predictions"]]
    )


def params_with_numbers() -> dict:
    """A model's neutral form as a training night saves it, with distinct made-up numbers per level."""
    rules = [name for name, _ in model_lib.blocking_candidates(EVERY_FIELD)]
    settings = portable_model._creator(EVERY_FIELD, rules, DUCKDB).create_settings_dict("duckdb")
    settings["probability_two_random_records_match"] = 0.000123
    for i, comparison in enumerate(settings["comparisons"]):
        for j, level in enumerate(comparison["comparison_levels"]):
            if not level.get("is_null_level"):
                level["m_probability"] = 0.01 * (j + 1)
                level["u_probability"] = 0.001 * (i + 1)
    return portable_model.params_of(settings, EVERY_FIELD, rules)


def test_no_duckdb_only_sql_reaches_spark():
    settings = portable_model.settings_for(params_with_numbers(), SPARK)
    sql = rendered(settings)
    for name in DUCKDB_ONLY:
        assert name not in sql, name
    assert "jaro_winkler(" in sql and "array_intersect(" in sql and "`birth place_l`" in sql


@pytest.mark.parametrize("target", [DUCKDB, SPARK], ids=["duckdb", "spark"])
def test_a_saved_model_loads_with_its_numbers(target):
    params = params_with_numbers()
    settings = portable_model.settings_for(params, target)
    assert settings["sql_dialect"] == target.name
    assert settings["probability_two_random_records_match"] == 0.000123
    got = portable_model.params_of(settings, EVERY_FIELD, params["blocking_rules"])["comparisons"]
    assert got.keys() == params["comparisons"].keys()
    for name, levels in params["comparisons"].items():
        numbers = [(level.get("m_probability"), level.get("u_probability")) for level in levels]
        assert [(level.get("m_probability"), level.get("u_probability")) for level in got[name]] == numbers, (
            name
        )


def test_a_model_for_other_fields_is_refused():
    """Settings rebuilt from code for fields the numbers were not trained on would score nonsense."""
    params = params_with_numbers()
    params["comparisons"]["given_name"] = params["comparisons"]["given_name"][:-1]
    with pytest.raises(ValueError, match="given_name"):
        portable_model.settings_for(params, SPARK)


def test_an_unknown_backend_is_named():
    with pytest.raises(ValueError, match="allowed: duckdb, spark"):
        dialect("polars")
