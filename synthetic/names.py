"""Invented names: given names by sex and surnames built from syllables.

No list of real people's names is used. Names are assembled from a small syllable
inventory, deduplicated, and given Zipf-like frequencies (a few very common
surnames, a long tail), so blocking on surname sees the skew of a real country.
About one name in ten carries an accent (``Tàmbo``-style), so accent folding is
exercised downstream.

For each name the bank also precomputes, deterministically, the variants the noise
model needs: a phonetic/transliteration variant (ph/f, kh/h, ou/u, y/i, doubled or
single letters, ...) and a short form (a truncation, for given names). Noise then
picks variants by index, with no per-record string work in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

ONSETS = [
    "b", "ch", "d", "dz", "f", "g", "h", "j", "k", "kh", "l", "m", "mb", "n", "nd", "ng", "ny",
    "p", "ph", "r", "s", "sh", "t", "th", "ts", "v", "w", "y", "z", "zw",
]  # fmt: skip
ONSET_WEIGHTS = np.array(
    [5, 4, 4, 1, 2, 3, 2, 3, 6, 2, 5, 7, 3, 6, 2, 2, 2, 2, 2, 3, 4, 3, 5, 2, 2, 1, 4, 2, 3, 1], dtype=float
)
VOWELS = ["a", "e", "i", "o", "u", "ou", "ai"]
VOWEL_WEIGHTS = np.array([8, 5, 5, 5, 4, 1, 1], dtype=float)
ACCENTED = {"a": "áàâ", "e": "éè", "i": "í", "o": "óô", "u": "úü"}
FEMALE_ENDINGS = ["a", "e", "i", "a", "a"]
MALE_ENDINGS = ["o", "u", "e", "", "n", "s", "", "o"]

# (pattern, replacement) tried in a per-name random order; the first that changes the name wins
PHONETIC_RULES: list[tuple[str, str]] = [
    ("ph", "f"),
    ("f", "ph"),
    ("kh", "h"),
    ("k", "kh"),
    ("ou", "u"),
    ("u", "ou"),
    ("y", "i"),
    ("i", "y"),
    ("ch", "tsh"),
    ("sh", "s"),
    ("z", "s"),
    ("w", "u"),
    ("ai", "ay"),
    (r"([lmnrst])\1", r"\1"),
    (r"(?<=[aeiou])([lmnrst])(?=[aeiou])", r"\1\1"),
]

PLAIN_LETTERS = str.maketrans("áàâéèíóôúüÁÀÂÉÈÍÓÔÚÜ", "aaaeeioouuAAAEEIOOUU")
ACCENTED_CHARS = list("áàâéèíóôúüÁÀÂÉÈÍÓÔÚÜ")
PLAIN_CHARS = list("aaaeeioouuAAAEEIOOUU")


def fold(name: str) -> str:
    """Lower case without accents: the key under which two names count as the same."""
    return name.lower().translate(PLAIN_LETTERS)


def _assemble(
    rng: np.random.Generator, count: int, syllables: tuple[int, int], endings: list[str]
) -> list[str]:
    """``count`` candidate names (may repeat) of a random number of syllables."""
    n_syll = rng.integers(syllables[0], syllables[1] + 1, size=count)
    onsets = rng.choice(len(ONSETS), size=(count, syllables[1]), p=ONSET_WEIGHTS / ONSET_WEIGHTS.sum())
    vowels = rng.choice(len(VOWELS), size=(count, syllables[1]), p=VOWEL_WEIGHTS / VOWEL_WEIGHTS.sum())
    ending = rng.integers(0, len(endings), size=count)
    vowel_start = rng.random(count) < 0.12
    out = []
    for i in range(count):  # a few thousand candidates: a per-name loop, not a per-person one
        parts = [ONSETS[onsets[i, j]] + VOWELS[vowels[i, j]] for j in range(n_syll[i])]
        if vowel_start[i]:
            parts[0] = VOWELS[vowels[i, 0]]
        word = "".join(parts)
        tail = endings[ending[i]]
        if tail and word[-1] in "aeiou" and tail in "aeiou":
            word = word[:-1] + tail
        else:
            word += tail
        out.append(word)
    return out


def _unique(
    rng: np.random.Generator, target: int, syllables: tuple[int, int], endings: list[str], taken: set[str]
) -> list[str]:
    """``target`` distinct names (by folded form), none already in ``taken``."""
    result: list[str] = []
    while len(result) < target:
        for word in _assemble(rng, target * 2, syllables, endings):
            if 3 <= len(word) <= 12 and word not in taken and not re.search(r"(.)\1\1", word):
                taken.add(word)
                result.append(word)
                if len(result) == target:
                    break
    return result


def _accentuate(rng: np.random.Generator, words: list[str], share: float) -> list[str]:
    """Put an accent on one vowel of about ``share`` of the words."""
    out = []
    hit = rng.random(len(words)) < share
    choice = rng.random(len(words))
    for word, h, c in zip(words, hit, choice, strict=True):
        vowels = [i for i, ch in enumerate(word) if ch in ACCENTED]
        if h and vowels:
            i = vowels[int(c * len(vowels))]
            options = ACCENTED[word[i]]
            word = word[:i] + options[int(c * 997) % len(options)] + word[i + 1 :]
        out.append(word[0].upper() + word[1:])
    return out


def phonetic_variant(name: str, rng: np.random.Generator) -> str:
    """A spelling that sounds the same (``Phiri`` -> ``Firi``); the name itself if no rule applies."""
    lower = name.lower()
    for r in rng.permutation(len(PHONETIC_RULES)):
        pattern, replacement = PHONETIC_RULES[r]
        changed = re.sub(pattern, replacement, lower, count=1)
        if changed != lower:
            return changed[0].upper() + changed[1:]
    return name


def short_form(name: str, rng: np.random.Generator) -> str:
    """A nickname made by truncation (``Tawanda`` -> ``Tawa``); short names stay as they are."""
    if len(name) < 5:
        return name
    return name[: int(rng.integers(3, len(name) - 1))]


def zipf_weights(count: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like probabilities over ``count`` items in a random rank order."""
    ranks = rng.permutation(count) + 1
    w = 1.0 / ranks.astype(float) ** exponent
    return w / w.sum()


