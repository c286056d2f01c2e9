"""The home's files: drop entries opened without following links, private modes, and who can read what.

Everything under `<home>` is private to its owner (umask 077: folders 0700, files 0600) except what
is meant for analysts: the de-identified warehouse, its Parquet files and their data dictionary,
which `share_with_group` makes 0640 (folders on the way 0750). `world_readable` lists what another
local user could read, for the warning `ibr` prints at start.

Landing reads a drop only through `DropFolder`: every folder from the home down to
`drops/<source>/<night>` is opened with `O_NOFOLLOW | O_DIRECTORY`, each file relative to its folder
with `O_NOFOLLOW`, and kept open while it is hashed, checked and read: a symbolic link anywhere on the
way, or a path swapped for one while landing runs, is never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_FILE = 0o600
SHARED_FILE = 0o640
SHARED_FOLDER = 0o750

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def private_umask() -> None:
    """Make everything this process creates private to its owner (called at `ibr` start and in the definitions)."""
    os.umask(PRIVATE_UMASK)


def make_private(path: Path) -> None:
    """0600 for a file, 0700 for a folder (a copy or a rename can carry another mode with it)."""
    os.chmod(path, 0o700 if path.is_dir() else PRIVATE_FILE, follow_symlinks=False)


def share_with_group(home: Path, paths: list[Path]) -> None:
    """Make `paths` (inside `home`) readable by the owner's group: files 0640, folders and every folder
    from `home` down to them 0750. Only what is meant for analysts goes through here."""
    home = home.resolve()
    for path in paths:
        if path.is_symlink():
            continue
        absolute = path.resolve()
        if home != absolute and home not in absolute.parents:
            raise ValueError(f"{path} is not inside the home {home}: not shared")
        os.chmod(absolute, SHARED_FOLDER if absolute.is_dir() else SHARED_FILE)
        for parent in absolute.parents:
            if home not in parent.parents and parent != home:
                break
            os.chmod(parent, SHARED_FOLDER)
            if parent == home:
                break


def world_readable(home: Path, limit: int = 20) -> tuple[list[Path], int]:
    """The home and the paths in it that other local users can read (folders: read or enter), links not
    followed; at most `limit` paths, and how many there are in all."""
    found: list[Path] = []
    total = 0

    def note(path: Path, mode: int) -> None:
        nonlocal total
        others = mode & (stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0))
        if others and not stat.S_ISLNK(mode):
            total += 1
            if len(found) < limit:
                found.append(path)

    try:
        note(home, home.lstat().st_mode)
    except OSError:
        return found, total
    for folder, dirs, files in os.walk(home):  # os.walk does not descend into linked folders
        for name in [*dirs, *files]:
            path = Path(folder) / name
            with contextlib.suppress(OSError):
                note(path, path.lstat().st_mode)
    return found, total


class NotAFolder(Exception):
    """A folder on the way to a drop is a link or not a folder; the message names it (never its content)."""


@dataclass(frozen=True)
class Entry:
    """One name in a drop folder: a regular file, or something landing must not read (`problem`)."""

    name: str
    problem: str | None
    size: int


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a sub-folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


class DropFolder:
    """One drop folder, opened from the home without following any link; use as a context manager.

    with DropFolder(home, ["drops", "pension", "2026-02-01"]) as folder:
        for entry in folder.entries():
            with folder.open(entry.name) as opened:
                ... opened.path  # a path to the opened file itself (/proc/self/fd/N)
    """

    def __init__(self, home: Path, parts: list[str]) -> None:
        self.home = home
        self.parts = parts
        self.fd: int | None = None

    def __enter__(self) -> DropFolder:
        fd = os.open(self.home, _DIR_FLAGS)
        try:
            for depth, part in enumerate(self.parts):
                shown = "/".join(self.parts[: depth + 1])
                mode = os.lstat(part, dir_fd=fd).st_mode  # FileNotFoundError: no drop, nothing to land
                if not stat.S_ISDIR(mode):
                    raise NotAFolder(
                        f"{shown} is {_kind(mode)}, not a folder: landing follows no link and reads nothing through it"
                    )
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:  # swapped for a link since the lstat
                    raise NotAFolder(
                        f"{shown} could not be opened as a folder without following a link"
                    ) from exc
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def entries(self) -> list[Entry]:
        """Every name in the folder except dot- and underscore-names (manifests such as `_READY`), sorted."""
        assert self.fd is not None
        found = []
        with os.scandir(self.fd) as scan:
            for item in scan:
                if item.name.startswith((".", "_")):
                    continue
                info = item.stat(follow_symlinks=False)
                problem = None if stat.S_ISREG(info.st_mode) else _kind(info.st_mode)
                found.append(Entry(item.name, problem, info.st_size if problem is None else 0))
        return sorted(found, key=lambda e: e.name)

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[OpenedFile]:
        """Open a regular file of this folder without following a link; the file stays open until the end."""
        assert self.fd is not None
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            raise NotAFolder(f"{name} could not be opened without following a link") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise NotAFolder(f"{name} is {_kind(info.st_mode)}, not a regular file")
            os.set_blocking(fd, True)
            yield OpenedFile(fd, info.st_size)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class OpenedFile:
    fd: int
    size: int

    @property
    def path(self) -> str:
        """A path that names this open file itself, for readers that take a path (DuckDB, pyarrow)."""
        return f"/proc/self/fd/{self.fd}" if os.path.isdir("/proc/self/fd") else f"/dev/fd/{self.fd}"


__all__ = [
    "DropFolder",
    "Entry",
    "NotAFolder",
    "OpenedFile",
    "make_private",
    "private_umask",
    "share_with_group",
    "world_readable",
]
