"""Plain Splink 5 models written for each schema of the test bed, the way an expert would.

The expert reads the home's drop files (knowing each schema's columns, as whoever wrote the
contracts does), cleans the fields the usual way (lower case, accents off, other scripts
romanised with anyascii, dates parsed with the source's formats and a year kept when that is
all there is, digits only for phones and ids, address tokens), then builds a model for the
fields that schema has:

- names with term-frequency adjustment, first/last name swaps and fuzzy levels;
- date of birth with exact, day/month swap, one-character, same-year levels;
- postcode, address tokens, house number, locality, phone, national id, birth place and occupation
  where present; where a postcode is compared the locality is not (both say the same place, and
  counting it twice merged co-residents);
- several blocking rules, some tolerant of typos (name prefixes with year, postcode, phone, id);
- u by random sampling, the prior from deterministic rules, m by EM on two or more rules;
- predict, then connected components at match probability 0.9.

Nothing here reads the truth or was tuned on scores: the settings are chosen from the schema.

    result = run_expert("two_sources_partial_ids", home)   # {"assignments": frame, "seconds": ...}
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from anyascii import anyascii
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from bench.linkbed.schemas import DROP_DATE

MATCH_THRESHOLD = 0.9


# -- cleaning -------------------------------------------------------------------------------------


def _fold(text: str | None) -> str | None:
    """Lower case Latin letters without accents; other scripts romanised; punctuation to spaces."""
    if text is None or not text.strip():
        return None
    ascii_text = anyascii(unicodedata.normalize("NFKC", text)).lower()
    kept = "".join(ch if ch.isalnum() else " " for ch in ascii_text)
    return " ".join(kept.split()) or None


def _name(text: str | None) -> str | None:
    folded = _fold(text)
    return folded.replace(" ", "") if folded else None


def _read(home: Path, source: str, delimiter: str = ",", encoding: str = "utf8") -> pl.DataFrame:
    path = home / "drops" / source / DROP_DATE.isoformat() / f"{source}.csv"
    return pl.read_csv(path, separator=delimiter, encoding=encoding, infer_schema=False)


def _dates(values: pl.Series, fmt: str) -> tuple[pl.Series, pl.Series]:
    """(ISO date text or null, birth year or null): a year alone keeps the year; an impossible date, nothing."""
    parsed = values.str.strptime(pl.Date, fmt, strict=False)
    year_only = pl.Series(
        [int(v) if v and v.isdigit() and len(v) == 4 else None for v in values.to_list()], dtype=pl.Int32
    )
    year = parsed.dt.year().fill_null(year_only)
    return parsed.dt.to_string("%Y-%m-%d"), year


def _digits(values: pl.Series, keep_last: int | None = None) -> pl.Series:
    cleaned = values.str.replace_all(r"[^0-9]", "")
    cleaned = pl.Series([v if v else None for v in cleaned.to_list()], dtype=pl.String)
    return cleaned.str.slice(-keep_last) if keep_last else cleaned


def _standard(frame: pl.DataFrame, source: str, id_col: str, mapping: dict[str, str]) -> pl.DataFrame:
    """The expert's standard columns from one file: names folded, text folded, unique_id prefixed."""
    out: dict[str, Any] = {
        "unique_id": [f"{source}:{v}" for v in frame[id_col].to_list()],
        "source_dataset": [source] * frame.height,
    }
    for target, column in mapping.items():
        values = frame[column].to_list()
        fold = _name if target in ("first_name", "surname") else _fold
        out[target] = [fold(v) for v in values]
    return pl.DataFrame(out)


def _with_derived(df: pl.DataFrame) -> pl.DataFrame:
    """Blocking keys and term-frequency columns every schema shares."""
    extra = []
    if "first_name" in df.columns and "surname" in df.columns:
        extra += [
            pl.concat_str(["first_name", "surname"], separator=" ").alias("full_name_concat"),
            pl.col("first_name").str.slice(0, 2).alias("fn2"),
            pl.col("surname").str.slice(0, 3).alias("sn3"),
        ]
    if "address" in df.columns:
        extra.append(pl.col("address").str.split(" ").alias("address_tokens"))
    return df.with_columns(extra) if extra else df


# -- comparisons ----------------------------------------------------------------------------------


