"""The invented gazetteer: provinces (admin1), districts (admin2), localities, postcodes.

Codes are fixed by position (``P01`` .. ``P10``, ``P01D01`` ..) so that the rules in
``programmes.yaml`` can name provinces by code whatever the seed; the names are
invented from syllables with a fixed internal seed, so every generated country has
the same map. Some names carry accents and directional suffixes
(``Lúvanga-Nórte``), so sources that send names in other case or without accents
exercise the downstream normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.names import ACCENTED_CHARS, PLAIN_CHARS, build_name_bank, fold
from synthetic.rng import stream

N_ADMIN1 = 10
SUFFIXES = ["-Nórte", "-Sul", " Oriental", " Ocidental", " Central"]
STREET_KINDS = ["Road", "Street", "Avenue", "Close", "Way"]
GAZETTEER_SEED = 20260201  # the map does not change with the population seed


@dataclass(frozen=True)
class Gazetteer:
    """Areas and places; arrays are indexed by admin1 / admin2 / locality position."""

    areas: pl.DataFrame  # admin1_code, admin1_name, admin2_code, admin2_name (one row per admin2)
    admin1_code: pl.Series
    admin1_name: pl.Series
    admin1_share: np.ndarray  # share of households per admin1
    admin2_code: pl.Series
    admin2_name: pl.Series
    admin2_admin1: np.ndarray  # admin1 index of each admin2
    admin2_share: np.ndarray  # share of its admin1's households per admin2
    locality_name: pl.Series
    locality_admin2: np.ndarray
    locality_postcode: pl.Series
    locality_is_town: np.ndarray
    streets: pl.Series

    def localities_of(self, admin2: int) -> np.ndarray:
        return np.flatnonzero(self.locality_admin2 == admin2)


def _title(word: str) -> str:
    return word[0].upper() + word[1:]


def build_gazetteer() -> Gazetteer:
    """The country's map. Always the same (see module docstring)."""
    rng = stream(GAZETTEER_SEED, "gazetteer")
    bank = build_name_bank(rng, n_given=50, n_surnames=3000)
    words = [w for w in bank.surnames.to_list() if 5 <= len(w) <= 10]
    accented = [w for w in words if fold(w) != w.lower()]
    plain = [w for w in words if fold(w) == w.lower()]
    pool = iter(rng.permutation(plain).tolist())
    pool_accented = iter(rng.permutation(accented).tolist())
    used: set[str] = set()

    def fresh(accent: bool) -> str:
        source = pool_accented if accent else pool
        while True:
            w = _title(next(source))
            if fold(w) not in used:
                used.add(fold(w))
                return w

    a1_code, a1_name, a2_code, a2_name, a2_admin1 = [], [], [], [], []
    for i in range(N_ADMIN1):
        base = fresh(accent=i % 3 == 0)
        name = base + SUFFIXES[i % len(SUFFIXES)] if i % 2 == 0 else base
        used.add(fold(name))
        a1_code.append(f"P{i + 1:02d}")
        a1_name.append(name)
        for j in range(int(rng.integers(6, 11))):
            d_name = fresh(accent=rng.random() < 0.3)
            if rng.random() < 0.2:
                d_name += SUFFIXES[int(rng.integers(0, 2))]
            a2_code.append(f"P{i + 1:02d}D{j + 1:02d}")
            a2_name.append(d_name)
            a2_admin1.append(i)
    admin1_share = rng.dirichlet(np.full(N_ADMIN1, 4.0))
    admin1_share[0] += 0.1  # the capital province is the largest
    admin1_share /= admin1_share.sum()
    admin2_admin1 = np.array(a2_admin1)
    admin2_share = rng.dirichlet(np.full(len(a2_code), 3.0))
    for i in range(N_ADMIN1):  # normalise within each province
        mask = admin2_admin1 == i
        admin2_share[mask] /= admin2_share[mask].sum()

    loc_name, loc_admin2, loc_post, loc_town = [], [], [], []
    for j in range(len(a2_code)):
        n_loc = int(rng.integers(4, 9))
        for k in range(n_loc):
            loc_name.append(_title(next(pool)))
            loc_admin2.append(j)
            # 5 digits, never a leading zero: province, district within province, locality
            loc_post.append(str(10000 + a2_admin1[j] * 1000 + (j % 10) * 100 + k))
            loc_town.append(k == 0)
    streets = [
        f"{_title(next(pool))} {STREET_KINDS[int(rng.integers(0, len(STREET_KINDS)))]}" for _ in range(120)
    ]

    areas = pl.DataFrame(
        {
            "admin1_code": [a1_code[i] for i in a2_admin1],
            "admin1_name": [a1_name[i] for i in a2_admin1],
            "admin2_code": a2_code,
            "admin2_name": a2_name,
        }
    )
    return Gazetteer(
        areas=areas,
        admin1_code=pl.Series(a1_code),
        admin1_name=pl.Series(a1_name),
        admin1_share=admin1_share,
        admin2_code=pl.Series(a2_code),
        admin2_name=pl.Series(a2_name),
        admin2_admin1=admin2_admin1,
        admin2_share=admin2_share,
        locality_name=pl.Series(loc_name),
        locality_admin2=np.array(loc_admin2),
        locality_postcode=pl.Series(loc_post),
        locality_is_town=np.array(loc_town),
        streets=pl.Series(streets),
    )


def area_labels(
    codes: pl.Series, names: pl.Series, index: np.ndarray, style: str, rng: np.random.Generator
) -> pl.Series:
    """How a source writes an area: ``code``, ``name``, ``upper`` (NAME), ``lower``, ``ascii``
    (no accents) or ``mixed`` (each record one of name / UPPER / lower / no accents, as clerks
    type it)."""
    if style == "code":
        return codes.gather(index)
    name = names.gather(index)
    if style == "name":
        return name
    if style == "upper":
        return name.str.to_uppercase()
    if style == "lower":
        return name.str.to_lowercase()
    if style == "ascii":
        return name.str.replace_many(ACCENTED_CHARS, PLAIN_CHARS)
    if style == "mixed":
        form = rng.integers(0, 4, size=len(index))
        frame = pl.DataFrame({"n": name, "f": form})
        return frame.select(
            pl.when(pl.col("f") == 1)
            .then(pl.col("n").str.to_uppercase())
            .when(pl.col("f") == 2)
            .then(pl.col("n").str.to_lowercase())
            .when(pl.col("f") == 3)
            .then(pl.col("n").str.replace_many(ACCENTED_CHARS, PLAIN_CHARS))
            .otherwise(pl.col("n"))
        ).to_series()
    raise ValueError(f"area style {style!r} unknown; allowed: code, name, upper, lower, ascii, mixed")
