"""Incremental linkage nights: only new and changed records are scored, everyone else keeps their person.

One small country (2,000 people, 2 nights) is generated, landed and standardised, and its
first night linked (training the model), once per module. Each scenario copies that home
and links the second night: incremental, full, or incremental after hand edits to the
staged records (a new record, a typo fixed, a record that now describes someone else, a
record gone), always against a full re-link of the same data.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from core.sqlutil import literal
from ingest.contracts import load_contracts
from ingest.landing import Lander
from matching.config import LinkageConfig
from matching.incremental import Agreement, RecordChanges, choose_mode, compare_assignments
from matching.link_input import LINK_FIELDS, extra_fields, prepare_input
from matching.linkage import LinkageSummary, link_night
from matching.model_store import latest_model
from staging.standardise import build_staging, register_functions
from synthetic import generate

FIRST, SECOND = date(2026, 2, 1), date(2026, 3, 1)  # both Sundays: `auto` links them in full by default
QUICK = {"u_max_pairs": 200_000}


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose first night is linked and whose second night is staged, not yet linked."""
    home = tmp_path_factory.mktemp("country")
    generate(home, people=2000, nights=2, seed=21)
    contracts = load_contracts(home / "sources")
    (home / "state").mkdir(exist_ok=True)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        for night in (FIRST, SECOND):
            lander = Lander(con, home, night)
            for contract in contracts.values():
                lander.land_source(contract)
            build_staging(con, home, contracts, night)
            if night == FIRST:
                link_night(con, home, night, LinkageConfig(**QUICK))  # type: ignore[arg-type]
    return home


@dataclass
class Night:
    home: Path
    summary: LinkageSummary

    def links(self, night: date = SECOND) -> dict[str, str]:
        with duckdb.connect(str(self.home / "state" / "work.duckdb"), read_only=True) as con:
            return dict(
                con.execute(
                    "select record_key, person_id from linkage.record_person where night = $1", [night]
                ).fetchall()
            )


def copy_home(country: Path, target: Path) -> Path:
    shutil.copytree(country, target)
    return target


def link_second(home: Path, config: LinkageConfig | None = None) -> Night:
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        register_functions(con)
        return Night(home, link_night(con, home, SECOND, config))


def agreement(a: Night, b: Night) -> Agreement:
    with duckdb.connect() as con:
        for name, night in (("a", a), ("b", b)):
            con.execute(f"attach {literal(str(night.home / 'state' / 'work.duckdb'))} as {name} (read_only)")
        query = "select record_key, person_id from {}.linkage.record_person where night = '2026-03-01'"
        return compare_assignments(con, query.format("a"), query.format("b"))


@pytest.fixture(scope="module")
def full(country: Path, tmp_path_factory: pytest.TempPathFactory) -> Night:
    """The second night re-linked in full, as `mode: full` in linkage.yaml asks."""
    home = copy_home(country, tmp_path_factory.mktemp("full") / "home")
    (home / "linkage.yaml").write_text(yaml.safe_dump({"mode": "full", **QUICK}), encoding="utf-8")
    return link_second(home)


@pytest.fixture(scope="module")
def incremental(country: Path, tmp_path_factory: pytest.TempPathFactory) -> Night:
    home = copy_home(country, tmp_path_factory.mktemp("incremental") / "home")
    return link_second(home, LinkageConfig(mode="incremental", **QUICK))  # type: ignore[arg-type]


def test_mode_full_in_linkage_yaml_forces_a_full_relink(full):
    assert full.summary.mode == "full"
    assert full.summary.records_scored == full.summary.modelled_records
    assert full.summary.carried_pairs == 0


