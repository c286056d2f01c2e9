"""`ibr backup` / `ibr restore`: the whole state of a deployment in one file, and back.

The backup is an uncompressed tar of the home (DuckDB files compress little and a tar streams
to tape or object storage as is) with a manifest, `BACKUP.json`: the SHA-256 of every file, the
night published when it was taken. It holds the working database (`state/work.duckdb`: raw,
staging, linkage history, audit, person ids), the published warehouse, `models/`, `reviews/`,
the configuration (`sources/`, `programmes.yaml`, `country.yaml`, `linkage.yaml`,
`checks.yaml`, `retention.yaml`, `reference/`), `reports/`, `quarantine/` and, unless
`--no-drops`, `drops/` (the only copy of the input). Left out: Dagster's run history
(`dagster/`), DuckDB spill files, and the pseudonymisation key (`secrets/`) unless
`--with-secrets`: back the key up separately (docs/security.md).

Both run under the home's night lock and only when no Dagster run is unfinished, so a backup
never holds half a night. The archive is written as `<path>.partial` and renamed when complete
(mode 0600). A restore unpacks into a folder beside the home, checks every file against the
manifest, makes every folder 0700 and every file 0600, and only then puts it in the home's place
(an existing home is kept aside as `<home>.before-restore-<time>`); the next publish shares the
analysts' files with their group again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "BACKUP.json"
FORMAT = 1
# relative to the home: never in a backup (Dagster's own history, spill files, the lock, compaction scratch)
LEFT_OUT = {"dagster", "state/spill", "state/night.lock"}


@dataclass
class BackupSummary:
    path: Path
    files: int
    bytes: int
    published: dict[str, object] | None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _members(home: Path, with_secrets: bool, with_drops: bool) -> list[Path]:
    """Every path to archive, relative to the home, parents before children; links are not followed."""
    left_out = set(LEFT_OUT)
    if not with_secrets:
        left_out.add("secrets")
    if not with_drops:
        left_out.add("drops")
    found: list[Path] = []
    for root, dirs, files in os.walk(home):
        rel_root = Path(root).relative_to(home)
        keep_dirs = []
        for name in sorted(dirs):
            rel = rel_root / name
            if rel.as_posix() in left_out:
                continue
            found.append(rel)
            if not (home / rel).is_symlink():
                keep_dirs.append(name)
        dirs[:] = keep_dirs
        for name in sorted(files):
            rel = rel_root / name
            if rel.as_posix() in left_out or name.endswith((".compact", ".partial")):
                continue
            found.append(rel)
    return found


def backup(home: Path, target: Path, with_secrets: bool = False, with_drops: bool = True) -> BackupSummary:
    """Write the home's state to `target` (a tar). Call it under `night_lock` with no night unfinished."""
    if not (home / "state" / "work.duckdb").is_file():
        raise ValueError(f"{home}: no state/work.duckdb: nothing to back up (is this the home?)")
    target = target.resolve()
    if target == home or home in target.parents:
        raise ValueError(f"{target}: inside the home; write the backup elsewhere")
    partial = target.with_name(target.name + ".partial")
    published_path = home / "warehouse" / "published.json"
    published = json.loads(published_path.read_text(encoding="utf-8")) if published_path.is_file() else None
    hashes: dict[str, str] = {}
    size = 0
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _members(home, with_secrets, with_drops):
            path = home / rel
            if path.is_file() and not path.is_symlink():
                hashes[rel.as_posix()] = _sha256(path)
                size += path.stat().st_size
            tar.add(path, arcname=rel.as_posix(), recursive=False)
        manifest = json.dumps(
            {
                "format": FORMAT,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "published": published,
                "with_secrets": with_secrets,
                "with_drops": with_drops,
                "files": hashes,
            },
            indent=1,
            sort_keys=True,
        ).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(manifest), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(manifest))
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, target)
    return BackupSummary(target, len(hashes), size, published)


def restore(archive: Path, home: Path, force: bool = False) -> Path | None:
    """Put the backup `archive` in the home's place; returns where the previous home was kept, if any.

    Refuses a home that holds state unless `force`. Call it under the home's `night_lock` when the
    home exists.
    """
    home = home.resolve()
    if _holds_state(home) and not force:
        raise ValueError(
            f"{home} holds a deployment (state/work.duckdb); restore with --force to put it aside "
            f"as {home.name}.before-restore-<time> first"
        )
    staging = home.with_name(f".{home.name}.restoring")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(mode=0o700, parents=True)
    try:
        with tarfile.open(archive, mode="r:") as tar:
            tar.extractall(staging, filter="data")
        manifest_path = staging / MANIFEST
        if not manifest_path.is_file():
            raise ValueError(f"{archive}: not an ibr backup ({MANIFEST} missing)")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{archive}: backup format {manifest.get('format')!r}; this ibr reads {FORMAT}")
        for rel, expected in manifest["files"].items():
            path = staging / rel
            if not path.is_file() or _sha256(path) != expected:
                raise ValueError(
                    f"{archive}: {rel} is missing or damaged (SHA-256 differs from the manifest)"
                )
        manifest_path.unlink()
        _make_private(staging)
        aside = None
        if home.exists():
            if any(home.iterdir()):
                aside = home.with_name(f"{home.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
                os.replace(home, aside)
            else:
                home.rmdir()
        os.replace(staging, home)
        return aside
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _holds_state(home: Path) -> bool:
    return (home / "state" / "work.duckdb").exists()


def _make_private(root: Path) -> None:
    """Folders 0700, files 0600 (links are left as they are: their targets are inside)."""
    root.chmod(0o700)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o700)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o600)
