"""Expected sources: when a source is due, what a night is missing, and whether it waits or goes partial."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import PENSION_CONTRACT

from ingest.contracts import ContractError, load_contract
from ingest.schedule import (
    MissingSource,
    Schedule,
    drop_folders,
    missing_for_night,
    parse_schedule,
    readiness,
)

HERE = Path("pension.yaml")


@pytest.mark.parametrize(
    ("description", "schedule", "night", "due"),
    [
        ("daily: due every night", Schedule("daily"), date(2026, 3, 5), date(2026, 3, 5)),
        ("monthly, on the day", Schedule("monthly", 1), date(2026, 3, 1), date(2026, 3, 1)),
        ("monthly, later in the month", Schedule("monthly", 1), date(2026, 3, 20), date(2026, 3, 1)),
        (
            "monthly, before the day: last month's",
            Schedule("monthly", 15),
            date(2026, 3, 2),
            date(2026, 2, 15),
        ),
        (
            "monthly day 31 in February: its last day",
            Schedule("monthly", 31),
            date(2026, 2, 28),
            date(2026, 2, 28),
        ),
        ("monthly across the year", Schedule("monthly", 10), date(2026, 1, 5), date(2025, 12, 10)),
        ("weekly on Monday, a Wednesday night", Schedule("weekly", 1), date(2026, 3, 4), date(2026, 3, 2)),
        ("weekly on Monday, a Monday night", Schedule("weekly", 1), date(2026, 3, 2), date(2026, 3, 2)),
    ],
)
def test_due_date(description, schedule, night, due):
    assert schedule.due_on_or_before(night) == due, description


@pytest.mark.parametrize(
    ("description", "raw", "expected"),
    [
        ("none", None, None),
        ("monthly", {"cadence": "monthly", "day": 1, "late_after_days": 3}, Schedule("monthly", 1, 3)),
        ("weekly by name", {"cadence": "weekly", "day": "Friday"}, Schedule("weekly", 5, 1)),
        ("daily", {"cadence": "daily", "late_after_days": 0}, Schedule("daily", 1, 0)),
    ],
)
def test_parse_schedule(description, raw, expected):
    assert parse_schedule(raw, HERE) == expected, description


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"cadence": "yearly"}, "'schedule.cadence': got 'yearly'; allowed: daily, weekly, monthly"),
        ({"cadence": "monthly"}, "'schedule.day': got None; a monthly source needs a day of the month"),
        (
            {"cadence": "weekly", "day": "someday"},
            "'schedule.day': got 'someday'; a weekly source needs a weekday",
        ),
        ({"cadence": "daily", "day": 3}, "'schedule.day': a daily source has no day"),
        ({"cadence": "daily", "late_after_days": -1}, "'schedule.late_after_days': got -1"),
        ({"cadence": "daily", "when": 1}, "'schedule.when': unknown key"),
    ],
)
def test_a_bad_schedule_names_the_key_and_what_is_allowed(tmp_path, raw, message):
    path = tmp_path / "pension.yaml"
    path.write_text(yaml.safe_dump({**PENSION_CONTRACT, "schedule": raw}), encoding="utf-8")
    with pytest.raises(ContractError) as error:
        load_contract(path)
    assert message in str(error.value)


def test_a_contract_carries_its_schedule(tmp_path):
    path = tmp_path / "pension.yaml"
    path.write_text(
        yaml.safe_dump(
            {**PENSION_CONTRACT, "schedule": {"cadence": "monthly", "day": 1, "late_after_days": 3}}
        ),
        encoding="utf-8",
    )
    assert load_contract(path).schedule == Schedule("monthly", 1, 3)


def test_a_night_waits_for_a_missing_source_until_it_is_late_then_goes_partial():
    schedules = {"pension": Schedule("monthly", 1, 3), "registry": Schedule("daily", 1, 0)}
    arrived = {("registry", date(2026, 3, 2))}
    night = date(2026, 3, 2)
    missing = [MissingSource("pension", date(2026, 3, 1), date(2026, 3, 4))]
    assert missing_for_night(schedules, arrived, night) == missing
    assert readiness(schedules, arrived, night, today=date(2026, 3, 3)).state == "waiting"
    late = readiness(schedules, arrived, night, today=date(2026, 3, 4))
    assert (late.state, list(late.missing)) == ("partial", missing)
    # a pension drop landed on the 1st still counts on the 2nd: its snapshot is current
    assert (
        readiness(schedules, arrived | {("pension", date(2026, 3, 1))}, night, date(2026, 3, 2)).state
        == "complete"
    )
    # last month's drop does not
    assert missing_for_night(schedules, arrived | {("pension", date(2026, 2, 1))}, night) == missing


def test_drop_folders_count_only_folders_with_data(tmp_path):
    (tmp_path / "pension" / "2026-03-01").mkdir(parents=True)
    (tmp_path / "pension" / "2026-03-01" / "pay.csv").write_text("x")
    (tmp_path / "pension" / "2026-03-02").mkdir()
    (tmp_path / "pension" / "2026-03-02" / "pay.csv.part").write_text("x")
    (tmp_path / "pension" / "notes").mkdir()
    assert drop_folders(tmp_path) == {("pension", date(2026, 3, 1))}
