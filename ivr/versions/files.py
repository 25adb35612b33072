"""Which files make up the assistant's design, and how they are checked, copied and compared.

A design is what a designer may change without Python: the domain (responses, forms, slots),
the pipeline and policies, the training data, the FAQ knowledge files and the prompts recorded by a
voice talent (``dialogue/recordings/``: WAV files and the index saying which response each
says, see ``ivr.versions.recordings``: the only folder that may hold anything but YAML). Paths
inside a design
are relative POSIX paths; every path that comes from a request or a version folder is checked
against this list before it is joined to a directory, so ``../`` or an absolute path never
reaches the file system.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dialogue.training import CONFIG, DOMAIN, TRAINING_DIRS

KNOWLEDGE_DIR = "data/knowledge"
DESIGN_FILES = (DOMAIN, CONFIG)
DESIGN_DIRS = (*TRAINING_DIRS, KNOWLEDGE_DIR)
SUFFIXES = (".yml",)
RECORDINGS_DIR = "dialogue/recordings"
RECORDINGS_INDEX = f"{RECORDINGS_DIR}/index.yml"
RECORDING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.wav")
"""A recorded prompt's file name, directly in ``RECORDINGS_DIR``."""
MAX_FILE_BYTES = 2 * 1024 * 1024
"""A design file larger than this is refused: the shipped domain is about 40 kB."""
MAX_FILES = 500


class DesignPathError(ValueError):
    """A path that is not one of a design's files."""


def check_path(relative: str) -> str:
    """``relative`` as a design path, or :class:`DesignPathError`."""
    path = PurePosixPath(relative)
    if (
        not relative
        or path.is_absolute()
        or any(part in ("", ".", "..") or part.startswith(".") for part in path.parts)
        or "\\" in relative
    ):
        raise DesignPathError(f"not a design file: {relative!r}")
    text = path.as_posix()
    if text in DESIGN_FILES or text == RECORDINGS_INDEX or is_recording(text):
        return text
    if path.suffix in SUFFIXES and any(text.startswith(f"{folder}/") for folder in DESIGN_DIRS):
        return text
    raise DesignPathError(f"not a design file: {relative!r}")


def is_recording(relative: str) -> bool:
    """Whether ``relative`` names a recorded prompt's WAV (the only audio a design holds)."""
    folder, _, name = relative.rpartition("/")
    return folder == RECORDINGS_DIR and RECORDING_NAME.fullmatch(name) is not None


def design_files(root: Path) -> list[str]:
    """The design files under ``root``, sorted: every regular file (symbolic links are neither
    followed nor listed) whose path :func:`check_path` takes."""
    candidates = [root / name for name in DESIGN_FILES]
    for folder in (RECORDINGS_DIR, *DESIGN_DIRS):
        if (root / folder).is_dir():
            candidates += (root / folder).rglob("*")
    found = sorted(
        {
            path.relative_to(root).as_posix()
            for path in candidates
            if _regular(path) and _is_design(path.relative_to(root).as_posix())
        }
    )
    if len(found) > MAX_FILES:
        raise DesignPathError(f"{root} holds {len(found)} design files (at most {MAX_FILES})")
    return found


def _is_design(relative: str) -> bool:
    try:
        check_path(relative)
    except DesignPathError:
        return False
    return True


def file_digest(path: Path) -> str:
    """The revision of one file: a short SHA-256 of its bytes; "" when it does not exist."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        return ""


Stamp = tuple[int, int] | None
"""A file's modification time (ns) and size; None when it does not exist."""


def file_stamp(path: Path) -> Stamp:
    """What tells a watcher cheaply that ``path`` changed (a stat, no read)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size


def digests(root: Path) -> dict[str, str]:
    """Every design file under ``root`` with its revision."""
    return {name: file_digest(root / name) for name in design_files(root)}


@dataclass(frozen=True)
class Change:
    """A design file that differs between two designs."""

    path: str
    status: str
    """added, modified or deleted."""


def changed_files(before: Path | None, after: Path) -> list[Change]:
    """What ``after`` changes against ``before`` (None: a design with no files)."""
    old = digests(before) if before is not None else {}
    new = digests(after)
    changed = [
        Change(name, "modified" if name in old else "added")
        for name, digest in new.items()
        if old.get(name) != digest
    ]
    changed += [Change(name, "deleted") for name in old if name not in new]
    return sorted(changed, key=lambda change: change.path)


def content_fingerprint(root: Path) -> str:
    """One SHA-256 over every design file's path and content: what a test report vouches for."""
    digest = hashlib.sha256()
    for name in design_files(root):
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


def copy_design(source: Path, target: Path) -> None:
    """Copy the design files of ``source`` into ``target`` (which holds no design files yet)."""
    for name in design_files(source):
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, destination)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One writer at a time in ``folder``, across processes (the console, ``ivr versions``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
