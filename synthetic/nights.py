"""The calendar of a generated country: one drop per night, one payroll month per drop.

Night ``k`` has drop date ``start + k months``. Programme payrolls in that drop are for
the month before the drop date (drop 2026-02-01 carries period 2026-01). Dates inside
the generator are whole days since 1970-01-01 (``int32``), which numpy compares and
subtracts without building date objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

EPOCH = date(1970, 1, 1)
NO_DATE = np.iinfo(np.int32).max  # "never": later than every real date, so `date < x` stays False


def day_number(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def from_day_number(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole months, the day clamped to the target month's length."""
    total = d.year * 12 + (d.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last))


@dataclass(frozen=True)
class Night:
    """One nightly drop: its date and the payroll month its programme files cover."""

    index: int
    drop_date: date
    period_start: date  # first day of the paid month
    period_end: date  # last day of the paid month

    @property
    def folder(self) -> str:
        """The drop folder name, ``YYYY-MM-DD``."""
        return self.drop_date.isoformat()

    @property
    def period(self) -> str:
        """The paid month, ``YYYY-MM``."""
        return f"{self.period_start.year:04d}-{self.period_start.month:02d}"

    @property
    def drop_day(self) -> int:
        return day_number(self.drop_date)

    @property
    def period_start_day(self) -> int:
        return day_number(self.period_start)

    @property
    def period_end_day(self) -> int:
        return day_number(self.period_end)


def make_nights(start: date, count: int) -> list[Night]:
    """``count`` monthly nights from ``start`` (the first drop date)."""
    if count < 1:
        raise ValueError(f"nights must be at least 1, got {count}")
    result = []
    for k in range(count):
        drop = add_months(start, k)
        month_before = add_months(date(drop.year, drop.month, 1), -1)
        period_end = date(drop.year, drop.month, 1) - timedelta(days=1)
        result.append(Night(k, drop, month_before, period_end))
    return result


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day arrays of day numbers."""
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months).astype(np.int64) + 1
    return year, month, day


def age_in_years(dob: np.ndarray, at_day: int) -> np.ndarray:
    """Completed years of age on day ``at_day`` for each date of birth."""
    at = from_day_number(at_day)
    year, month, day = ymd(dob)
    before_birthday = (month > at.month) | ((month == at.month) & (day > at.day))
    return (at.year - year - before_birthday).astype(np.int32)


def night_of(day: np.ndarray, nights: list[Night]) -> np.ndarray:
    """The first night whose drop date is after ``day``: the drop that can carry an event
    recorded on ``day``. ``len(nights)`` means after the last drop (never delivered); days
    before the first drop map to night 0."""
    drops = np.array([n.drop_day for n in nights], dtype=np.int64)
    return np.searchsorted(drops, day.astype(np.int64), side="right").astype(np.int16)
