"""`ibr validate-sources`: a dry run a data team makes before a new source's first night.

It must tell what a night would do with each file (land, quarantine rows, reject the file and why)
and change nothing: no quarantine copy, no working database, no audit row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from synthetic import generate

NIGHT = "2026-02-01"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("country")
    generate(home, people=300, nights=1, seed=4)
    return home


def _snapshot(home: Path) -> set[tuple[str, int]]:
    return {(str(p.relative_to(home)), p.stat().st_size) for p in home.rglob("*") if p.is_file()}


def test_a_clean_drop_validates_and_nothing_is_written(home, capsys):
    before = _snapshot(home)
    assert main(["--home", str(home), "validate-sources"]) == 0
    out = capsys.readouterr().out
    assert f"night {NIGHT} (dry run" in out
    assert "old_age_pension/2026-02-01/oap_payroll_202601.csv: " in out
    assert " rejected" not in out
    assert _snapshot(home) == before
    assert not (home / "state").exists() and not (home / "quarantine").exists()


def test_a_file_that_would_be_rejected_is_named_with_its_reason(home, capsys, tmp_path):
    drop = home / "drops" / "old_age_pension" / NIGHT
    header, *rows = (drop / "oap_payroll_202601.csv").read_text(encoding="utf-8").splitlines()
    # a second file without the AMOUNT column, and a folder no contract names
    columns = header.split(",")
    keep = [i for i, c in enumerate(columns) if c != "AMOUNT"]
    broken = [",".join(columns[i] for i in keep)] + [
        ",".join(r.split(",")[i] for i in keep) for r in rows[:5]
    ]
    (drop / "oap_payroll_extra.csv").write_text("\n".join(broken) + "\n", encoding="utf-8")
    stray = home / "drops" / "pensoin" / NIGHT
    stray.mkdir(parents=True)
    (stray / "list.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    before = _snapshot(home)
    try:
        assert main(["--home", str(home), "validate-sources", "--date", NIGHT]) == 1
        captured = capsys.readouterr()
        assert "old_age_pension/2026-02-01/oap_payroll_extra.csv: rejected" in captured.out
        assert "AMOUNT" in captured.out
        assert "pensoin/2026-02-01/list.csv: rejected" in captured.out
        assert "2 file(s) would be rejected whole" in captured.err
        assert _snapshot(home) == before
        assert not (home / "quarantine").exists()
    finally:
        (drop / "oap_payroll_extra.csv").unlink()
        (stray / "list.csv").unlink()


def test_a_programme_missing_from_programmes_yaml_is_pointed_out(home, capsys):
    contract = home / "sources" / "school_meals.yaml"
    text = (home / "sources" / "old_age_pension.yaml").read_text(encoding="utf-8")
    contract.write_text(
        text.replace("name: old_age_pension", "name: school_meals").replace(
            "programme_id: old_age_pension", "programme_id: school_meals"
        ),
        encoding="utf-8",
    )
    try:
        assert main(["--home", str(home), "validate-sources"]) == 0
        out = capsys.readouterr().out
        assert "note: programme_id 'school_meals' is not in programmes.yaml" in out
        assert "programme_id 'old_age_pension'" not in out
    finally:
        contract.unlink()


def test_links_and_oversize_lines_are_named_without_reading_them(home, capsys, tmp_path):
    """validate-sources opens drops the way a night does: a link is named and not read, a 50 MB line is
    rejected in seconds naming the cap; no content is printed and nothing is written."""
    import time

    secret = tmp_path / "secret.csv"
    secret.write_text("ZZSECRET,ZZVALUE\n1,2\n", encoding="utf-8")
    drop = home / "drops" / "old_age_pension" / NIGHT
    (drop / "linked.csv").symlink_to(secret)
    (drop / "long.csv").write_bytes(b"ZZLONG" * (9 << 20))
    before = _snapshot(home)
    try:
        started = time.perf_counter()
        assert main(["--home", str(home), "validate-sources", "--date", NIGHT]) == 1
        assert time.perf_counter() - started < 30
        out = capsys.readouterr().out
        assert "old_age_pension/2026-02-01/linked.csv: rejected, 0 rows in" in out
        assert "a symbolic link, not a regular file" in out
        assert "old_age_pension/2026-02-01/long.csv: rejected" in out and "(IBR_MAX_LINE_BYTES)" in out
        assert "ZZSECRET" not in out and "ZZLONG" not in out
        assert _snapshot(home) == before
        assert not (home / "quarantine").exists()
    finally:
        (drop / "linked.csv").unlink()
        (drop / "long.csv").unlink()
