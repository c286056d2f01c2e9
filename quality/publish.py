"""Atomic publication of a database file: copy beside the target, fsync, rename over it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def publish_copy(source: Path, target: Path) -> int:
    """Replace `target` with a copy of `source` in one rename; returns the size in bytes.

    A reader holding the old file open keeps reading the old inode; a crash before the
    rename leaves the old file in place. The file is made readable by its owner only:
    the restricted warehouse holds personal data.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.publishing")
    shutil.copyfile(source, staging)
    os.chmod(staging, 0o600)
    with staging.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return target.stat().st_size
