"""A corruption model for person records, written from the record-linkage literature.

The kinds of error follow what studies of real registers report and what the FEBRL and
GeCo generators (Christen et al.) model: typing errors that hit a neighbouring key, OCR
confusions of scanned forms, names spelt as heard (phonetic variants), characters dropped,
added or swapped, nicknames and initials for given names, fields left empty, given name and
surname entered in each other's boxes, day and month exchanged, dates known to the year only or
written wrong, digits of postcodes, ids and phone numbers mistyped, and street types abbreviated.
The code is our own; no table is copied from those tools.

Every function takes the value and a `random.Random`, and returns the corrupted value, so a seeded
generator gives the same records on every run. `Noise` holds the rates; `Corruptor` applies them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

# QWERTY neighbours (lower case); for other layouts only letters present here are typed wrong
_QWERTY_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_JCUKEN_ROWS = ["йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"]
_DIGIT_NEIGHBOURS = {
    str(d): s for d, s in enumerate(["9", "24", "135", "246", "357", "468", "579", "68", "79", "80"])
}


def _neighbours(rows: list[str]) -> dict[str, str]:
    near: dict[str, str] = {}
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            around = [row[c - 1] if c else "", row[c + 1] if c + 1 < len(row) else ""]
            for other in (r - 1, r + 1):
                if 0 <= other < len(rows):
                    around += [rows[other][k] for k in (c - 1, c, c + 1) if 0 <= k < len(rows[other])]
            near[ch] = "".join(a for a in around if a)
    return near


KEYBOARD = _neighbours(_QWERTY_ROWS) | _neighbours(_JCUKEN_ROWS) | _DIGIT_NEIGHBOURS

# what an OCR engine reads a scanned form as (both directions)
OCR_PAIRS = [
    ("rn", "m"),
    ("cl", "d"),
    ("vv", "w"),
    ("li", "h"),
    ("0", "o"),
    ("1", "l"),
    ("1", "i"),
    ("5", "s"),
    ("8", "b"),
    ("e", "c"),
    ("u", "v"),
    ("n", "h"),
    ("2", "z"),
    ("6", "g"),
]

# spelling as heard: (written, heard) in both directions, for the Latin-script locales here
PHONETIC_PAIRS = [
    ("ph", "f"),
    ("ck", "k"),
    ("c", "k"),
    ("th", "t"),
    ("ie", "y"),
    ("y", "i"),
    ("ou", "u"),
    ("ei", "ai"),
    ("z", "s"),
    ("v", "w"),
    ("sch", "sh"),
    ("ks", "x"),
    ("mc", "mac"),
    ("ll", "l"),
    ("tt", "t"),
    ("nn", "n"),
    ("ss", "s"),
    ("dt", "t"),
    ("gh", "g"),
    ("sen", "son"),
    ("mann", "man"),
    ("ez", "es"),
    ("j", "g"),
    ("qu", "k"),
    ("ae", "e"),
    ("oe", "o"),
    ("ue", "u"),
    ("é", "e"),
    ("è", "e"),
    ("ñ", "n"),
    ("ü", "u"),
    ("ö", "o"),
    ("ä", "a"),
    ("ß", "ss"),
]

# Arabic orthographic variants: hamza forms of alif, ta marbuta, alif maqsura, the article
ARABIC_PAIRS = [("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ة", "ه"), ("ى", "ي"), ("ال", "")]

NICKNAMES = {
    "william": ["bill", "will", "billy"],
    "robert": ["bob", "rob", "bobby"],
    "richard": ["dick", "rick"],
    "elizabeth": ["liz", "beth", "betty", "eliza"],
    "margaret": ["maggie", "peggy", "meg"],
    "katherine": ["kate", "kathy", "katie"],
    "catherine": ["cathy", "kate"],
    "james": ["jim", "jimmy"],
    "john": ["jack", "johnny"],
    "michael": ["mike", "mick"],
    "thomas": ["tom", "tommy"],
    "joseph": ["joe", "joey"],
    "charles": ["charlie", "chuck"],
    "edward": ["ed", "ted", "eddie"],
    "christopher": ["chris"],
    "daniel": ["dan", "danny"],
    "matthew": ["matt"],
    "anthony": ["tony"],
    "jennifer": ["jen", "jenny"],
    "patricia": ["pat", "patty", "trish"],
    "susan": ["sue", "susie"],
    "deborah": ["deb", "debbie"],
    "rebecca": ["becky", "becca"],
    "alexander": ["alex", "sasha"],
    "samuel": ["sam"],
    "benjamin": ["ben"],
    "nicholas": ["nick"],
    "jonathan": ["jon"],
    "victoria": ["vicky", "tori"],
    "stephen": ["steve"],
    "steven": ["steve"],
    "andrew": ["andy", "drew"],
    "francisco": ["paco", "pancho"],
    "josé": ["pepe"],
    "jose": ["pepe"],
    "manuel": ["manolo"],
    "antonio": ["toño", "tono"],
    "dolores": ["lola"],
    "concepción": ["concha"],
    "guadalupe": ["lupe"],
    "enrique": ["quique"],
    "ignacio": ["nacho"],
    "johannes": ["hans", "jo"],
    "wolfgang": ["wolf"],
    "friedrich": ["fritz"],
    "margarete": ["grete"],
    "katharina": ["kathi", "katja"],
    "elisabeth": ["lisa", "elli"],
    "stefanie": ["steffi"],
    "alexandra": ["alex", "sandra"],
    "christine": ["chris", "tina"],
    "jean-pierre": ["jp"],
    "jean-baptiste": ["jb"],
    "marie-claire": ["marie"],
    "frédéric": ["fred"],
    "dmitri": ["dima"],
    "aleksandr": ["sasha"],
    "ekaterina": ["katya"],
    "yelena": ["lena"],
}

STREET_TYPES = {
    "street": ["st", "st.", "str"],
    "road": ["rd", "rd."],
    "avenue": ["ave", "av", "ave."],
    "drive": ["dr", "dr."],
    "lane": ["ln"],
    "court": ["ct"],
    "place": ["pl"],
    "crescent": ["cres"],
    "terrace": ["tce"],
    "boulevard": ["blvd"],
    "square": ["sq"],
    "close": ["cl"],
    "way": ["wy"],
    "trail": ["trl"],
    "straße": ["str.", "strasse", "str"],
    "weg": ["wg."],
    "platz": ["pl."],
    "allee": ["al."],
    "rue": ["r."],
    "avenue_fr": ["av."],
    "boulevard_fr": ["bd"],
    "chemin": ["ch."],
    "impasse": ["imp."],
    "calle": ["c/", "c."],
    "avenida": ["avda.", "av."],
    "plaza": ["pza."],
    "paseo": ["pº", "po."],
    "camino": ["cno."],
    "carrer": ["c/"],
}


def _pick_position(text: str, rng: random.Random, skip_first: bool = True) -> int:
    """A character position; errors land less often on the first letter, as studies of typing errors find."""
    if len(text) < 2 or not skip_first:
        return rng.randrange(len(text))
    return rng.randrange(1, len(text))


def keyboard_typo(text: str, rng: random.Random) -> str:
    """One character replaced by a neighbouring key of its layout (QWERTY, ЙЦУКЕН or the digit row)."""
    spots = [i for i, ch in enumerate(text) if ch.lower() in KEYBOARD]
    if not spots:
        return delete_char(text, rng)
    i = rng.choice(spots[1:] or spots)
    near = rng.choice(KEYBOARD[text[i].lower()])
    return text[:i] + (near.upper() if text[i].isupper() else near) + text[i + 1 :]


def ocr_error(text: str, rng: random.Random) -> str:
    """One OCR confusion (rn→m, 0→o, 1→l, ...), either way round; falls back to a keyboard typo."""
    lower = text.lower()
    options = [(a, b) for a, b in OCR_PAIRS if a in lower] + [(b, a) for a, b in OCR_PAIRS if b in lower]
    if not options:
        return keyboard_typo(text, rng)
    old, new = rng.choice(options)
    i = lower.find(old)
    return text[:i] + new + text[i + len(old) :]


def phonetic_variant(text: str, rng: random.Random) -> str:
    """The name spelt as heard: one sound written another way (ph/f, c/k, ie/y, sch/sh, ...)."""
    lower = text.lower()
    options = [(a, b) for a, b in PHONETIC_PAIRS if a in lower[1:]] + [
        (b, a) for a, b in PHONETIC_PAIRS if b in lower[1:]
    ]
    if not options:
        return keyboard_typo(text, rng)
    old, new = rng.choice(options)
    i = lower.find(old, 1)
    piece = new.capitalize() if text[i].isupper() else new
    return text[:i] + piece + text[i + len(old) :]


def arabic_variant(text: str, rng: random.Random) -> str:
    """An Arabic spelling variant: hamza on alif written or not, ta marbuta as ha, the article dropped."""
    options = [(a, b) for a, b in ARABIC_PAIRS if a in text] + [
        (b, a) for a, b in ARABIC_PAIRS if b and b in text
    ]
    if not options:
        return delete_char(text, rng)
    old, new = rng.choice(options)
    return text.replace(old, new, 1)


def delete_char(text: str, rng: random.Random) -> str:
    if len(text) < 3:
        return text
    i = _pick_position(text, rng)
    return text[:i] + text[i + 1 :]


def insert_char(text: str, rng: random.Random) -> str:
    """A doubled letter or a neighbouring key pressed as well."""
    if not text:
        return text
    i = _pick_position(text, rng)
    extra = text[i] if rng.random() < 0.5 else rng.choice(KEYBOARD.get(text[i].lower(), text[i]))
    return text[: i + 1] + extra + text[i + 1 :]


def transpose_chars(text: str, rng: random.Random) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def nickname_or_short(given: str, rng: random.Random) -> str:
    """A nickname from the table, else the name cut to its first 3-4 letters or its initial."""
    names = NICKNAMES.get(given.lower())
    if names and rng.random() < 0.8:
        nick = rng.choice(names)
        return nick.capitalize() if given[:1].isupper() else nick
    if len(given) > 5 and rng.random() < 0.6:
        return given[: rng.choice((3, 4))]
    return given[:1] + ("." if rng.random() < 0.5 else "")


def abbreviate_street(street: str, rng: random.Random) -> str:
    """Street type words written short (Street→St, Straße→Str., Calle→C/), or written out again."""
    words = street.split(" ")
    for i, word in enumerate(words):
        key = word.lower().rstrip(",")
        shorts = STREET_TYPES.get(key) or STREET_TYPES.get(f"{key}_fr")
        if shorts:
            short = rng.choice(shorts)
            words[i] = short.capitalize() if word[:1].isupper() else short
            return " ".join(words)
        if key.endswith("straße") and len(key) > 6:  # Goethestraße -> Goethestr.
            words[i] = word[: -len("straße")] + rng.choice(["str.", "strasse"])
            return " ".join(words)
    return street.upper() if rng.random() < 0.5 else street.lower()


def digit_error(text: str, rng: random.Random) -> str:
    """One digit mistyped (a neighbouring key, or any digit) or two adjacent digits swapped."""
    spots = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not spots:
        return keyboard_typo(text, rng) if text else text
    if len(spots) > 1 and rng.random() < 0.35:
        k = rng.randrange(len(spots) - 1)
        i, j = spots[k], spots[k + 1]
        if text[i] != text[j]:
            chars = list(text)
            chars[i], chars[j] = chars[j], chars[i]
            return "".join(chars)
    i = rng.choice(spots)
    new = (
        rng.choice(_DIGIT_NEIGHBOURS[text[i]])
        if rng.random() < 0.6
        else rng.choice("0123456789".replace(text[i], ""))
    )
    return text[:i] + new + text[i + 1 :]


def cjk_variant(text: str, rng: random.Random) -> str:
    """A CJK name with one character dropped or doubled (the common slips of hand entry)."""
    if len(text) < 2:
        return text
    i = rng.randrange(len(text))
    return text[:i] + text[i + 1 :] if len(text) > 2 and rng.random() < 0.5 else text[: i + 1] + text[i:]


def edit_name(text: str, script: str, rng: random.Random) -> str:
    """One error in a name, drawn by weight from the errors that fit its script."""
    if not text:
        return text
    if script == "cjk":
        return cjk_variant(text, rng)
    if script == "arabic":
        kind = rng.choices(["variant", "delete", "insert", "transpose"], [0.6, 0.15, 0.1, 0.15])[0]
        if kind == "variant":
            return arabic_variant(text, rng)
    elif script in ("cyrillic", "greek"):
        kind = rng.choices(["keyboard", "delete", "insert", "transpose"], [0.35, 0.25, 0.15, 0.25])[0]
    else:
        kind = rng.choices(
            ["keyboard", "ocr", "phonetic", "delete", "insert", "transpose"],
            [0.22, 0.1, 0.26, 0.16, 0.1, 0.16],
        )[0]
    return {
        "keyboard": keyboard_typo,
        "ocr": ocr_error,
        "phonetic": phonetic_variant,
        "delete": delete_char,
        "insert": insert_char,
        "transpose": transpose_chars,
    }[kind](text, rng)


def corrupt_date(born: date, rng: random.Random) -> tuple[date | None, str]:
    """A date of birth as a clerk may record it: (the date written, how: 'swap' | 'year' | 'typo' | 'off' | 'malformed').

    'year': only the year is known (the writer puts the year alone); 'malformed': a string that is
    no date at all, returned as None here and written by the caller (see `malformed_date`).
    """
    kind = rng.choices(["swap", "year", "typo", "off", "malformed"], [0.3, 0.2, 0.25, 0.1, 0.15])[0]
    if kind == "swap" and born.day <= 12 and born.day != born.month:
        return born.replace(day=born.month, month=born.day), kind
    if kind == "swap":
        kind = "typo"
    if kind == "typo":  # one digit of the year mistyped, or the day off by ten
        if rng.random() < 0.6:
            year = born.year + rng.choice((-10, -1, 1, 10))
            try:
                return born.replace(year=year), kind
            except ValueError:
                return born.replace(year=year, day=28), kind
        day = born.day + (10 if born.day <= 18 else -10)
        return born.replace(day=day), kind
    if kind == "off":
        return born + timedelta(days=rng.choice((-1, 1))), kind
    return (born if kind == "year" else None), kind


def malformed_date(born: date, rng: random.Random) -> str:
    """A date string that parses as no date: month 13+, day 32+, digits run together or cut."""
    return rng.choice(
        [
            f"{born.year}{born.month:02d}{rng.randint(32, 99)}",
            f"{born.day:02d}/{rng.randint(13, 19)}/{born.year}",
            f"{born.day:02d}{born.month:02d}{born.year % 100:02d}",
            f"{born.year}-{born.month:02d}",
            f"{born.day:02d}/{born.month:02d}/{born.year % 1000:03d}",
            "00/00/0000",
        ]
    )


@dataclass(frozen=True)
class Noise:
    """Rates of the corruption model, each the probability that one value of a record is hit.

    `missing` maps a field to its null rate (applied first, exactly at that rate); `name_error`
    is the chance a name gets one error (and `second_error` that it gets another); the others
    are per record.
    """

    missing: dict[str, float] = field(default_factory=dict)
    name_error: float = 0.2
    second_error: float = 0.15
    nickname: float = 0.06
    name_swap: float = 0.03
    date_error: float = 0.12
    address_error: float = 0.15
    street_abbreviation: float = 0.3
    postcode_error: float = 0.06
    id_error: float = 0.04
    phone_error: float = 0.08
    # household schemas (bench.linkbed.households): another spelling of a name (Mohamed/Maxamed), a birth
    # known to the year only (written as the source's default day), and that year heaped on a 0 or a 5
    spelling_variant: float = 0.0
    year_only: float = 0.0
    age_heaping: float = 0.0

    def scaled(self, factor: float) -> Noise:
        """The same model with every error rate (not the null rates) times `factor`, capped at 0.9."""
        rates = {k: min(0.9, v * factor) for k, v in self.__dict__.items() if isinstance(v, float)}
        return Noise(missing=dict(self.missing), **rates)
