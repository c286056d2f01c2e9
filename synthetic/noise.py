"""Noise: how sources get people wrong, as rates per source.

Each source has a ``NoiseRates`` (the share of its records hit by each kind of error
or convention). Two presets ship:

``default``
    civil registry the cleanest (1 % typos, 3 % national ids missing), tax and
    disability registries in between, programme payrolls the messiest (4-6 % typos,
    5-8 % short forms of given names, 20-40 % national ids missing, 2 % day/month
    swapped in dates of birth, 70 % of married women under their husband's surname).
``hard``
    every error rate multiplied by 2.5 (capped at 60 %), 15 points more missing
    national ids and phones, and 4 points of dates of birth missing.

Kinds of noise: typos (insert, delete, substitute or transpose a letter),
phonetic/transliteration variants (ph/f, kh/h, ou/u, y/i, double letters; from the
name bank's variant map), short forms of given names, first and last name swapped,
middle name left out, married women under their husband's surname (where the civil
registry has the birth surname), accents dropped, case and whitespace noise,
national ids missing or mistyped (one digit changed or two adjacent digits
transposed, so the check digit usually fails), dates of birth with day and month
swapped, the year off by one, only the year known (1 January, or a year-only value
where the source's date formats allow it), only the month known, or missing; sex
miscoded. Every function here works on whole columns: rows are chosen with one
random draw per row and rewritten with polars expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import polars as pl

from synthetic.names import ACCENTED_CHARS, PLAIN_CHARS
from synthetic.nights import NO_DATE, ymd
from synthetic.rng import pick

PRESETS = ("default", "hard", "clean")
LETTERS = np.array(list("abdefghijklmnoprstuvwyz"))
DAY, MONTH, YEAR = 0, 1, 2  # precision of a date of birth


@dataclass(frozen=True)
class NoiseRates:
    """Share of a source's records hit by each kind of noise (0 = never, 1 = always)."""

    typo: float = 0.0  # per name field: one letter inserted, deleted, substituted or transposed
    phonetic: float = 0.0  # per name field: a phonetic/transliteration variant
    nickname: float = 0.0  # first name replaced by a short form
    name_swap: float = 0.0  # first and last name swapped
    middle_missing: float = 0.0  # middle name left out (on top of people who have none)
    married_surname: float = 0.0  # married women recorded under their husband's surname
    accent_drop: float = 0.0  # accents dropped (1.0: the source's system is ASCII only)
    case: float = 0.0  # a name in all capitals or all lower case
    whitespace: float = 0.0  # stray leading, trailing or double spaces in a name
    nid_missing: float = 0.0  # national id left empty although the person has one
    nid_mistyped: float = 0.0  # one digit changed or two adjacent digits transposed
    dob_swap: float = 0.0  # day and month swapped (where the day is 12 or less)
    dob_year_off: float = 0.0  # year of birth off by one
    dob_year_only: float = 0.0  # only the year known: 1 January, or a year-only value
    dob_month_only: float = 0.0  # only the month known: a month-precision value, or the 1st
    dob_missing: float = 0.0
    phone_missing: float = 0.0  # phone left empty although the person has one
    sex_error: float = 0.0  # sex miscoded

    def cleaned(self) -> NoiseRates:
        """The ``clean`` preset: no errors at all, only the source's conventions (married surnames,
        ASCII-only systems, month-precision dates)."""
        conventions = {"married_surname", "accent_drop", "dob_month_only"}
        return replace(self, **{f.name: 0.0 for f in fields(self) if f.name not in conventions})

    def harder(self) -> NoiseRates:
        """The ``hard`` preset of these rates (see the module docstring)."""
        conventions = {"married_surname", "accent_drop", "dob_month_only"}
        scaled = {
            f.name: min(0.6, getattr(self, f.name) * 2.5) for f in fields(self) if f.name not in conventions
        }
        scaled["nid_missing"] = min(0.9, scaled["nid_missing"] + 0.15)
        scaled["phone_missing"] = min(0.9, scaled["phone_missing"] + 0.15)
        scaled["dob_missing"] = min(0.6, scaled["dob_missing"] + 0.04)
        return replace(self, **scaled)


PROGRAMME = NoiseRates(
    typo=0.04, phonetic=0.04, nickname=0.06, name_swap=0.02, middle_missing=0.35, married_surname=0.7,
    accent_drop=0.3, case=0.06, whitespace=0.04, nid_missing=0.3, nid_mistyped=0.03, dob_swap=0.02,
    dob_year_off=0.02, dob_year_only=0.04, phone_missing=0.3, sex_error=0.003,
)  # fmt: skip

