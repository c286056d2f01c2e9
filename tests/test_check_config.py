"""checks.yaml: which checks block the publish and the thresholds of the tolerant ones.

A data team edits this file by hand at 2 a.m.; a typo must be an error naming the key, never a
setting that silently changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.definitions import build_defs
from pipelines.settings import Settings
from quality.checks import DEFAULT_THRESHOLDS, CheckConfig, CheckConfigError
from synthetic import generate


def _config(home: Path, text: str) -> CheckConfig:
    (home / "checks.yaml").write_text(text, encoding="utf-8")
    return CheckConfig.load(home)


def test_without_a_file_the_defaults_hold(tmp_path):
    config = CheckConfig.load(tmp_path)
    assert config.thresholds == DEFAULT_THRESHOLDS
    assert config.is_blocking("raw/pension", "rows_reconcile")
    assert config.is_blocking("registry/person", "birth_before_death")
    assert not config.is_blocking("raw/pension", "drop_volume")


def test_the_most_specific_severity_wins(tmp_path):
    config = _config(
        tmp_path,
        "severity:\n  drop_volume: blocking\n  raw/tax:drop_volume: warning\n  rows_reconcile: warning\n",
    )
    assert config.is_blocking("raw/pension", "drop_volume")
    assert not config.is_blocking("raw/tax", "drop_volume")
    assert not config.is_blocking("raw/pension", "rows_reconcile")


def test_thresholds_override_only_what_they_name(tmp_path):
    config = _config(tmp_path, "thresholds:\n  drop_volume_change: 0.25\n")
    assert config.thresholds == {**DEFAULT_THRESHOLDS, "drop_volume_change": 0.25}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "severity:\n  drop_volume: fatal\n",
            "severity.drop_volume: got 'fatal'; allowed: blocking, warning",
        ),
        ("thresholds:\n  drop_volume_chnage: 0.2\n", "thresholds.drop_volume_chnage: unknown"),
        ("thresholds:\n  drop_volume_change: -1\n", "expected a number >= 0"),
        ("thresholds:\n  drop_volume_change: yes\n", "expected a number >= 0"),
        ("severities:\n  drop_volume: warning\n", "unknown key(s) ['severities']"),
        ("severity: [drop_volume\n", "not valid YAML"),
    ],
)
def test_a_mistake_is_an_error_naming_the_file_and_key(tmp_path, text, message):
    with pytest.raises(CheckConfigError) as error:
        _config(tmp_path, text)
    assert str(tmp_path / "checks.yaml") in str(error.value)
    assert message in str(error.value)


def test_a_severity_for_a_check_that_does_not_exist_stops_the_definitions(tmp_path):
    """The names are known only once the contracts and programmes are read: the definitions check them."""
    generate(tmp_path, people=200, nights=1, seed=3)
    (tmp_path / "checks.yaml").write_text(
        "severity:\n  drop_volume: blocking\n  raw/civil_registry:national_id_share: blocking\n",
        encoding="utf-8",
    )
    build_defs(Settings(home=tmp_path))  # real names, bare and qualified: fine

    (tmp_path / "checks.yaml").write_text(
        "severity:\n  drop_volume: blocking\n  birth_befor_death: warning\n  raw/civil_registry:drop_volme: warning\n",
        encoding="utf-8",
    )
    with pytest.raises(CheckConfigError) as error:
        build_defs(Settings(home=tmp_path))
    assert "'birth_befor_death', 'raw/civil_registry:drop_volme'" in str(error.value)

    # a source retired since (its contract removed): the other sources' nights go on, with a warning
    (tmp_path / "checks.yaml").write_text("severity:\n  raw/nowhere:drop_volume: warning\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="'raw/nowhere:drop_volume' name"):
        build_defs(Settings(home=tmp_path))
