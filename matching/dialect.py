"""The SQL that differs between the two backends linkage runs on: DuckDB (one machine) and Apache Spark.

Everything above this module (the comparisons, blocking rules and the deterministic pre-link in
matching.model, the training and scoring in matching.training and matching.scoring) writes its SQL
through a `Dialect`, so the library reads the same on both backends. Splink renders its own
comparison levels for the backend it runs on; what we write by hand (custom levels, rules) comes
from here.

    >>> SPARK.jaro_winkler("l.first_name", "r.first_name")
    'jaro_winkler(l.first_name, r.first_name)'
"""

from __future__ import annotations

from dataclasses import dataclass

BACKENDS = ("duckdb", "spark")


@dataclass(frozen=True)
class Dialect:
    """One backend's spelling of the SQL we write by hand.

    `name` is Splink's `sql_dialect` (what `SettingsCreator.create_settings_dict` takes).
    """

    name: str
    quote_char: str
    jaro_winkler_function: str
    split_function: str
    intersect_function: str
    length_function: str
    contains_function: str

    def quote(self, name: str) -> str:
        """An identifier quoted for this backend (a contract's extra field may hold any character)."""
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def jaro_winkler(self, left: str, right: str) -> str:
        """Jaro-Winkler similarity (0 to 1) of two expressions. The two backends' values differ slightly
        (Splink ships its own implementation for Spark), so a pair at a level's edge may fall either side."""
        return f"{self.jaro_winkler_function}({left}, {right})"

    def shares_word(self, left: str, right: str) -> str:
        """True when two strings have a space-separated word in common."""
        return (
            f"{self.length_function}({self.intersect_function}("
            f"{self.split_function}({left}, ' '), {self.split_function}({right}, ' '))) >= 1"
        )

    def common_count(self, left: str, right: str) -> str:
        """How many elements two lists (arrays) have in common."""
        return f"{self.length_function}({self.intersect_function}({left}, {right}))"

    def overlaps(self, left: str, right: str) -> str:
        """True when two lists (arrays) have an element in common (twice as fast as counting what they share)."""
        if self.name == "duckdb":
            return f"list_has_any({left}, {right})"
        return f"arrays_overlap({left}, {right})"

    def holds_all(self, array: str, other: str) -> str:
        """True when a list (array) holds every element of another."""
        if self.name == "duckdb":
            return f"list_has_all({array}, {other})"
        return f"{self.length_function}(array_except({other}, {array})) = 0"

    def contains(self, array: str, value: str) -> str:
        """True when a list (array) holds a value."""
        return f"{self.contains_function}({array}, {value})"

    def count(self, array: str) -> str:
        """How many elements a list (array) holds."""
        return f"{self.length_function}({array})"


DUCKDB = Dialect(
    name="duckdb",
    quote_char='"',
    jaro_winkler_function="jaro_winkler_similarity",
    split_function="string_split",
    intersect_function="list_intersect",
    length_function="len",
    contains_function="list_contains",
)
# the Spark functions jaro_winkler comes from the jar Splink's wheel ships (matching.spark adds it to spark.jars)
SPARK = Dialect(
    name="spark",
    quote_char="`",
    jaro_winkler_function="jaro_winkler",
    split_function="split",
    intersect_function="array_intersect",
    length_function="size",
    contains_function="array_contains",
)


def dialect(backend: str) -> Dialect:
    """The dialect of a backend named in linkage.yaml."""
    if backend == "duckdb":
        return DUCKDB
    if backend == "spark":
        return SPARK
    raise ValueError(f"linkage backend {backend!r}: allowed: {', '.join(BACKENDS)}")