DEFAULT: dict[str, NoiseRates] = {
    "civil_registry": NoiseRates(
        typo=0.008,
        phonetic=0.004,
        name_swap=0.002,
        middle_missing=0.03,
        accent_drop=0.02,
        case=0.01,
        whitespace=0.01,
        nid_missing=0.03,
        nid_mistyped=0.004,
        dob_swap=0.003,
        dob_year_off=0.003,
        dob_year_only=0.01,
        sex_error=0.001,
    ),
    "tax_registry": NoiseRates(
        typo=0.02,
        phonetic=0.02,
        nickname=0.01,
        name_swap=0.01,
        middle_missing=0.3,
        married_surname=0.9,
        accent_drop=1.0,
        whitespace=0.03,
        nid_missing=0.05,
        nid_mistyped=0.01,
        dob_swap=0.01,
        dob_year_off=0.01,
        dob_year_only=0.01,
        phone_missing=0.25,
        sex_error=0.002,
    ),
    "disability_registry": NoiseRates(
        typo=0.03,
        phonetic=0.03,
        nickname=0.03,
        name_swap=0.01,
        middle_missing=0.2,
        married_surname=0.6,
        accent_drop=0.1,
        case=0.04,
        whitespace=0.03,
        nid_missing=0.15,
        nid_mistyped=0.02,
        dob_swap=0.015,
        dob_year_off=0.015,
        dob_year_only=0.03,
        sex_error=0.002,
    ),
    "old_age_pension": replace(PROGRAMME, nid_missing=0.2, dob_year_only=0.15),
    "child_grant": replace(
        PROGRAMME, nickname=0.03, married_surname=0.0, dob_month_only=0.15, dob_year_only=0.0
    ),
    "disability_allowance": replace(PROGRAMME, nid_missing=0.25),
    "public_works": replace(PROGRAMME, typo=0.06, phonetic=0.06, nickname=0.08, nid_missing=0.4),
    "cash_transfer": replace(PROGRAMME, nid_missing=0.35, nickname=0.08),
}
FALLBACK = "programme"  # a source without its own rates gets the programme rates


def noise_profile(preset: str) -> dict[str, NoiseRates]:
    """The rates of every source under a preset (``default``, ``hard`` or ``clean``)."""
    if preset not in PRESETS:
        raise ValueError(f"noise preset {preset!r} unknown; allowed: {', '.join(PRESETS)}")
    profile = {**DEFAULT, FALLBACK: PROGRAMME}
    if preset == "hard":
        profile = {name: rates.harder() for name, rates in profile.items()}
    if preset == "clean":
        profile = {name: rates.cleaned() for name, rates in profile.items()}
    return profile


def rates_for(profile: dict[str, NoiseRates], source: str) -> NoiseRates:
    return profile.get(source, profile[FALLBACK])


def _apply(s: pl.Series, idx: np.ndarray, new: pl.Series) -> pl.Series:
    """``s`` with rows ``idx`` replaced by ``new`` (``s`` itself untouched)."""
    if idx.size == 0:
        return s
    return s.clone().scatter(idx, new)


def substitute(
    s: pl.Series, rng: np.random.Generator, rate: float, variants: pl.Series, index: np.ndarray
) -> pl.Series:
    """Replace about ``rate`` of the rows by their variant (``variants[index[row]]``)."""
    idx = pick(rng, len(s), rate)
    return _apply(s, idx, variants.gather(index[idx]))


