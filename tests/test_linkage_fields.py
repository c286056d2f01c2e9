"""Linkage that follows the fields a deployment has: no rule, comparison or EM session names a field
no source fills; a small one-source list without sex, id or (in some rows) date of birth links.

The data here is made in this file (syllable names, a simple typo model), not by synthetic/: the
model must not depend on how our generator writes records.
"""

from __future__ import annotations

import math
import random
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import night_instance

from matching import model as model_lib
from matching.calibrate import calibrate, choose_threshold, log2_odds
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings

NIGHT = "2026-02-01"
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "ba", "do", "fu", "gi", "ha", "ju", "pe")
STREETS = ("Acacia", "Baobab", "Cedar", "Dune", "Elm", "Fig", "Granite", "Harbour")


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _typo(rng: random.Random, value: str) -> str:
    i = rng.randrange(len(value))
    kind = rng.choice(("drop", "swap", "replace"))
    if kind == "drop" and len(value) > 3:
        return value[:i] + value[i + 1 :]
    if kind == "swap" and i < len(value) - 1:
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    return value[:i] + rng.choice("aeioukmst") + value[i + 1 :]


def write_dedupe_home(home: Path, people: int = 300, seed: int = 5) -> int:
    """One source, several records of some people: names, an address, a postcode, a birth date that is
    missing or malformed in some rows; no sex and no id column. Returns the number of true pairs."""
    rng = random.Random(seed)
    rows, truth = [], []
    for person in range(people):
        first, last = _name(rng, 2), _name(rng, 3)
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(25_000))
        street = f"{rng.randrange(1, 200)} {rng.choice(STREETS)} Road"
        postcode = f"{rng.randrange(1000, 9999)}"
        for copy in range(rng.choice((1, 1, 2, 3))):
            f, s, p = first, last, postcode
            if copy and rng.random() < 0.4:
                f = _typo(rng, f)
            if copy and rng.random() < 0.3:
                s = _typo(rng, s)
            if copy and rng.random() < 0.1:
                p = p[:-1] + str((int(p[-1]) + 1) % 10)
            dob = born.strftime("%d/%m/%Y")
            roll = rng.random()
            if roll < 0.15:
                dob = ""
            elif roll < 0.2:
                dob = f"{born.year}{born.month:02d}{born.day + 40}"  # malformed: kept as a null
            record_id = f"R{len(rows):05d}"
            rows.append(",".join([record_id, f, s, dob, street, p]))
            truth.append({"source": "clinic", "source_record_id": record_id, "true_person_id": person})
    folder = home / "drops" / "clinic" / NIGHT
    folder.mkdir(parents=True)
    (folder / "clinic.csv").write_text(
        "rec,given,surname,dob,street,postcode\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    (home / "sources").mkdir()
    (home / "sources" / "clinic.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "clinic",
                "kind": "social_registry",
                "description": "a clinic's patient list, duplicated",
                "drop_mode": "snapshot",
                "file": {"format": "csv", "encoding": "utf-8", "delimiter": ","},
                "date_formats": ["%d/%m/%Y"],
                "record_id": "rec",
                "columns": {
                    "first_name": "given",
                    "last_name": "surname",
                    "date_of_birth": "dob",
                    "address_line": "street",
                    "postcode": "postcode",
                },
                "required": [],
            }
        ),
        encoding="utf-8",
    )
    programme = {
        "programme_id": "clinic_care",
        "name": "Clinic care",
        "ministry": "Ministry of Tests",
        "benefit_type": "in_kind",
        "benefit_value_monthly": 0,
        "eligibility": "not is_deceased",
    }
    (home / "programmes.yaml").write_text(yaml.safe_dump({"programmes": [programme]}), encoding="utf-8")
    (home / "truth").mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(truth), home / "truth" / "records.parquet")
    counts: dict[int, int] = {}
    for row in truth:
        counts[row["true_person_id"]] = counts.get(row["true_person_id"], 0) + 1
    return sum(n * (n - 1) // 2 for n in counts.values())


@pytest.fixture(scope="module")
def dedupe_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("dedupe")
    write_dedupe_home(home)
    job = build_defs(Settings(home=home)).resolve_job_def(NIGHTLY_JOB)
    result = job.execute_in_process(partition_key=NIGHT, instance=night_instance(NIGHT), raise_on_error=False)
    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert not failed, failed
    return home


def test_a_source_without_sex_or_id_and_with_missing_dates_links(dedupe_home):
    """A list without sex, id and (in places) a birth date gets a model of its own and finds its duplicates."""
    with duckdb.connect(str(dedupe_home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        got = dict(
            con.execute(
                "select metric, value from audit.linkage_metrics where night = $1", [NIGHT]
            ).fetchall()
        )
    assert got["pairwise_precision"] >= 0.95
    assert got["pairwise_recall"] >= 0.85
    meta = (dedupe_home / "models" / NIGHT / "model_meta.json").read_text(encoding="utf-8")
    assert '"outcome": "trained"' in meta


def test_rows_with_a_malformed_optional_date_are_linked_not_quarantined(dedupe_home):
    with duckdb.connect(str(dedupe_home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        quarantined = con.execute("select count(*) from audit.quarantine").fetchall()[0][0]
        linked = con.execute("select count(*) from registry.person_source_link").fetchall()[0][0]
        rows_in = con.execute("select sum(rows_in) from audit.files").fetchall()[0][0]
    assert quarantined == 0
    assert linked == rows_in


def test_no_rule_comparison_or_session_names_a_field_the_source_lacks(dedupe_home):
    """Splink must never be asked to compare or block on a column no source fills (issue: sex-less sources)."""
    import json

    model = json.loads((dedupe_home / "models" / NIGHT / "model.json").read_text(encoding="utf-8"))
    meta = json.loads((dedupe_home / "models" / NIGHT / "model_meta.json").read_text(encoding="utf-8"))
    text = json.dumps(model["comparisons"]) + json.dumps(model["blocking_rules_to_generate_predictions"])
    text += json.dumps(meta["em_sessions"])
    for absent in ("sex", "national_id", "phone", "civil_registration_number", "admin2", "locality"):
        assert not re.search(rf"\b{absent}(_l|_r)?\b", text), absent
    assert "postcode" in text and "address" in text


def test_fields_profile_keeps_only_filled_varied_fields():
    con = duckdb.connect()
    con.execute(
        "create table link_input as select 'a' as source_dataset, 'x' || i as first_name, "
        "'y' as last_name, null::varchar as sex, case when i < 5 then 'p' || i end as postcode "
        "from range(200) t(i)"
    )
    fields = model_lib.profile(con, "link_input")
    assert fields.used == {"first_name"}  # last_name constant, sex empty, postcode too sparse
    rules = model_lib.blocking_candidates(fields)
    assert all("last_name" not in sql and "sex" not in sql for _, sql in rules)


def test_calibration_finds_the_prior_and_a_threshold_between_the_modes():
    """1,000 clear matches and 100,000 clear non-matches among 1e8 pairs: the prior is ~1e-5 whatever the start."""
    con = duckdb.connect()
    con.execute(
        "create table scored as select 30.0 + log2(1e-7 / (1 - 1e-7)) as match_weight from range(1000) "
        "union all select -10.0 + log2(1e-7 / (1 - 1e-7)) from range(100000)"
    )
    result = calibrate(con, "scored", prior=1e-7, total_pairs=100_000_000)
    assert result.prior == pytest.approx(1e-5, rel=0.01)
    assert 0.5 <= result.threshold <= 0.995
    assert result.expected_precision > 0.99 and result.expected_recall > 0.99


def test_pairs_scored_like_the_cut_link_whatever_the_rounding():
    """The threshold is one pair's probability; a later night computes pairs of that same score again a few
    ulps either side of it (another order of operations). Every one of them must still be at or above it."""
    prior = 1e-3
    con = duckdb.connect()
    # 500 clear matches, 200 pairs at 0.9 (the best cut for F0.5 keeps them), 1,000 pairs at 0.2
    con.execute(
        "create table _calibrated as "
        "select log2(0.999 / 0.001) - $o as log2_bf from range(500) "
        "union all select log2(0.9 / 0.1) - $o from range(200) "
        "union all select log2(0.2 / 0.8) - $o from range(1000)",
        {"o": log2_odds(prior)},
    )
    threshold, precision, _, _ = choose_threshold(con, prior, beta=0.5)
    cut = con.execute("select min(p) from _posterior where p > 0.5").fetchall()[0][0]
    assert cut == pytest.approx(0.9)
    assert precision == pytest.approx((500 * 0.999 + 200 * 0.9) / 700)
    for ulps in range(-4, 5):
        assert cut + ulps * math.ulp(cut) >= threshold
    assert cut - threshold < 1e-6


def test_a_failed_em_session_leaves_the_model_whole(dedupe_home, tmp_path, monkeypatch):
    """Splink drops a failing session's comparisons from the linker before it raises; training must go on
    with the model as it was, so the saved model still compares names (the failing session blocked on them)."""
    import json
    import shutil
    from datetime import date

    from matching.config import LinkageConfig
    from matching.linkage import link_night
    from staging.standardise import register_functions

    home = tmp_path / "em"
    shutil.copytree(dedupe_home, home)
    failing = (
        frozenset({"first_name", "last_name"}),
        "l.first_name = r.first_name and l.last_name = r.last_name and 1 = 0",
    )
    monkeypatch.setattr(model_lib, "_EM_SESSIONS", (failing, *model_lib._EM_SESSIONS))
    monkeypatch.setattr("matching.training.MIN_EM_PAIRS", -1)  # let the pairless session run (and fail)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        link_night(con, home, date.fromisoformat(NIGHT), LinkageConfig(retrain=True, mode="full"))
    model = json.loads((home / "models" / NIGHT / "model.json").read_text(encoding="utf-8"))
    meta = json.loads((home / "models" / NIGHT / "model_meta.json").read_text(encoding="utf-8"))
    assert meta["em_sessions"][0]["outcome"].startswith("failed")
    assert any(s["outcome"] == "trained" for s in meta["em_sessions"][1:])
    names = {c["output_column_name"] for c in model["comparisons"]}
    assert {"given_name", "family_and_place", "date_of_birth"} <= names