def test_an_incremental_night_scores_only_new_and_changed_records(incremental):
    """The point of the mode: a night where ~1% of records changed scores ~1% of them."""
    summary = incremental.summary
    assert summary.mode == "incremental"
    # the generated second night: births, new enrolments and late filers, about 1% of records
    assert summary.changes is not None and summary.changes.previous_night == FIRST
    assert 0 < summary.changes.dirty_share < 0.02 and summary.changes.removed == 0
    assert 0 < summary.records_scored <= summary.changes.dirty
    assert summary.carried_pairs > 0
    with duckdb.connect(str(incremental.home / "state" / "work.duckdb"), read_only=True) as con:
        mode = con.execute("select mode from audit.linkage_runs where night = $1", [SECOND]).fetchall()
    assert mode == [("incremental",)]


def test_unchanged_records_keep_their_person_id(incremental):
    """A beneficiary whose records did not change keeps the person id every report and payment refers to."""
    with duckdb.connect(str(incremental.home / "state" / "work.duckdb"), read_only=True) as con:
        moved = con.execute(
            """
            select b.record_key, b.person_id, t.person_id,
                   b.person_id in (select old_person_id from registry.person_id_history where night = $2) as recorded
            from linkage.record_person b
            join linkage.record_person t on t.record_key = b.record_key and t.night = $2
            where b.night = $1 and t.link_fingerprint = b.link_fingerprint and t.person_id <> b.person_id
            """,
            [FIRST, SECOND],
        ).fetchall()
        unchanged = con.execute(
            "select count(*) from linkage.record_person b join linkage.record_person t "
            "on t.record_key = b.record_key and t.night = $2 and t.link_fingerprint = b.link_fingerprint "
            "where b.night = $1",
            [FIRST, SECOND],
        ).fetchall()[0][0]
    # only a merge through a new record may retire an id, and every such change is in the history
    assert all(recorded for *_, recorded in moved)
    assert len(moved) <= 0.001 * unchanged


def test_incremental_agrees_with_a_full_relink(incremental, full):
    got = agreement(incremental, full)
    assert got.records == full.summary.records and got.only_left == got.only_right == 0
    assert got.pairwise_agreement >= 0.999
    assert got.identical_clusters >= 0.999
    # one cluster more or less in either run shifts the numbers of every new person id issued after it
    assert got.same_person_id >= 0.995


@dataclass
class Edits:
    new_key: str  # a new record: a copy of `new_of` with a first-name typo
    new_of: str
    fixed_key: str  # its surname typo fixed to its partner's surname
    fixed_partner: str
    moved_key: str  # now carries every linkage field of `moved_to` (a record of another person)
    moved_from: str  # another record of the person `moved_key` belonged to
    moved_to: str
    removed_key: str  # gone from staging


def edit_staging(home: Path) -> Edits:
    """Edit the second night's staged records in place; returns the records to follow."""
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        con.execute(
            """
            create temp table linked as
            select r.record_key, r.person_id, count(*) over (partition by r.person_id) as size, p.*
            from linkage.record_person r
            join staging.person_records p on p.source || ':' || p.source_record_id = r.record_key
            where r.night = $1 and r.flag is null
            """,
            [FIRST],
        )
        new_of, new_source, new_id = con.execute(
            "select record_key, source, source_record_id from linked "
            "where size >= 2 and national_id_valid and length(first_name) >= 4 order by record_key limit 1"
        ).fetchall()[0]
        fixed_key, fixed_partner, partner_last = con.execute(
            """
            select a.record_key, b.record_key, b.last_name from linked a
            join linked b on a.person_id = b.person_id and a.record_key <> b.record_key
            where a.size = 2 and a.last_name <> b.last_name and a.first_name = b.first_name
              and a.date_of_birth = b.date_of_birth and a.record_key <> $1 and b.record_key <> $1
            order by a.record_key limit 1
            """,
            [new_of],
        ).fetchall()[0]
        moved_key, moved_from = con.execute(
            """
            select a.record_key, b.record_key from linked a
            join linked b on a.person_id = b.person_id and a.record_key <> b.record_key
            where a.size >= 3 and a.record_key not in ($1, $2, $3) and b.record_key not in ($1, $2, $3)
            order by a.record_key, b.record_key limit 1
            """,
            [new_of, fixed_key, fixed_partner],
        ).fetchall()[0]
        moved_to = con.execute(
            """
            select record_key from linked
            where national_id_valid and size >= 2
              and person_id not in (select person_id from linked where record_key in ($1, $2, $3, $4))
            order by record_key desc limit 1
            """,
            [new_of, fixed_key, moved_key, fixed_partner],
        ).fetchall()[0][0]
        removed_key = con.execute(
            "select record_key from linked where size = 1 order by record_key limit 1"
        ).fetchall()[0][0]

        con.execute(
            """
            insert into staging.person_records
            select * replace ('NEW-' || source_record_id as source_record_id,
                              left(first_name, -2) || right(first_name, 1) || substr(first_name, -2, 1) as first_name)
            from staging.person_records where source = $1 and source_record_id = $2
            """,
            [new_source, new_id],
        )
        con.execute(
            "update staging.person_records set last_name = $1 where source || ':' || source_record_id = $2",
            [partner_last, fixed_key],
        )
        assignments = ", ".join(f"{f} = q.{f}" for f in LINK_FIELDS)
        con.execute(
            f"""
            update staging.person_records p set {assignments}
            from staging.person_records q
            where p.source || ':' || p.source_record_id = $1 and q.source || ':' || q.source_record_id = $2
            """,
            [moved_key, moved_to],
        )
        con.execute(
            "delete from staging.person_records where source || ':' || source_record_id = $1", [removed_key]
        )
    return Edits(
        new_key=f"{new_source}:NEW-{new_id}",
        new_of=new_of,
        fixed_key=fixed_key,
        fixed_partner=fixed_partner,
        moved_key=moved_key,
        moved_from=moved_from,
        moved_to=moved_to,
        removed_key=removed_key,
    )