def typos(s: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    """One keyboard slip in about ``rate`` of the rows: a letter inserted, deleted,
    substituted, or two neighbours transposed (never the first letter)."""
    idx = pick(rng, len(s), rate)
    if idx.size == 0:
        return s
    sub = s.gather(idx)
    length = sub.str.len_chars().fill_null(0).to_numpy()
    frame = pl.DataFrame(
        {
            "s": sub,
            "p": (1 + np.floor(rng.random(idx.size) * np.maximum(length - 1, 1))).astype(np.int64),
            "op": rng.integers(0, 4, idx.size),
            "c": LETTERS[rng.integers(0, LETTERS.size, idx.size)],
            "n": length,
        }
    )
    col, p, c = pl.col("s"), pl.col("p"), pl.col("c")
    q = pl.min_horizontal(p, pl.col("n") - 2)  # transpose letters q and q + 1, both after the first
    substituted = col.str.slice(0, p) + c + col.str.slice(p + 1)
    new = frame.select(
        pl.when(pl.col("n") < 3)
        .then(col + c)
        .when(pl.col("op") == 0)
        .then(substituted)
        .when(pl.col("op") == 1)
        .then(col.str.slice(0, p) + c + col.str.slice(p))
        .when(pl.col("op") == 2)
        .then(col.str.slice(0, p) + col.str.slice(p + 1))
        .otherwise(col.str.slice(0, q) + col.str.slice(q + 1, 1) + col.str.slice(q, 1) + col.str.slice(q + 2))
    ).to_series()
    return _apply(s, idx, new)


def mistype_digits(s: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    """One digit changed, or two adjacent digits transposed, in about ``rate`` of the rows."""
    idx = pick(rng, len(s), rate)
    if idx.size == 0:
        return s
    sub = s.gather(idx)
    length = sub.str.len_chars().fill_null(2).to_numpy()
    frame = pl.DataFrame(
        {
            "s": sub,
            "p": np.floor(rng.random(idx.size) * np.maximum(length - 1, 1)).astype(np.int64),
            "op": rng.integers(0, 2, idx.size),
            "k": rng.integers(1, 10, idx.size),
        }
    )
    col, p = pl.col("s"), pl.col("p")
    digit = col.str.slice(p, 1).cast(pl.Int64, strict=False).fill_null(0)
    changed = col.str.slice(0, p) + ((digit + pl.col("k")) % 10).cast(pl.String) + col.str.slice(p + 1)
    transposed = col.str.slice(0, p) + col.str.slice(p + 1, 1) + col.str.slice(p, 1) + col.str.slice(p + 2)
    new = frame.select(pl.when(pl.col("op") == 0).then(changed).otherwise(transposed)).to_series()
    return _apply(s, idx, new)


def blank(s: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    """About ``rate`` of the rows emptied (null)."""
    idx = pick(rng, len(s), rate)
    return _apply(s, idx, pl.Series([None] * idx.size, dtype=s.dtype))


def drop_accents(s: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    """Accents removed in about ``rate`` of the rows (all of them at 1.0)."""
    if rate >= 1.0:
        return s.str.replace_many(ACCENTED_CHARS, PLAIN_CHARS)
    idx = pick(rng, len(s), rate)
    return _apply(s, idx, s.gather(idx).str.replace_many(ACCENTED_CHARS, PLAIN_CHARS))


def case_noise(s: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    """About ``rate`` of the rows in all capitals or all lower case."""
    idx = pick(rng, len(s), rate)
    if idx.size == 0:
        return s
    sub = s.gather(idx)
    upper = pl.Series(rng.random(idx.size) < 0.6)
    new = pl.select(pl.when(upper).then(sub.str.to_uppercase()).otherwise(sub.str.to_lowercase())).to_series()
    return _apply(s, idx, new)


def whitespace_noise(s: pl.Series, rng: np.random.Generator, rate: float) -> pl.Series:
    """Stray spaces in about ``rate`` of the rows: leading, trailing, or doubled inside."""
    idx = pick(rng, len(s), rate)
    if idx.size == 0:
        return s
    sub = s.gather(idx)
    kind = pl.Series(rng.integers(0, 3, idx.size))
    new = pl.select(
        pl.when(kind == 0)
        .then(pl.lit(" ") + sub)
        .when(kind == 1)
        .then(sub + pl.lit("  "))
        .otherwise(sub.str.replace(" ", "  ", literal=True, n=1) + pl.lit(" "))
    ).to_series()
    return _apply(s, idx, new)


def swap(a: pl.Series, b: pl.Series, rng: np.random.Generator, rate: float) -> tuple[pl.Series, pl.Series]:
    """The values of ``a`` and ``b`` exchanged in about ``rate`` of the rows."""
    idx = pick(rng, len(a), rate)
    if idx.size == 0:
        return a, b
    return _apply(a, idx, b.gather(idx)), _apply(b, idx, a.gather(idx))


def days_from_ymd(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Day numbers of (year, month, day) arrays; the day must exist in its month."""
    months = ((year - 1970) * 12 + (month - 1)).astype("datetime64[M]")
    return (months.astype("datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(np.int64) + day - 1


def dob_noise(dob: np.ndarray, rng: np.random.Generator, rates: NoiseRates) -> tuple[np.ndarray, np.ndarray]:
    """Dates of birth as a source records them: (day numbers, precision DAY/MONTH/YEAR).

    Missing dates come back as ``NO_DATE``.
    """
    n = dob.size
    year, month, day = ymd(dob)
    out = dob.astype(np.int64).copy()
    precision = np.full(n, DAY, dtype=np.int8)
    hit = pick(rng, n, rates.dob_swap)
    hit = hit[(day[hit] <= 12) & (day[hit] != month[hit])]
    out[hit] = days_from_ymd(year[hit], day[hit], month[hit])
    hit = pick(rng, n, rates.dob_year_off)
    shifted = year[hit] + np.where(rng.random(hit.size) < 0.5, -1, 1)
    out[hit] = days_from_ymd(
        shifted, month[hit], np.where((month[hit] == 2) & (day[hit] == 29), 28, day[hit])
    )
    hit = pick(rng, n, rates.dob_month_only)
    out[hit] = days_from_ymd(year[hit], month[hit], np.ones(hit.size, dtype=np.int64))
    precision[hit] = MONTH
    hit = pick(rng, n, rates.dob_year_only)
    out[hit] = days_from_ymd(year[hit], np.ones(hit.size, dtype=np.int64), np.ones(hit.size, dtype=np.int64))
    precision[hit] = YEAR
    out[pick(rng, n, rates.dob_missing)] = NO_DATE
    return out, precision