def dob_comparison() -> cl.CustomComparison:
    """Exact, day and month exchanged, one character apart, within a month, same year, else."""
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.CustomLevel(
                "(dob_l is null or dob_r is null) and (birth_year_l is null or birth_year_r is null)"
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "substr(dob_l, 1, 4) = substr(dob_r, 1, 4) and substr(dob_l, 6, 2) = substr(dob_r, 9, 2) "
                "and substr(dob_l, 9, 2) = substr(dob_r, 6, 2)",
                "day and month swapped",
            ),
            cll.LevenshteinLevel("dob", 1),
            cll.CustomLevel(
                "abs(date_diff('day', cast(dob_l as date), cast(dob_r as date))) <= 31", "within a month"
            ),
            cll.CustomLevel("birth_year_l = birth_year_r", "same year"),
            cll.LevenshteinLevel("dob", 2),
            cll.ElseLevel(),
        ],
    )


def names_comparison() -> cl.ForenameSurnameComparison:
    return cl.ForenameSurnameComparison(
        "first_name", "surname", forename_surname_concat_col_name="full_name_concat"
    )


def surname_comparison() -> Any:
    return cl.NameComparison("surname").configure(term_frequency_adjustments=True)


def first_name_comparison() -> Any:
    return cl.NameComparison("first_name").configure(term_frequency_adjustments=True)


def postcode_comparison() -> Any:
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_levels=[
            cll.NullLevel("postcode"),
            cll.ExactMatchLevel("postcode").configure(tf_adjustment_column="postcode"),
            cll.DamerauLevenshteinLevel("postcode", 1),
            cll.CustomLevel("substr(postcode_l, 1, 3) = substr(postcode_r, 1, 3)", "same first 3 characters"),
            cll.ElseLevel(),
        ],
    )


def address_comparison() -> Any:
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("address"),
            cll.ExactMatchLevel("address"),
            cll.JaroWinklerLevel("address", 0.9),
            cll.ArrayIntersectLevel("address_tokens", 2),
            cll.ArrayIntersectLevel("address_tokens", 1),
            cll.ElseLevel(),
        ],
    )


def locality_comparison() -> Any:
    return cl.JaroWinklerAtThresholds("locality", [0.9]).configure(term_frequency_adjustments=True)


def id_comparison(col: str) -> Any:
    return cl.DamerauLevenshteinAtThresholds(col, [1, 2])


# -- the schemas' models --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertModel:
    prepare: Callable[[Path], pl.DataFrame]
    comparisons: Callable[[], list[Any]]
    blocking: list[Any]
    deterministic: list[Any]  # rules that are near-certain matches, for the prior
    em_rules: list[Any]
    link_type: Literal["dedupe_only", "link_and_dedupe"] = "dedupe_only"


def _prepare_dedupe(home: Path) -> pl.DataFrame:
    raw = _read(home, "household_survey")
    df = _standard(
        raw,
        "household_survey",
        "row_id",
        {
            "first_name": "given_name",
            "surname": "family_name",
            "address": "address",
            "locality": "town",
            "postcode": "postcode",
        },
    )
    dob, year = _dates(raw["dob"], "%d/%m/%Y")
    df = df.with_columns(dob=dob, birth_year=year, postcode=pl.col("postcode").str.replace_all(" ", ""))
    return _with_derived(df)


def _prepare_two_sources(home: Path) -> pl.DataFrame:
    a_raw = _read(home, "pension_roll")
    a = _standard(
        a_raw,
        "pension_roll",
        "pension_id",
        {"first_name": "first_name", "surname": "surname", "locality": "district", "sex": "sex"},
    )
    dob, year = _dates(a_raw["birth_date"], "%Y-%m-%d")
    a = a.with_columns(
        dob=dob, birth_year=year, national_id=_digits(a_raw["national_no"]), postcode=pl.lit(None, pl.String)
    )
    b_raw = _read(home, "health_cover", ";")
    b = _standard(
        b_raw,
        "health_cover",
        "MEMBER_NO",
        {"first_name": "GIVEN", "surname": "SURNAME", "locality": "TOWN", "postcode": "POSTCODE"},
    )
    dob, year = _dates(b_raw["DOB"], "%d.%m.%Y")
    sex = b_raw["GENDER"].replace_strict({"1": "m", "2": "f"}, default=None)
    b = b.with_columns(
        dob=dob,
        birth_year=year,
        national_id=_digits(b_raw["ID_NUMBER"]),
        sex=sex,
        postcode=pl.col("postcode").str.replace_all(" ", ""),
    )
    return _with_derived(pl.concat([a, b.select(a.columns)]))


