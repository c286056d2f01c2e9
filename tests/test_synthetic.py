"""The synthetic country generator: determinism, truth, encodings, planted errors, noise.

One small country (2,500 people, 3 nights) is generated once for the module; the
determinism tests generate their own, smaller ones.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from synthetic import generate
from synthetic.ids import luhn_valid, national_ids
from synthetic.noise import NoiseRates, dob_noise, mistype_digits, noise_profile, typos
from synthetic.programmes import evaluate, load_rules
from synthetic.sources import Contract, read_contract

REPO = Path(__file__).resolve().parents[1]
PEOPLE = 2_500
NIGHTS = ("2026-02-01", "2026-03-01", "2026-04-01")


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("country")
    summary = generate(home, people=PEOPLE, nights=3, seed=11)
    return home, summary


@pytest.fixture(scope="module")
def contracts(country: tuple[Path, dict]) -> dict[str, Contract]:
    home, _ = country
    return {p.stem: read_contract(p) for p in sorted((home / "sources").glob("*.yaml"))}


def read_drop(contract: Contract, path: Path) -> pl.DataFrame:
    """A drop file as text columns, decoded with the contract's encoding."""
    if contract.file_format == "parquet":
        frame = pl.read_parquet(path)
        return frame.with_columns(pl.all().cast(pl.String))
    text = path.read_bytes().decode(contract.encoding)
    return pl.read_csv(
        io.StringIO(text), separator=contract.delimiter, quote_char=contract.quote, infer_schema=False
    )


@pytest.fixture(scope="module")
def drops(country: tuple[Path, dict], contracts: dict[str, Contract]) -> dict[tuple[str, str], pl.DataFrame]:
    """Every drop, one frame per (source, night), with the file name in `_file`."""
    home, _ = country
    out: dict[tuple[str, str], pl.DataFrame] = {}
    for name, contract in contracts.items():
        for night_dir in sorted((home / "drops" / name).iterdir()):
            frames = [
                read_drop(contract, f).with_columns(_file=pl.lit(f.name)) for f in sorted(night_dir.iterdir())
            ]
            out[(name, night_dir.name)] = pl.concat(frames, how="diagonal")
    return out


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_drops(tmp_path: Path) -> None:
    """A rerun with the same seed reproduces every drop and truth file byte for byte (a
    night can be regenerated and re-ingested); another seed gives other drops."""
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(first, people=1_200, nights=2, seed=5)
    generate(second, people=1_200, nights=2, seed=5)
    generate(other, people=1_200, nights=2, seed=6)
    a, b, c = (digests(h / "drops") for h in (first, second, other))
    assert a == b
    assert digests(first / "truth") == digests(second / "truth")
    assert len(a) > 10
    assert set(a) == set(c)
    assert all(a[f] != c[f] for f in a)


def test_summary_describes_the_run(country: tuple[Path, dict]) -> None:
    """`ibr generate` prints the summary: people, households, records per source, nights, paths."""
    home, summary = country
    assert summary["people"] >= PEOPLE
    assert PEOPLE / 5.5 < summary["households"] < PEOPLE / 3.5
    assert summary["nights"] == list(NIGHTS)
    assert set(summary["records_per_source"]) == {p.stem for p in (REPO / "sources").glob("*.yaml")}
    assert summary["seconds"] > 0
    for key in ("drops", "truth", "sources", "programmes", "country", "reference"):
        assert Path(summary["paths"][key]).exists(), key
    areas = pl.read_csv(home / "reference" / "admin_areas.csv")
    assert areas.columns == ["admin1_code", "admin1_name", "admin2_code", "admin2_name"]
    assert areas["admin1_code"].n_unique() == 10


def test_every_drop_record_is_in_the_truth_once(
    country: tuple[Path, dict], contracts: dict[str, Contract], drops: dict[tuple[str, str], pl.DataFrame]
) -> None:
    """Linkage accuracy is scored over records.parquet: it must cover every record of every
    drop exactly once, and point at people who exist."""
    home, _ = country
    seen = pl.concat(
        [
            frame.select(
                pl.lit(source).alias("source"), pl.col(contracts[source].record_id).alias("source_record_id")
            )
            for (source, _), frame in drops.items()
        ]
    ).unique()
    truth = pl.read_parquet(home / "truth" / "records.parquet")
    assert truth.select("source", "source_record_id").is_duplicated().sum() == 0
    assert truth.height == seen.height
    assert seen.join(truth, on=["source", "source_record_id"], how="anti").height == 0
    people = pl.read_parquet(home / "truth" / "people.parquet")
    assert truth.join(people, on="true_person_id", how="anti").height == 0


