"""Romanisations of Cyrillic and Greek names, in the several systems clerks actually use.

A registry that writes a Russian or Greek name in Latin letters does it by one of several
conventions (passport ICAO 9303, BGN/PCGN, the German-style one of older documents; ELOT 743
or a phonetic spelling for Greek), so one person's name arrives spelt differently in different
records. These tables are written here on purpose (not taken from a transliteration library) so
the test bed does not share a romanisation with the pipeline it scores.
"""

from __future__ import annotations

import random

_CYR_COMMON = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "з": "z",
    "и": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "ъ": "",
    "ь": "",
    "ы": "y",
    "э": "e",
}
CYRILLIC_SYSTEMS: dict[str, dict[str, str]] = {
    # ICAO 9303 (Russian passports since 2013)
    "icao": _CYR_COMMON
    | {
        "ё": "e",
        "ж": "zh",
        "й": "i",
        "х": "kh",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "shch",
        "ъ": "ie",
        "ю": "iu",
        "я": "ia",
    },
    # BGN/PCGN (maps, many foreign registries)
    "bgn": _CYR_COMMON
    | {
        "ё": "yo",
        "ж": "zh",
        "й": "y",
        "х": "kh",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "shch",
        "ю": "yu",
        "я": "ya",
    },
    # German-style spelling of older documents
    "german": _CYR_COMMON
    | {
        "ё": "jo",
        "ж": "sh",
        "й": "j",
        "х": "ch",
        "ц": "z",
        "ч": "tsch",
        "ш": "sch",
        "щ": "schtsch",
        "в": "w",
        "з": "s",
        "с": "s",
        "ю": "ju",
        "я": "ja",
        "е": "e",
        "у": "u",
    },
}

_GREEK_COMMON = {
    "α": "a",
    "β": "v",
    "γ": "g",
    "δ": "d",
    "ε": "e",
    "ζ": "z",
    "η": "i",
    "θ": "th",
    "ι": "i",
    "κ": "k",
    "λ": "l",
    "μ": "m",
    "ν": "n",
    "ξ": "x",
    "ο": "o",
    "π": "p",
    "ρ": "r",
    "σ": "s",
    "ς": "s",
    "τ": "t",
    "υ": "y",
    "φ": "f",
    "χ": "ch",
    "ψ": "ps",
    "ω": "o",
    "ά": "a",
    "έ": "e",
    "ή": "i",
    "ί": "i",
    "ό": "o",
    "ύ": "y",
    "ώ": "o",
    "ϊ": "i",
    "ΐ": "i",
    "ϋ": "y",
    "ΰ": "y",
}
GREEK_SYSTEMS: dict[str, dict[str, str]] = {
    "elot": _GREEK_COMMON,
    # phonetic spelling as heard at a counter: β=b/v, η=i, υ=i, χ=h, ου=ou digraph kept
    "phonetic": _GREEK_COMMON | {"β": "b", "υ": "i", "ύ": "i", "χ": "h", "ξ": "ks", "ω": "o", "φ": "ph"},
}
_GREEK_DIGRAPHS = {
    "ου": "ou",
    "ού": "ou",
    "μπ": "b",
    "ντ": "d",
    "γκ": "g",
    "αι": "ai",
    "ει": "ei",
    "οι": "oi",
}


def _apply(text: str, table: dict[str, str], digraphs: dict[str, str] | None = None) -> str:
    out: list[str] = []
    i = 0
    lower = text.lower()
    while i < len(text):
        pair = lower[i : i + 2]
        if digraphs and pair in digraphs:
            piece, step = digraphs[pair], 2
        else:
            piece, step = table.get(lower[i], lower[i]), 1
        if text[i].isupper() and piece:
            piece = piece[0].upper() + piece[1:]
        out.append(piece)
        i += step
    return "".join(out)


def romanise(text: str, script: str, rng: random.Random) -> str:
    """`text` in Latin letters by one system of `script` ("cyrillic" or "greek"), drawn with `rng`.

    >>> romanise("Щукин", "cyrillic", random.Random(1)) in {"Shchukin", "Schtschukin"}
    True
    """
    if script == "cyrillic":
        return _apply(text, CYRILLIC_SYSTEMS[rng.choice(sorted(CYRILLIC_SYSTEMS))])
    if script == "greek":
        system = rng.choice(sorted(GREEK_SYSTEMS))
        return _apply(text, GREEK_SYSTEMS[system], _GREEK_DIGRAPHS if system == "phonetic" else None)
    raise ValueError(f"script {script!r}: allowed: cyrillic, greek")