def _prepare_address(home: Path) -> pl.DataFrame:
    a_raw = _read(home, "housing_benefit")
    address = pl.concat_str([a_raw["house_no"].fill_null(""), a_raw["street"].fill_null("")], separator=" ")
    a_raw = a_raw.with_columns(full_address=pl.when(a_raw["street"].is_null()).then(None).otherwise(address))
    a = _standard(
        a_raw,
        "housing_benefit",
        "claim_ref",
        {
            "first_name": "forename",
            "surname": "surname",
            "address": "full_address",
            "postcode": "postcode",
            "locality": "town",
        },
    )
    dob, year = _dates(a_raw["date_of_birth"], "%Y-%m-%d")
    a = a.with_columns(dob=dob, birth_year=year, phone=_digits(a_raw["phone"], 10))
    b_raw = _read(home, "utility_support")
    b = _standard(
        b_raw,
        "utility_support",
        "account",
        {
            "first_name": "customer_name_first",
            "surname": "customer_name_last",
            "address": "address1",
            "postcode": "zip",
            "locality": "city",
        },
    )
    dob, year = _dates(b_raw["birth"], "%m/%d/%Y")
    b = b.with_columns(dob=dob, birth_year=year, phone=_digits(b_raw["tel"], 10))
    df = pl.concat([a, b.select(a.columns)]).with_columns(pl.col("postcode").str.replace_all(" ", ""))
    # the house number is the address token that carries a digit
    df = df.with_columns(house_number=pl.col("address").str.extract(r"\b(\d+[a-z]?)\b", 1))
    return _with_derived(df)


def _prepare_non_latin(home: Path) -> pl.DataFrame:
    a_raw = _read(home, "civil_register")
    a = _standard(
        a_raw,
        "civil_register",
        "reg_id",
        {"first_name": "given_name", "surname": "family_name", "locality": "settlement", "sex": "sex"},
    )
    dob, year = _dates(a_raw["date_of_birth"], "%Y-%m-%d")
    a = a.with_columns(dob=dob, birth_year=year)
    b_raw = _read(home, "aid_programme")
    b = _standard(
        b_raw,
        "aid_programme",
        "beneficiary",
        {"first_name": "FirstName", "surname": "LastName", "locality": "City"},
    )
    dob, year = _dates(b_raw["BirthDate"], "%d/%m/%Y")
    b = b.with_columns(
        dob=dob,
        birth_year=year,
        sex=b_raw["Gender"].replace_strict({"Male": "m", "Female": "f"}, default=None),
    )
    return _with_derived(pl.concat([a, b.select(a.columns)]))


def _split_full_name(text: str | None) -> tuple[str | None, str | None]:
    if text is None or not text.strip():
        return None, None
    if "," in text:
        surname, _, given = text.partition(",")
        return _name(given.split()[0] if given.split() else None), _name(surname)
    parts = text.split()
    return _name(parts[0]), (_name(parts[-1]) if len(parts) > 1 else None)


def _prepare_full_name(home: Path) -> pl.DataFrame:
    raw = _read(home, "member_list")
    df = _standard(
        raw,
        "member_list",
        "member_row",
        {"postcode": "postcode", "birth_place": "birth_place", "occupation": "occupation"},
    )
    split = [_split_full_name(v) for v in raw["name"].to_list()]
    dob, year = _dates(raw["born"], "%Y%m%d")
    df = df.with_columns(
        first_name=pl.Series([s[0] for s in split], dtype=pl.String),
        surname=pl.Series([s[1] for s in split], dtype=pl.String),
        dob=dob,
        birth_year=year,
        sex=raw["sex"].str.to_lowercase(),
        postcode=pl.col("postcode").str.replace_all(" ", ""),
    )
    return _with_derived(df)


def _jw(col: str, thresholds: list[float]) -> Any:
    return cl.JaroWinklerAtThresholds(col, thresholds).configure(term_frequency_adjustments=True)