def test_drops_carry_no_truth(
    drops: dict[tuple[str, str], pl.DataFrame], contracts: dict[str, Contract]
) -> None:
    """The warehouse must link without help: no true id column in any drop, and record ids
    that are not the true person ids."""
    for (source, _), frame in drops.items():
        assert not [c for c in frame.columns if "true" in c.lower() or c.startswith("_person")], source
        ids = frame[contracts[source].record_id]
        assert not ids.str.contains(r"^\d{1,6}$").any(), source


def test_disability_registry_is_cp1252_not_utf8(country: tuple[Path, dict]) -> None:
    """Encoding handling is really exercised: the cp1252 export decodes as cp1252 and is not
    valid UTF-8 (it carries accented letters as single bytes)."""
    home, _ = country
    files = sorted((home / "drops" / "disability_registry").rglob("*.csv"))
    assert files
    raw = files[0].read_bytes()
    text = raw.decode("cp1252")
    assert any(ord(ch) > 127 for ch in text)
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_contracts_load_with_ingestion(country: tuple[Path, dict]) -> None:
    """The contracts the generator writes are the ones ingestion reads: they must validate."""
    ingest_contracts = pytest.importorskip("ingest.contracts")
    home, _ = country
    loaded = ingest_contracts.load_contracts(home / "sources")
    assert set(loaded) == {p.name for p in (home / "drops").iterdir()}
    assert {c.programme_id for c in loaded.values() if c.kind == "programme"} == set(
        load_rules(home / "programmes.yaml").ids
    )


def test_every_planted_kind_is_present_each_night(country: tuple[Path, dict]) -> None:
    """Ministries' reports are checked against planted.parquet: each kind must be there to find
    on every night, a few dozen at most at this size."""
    home, _ = country
    planted = pl.read_parquet(home / "truth" / "planted.parquet")
    counts = planted.group_by("kind", "night").len()
    for kind in ("deceased_paid", "exclusive_overlap", "duplicate_enrolment", "gap", "inclusion_error"):
        for night in NIGHTS:
            n = counts.filter((pl.col("kind") == kind) & (pl.col("night") == night))["len"]
            assert n.len() == 1 and n[0] > 0, (kind, night)
    largest = planted.filter(pl.col("kind") != "gap").group_by("kind", "night").len()["len"].to_list()
    assert max(largest) < 60


def _with_truth(home: Path, frame: pl.DataFrame, source: str, record_id: str) -> pl.DataFrame:
    truth = pl.read_parquet(home / "truth" / "records.parquet").filter(pl.col("source") == source)
    return frame.join(truth.drop("source"), left_on=record_id, right_on="source_record_id")


def _active(
    home: Path, drops: dict, contracts: dict[str, Contract], programme: str, night: str
) -> pl.DataFrame:
    """Active payroll rows of a programme on a night, with the true person and the period start."""
    contract = contracts[programme]
    active_code = next(k for k, v in contract.codes["enrolment_status"].items() if v == "active")
    frame = drops[(programme, night)].filter(pl.col(contract.columns["enrolment_status"]) == active_code)
    return _with_truth(home, frame, programme, contract.record_id)


def test_deceased_paid_shows_in_the_drops(
    country: tuple[Path, dict], contracts: dict[str, Contract], drops: dict[tuple[str, str], pl.DataFrame]
) -> None:
    """A deceased-still-paid finding is only fair if the drops prove it: a death record in the
    civil registry by that night, dated before the period an active payroll row pays."""
    home, _ = country
    civil = contracts["civil_registry"]
    planted = pl.read_parquet(home / "truth" / "planted.parquet").filter(pl.col("kind") == "deceased_paid")
    for night in NIGHTS:
        deaths = pl.concat([drops[("civil_registry", n)] for n in NIGHTS if n <= night])
        deaths = _with_truth(
            home,
            deaths.filter(pl.col(civil.columns["event_type"]) == "DEATH"),
            "civil_registry",
            civil.record_id,
        )
        death_date = dict(
            zip(
                deaths["true_person_id"].to_list(),
                deaths[civil.columns["date_of_death"]].to_list(),
                strict=True,
            )
        )
        for row in planted.filter(pl.col("night") == night).iter_rows(named=True):
            contract = contracts[row["programme_id"]]
            active = _active(home, drops, contracts, row["programme_id"], night)
            paid = active.filter(pl.col("true_person_id") == row["true_person_id"])
            assert paid.height >= 1, row
            period = datetime.strptime(paid[contract.columns["period"]][0], contract.period_formats[0]).date()
            died = datetime.strptime(death_date[row["true_person_id"]], civil.date_formats[0]).date()
            assert died < period, row


