"""Record linkage on a small generated country: accuracy, stable ids, reviews, guards.

The country is generated once per module (1,500 people, 2 nights) and run through the
real Dagster job; the model's u sampling is kept small so the module runs in seconds.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from conftest import night_instance

from matching import model as model_lib
from matching.config import LinkageConfig
from matching.linkage import link_night
from matching.model import BlockingBudgetExceeded
from pipelines.definitions import NIGHTLY_JOB, build_defs
from pipelines.settings import Settings
from staging.standardise import register_functions
from synthetic import generate

NIGHTS = ("2026-02-01", "2026-03-01")


def run_night(home: Path, night: str) -> dg.ExecuteInProcessResult:
    job = build_defs(Settings(home=home)).resolve_job_def(NIGHTLY_JOB)
    return job.execute_in_process(partition_key=night, instance=night_instance(night), raise_on_error=False)


def links(home: Path, night: str) -> dict[str, str]:
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        return dict(
            con.execute(
                "select record_key, person_id from linkage.record_person where night = $1", [night]
            ).fetchall()
        )


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("country")
    generate(home, people=1500, nights=2, seed=11)
    (home / "linkage.yaml").write_text(yaml.safe_dump({"u_max_pairs": 200_000}), encoding="utf-8")
    for night in NIGHTS:
        assert run_night(home, night).success
    return home


def metrics(home: Path, night: str) -> dict[str, float]:
    with duckdb.connect(str(home / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        return dict(
            con.execute(
                "select metric, value from audit.linkage_metrics where night = $1", [night]
            ).fetchall()
        )


def test_linkage_is_accurate_on_the_generated_country(country):
    """Precision guards against paying one person's benefit to another; recall against hidden duplicates."""
    got = metrics(country, NIGHTS[-1])
    assert got["pairwise_precision"] >= 0.99
    assert got["pairwise_recall"] >= 0.97
    assert got["bcubed_f1"] >= 0.98


def test_every_record_maps_to_exactly_one_person(country):
    with duckdb.connect(str(country / "warehouse" / "ibr.duckdb"), read_only=True) as con:
        staged = con.execute("select count(*) from staging.person_records").fetchall()[0][0]
        linked = con.execute(
            "select count(*), count(distinct (source, source_record_id)) from registry.person_source_link"
        ).fetchall()[0]
    assert linked == (staged, staged)


def test_person_ids_carry_over_to_the_next_night(country):
    """The same people keep their id: almost every person of night 1 keeps it on night 2."""
    assert metrics(country, NIGHTS[1])["persons_keeping_id"] >= 0.995


def test_rerunning_a_night_changes_no_person_id(country, tmp_path):
    home = tmp_path / "rerun"
    shutil.copytree(country, home)
    before = links(home, NIGHTS[1])
    assert run_night(home, NIGHTS[1]).success
    assert links(home, NIGHTS[1]) == before


