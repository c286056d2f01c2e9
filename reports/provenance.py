"""Who or what started a night, on which machine, with which code and configuration: for the auditor.

Plain functions (no Dagster): the publish asset passes in what Dagster knows (the run's tags), and
the rest is read from the machine, the checkout and the home. Nothing here is personal: a user name
is an operator's account, and configuration files are named by their hash.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# the configuration a night depends on, beside the drops (each hashed; "absent" means the defaults)
CONFIG_FILES = ("programmes.yaml", "checks.yaml", "linkage.yaml", "country.yaml", "reference/admin_areas.csv")


@dataclass(frozen=True)
class ReviewDecision:
    """One clerical decision that overrides the model: the pair, what was decided, by whom, from which file."""

    record_key_l: str
    record_key_r: str
    decision: str
    reviewer: str
    note: str
    file: str


@dataclass
class Provenance:
    started_by: str = ""
    user: str = ""
    host: str = ""
    code_changes: str = ""
    config: list[tuple[str, str]] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    match_threshold: str = ""
    model_file: str = ""
    reviews: list[ReviewDecision] = field(default_factory=list)
    review_error: str = ""


def started_by(tags: Mapping[str, str]) -> str:
    """What started a Dagster run, from its tags: a schedule, a sensor, a backfill, or a person.

    >>> started_by({"dagster/schedule_name": "nightly_schedule"})
    'schedule nightly_schedule'
    >>> started_by({"ibr/started_by": "ibr run --date 2026-03-01"})
    'ibr run --date 2026-03-01'
    """
    if tags.get("dagster/schedule_name"):
        return f"schedule {tags['dagster/schedule_name']}"
    if tags.get("dagster/sensor_name"):
        return f"sensor {tags['dagster/sensor_name']}"
    if tags.get("dagster/backfill"):
        return f"backfill {tags['dagster/backfill']}"
    if tags.get("ibr/started_by"):
        return tags["ibr/started_by"]
    if tags.get("user"):
        return f"launched by {tags['user']} (Dagster UI or CLI)"
    return "launched by hand (Dagster UI, dg launch or a test)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def uncommitted_changes(folder: Path) -> str:
    """Whether the code's checkout has uncommitted changes: "none", "N file(s): a, b, ...", or "unknown"."""
    if "site-packages" in folder.parts:
        return "unknown (an installed copy, not a checkout)"
    try:
        result = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"
    if result.returncode != 0:
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in result.stdout.splitlines() if line.strip()]
    if not changed:
        return "none"
    shown = ", ".join(changed[:8]) + (", ..." if len(changed) > 8 else "")
    return f"{len(changed)} file(s) changed since the commit: {shown}"


def review_decisions(folder: Path) -> list[ReviewDecision]:
    """Every decision of `<home>/reviews/*.csv` that is in force (a later file wins on a pair), with its reviewer."""
    decided: dict[tuple[str, str], ReviewDecision] = {}
    if not folder.is_dir():
        return []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                left = (
                    f"{(row.get('source_l') or '').strip()}:{(row.get('source_record_id_l') or '').strip()}"
                )
                right = (
                    f"{(row.get('source_r') or '').strip()}:{(row.get('source_record_id_r') or '').strip()}"
                )
                pair = (min(left, right), max(left, right))
                decided[pair] = ReviewDecision(
                    pair[0],
                    pair[1],
                    (row.get("decision") or "").strip(),
                    (row.get("reviewer") or "").strip() or "(not given)",
                    (row.get("note") or "").strip(),
                    path.name,
                )
    return [decided[p] for p in sorted(decided)]


def provenance(home: Path, code: Path, tags: Mapping[str, str] | None, model: Path | None) -> Provenance:
    """Everything the report's "Who ran it, with what" section shows; each part fails soft."""
    found = Provenance(
        started_by=started_by(tags) if tags is not None else "not recorded (report written outside a run)",
        user=_user(),
        host=socket.gethostname(),
        code_changes=uncommitted_changes(code),
    )
    for name in CONFIG_FILES:
        path = home / name
        found.config.append((name, sha256_of(path) if path.is_file() else "absent (defaults)"))
    sources = home / "sources"
    if sources.is_dir():
        found.sources = [(f"sources/{p.name}", sha256_of(p)) for p in sorted(sources.glob("*.yaml"))]
    if model is not None:
        meta = model.parent / "model_meta.json"
        found.model_file = f"{model.parent.name}/model.json (sha256 {sha256_of(model)[:16]}…)"
        if meta.is_file():
            try:
                threshold = json.loads(meta.read_text(encoding="utf-8")).get("match_threshold")
            except (OSError, ValueError):
                threshold = None
            found.match_threshold = (
                f"{threshold:.4f}" if isinstance(threshold, int | float) else "not recorded"
            )
    try:
        found.reviews = review_decisions(home / "reviews")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        found.review_error = f"reviews/ could not be read: {type(exc).__name__}"
    return found


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