def test_overlaps_and_duplicates_show_in_the_drops(
    country: tuple[Path, dict], contracts: dict[str, Contract], drops: dict[tuple[str, str], pl.DataFrame]
) -> None:
    """Overlap and duplicate findings are visible in that night's payrolls: active in each
    programme named, and twice (two record ids) for duplicates."""
    home, _ = country
    planted = pl.read_parquet(home / "truth" / "planted.parquet")
    for night in NIGHTS:
        tonight = planted.filter(pl.col("night") == night)
        for row in tonight.filter(
            pl.col("kind").is_in(["exclusive_overlap", "duplicate_enrolment"])
        ).iter_rows(named=True):
            active = _active(home, drops, contracts, row["programme_id"], night)
            records = active.filter(pl.col("true_person_id") == row["true_person_id"]).height
            assert records >= (2 if row["kind"] == "duplicate_enrolment" else 1), row
        overlap = tonight.filter(pl.col("kind") == "exclusive_overlap").group_by("true_person_id").len()
        assert (overlap["len"] >= 2).all()


def test_inclusion_errors_declare_income_above_the_means_test(
    country: tuple[Path, dict], contracts: dict[str, Contract], drops: dict[tuple[str, str], pl.DataFrame]
) -> None:
    """An inclusion error is backed by that night's tax snapshot: income above the threshold."""
    home, _ = country
    rules = {p.programme_id: p for p in load_rules(home / "programmes.yaml").programmes}
    tax = contracts["tax_registry"]
    planted = pl.read_parquet(home / "truth" / "planted.parquet").filter(pl.col("kind") == "inclusion_error")
    for night in NIGHTS:
        snapshot = _with_truth(home, drops[("tax_registry", night)], "tax_registry", tax.record_id)
        income = dict(
            zip(
                snapshot["true_person_id"].to_list(),
                snapshot[tax.columns["income_annual"]].to_list(),
                strict=True,
            )
        )
        for row in planted.filter(pl.col("night") == night).iter_rows(named=True):
            threshold = rules[row["programme_id"]].income_annual_max
            assert threshold is not None
            assert float(income[row["true_person_id"]]) > threshold, row


def test_gap_people_are_not_served(
    country: tuple[Path, dict], contracts: dict[str, Contract], drops: dict[tuple[str, str], pl.DataFrame]
) -> None:
    """A gap is someone eligible, not registered dead by the drop date, and paid by no programme they
    qualify for that night; every gap person appears in some drop up to that night."""
    home, _ = country
    planted = pl.read_parquet(home / "truth" / "planted.parquet").filter(pl.col("kind") == "gap")
    people = pl.read_parquet(home / "truth" / "people.parquet")
    for night in NIGHTS:
        tonight = planted.filter(pl.col("night") == night)
        for programme in tonight["programme_id"].unique().to_list():
            active = _active(home, drops, contracts, programme, night)
            gap = tonight.filter(pl.col("programme_id") == programme)
            assert gap.join(active, on="true_person_id", how="semi").height == 0, programme
        dead = tonight.join(people, on="true_person_id").filter(
            pl.col("death_registered_date") < date.fromisoformat(night)
        )
        assert dead.height == 0
        records = pl.read_parquet(home / "truth" / "records.parquet")
        assert tonight.join(records, on="true_person_id", how="anti").height == 0


def test_bad_rows_are_unreadable_as_the_truth_says(
    country: tuple[Path, dict], contracts: dict[str, Contract], drops: dict[tuple[str, str], pl.DataFrame]
) -> None:
    """Quarantine is exercised on purpose: each listed bad row is in its file, with its field
    empty, not a date, or not a number."""
    home, _ = country
    bad = pl.read_parquet(home / "truth" / "bad_rows.parquet")
    assert bad.height >= 8
    assert set(bad["reason"]) <= {"unparseable_date", "empty_required_field", "non_numeric_amount"}
    for row in bad.iter_rows(named=True):
        contract = contracts[row["source"]]
        frame = drops[(row["source"], row["night"])].filter(
            (pl.col("_file") == row["file_name"]) & (pl.col(contract.record_id) == row["source_record_id"])
        )
        assert frame.height == 1, row
        value = frame[contract.columns[row["field"]]][0]
        if row["reason"] == "empty_required_field":
            assert value is None or value.strip() == ""
        elif row["reason"] == "non_numeric_amount":
            with pytest.raises(ValueError):
                float(value)
        else:
            for fmt in contract.date_formats:
                with pytest.raises(ValueError):
                    datetime.strptime(value, fmt)