def test_review_decisions_override_the_model(country, tmp_path):
    """A reviewer's cannot-link separates two records; a must-link joins two others, from the next run on."""
    home = tmp_path / "reviewed"
    shutil.copytree(country, home)
    before = links(home, NIGHTS[1])
    by_person: dict[str, list[str]] = {}
    for key, person in before.items():
        by_person.setdefault(person, []).append(key)
    together = next(keys for keys in by_person.values() if len(keys) == 2)
    apart = sorted(k for k in before if before[k] != before[together[0]])[:2]
    rows = [
        {
            "source_l": a.split(":", 1)[0],
            "source_record_id_l": a.split(":", 1)[1],
            "source_r": b.split(":", 1)[0],
            "source_record_id_r": b.split(":", 1)[1],
            "decision": decision,
            "reviewer": "test",
        }
        for (a, b), decision in ((together, "cannot_link"), (apart, "must_link"))
    ]
    (home / "reviews").mkdir()
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(r[h] for h in header) for r in rows]
    (home / "reviews" / "decisions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_night(home, NIGHTS[1]).success
    after = links(home, NIGHTS[1])
    assert after[together[0]] != after[together[1]]
    assert after[apart[0]] == after[apart[1]]


def test_records_without_identifiers_stay_flagged_singletons(country, tmp_path):
    """A record with a surname and nothing else is never merged into anyone, and never crashes the run."""
    home = tmp_path / "sparse"
    shutil.copytree(country, home)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        con.execute(
            "insert into staging.person_records (source, source_kind, source_record_id, last_name, is_current) "
            "values ('civil_registry', 'civil_registry', 'ONLY-A-NAME', 'banda', true)"
        )
        link_night(con, home, date.fromisoformat(NIGHTS[1]), LinkageConfig(u_max_pairs=200_000))
        row = con.execute(
            "select link_method, count(*) over (partition by person_id) from registry.person_source_link "
            "where source_record_id = 'ONLY-A-NAME'"
        ).fetchall()
    assert row == [("singleton: insufficient identifiers", 1)]


def test_a_blocking_rule_over_budget_is_tightened_not_dropped(country, tmp_path, caplog):
    """A skewed rule must not explode the night, nor lose its pairs: it is counted, tightened with a key
    (birth year, district, initial ...) until it fits the budget, and named in the log and the run record."""
    home = tmp_path / "budget"
    shutil.copytree(country, home)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        summary = link_night(
            con,
            home,
            date.fromisoformat(NIGHTS[1]),
            LinkageConfig(max_comparisons_per_rule=1000, mode="full"),
        )
    kept = [b for b in summary.blocking if b["kept"]]
    tight = [b for b in kept if " & " in b["name"]]
    assert tight, "no rule was over the budget of 1,000"
    assert all(b["comparisons"] <= 1000 for b in kept)
    assert all(b["comparisons"] > 0 for b in tight)
    # the tightened rule is the original with keys added
    base, *keys = tight[0]["name"].split(" & ")
    assert keys and dict(model_lib.TIGHTENING_KEYS).keys() >= set(keys)
    assert f"blocking rule '{base}'" in caplog.text and "tightened to" in caplog.text
    assert "max_comparisons_per_rule" in caplog.text


def test_the_night_budget_grows_with_the_records_and_is_shared_among_rules(country, tmp_path, monkeypatch):
    """A rule's pairs grow with the square of its blocks: the night's budget is per record (above a floor that
    keeps a small input whole) and shared among the rules, so rules fitting a small country are tightened in a
    big one and the comparisons grow with the records, not their square."""
    import matching.config as config_module

    assert LinkageConfig().comparison_budget(3_000) == config_module.BUDGET_FLOOR
    assert LinkageConfig(max_comparisons_per_record=10).comparison_budget(4_000_000) == 40_000_000
    # rules under their share keep every pair and leave the rest to the others; no rule passes the cap
    assert model_lib.share_budget([10, 20, 300], total=130, per_rule=1_000) == 100
    assert model_lib.share_budget([10, 20, 300], total=1_000, per_rule=1_000) == 1_000
    assert model_lib.share_budget([10, 20, 300], total=1_000, per_rule=50) == 50

    monkeypatch.setattr(config_module, "BUDGET_FLOOR", 0)
    home = tmp_path / "per_record"
    shutil.copytree(country, home)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        summary = link_night(
            con,
            home,
            date.fromisoformat(NIGHTS[1]),
            LinkageConfig(mode="full", max_comparisons_per_record=0.5),
        )
        records = con.execute("select count(*) from linkage.link_input where usable").fetchall()[0][0]
    kept = [b for b in summary.blocking if b["kept"]]
    assert any(" & " in b["name"] for b in kept), "no rule passed its share of half a comparison per record"
    assert sum(b["comparisons"] for b in kept) <= records * 0.5


def test_every_rule_over_budget_stops_the_night_naming_them(country, tmp_path):
    home = tmp_path / "budget0"
    shutil.copytree(country, home)
    with (
        duckdb.connect(str(home / "state" / "work.duckdb")) as con,
        pytest.raises(BlockingBudgetExceeded) as error,
    ):
        register_functions(con)
        link_night(
            con, home, date.fromisoformat(NIGHTS[1]), LinkageConfig(max_comparisons_per_rule=0, mode="full")
        )
    assert "'national_id_digits'" in str(error.value) and "'last_name+date_of_birth'" in str(error.value)
    assert "max_comparisons_per_rule" in str(error.value)


def test_training_survives_an_em_session_that_underflows(tmp_path):
    """On this small country Splink's EM drives an m probability below its float floor; the night still links."""
    from ingest.contracts import load_contracts
    from ingest.landing import Lander
    from staging.standardise import build_staging

    generate(tmp_path, people=1500, nights=1, seed=12)
    night = date.fromisoformat(NIGHTS[0])
    with duckdb.connect() as con:
        register_functions(con)
        contracts = load_contracts(tmp_path / "sources")
        lander = Lander(con, tmp_path, night)
        for contract in contracts.values():
            lander.land_source(contract)
        build_staging(con, tmp_path, contracts, night)
        summary = link_night(con, tmp_path, night, LinkageConfig(u_max_pairs=200_000))
    assert summary.trained
    assert summary.metrics is not None and summary.metrics.pairwise_precision >= 0.99


def test_a_rule_another_covers_is_not_run_again_and_comes_back_when_its_cover_is_tightened():
    """first_name+date_of_birth generates only pairs date_of_birth+first_initial generates too: Splink would
    join and check it for nothing. Once the cover is tightened (a key added), the covered rule predicts again."""
    from matching import blocking

    def rule(name, sql):
        return blocking.BlockingCount(name, sql, 100)

    exact = rule(
        "first_name+date_of_birth", "l.first_name = r.first_name and l.date_of_birth = r.date_of_birth"
    )
    cover = rule(
        "date_of_birth+first_initial",
        "l.date_of_birth = r.date_of_birth and left(l.first_name, 1) = left(r.first_name, 1)",
    )
    swapped = rule("swapped", "l.first_name = r.last_name and l.last_name = r.first_name")
    marked = {b.name: b for b in blocking.covered_rules([exact, cover, swapped])}
    assert marked["first_name+date_of_birth"].covered_by == "date_of_birth+first_initial"
    assert not marked["first_name+date_of_birth"].predicts
    assert marked["date_of_birth+first_initial"].predicts and marked["swapped"].predicts
    name, sql = model_lib.tightened(cover.name, cover.sql, (("admin2", "l.admin2 = r.admin2"),))
    tight = blocking.BlockingCount(name, sql, 50)
    assert all(b.predicts for b in blocking.covered_rules([exact, tight, swapped]))


def _one_block() -> duckdb.DuckDBPyConnection:
    """400 records in one block of a rule on the surname; each key splits it independently of the others."""
    con = duckdb.connect()
    con.execute(
        """
        create table people as
        select i as unique_id, 'a' as source_dataset, 'same' as last_name,
               1950 + j % 4 as birth_year, ['F', 'M'][1 + (j // 4) % 2] as sex,
               'district ' || (i % 3) as admin2, 'village ' || (j % 40) as locality,
               chr((65 + (j // 24) % 3)::integer) || 'name' as given_name,
               make_date((1950 + j % 4)::bigint, (1 + j % 4)::bigint, 1::bigint) as date_of_birth
        from (select i, i % 200 as j from range(400) t(i))
        """
    )
    return con


def test_a_rule_over_its_share_keeps_the_most_pairs_one_two_or_three_keys_allow():
    """At 4M people a rule on names that sound alike passed its share with every key but the narrowest (the
    locality), and kept 30,000 of its 900M pairs: recall fell to 0.970. A pair of wide keys (year of birth and
    sex) keeps more of them within the share than any single key that fits, and where no pair fits, three."""
    from splink import DuckDBAPI

    from matching import blocking

    con = _one_block()
    sdf = DuckDBAPI(connection=con).register("people")
    rule = "l.last_name = r.last_name"
    share = 12_000
    alone = {
        key: blocking._count_one(sdf, model_lib.tightened("x", rule, ((key, sql),))[1], 1.0)
        for key, sql in model_lib.TIGHTENING_KEYS
    }
    best_single = max(n for n in alone.values() if 0 < n <= share)
    tight = blocking._tighten(sdf, "same_surname", rule, share, 1.0)
    assert tight is not None and tight.kept
    assert tight.name.count(model_lib.TIGHTENED) == 2, tight.name  # a pair of keys
    assert best_single < tight.comparisons <= share
    assert tight.comparisons == blocking._count_one(sdf, tight.sql, 1.0)
    # a share no single key nor pair fits but the village: three wide keys keep more than the village alone
    three = blocking._tighten(sdf, "same_surname", rule, 3_500, 1.0)
    assert three is not None and three.name.count(model_lib.TIGHTENED) == 3, three
    assert alone["locality"] < three.comparisons <= 3_500
    # a share no key nor pair of keys brings the rule within (every one keeps more, or nothing)
    assert blocking._tighten(sdf, "same_surname", rule, 10, 1.0) is None