@dataclass(frozen=True)
class NameBank:
    """Given names (female block first, then male) and surnames, with their variants.

    Indices into ``given`` / ``surnames`` are what the population stores; the
    variant series are aligned with them.
    """

    given: pl.Series
    given_phonetic: pl.Series
    given_short: pl.Series
    n_female: int
    female_p: np.ndarray
    male_p: np.ndarray
    surnames: pl.Series
    surname_phonetic: pl.Series
    surname_p: np.ndarray

    @property
    def n_male(self) -> int:
        return len(self.given) - self.n_female

    def draw_given(self, rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
        """One given-name index per person, from the list of that person's sex."""
        f = rng.choice(self.n_female, size=female.size, p=self.female_p)
        m = self.n_female + rng.choice(self.n_male, size=female.size, p=self.male_p)
        return np.where(female, f, m).astype(np.int32)

    def draw_surname(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(len(self.surnames), size=n, p=self.surname_p).astype(np.int32)


def build_name_bank(rng: np.random.Generator, n_given: int = 2500, n_surnames: int = 4000) -> NameBank:
    """Invent the country's names. Deterministic for a given generator state."""
    taken: set[str] = set()
    female = _accentuate(rng, _unique(rng, n_given, (2, 3), FEMALE_ENDINGS, taken), 0.08)
    male = _accentuate(rng, _unique(rng, n_given, (2, 3), MALE_ENDINGS, taken), 0.08)
    surnames = _accentuate(rng, _unique(rng, n_surnames, (2, 4), MALE_ENDINGS + ["mbe", "ngo"], taken), 0.12)
    given = female + male
    return NameBank(
        given=pl.Series("given", given, dtype=pl.String),
        given_phonetic=pl.Series(
            "given_phonetic", [phonetic_variant(g, rng) for g in given], dtype=pl.String
        ),
        given_short=pl.Series("given_short", [short_form(g, rng) for g in given], dtype=pl.String),
        n_female=len(female),
        female_p=zipf_weights(len(female), 0.95, rng),
        male_p=zipf_weights(len(male), 0.95, rng),
        surnames=pl.Series("surname", surnames, dtype=pl.String),
        surname_phonetic=pl.Series(
            "surname_phonetic", [phonetic_variant(s, rng) for s in surnames], dtype=pl.String
        ),
        surname_p=zipf_weights(len(surnames), 0.85, rng),
    )
