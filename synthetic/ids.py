"""Identifiers: national ids with a Luhn check digit, random unique record numbers.

Record ids are drawn at random from a large range, never derived from the true person
id, so nothing in a drop hints at the ground truth.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def luhn_check_digit(payload: np.ndarray, width: int) -> np.ndarray:
    """The Luhn check digit of each ``width``-digit number in ``payload``.

    Working from the right, every other digit starting with the rightmost payload
    digit is doubled (minus 9 when above 9); the check digit brings the sum to a
    multiple of ten: ``luhn_check_digit(np.array([7992739871]), 10)`` is ``[3]``.
    """
    total = np.zeros(payload.shape, dtype=np.int64)
    rest = payload.astype(np.int64).copy()
    for position in range(width):
        digit = rest % 10
        rest //= 10
        if position % 2 == 0:
            digit = digit * 2
            digit = np.where(digit > 9, digit - 9, digit)
        total += digit
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    """Whether a digit string ends in its correct Luhn check digit."""
    if not number.isdigit() or len(number) < 2:
        return False
    payload = np.array([int(number[:-1])])
    return int(luhn_check_digit(payload, len(number) - 1)[0]) == int(number[-1])


def unique_integers(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """``n`` distinct integers drawn uniformly from ``[low, high)``."""
    if high - low < n:
        raise ValueError(f"cannot draw {n} distinct integers from a range of {high - low}")
    return rng.choice(high - low, size=n, replace=False).astype(np.int64) + low


def national_ids(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` distinct 10-digit national ids: 9 random digits (no leading zero) and a Luhn digit."""
    payload = unique_integers(rng, n, 100_000_000, 1_000_000_000)
    full = payload * 10 + luhn_check_digit(payload, 9)
    return pl.Series("national_id", full).cast(pl.String)


def prefixed_codes(rng: np.random.Generator, n: int, prefix: str, digits: int) -> pl.Series:
    """``n`` distinct codes such as ``BR004817223``: a prefix and ``digits`` random digits."""
    numbers = unique_integers(rng, n, 0, 10**digits)
    text = pl.Series("code", numbers).cast(pl.String).str.zfill(digits)
    return pl.select(pl.lit(prefix) + text).to_series().alias("code")
