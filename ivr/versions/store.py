"""Numbered, immutable versions of the assistant's design, and which one the bot runs.

On disk, under ``design.dir`` (``var/design`` by default)::

    versions/0007/version.json      number, author, message, parent, fingerprints, test summary
    versions/0007/dialogue/...       the design files exactly as published (ivr.versions.files)
    versions/0007/data/...
    versions/0007/models/dialogue.tar.gz   the model trained from them
    published.json                  the version the bots run, who made it so and when
    history.jsonl                   every publish and roll-back, one JSON line each

One plain folder per version, rather than a git-style history: a version is read by the bot,
by ``diff -r`` and by a person with nothing but a shell; the model (tens of megabytes) is the
bulk of each version and would not shrink in git; and removing an old version is removing a
folder. A version is written to a hidden folder and renamed into place, so a crash never leaves
half a version, and its files are made read-only. ``published.json`` is replaced atomically:
a bot watching it (``ivr.versions.live``) sees the old version or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from dialogue.training import Project, saved_fingerprint
from ivr.versions.files import content_fingerprint, copy_design, folder_lock, write_atomic

MODEL_DIR = "models"
MODEL_NAME = "dialogue"
META = "version.json"
PUBLISHED = "published.json"
HISTORY = "history.jsonl"
MAX_MESSAGE = 500
MAX_HISTORY = 10_000
"""Lines of ``history.jsonl`` kept: years of publishing, a few megabytes at most."""


class VersionError(Exception):
    """A version that does not exist, or a request the store cannot carry out."""


@dataclass(frozen=True)
class Version:
    """One published design: its files, its model and who made it."""

    number: int
    path: Path
    author: str
    message: str
    created_at: float
    parent: int | None
    fingerprint: str
    """:func:`ivr.versions.files.content_fingerprint` of its design files."""
    model_fingerprint: str
    tests: dict[str, Any] | None = None
    """The summary of the draft's test run it was made from (None: no run recorded)."""
    override: str = ""
    """Who published it although its tests had not passed (an admin), else empty."""

    @property
    def name(self) -> str:
        return f"{self.number:04d}"

    def project(self) -> Project:
        """The version as a Rasa project (its domain, data and model)."""
        return Project(root=self.path, model_dir=self.path / MODEL_DIR, model_name=MODEL_NAME)

    def meta(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        return data


@dataclass(frozen=True)
class Publication:
    """A version being made the one the bots run."""

    version: int
    by: str
    at: float
    action: str = "publish"
    """publish, rollback or override."""
    previous: int | None = None

    @property
    def detail(self) -> str:
        """What the audit log says of it: the version it replaced."""
        return f"from version {self.previous}" if self.previous is not None else ""


@dataclass
class VersionStore:
    """The versions folder and the published pointer under ``root``.

    The newest ``keep`` versions and the published one are kept (each holds a model of about
    20 MB): making one more removes older ones, so any of the last ``keep`` can be rolled back to.
    """

    root: Path
    keep: int = 100
    _cache: dict[int, Version] = field(default_factory=dict, repr=False)

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def all(self) -> list[Version]:
        """Every version, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        numbers = sorted(
            int(entry.name)
            for entry in self.versions_dir.iterdir()
            if entry.name.isdigit() and (entry / META).is_file()
        )
        return [self.get(number) for number in numbers]

    def get(self, number: int) -> Version:
        """Version ``number``, or :class:`VersionError`."""
        if number in self._cache:
            return self._cache[number]
        path = self.versions_dir / f"{number:04d}"
        try:
            data = json.loads((path / META).read_text())
        except (OSError, ValueError) as exc:
            raise VersionError(f"there is no version {number}") from exc
        version = Version(path=path, **{key: data[key] for key in _meta_keys() if key in data})
        self._cache[number] = version
        return version

    def latest(self) -> Version | None:
        versions = self.all()
        return versions[-1] if versions else None

    def create(
        self,
        source: Project,
        *,
        author: str,
        message: str,
        parent: int | None,
        tests: dict[str, Any] | None = None,
        override: str = "",
    ) -> Version:
        """A new version holding ``source``'s design files and its trained model."""
        message = " ".join(message.split())[:MAX_MESSAGE]
        if not message:
            raise VersionError("a version needs a message saying what changed")
        model_fingerprint = saved_fingerprint(source)
        if not source.model_path.is_file() or model_fingerprint is None:
            raise VersionError(f"{source.root} has no trained model: test the draft first")
        with self._locked():
            latest = self.latest()
            number = (latest.number + 1) if latest else 1
            staging = self.versions_dir / f".new-{number:04d}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            try:
                copy_design(source.root, staging)
                models = staging / MODEL_DIR
                models.mkdir()
                shutil.copyfile(source.model_path, models / f"{MODEL_NAME}.tar.gz")
                shutil.copyfile(source.fingerprint_path, models / f"{MODEL_NAME}.fingerprint.json")
                version = Version(
                    number=number,
                    path=self.versions_dir / f"{number:04d}",
                    author=author,
                    message=message,
                    created_at=time.time(),
                    parent=parent,
                    fingerprint=content_fingerprint(staging),
                    model_fingerprint=model_fingerprint,
                    tests=tests,
                    override=override,
                )
                (staging / META).write_text(json.dumps(version.meta(), indent=2) + "\n")
                _make_read_only(staging)
                staging.rename(version.path)
            except BaseException:
                _remove(staging)
                raise
            self._prune()
        return version

    def published(self) -> Publication | None:
        """What the bots run now; None before the first publish (they run the project files)."""
        try:
            data = json.loads((self.root / PUBLISHED).read_text())
            return Publication(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise VersionError(f"{self.root / PUBLISHED} is unreadable: {exc}") from exc

    def published_version(self) -> Version | None:
        publication = self.published()
        return self.get(publication.version) if publication else None

    def publish(self, number: int, *, by: str, action: str = "publish") -> Publication:
        """Make version ``number`` the one every bot watching this store runs."""
        with self._locked():
            return self._publish(number, by, action)

    def roll_back(self, number: int, *, by: str) -> Publication:
        """Publish the earlier version ``number`` again; refused when it is the published one."""
        with self._locked():
            current = self.published()
            if current is not None and current.version == number:
                raise VersionError(f"version {number} is already published")
            return self._publish(number, by, "rollback")

    def _publish(self, number: int, by: str, action: str) -> Publication:
        """Move the pointer and note it in the history (the store's lock held)."""
        if not self.get(number).project().model_path.is_file():
            raise VersionError(f"version {number} has lost its model: it cannot be published")
        current = self.published()
        publication = Publication(
            version=number,
            by=by,
            at=time.time(),
            action=action,
            previous=current.version if current else None,
        )
        line = json.dumps(asdict(publication))
        write_atomic(self.root / PUBLISHED, (line + "\n").encode())
        self._append_history(line)
        return publication

    def history(self, limit: int = 200) -> list[Publication]:
        """The latest ``limit`` publishes and roll-backs, newest first."""
        try:
            lines = (self.root / HISTORY).read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in reversed(lines[-limit:]):
            try:
                entries.append(Publication(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        return entries

    def _append_history(self, line: str) -> None:
        """Add a line; past ``MAX_HISTORY`` lines the oldest half is dropped (under the lock)."""
        path = self.root / HISTORY
        with open(path, "a", encoding="utf-8") as history:
            history.write(line + "\n")
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if len(lines) > MAX_HISTORY:
            write_atomic(path, "".join(lines[-MAX_HISTORY // 2 :]).encode())

    def _prune(self) -> None:
        """Remove the versions older than the newest ``keep``, never the published one."""
        published = self.published()
        versions = self.all()
        for version in versions[: -self.keep]:
            if published is None or version.number != published.version:
                self._cache.pop(version.number, None)
                _remove(version.path)

    def _locked(self) -> AbstractContextManager[None]:
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        return folder_lock(self.root)


def _meta_keys() -> list[str]:
    """What ``version.json`` holds: every field of :class:`Version` but its folder."""
    return [item.name for item in fields(Version) if item.name != "path"]


def _make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _remove(folder: Path) -> None:
    """Delete a (read-only) version folder."""
    for path in [folder, *folder.rglob("*")] if folder.exists() else []:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(folder, ignore_errors=True)