@pytest.fixture(scope="module")
def edited(country: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Edits, Night, Night]:
    """The same hand edits, linked incrementally and in full."""
    root = tmp_path_factory.mktemp("edited")
    nights = []
    for mode in ("incremental", "full"):
        home = copy_home(country, root / mode)
        edits = edit_staging(home)
        nights.append(link_second(home, LinkageConfig(mode=mode, **QUICK)))  # type: ignore[arg-type]
    return edits, nights[0], nights[1]


def test_edits_are_detected_as_new_changed_and_removed(edited, incremental):
    _, night, _ = edited
    natural = incremental.summary.changes
    assert night.summary.mode == "incremental"
    assert night.summary.changes is not None and natural is not None
    assert night.summary.changes.new == natural.new + 1
    assert night.summary.changes.changed == natural.changed + 2
    assert night.summary.changes.removed == 1


def test_a_new_record_of_an_existing_person_joins_their_id(edited):
    edits, night, _ = edited
    links = night.links()
    assert links[edits.new_key] == night.links(FIRST)[edits.new_of] == links[edits.new_of]


def test_a_changed_record_stays_or_moves_as_its_new_fields_say(edited):
    """A typo fixed keeps the record with its person; a record now describing someone else moves to them."""
    edits, night, _ = edited
    before, links = night.links(FIRST), night.links()
    assert links[edits.fixed_key] == links[edits.fixed_partner] == before[edits.fixed_key]
    assert links[edits.moved_key] == links[edits.moved_to] == before[edits.moved_to]
    assert links[edits.moved_from] == before[edits.moved_from] != links[edits.moved_key]


def test_a_record_gone_from_staging_drops_out_of_the_links(edited):
    edits, night, _ = edited
    assert edits.removed_key in night.links(FIRST)
    assert edits.removed_key not in night.links()


def test_the_link_input_kept_between_nights_is_the_one_made_afresh(edited):
    """linkage.link_input keeps last night's rows and derives again only new and changed records:
    after the edited night it holds exactly what a derivation of every staged record gives."""
    edits, night, _ = edited
    with duckdb.connect(str(night.home / "state" / "work.duckdb")) as con:
        register_functions(con)
        kept = con.execute("select * from linkage.link_input order by record_key").fetchall()
        con.execute("drop table linkage.link_input_state")  # as after a change in how rows are made
        prepare_input(con, extra_fields(night.home))
        afresh = con.execute("select * from linkage.link_input order by record_key").fetchall()
        keys = {row[0] for row in con.execute("select record_key from _link_input").fetchall()}
    assert len(kept) == len(afresh) > 1000
    assert kept == afresh
    assert edits.new_key in keys and edits.removed_key not in keys