def test_snapshot_records_keep_their_id_and_civil_registry_sends_corrections(
    contracts: dict[str, Contract], drops: dict[tuple[str, str], pl.DataFrame]
) -> None:
    """Drops differ a little night to night: payroll ids are stable (same beneficiary, same id)
    and the civil registry (a delta source) re-sends some earlier records corrected."""
    grant = contracts["child_grant"].record_id
    first = set(drops[("child_grant", NIGHTS[0])][grant])
    second = set(drops[("child_grant", NIGHTS[1])][grant])
    assert len(first & second) > 0.9 * len(first)
    assert first != second
    civil = contracts["civil_registry"].record_id
    earlier = set(drops[("civil_registry", NIGHTS[0])][civil])
    later = set(drops[("civil_registry", NIGHTS[1])][civil])
    assert 0 < len(earlier & later) < 0.05 * len(later) + 10


def test_national_ids_carry_a_luhn_check_digit(country: tuple[Path, dict]) -> None:
    """country.yaml promises a Luhn check digit: every true national id has one."""
    home, _ = country
    people = pl.read_parquet(home / "truth" / "people.parquet")
    ids = people["national_id"].drop_nulls().to_list()
    assert ids and all(len(i) == 10 and luhn_valid(i) for i in ids)
    adults = people.filter(pl.col("date_of_birth") < date(2008, 1, 1))
    assert 0.75 < adults["national_id"].is_not_null().mean() < 0.95  # type: ignore[operator]


@pytest.mark.parametrize(
    ("description", "row", "expected"),
    [
        ("a 70-year-old gets the pension", {"age_years": 70}, {"old_age_pension"}),
        ("a 64-year-old does not", {"age_years": 64}, set()),
        ("a child gets the child grant", {"age_years": 4}, {"child_grant"}),
        ("the dead qualify for nothing", {"age_years": 80, "is_deceased": True}, set()),
        (
            "severe disability at 30",
            {"age_years": 30, "disability_severity": "severe"},
            {"disability_allowance"},
        ),
        ("mild disability at 30", {"age_years": 30, "disability_severity": "mild"}, set()),
        (
            "large poor household in P02",
            {"age_years": 30, "household_size": 8, "admin1": "P02"},
            {"cash_transfer"},
        ),
        (
            "the same household above the means test",
            {"age_years": 30, "household_size": 8, "admin1": "P02", "income_annual": 50_000.0},
            set(),
        ),
    ],
)
def test_eligibility_follows_the_rules_file(description: str, row: dict, expected: set[str]) -> None:
    """The truth follows programmes.yaml itself: DuckDB evaluates its expressions."""
    golden = {
        "person": 0, "age_years": 40, "sex": "F", "disability_severity": None, "income_annual": None,
        "is_deceased": False, "household_size": 3, "admin1": "P01", "admin2": "P01D01",
    } | row  # fmt: skip
    frame = pl.DataFrame(
        [golden], schema_overrides={"disability_severity": pl.String, "income_annual": pl.Float64}
    )
    eligible, _ = evaluate(load_rules(REPO / "programmes.yaml"), frame, 1)
    assert {p for p, e in eligible.items() if e[0]} == expected, description


@pytest.mark.parametrize(
    ("description", "check"),
    [
        ("a typo changes the name but keeps most of it", "typo"),
        ("a mistyped national id usually fails its check digit", "nid"),
        ("a swapped date of birth has day and month exchanged", "dob"),
        ("the hard preset is noisier than the default", "hard"),
    ],
)
def test_noise(description: str, check: str) -> None:
    """The noise model does what its rates say (table-driven, one behaviour per case)."""
    rng = np.random.default_rng(0)
    if check == "typo":
        names = pl.Series(["Khashoda", "Phunouji", "Bitacha"] * 100)
        noisy = typos(names, rng, 1.0)
        assert (noisy != names).mean() > 0.9  # type: ignore[operator]
        change = noisy.str.len_chars().cast(pl.Int64) - names.str.len_chars().cast(pl.Int64)
        assert change.abs().max() <= 1  # type: ignore[operator]
        assert (noisy.str.slice(0, 1) == names.str.slice(0, 1)).all()
    elif check == "nid":
        ids = national_ids(rng, 200)
        assert all(luhn_valid(i) for i in ids)
        broken = mistype_digits(ids, rng, 1.0)
        assert sum(not luhn_valid(i) for i in broken) > 0.8 * len(broken)
    elif check == "dob":
        dob = np.array([(date(1980, 3, 7) - date(1970, 1, 1)).days], dtype=np.int32)
        days, _ = dob_noise(dob, rng, NoiseRates(dob_swap=1.0))
        assert date(1970, 1, 1).toordinal() + int(days[0]) == date(1980, 7, 3).toordinal()
    else:
        default, hard = noise_profile("default"), noise_profile("hard")
        assert hard["old_age_pension"].typo > default["old_age_pension"].typo
        assert hard["civil_registry"].nid_missing > default["civil_registry"].nid_missing
        with pytest.raises(ValueError, match="allowed: default, hard"):
            noise_profile("extreme")