MODELS: dict[str, ExpertModel] = {
    "dedupe_no_sex_no_id": ExpertModel(
        prepare=_prepare_dedupe,
        comparisons=lambda: [
            names_comparison(),
            dob_comparison(),
            postcode_comparison(),
            address_comparison(),
        ],
        blocking=[
            block_on("first_name", "surname"),
            block_on("surname", "birth_year"),
            block_on("first_name", "dob"),
            block_on("fn2", "sn3", "birth_year"),
            block_on("postcode", "fn2"),
            block_on("postcode", "sn3"),
            block_on("address"),
        ],
        deterministic=[block_on("first_name", "surname", "dob"), block_on("surname", "dob", "postcode")],
        em_rules=[block_on("dob"), block_on("surname", "postcode"), block_on("first_name", "locality")],
    ),
    "two_sources_partial_ids": ExpertModel(
        prepare=_prepare_two_sources,
        comparisons=lambda: [
            names_comparison(),
            dob_comparison(),
            id_comparison("national_id"),
            cl.ExactMatch("sex"),
            locality_comparison(),
        ],
        blocking=[
            block_on("national_id"),
            block_on("first_name", "surname"),
            block_on("surname", "dob"),
            block_on("first_name", "dob"),
            block_on("fn2", "sn3", "birth_year"),
            block_on("dob", "locality"),
        ],
        deterministic=[block_on("national_id"), block_on("first_name", "surname", "dob")],
        em_rules=[block_on("dob"), block_on("first_name", "surname"), block_on("national_id")],
        link_type="link_and_dedupe",
    ),
    "address_heavy": ExpertModel(
        prepare=_prepare_address,
        comparisons=lambda: [
            names_comparison(),
            dob_comparison(),
            address_comparison(),
            postcode_comparison(),
            cl.ExactMatch("house_number"),
            cl.DamerauLevenshteinAtThresholds("phone", [1]).configure(term_frequency_adjustments=True),
        ],
        blocking=[
            block_on("first_name", "surname"),
            block_on("phone"),
            block_on("postcode", "fn2"),
            block_on("postcode", "sn3"),
            block_on("postcode", "house_number"),
            block_on("sn3", "house_number", "locality"),
            block_on("surname", "birth_year"),
        ],
        deterministic=[block_on("first_name", "surname", "postcode"), block_on("phone", "surname")],
        em_rules=[block_on("postcode"), block_on("first_name", "surname"), block_on("phone")],
        link_type="link_and_dedupe",
    ),
    "non_latin": ExpertModel(
        prepare=_prepare_non_latin,
        comparisons=lambda: [
            names_comparison(),
            dob_comparison(),
            cl.ExactMatch("sex"),
            locality_comparison(),
        ],
        blocking=[
            block_on("first_name", "surname"),
            block_on("dob"),
            block_on("fn2", "sn3", "birth_year"),
            block_on("surname", "birth_year"),
            block_on("first_name", "birth_year"),
        ],
        deterministic=[block_on("first_name", "surname", "dob")],
        em_rules=[block_on("dob"), block_on("first_name", "surname"), block_on("sn3", "birth_year")],
        link_type="link_and_dedupe",
    ),
    "full_name_extra": ExpertModel(
        prepare=_prepare_full_name,
        comparisons=lambda: [
            names_comparison(),
            dob_comparison(),
            postcode_comparison(),
            cl.ExactMatch("sex"),
            _jw("birth_place", [0.9]),
            _jw("occupation", [0.9]),
        ],
        blocking=[
            block_on("first_name", "surname"),
            block_on("surname", "dob"),
            block_on("first_name", "dob"),
            block_on("fn2", "sn3", "birth_year"),
            block_on("postcode", "fn2"),
            block_on("postcode", "sn3"),
            block_on("birth_place", "sn3"),
            block_on("occupation", "fn2"),
        ],
        deterministic=[
            block_on("first_name", "surname", "dob"),
            block_on("surname", "postcode", "birth_place"),
        ],
        em_rules=[block_on("dob"), block_on("first_name", "surname"), block_on("postcode", "birth_place")],
    ),
}


def run_expert(
    schema: str, home: Path, seed: int = 42, models: dict[str, ExpertModel] | None = None
) -> dict[str, Any]:
    """Cluster the home's records with the schema's expert model (from `models`, default MODELS); one row
    per record (unique_id, cluster_id)."""
    started = time.perf_counter()
    model = (MODELS if models is None else models)[schema]
    records = model.prepare(home)
    con = duckdb.connect()
    con.execute("set threads = 2")
    db = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type=model.link_type,
        comparisons=model.comparisons(),
        blocking_rules_to_generate_predictions=model.blocking,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    if model.link_type == "dedupe_only":
        inputs: Any = db.register(records.drop("source_dataset").to_arrow(), dataset_display_name="records")
    else:
        inputs = [
            db.register(part.drop("source_dataset").to_arrow(), dataset_display_name=str(name[0]))
            for name, part in records.group_by("source_dataset", maintain_order=True)
        ]
    linker = Linker(inputs, settings, logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(model.deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=seed)
    for rule in model.em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, MATCH_THRESHOLD)
    assignments = pl.from_arrow(
        con.sql(
            f"select unique_id, cast(cluster_id as varchar) as cluster_id from {clusters.physical_name}"
        ).to_arrow_table()
    )
    con.close()
    assert isinstance(assignments, pl.DataFrame)
    return {"assignments": assignments, "seconds": time.perf_counter() - started}