def test_edited_night_agrees_with_a_full_relink(edited):
    _, night, full_night = edited
    assert full_night.summary.mode == "full"
    got = agreement(night, full_night)
    assert got.only_left == got.only_right == 0
    assert got.pairwise_agreement >= 0.999 and got.same_person_id >= 0.999


MODE_CASES = [
    # (description, config, night, share of records changed, expected mode)
    (
        "auto on an ordinary day runs incremental",
        {"full_relink_weekday": "monday"},
        SECOND,
        0.01,
        "incremental",
    ),
    ("auto on the weekly full day re-links in full", {}, SECOND, 0.01, "full"),
    ("auto with no weekly day never forces full", {"full_relink_weekday": None}, SECOND, 0.01, "incremental"),
    ("auto re-links in full when many records changed", {"full_relink_weekday": None}, SECOND, 0.3, "full"),
    (
        "mode: full always re-links in full",
        {"mode": "full", "full_relink_weekday": None},
        SECOND,
        0.01,
        "full",
    ),
    (
        "mode: incremental ignores the weekly day and the share",
        {"mode": "incremental"},
        SECOND,
        0.5,
        "incremental",
    ),
    (
        "retrain forces full, even when incremental is asked",
        {"mode": "incremental", "retrain": True},
        SECOND,
        0.01,
        "full",
    ),
]


@pytest.mark.parametrize(("description", "settings", "night", "share", "expected"), MODE_CASES)
def test_choose_mode(country, description, settings, night, share, expected):
    with duckdb.connect(str(country / "state" / "work.duckdb"), read_only=True) as con:
        changes = RecordChanges(FIRST, records=1000, new=int(share * 1000), changed=0, removed=0)
        decision = choose_mode(con, night, LinkageConfig(**settings), latest_model(country, night), changes)
    assert decision.mode == expected, f"{description}: {decision.reason}"


def test_incremental_falls_back_to_full_when_impossible(country, tmp_path):
    """Without a saved model, or when the model changed since the previous night, there is nothing to carry over."""
    changes = RecordChanges(FIRST, records=1000, new=10, changed=0, removed=0)
    config = LinkageConfig(mode="incremental")
    with duckdb.connect(str(country / "state" / "work.duckdb"), read_only=True) as con:
        assert choose_mode(con, SECOND, config, None, changes).reason == "no saved model"
        no_previous = RecordChanges(None, records=1000, new=1000, changed=0, removed=0)
        assert choose_mode(con, FIRST, config, latest_model(country, SECOND), no_previous).mode == "full"
    other = tmp_path / "model.json"
    other.write_text(latest_model(country, SECOND).read_text() + "\n")  # type: ignore[union-attr]
    with duckdb.connect(str(country / "state" / "work.duckdb"), read_only=True) as con:
        decision = choose_mode(con, SECOND, config, other, changes)
    assert decision.mode == "full" and "model changed" in decision.reason


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mode", "sometimes", "'mode': got 'sometimes'; allowed: auto, full, incremental"),
        ("full_relink_weekday", "sundays", "'full_relink_weekday': got 'sundays'; allowed: monday"),
        ("max_changed_share", 2, "'max_changed_share': got 2"),
    ],
)
def test_linkage_yaml_rejects_bad_mode_settings(tmp_path, key, value, message):
    (tmp_path / "linkage.yaml").write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        LinkageConfig.load(tmp_path)


