"""Expected sources: when each source's drops come, and which of them a night is still missing.

A contract may say when its source sends (docs/contracts.md, `schedule`)::

    schedule: {cadence: monthly, day: 1, late_after_days: 3}   # the 1st of each month, late from the 4th
    schedule: {cadence: weekly, day: monday, late_after_days: 1}
    schedule: {cadence: daily, late_after_days: 1}

A source without one is not expected on any particular night: it never holds a night back.

For a night N (a drop date), a source is *expected* by its latest due date on or before N, and has
*arrived* when it has a drop folder dated between that due date and N (a drop landed on an earlier
night of the window still counts: a snapshot stays current until the next one). A night whose expected
sources have all arrived is complete. Otherwise it waits until the earliest `late_since`
(due date + `late_after_days`) has come, then it may publish marked partial, naming what is missing.

    >>> missing_for_night({"pension": Schedule("monthly", 1, 3)}, set(), date(2026, 3, 2))
    [MissingSource(source='pension', expected=datetime.date(2026, 3, 1), late_since=datetime.date(2026, 3, 4))]
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from core.configerrors import KeyedValueError, error_lines

CADENCES = ("daily", "weekly", "monthly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LATE_AFTER_DAYS_DEFAULT = 1


class ScheduleError(ValueError):
    """A contract's `schedule` is invalid; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class Schedule:
    """When a source sends: every day, on a weekday (1 = Monday), or on a day of the month (clamped to its end)."""

    cadence: Literal["daily", "weekly", "monthly"]
    day: int = 1
    late_after_days: int = LATE_AFTER_DAYS_DEFAULT

    def due_on_or_before(self, night: date) -> date:
        """The latest date on or before `night` on which a drop was due."""
        if self.cadence == "daily":
            return night
        if self.cadence == "weekly":
            return night - timedelta(days=(night.isoweekday() - self.day) % 7)
        due = _day_of_month(night.year, night.month, self.day)
        if due <= night:
            return due
        year, month = (night.year, night.month - 1) if night.month > 1 else (night.year - 1, 12)
        return _day_of_month(year, month, self.day)


@dataclass(frozen=True)
class MissingSource:
    """An expected source that has not arrived for a night: due on `expected`, late from `late_since`."""

    source: str
    expected: date
    late_since: date

    def as_json(self) -> dict[str, str]:
        return {
            "source": self.source,
            "expected": self.expected.isoformat(),
            "late_since": self.late_since.isoformat(),
        }


def _day_of_month(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


class ScheduleModel(BaseModel):
    """A contract's `schedule`: when a source's drops come; a daily source has no day."""

    model_config = ConfigDict(extra="forbid")
    cadence: Literal["daily", "weekly", "monthly"]
    day: int | str | None = Field(
        None, description="monthly: 1-31 (31 = the last day); weekly: a weekday or 1-7 (1 = monday)."
    )
    late_after_days: StrictInt = Field(
        LATE_AFTER_DAYS_DEFAULT, ge=0, le=366, description="Days after the due date the source is late."
    )

    @field_validator("day", mode="before")
    @classmethod
    def _day_type(cls, day: Any) -> Any:
        if day is not None and (isinstance(day, bool) or not isinstance(day, int | str)):
            raise ValueError(f"got {day!r}; a day of the month (1-31) or of the week (a weekday or 1-7)")
        return day

    @model_validator(mode="after")
    def _day_fits_cadence(self) -> ScheduleModel:
        self.to_schedule()
        return self

    def to_schedule(self) -> Schedule:
        day = self.day
        if self.cadence == "daily":
            if day is not None:
                raise KeyedValueError("day", "a daily source has no day; remove it")
            return Schedule("daily", 1, self.late_after_days)
        if self.cadence == "weekly":
            if isinstance(day, str) and day.lower() in WEEKDAYS:
                return Schedule("weekly", WEEKDAYS.index(day.lower()) + 1, self.late_after_days)
            if isinstance(day, int) and 1 <= day <= 7:
                return Schedule("weekly", day, self.late_after_days)
            raise KeyedValueError(
                "day",
                f"got {day!r}; a weekly source needs a weekday: {', '.join(WEEKDAYS)} or 1-7 (1 = monday)",
            )
        if not isinstance(day, int) or not 1 <= day <= 31:
            raise KeyedValueError(
                "day", f"got {day!r}; a monthly source needs a day of the month, 1-31 (31 = the last day)"
            )
        return Schedule("monthly", day, self.late_after_days)


def parse_schedule(raw: Any, path: Path) -> Schedule | None:
    """Validate a contract's `schedule` mapping (`ScheduleModel`); None when the contract has none."""
    if raw is None:
        return None
    try:
        return ScheduleModel.model_validate(raw).to_schedule()
    except ValidationError as exc:
        lines = [line.replace("'", "'schedule.", 1) for line in error_lines(exc, ScheduleModel)]
        raise ScheduleError(f"{path}: " + f"\n{path}: ".join(lines)) from None


def missing_for_night(
    schedules: Mapping[str, Schedule], arrived: Iterable[tuple[str, date]], night: date
) -> list[MissingSource]:
    """The expected sources of `night` that have not arrived, by source name.

    `arrived` holds (source, drop date) of every drop folder there is (the caller decides what counts:
    any data file for `ibr run`, a complete drop for the sensor).
    """
    dates: dict[str, list[date]] = {}
    for source, drop_date in arrived:
        dates.setdefault(source, []).append(drop_date)
    missing = []
    for source, schedule in sorted(schedules.items()):
        due = schedule.due_on_or_before(night)
        if not any(due <= d <= night for d in dates.get(source, [])):
            missing.append(MissingSource(source, due, due + timedelta(days=schedule.late_after_days)))
    return missing


@dataclass(frozen=True)
class Readiness:
    """Whether a night may run now: complete, partial (past the deadline, or an operator allowed it), or waiting."""

    night: date
    missing: tuple[MissingSource, ...]
    waiting: bool  # a missing source is not late yet: the night holds back

    @property
    def state(self) -> Literal["complete", "partial", "waiting"]:
        return "waiting" if self.waiting else "partial" if self.missing else "complete"

    def describe(self) -> str:
        if not self.missing:
            return f"night {self.night}: every expected source has arrived"
        names = ", ".join(f"{m.source} (due {m.expected}, late from {m.late_since})" for m in self.missing)
        return f"night {self.night}: missing {names}"


def readiness(
    schedules: Mapping[str, Schedule], arrived: Iterable[tuple[str, date]], night: date, today: date
) -> Readiness:
    """Whether `night` may run on `today`: it waits while a missing source is not yet late."""
    missing = missing_for_night(schedules, arrived, night)
    return Readiness(night, tuple(missing), any(m.late_since > today for m in missing))


def drop_folders(drops_dir: Path) -> set[tuple[str, date]]:
    """(source, drop date) of every drop folder holding at least one data file."""
    found: set[tuple[str, date]] = set()
    if not drops_dir.is_dir():
        return found
    for folder in drops_dir.glob("*/*"):
        try:
            drop_date = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if (
            folder.is_dir()
            and not folder.is_symlink()
            and any(_is_data_name(p.name) for p in folder.iterdir())
        ):
            found.add((folder.parent.name, drop_date))
    return found


def _is_data_name(name: str) -> bool:
    return not name.startswith((".", "_")) and not name.endswith((".tmp", ".part", ".partial", ".crdownload"))