AGREEMENT_CASES = [
    # (description, left assignment, right assignment, pairwise agreement, identical clusters, same person id)
    ("identical", {"a": "P1", "b": "P1", "c": "P2"}, {"a": "P1", "b": "P1", "c": "P2"}, 1.0, 1.0, 1.0),
    (
        "same clusters, other ids",
        {"a": "P1", "b": "P1", "c": "P2"},
        {"a": "P7", "b": "P7", "c": "P8"},
        1.0,
        1.0,
        0.0,
    ),
    # left pairs ab, ac, bc; right pair ab: 1 of 3 agree; only d's cluster ({d}) is the same
    (
        "a merge",
        {"a": "P1", "b": "P1", "c": "P1", "d": "P4"},
        {"a": "P1", "b": "P1", "c": "P3", "d": "P4"},
        1 / 3,
        0.25,
        0.75,
    ),
    ("all singletons", {"a": "P1", "b": "P2"}, {"a": "P1", "b": "P2"}, 1.0, 1.0, 1.0),
]


@pytest.mark.parametrize(
    ("description", "left", "right", "pairwise", "identical", "same_id"), AGREEMENT_CASES
)
def test_compare_assignments(con, description, left, right, pairwise, identical, same_id):
    for name, rows in (("l", left), ("r", right)):
        con.execute(f"create table {name} (record_key varchar, person_id varchar)")
        con.executemany(f"insert into {name} values (?, ?)", list(rows.items()))
    got = compare_assignments(con, "select * from l", "select * from r")
    assert (got.pairwise_agreement, got.identical_clusters, got.same_person_id) == pytest.approx(
        (pairwise, identical, same_id)
    ), description


def _record_person(night: Night) -> dict[str, tuple[object, ...]]:
    with duckdb.connect(str(night.home / "state" / "work.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select record_key, person_id, flag, round(match_probability, 9) from linkage.record_person "
            "where night = $1",
            [SECOND],
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


@pytest.fixture(scope="module")
def edited_clustering_everything(country: Path, tmp_path_factory: pytest.TempPathFactory) -> Night:
    """The edited night, incremental, but with the first night's clustering settings unknown: every record is clustered."""
    home = copy_home(country, tmp_path_factory.mktemp("edited_all") / "home")
    edit_staging(home)
    with duckdb.connect(str(home / "state" / "work.duckdb")) as con:
        con.execute(
            "update audit.linkage_runs set details = json_merge_patch(details, '{\"cluster_settings\": null}') "
            "where night = $1",
            [FIRST],
        )
    return link_second(home, LinkageConfig(mode="incremental", **QUICK))  # type: ignore[arg-type]


def test_clustering_only_what_can_have_changed_gives_the_same_persons(edited, edited_clustering_everything):
    """Re-clustering only the components the edits reach gives every record the person, flag and strength that
    clustering every record gives (both score the same new and changed records)."""
    _, scoped, _ = edited
    everything = edited_clustering_everything
    assert 0 < scoped.summary.records_clustered < scoped.summary.records / 2
    assert everything.summary.records_clustered == everything.summary.records
    assert _record_person(scoped) == _record_person(everything)
    assert scoped.summary.persons == everything.summary.persons
    assert scoped.summary.flagged_clusters == everything.summary.flagged_clusters
    assert scoped.summary.review_queue == everything.summary.review_queue


def test_a_new_review_decision_clusters_every_record_again(country: Path, tmp_path: Path):
    """A decision can join or part persons anywhere: the night after one is written clusters everyone."""
    home = copy_home(country, tmp_path / "home")
    with duckdb.connect(str(home / "state" / "work.duckdb"), read_only=True) as con:
        (l_source, l_id), (r_source, r_id) = con.execute(
            "select source, source_record_id from linkage.record_person where night = $1 order by record_key limit 2",
            [FIRST],
        ).fetchall()
    (home / "reviews").mkdir()
    (home / "reviews" / "decisions.csv").write_text(
        "source_l,source_record_id_l,source_r,source_record_id_r,decision,reviewer,note\n"
        f"{l_source},{l_id},{r_source},{r_id},cannot_link,tester,\n",
        encoding="utf-8",
    )
    night = link_second(home, LinkageConfig(mode="incremental", **QUICK))  # type: ignore[arg-type]
    assert night.summary.mode == "incremental"
    assert night.summary.records_clustered == night.summary.records
