"""The shared draft: where every designer's edits go before they are tested and published.

The draft is a folder with the project's layout (``design.dir``/draft), made from the published
version (or, before the first publish, from the project's own files, which then become version
1 so a roll-back can always return to them). Its model is copied along, so a draft that changes
only the FAQ knowledge needs no training.

Two designers may edit at once. Every edit says which revision of the file it was made on (the
file's digest when the page was shown, see :func:`ivr.versions.files.file_digest`), or changes
the file through a function that checks the part it edits is still what the designer saw; a
file that changed meanwhile raises :class:`DraftConflict` instead of being overwritten, and the
page shows both. Edits are serialised by a lock that holds across processes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import yaml

from dialogue.training import Project, is_stale
from ivr.versions.files import (
    MAX_FILE_BYTES,
    Change,
    changed_files,
    check_path,
    content_fingerprint,
    copy_design,
    design_files,
    file_digest,
    folder_lock,
    is_recording,
    write_atomic,
)
from ivr.versions.store import MODEL_DIR, MODEL_NAME, Version, VersionError, VersionStore

STATE = "draft.json"
TEST_REPORT = "test-report.json"
SHIPPED_MESSAGE = "The project's files as shipped"


class DraftConflict(Exception):
    """The file changed since the designer saw it: their edit would overwrite someone else's."""

    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(
            f"{path} was changed by someone else since you opened it"
            + (f": {detail}" if detail else "")
        )
        self.path = path


class DraftError(ValueError):
    """An edit that would leave a file the bot cannot read."""


class Draft:
    """The draft folder under ``root``, made from ``store``'s published version or ``project``."""

    def __init__(self, root: Path, store: VersionStore, project: Project) -> None:
        self.root = root
        self.store = store
        self.source_project = project

    # -- the folder ---------------------------------------------------------------------------

    def project(self) -> Project:
        """The draft as a Rasa project: train it and simulate calls against it here."""
        return Project(root=self.root, model_dir=self.root / MODEL_DIR, model_name=MODEL_NAME)

    def exists(self) -> bool:
        return (self.root / STATE).is_file()

    def ensure(self, *, author: str = "system") -> None:
        """Make the draft if there is none (and version 1 from the project if there is none)."""
        if self.exists():
            return
        with self._locked():
            if self.exists():
                return
            base = self.store.published_version() or self.store.latest()
            if base is None:
                base = self._import_project(author)
            self._fill_from(base, author)

    def reset(self, version: Version, *, author: str) -> None:
        """Throw the draft's edits away: start again from ``version``."""
        with self._locked():
            for name in design_files(self.root):
                (self.root / name).unlink()
            (self.root / TEST_REPORT).unlink(missing_ok=True)
            self._fill_from(version, author)

    def state(self) -> dict[str, Any]:
        """``base`` (the version it started from), ``edits`` (path → who, when)."""
        try:
            return dict(json.loads((self.root / STATE).read_text()))
        except FileNotFoundError:
            return {"base": None, "edits": {}}

    @property
    def base(self) -> int | None:
        base = self.state().get("base")
        return int(base) if base is not None else None

    # -- reading and editing ------------------------------------------------------------------

    def read(self, path: str) -> str:
        """The text of design file ``path`` in the draft ("" when it does not exist)."""
        target = self.root / check_path(path)
        try:
            return target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def read_bytes(self, path: str) -> bytes | None:
        """The bytes of design file ``path`` in the draft (None when it does not exist)."""
        try:
            return (self.root / check_path(path)).read_bytes()
        except FileNotFoundError:
            return None

    def revision(self, path: str) -> str:
        """What an edit of ``path`` must name as the revision it was made on."""
        return file_digest(self.root / check_path(path))

    def write(self, path: str, text: str, *, revision: str, author: str) -> str:
        """Replace ``path`` with ``text`` if it is still at ``revision``; the new revision."""

        name = check_path(path)

        def replace(_: str) -> str:
            if file_digest(self.root / name) != revision:
                raise DraftConflict(name)
            return text

        return self.edit(path, replace, author=author)

    def edit(self, path: str, change: Callable[[str], str], *, author: str) -> str:
        """Apply ``change`` to the file's current text under the lock; the new revision.

        ``change`` raises :class:`DraftConflict` when the part it edits is no longer what the
        designer saw, or :class:`DraftError` for an edit it refuses.
        """
        name = check_path(path)
        if is_recording(name):
            raise DraftError(f"{name} is audio: store it with put_audio")
        with self._locked():
            target = self.root / name
            current = target.read_text(encoding="utf-8") if target.is_file() else ""
            text = change(current)
            if text == current:
                return file_digest(target)
            _check_yaml(name, text)
            write_atomic(target, text.encode("utf-8"))
            self._edited(name, author)
            return file_digest(target)

    def put_audio(self, path: str, data: bytes, *, author: str) -> str:
        """Store a recorded prompt's WAV at ``path``; the revision. Recordings are named by
        their content (``ivr.versions.recordings``), so two uploads never overwrite each other
        and need no revision check: the index that points at them is edited with one."""
        name = check_path(path)
        if not is_recording(name):
            raise DraftError(f"{name} is not a recorded prompt")
        if len(data) > MAX_FILE_BYTES:
            raise DraftError(f"{name} would be larger than {MAX_FILE_BYTES // 1024} kB")
        if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            raise DraftError(f"{name} must be a WAV file")
        with self._locked():
            write_atomic(self.root / name, data)
            self._edited(name, author)
        return file_digest(self.root / name)

    def delete(self, path: str, *, revision: str, author: str) -> None:
        """Remove ``path`` from the draft if it is still at ``revision``."""
        name = check_path(path)
        with self._locked():
            if file_digest(self.root / name) != revision:
                raise DraftConflict(name)
            (self.root / name).unlink(missing_ok=True)
            self._edited(name, author)

    def changes(self) -> list[Change]:
        """What the draft changes against the version it started from."""
        base = self.base
        return changed_files(self.store.get(base).path if base is not None else None, self.root)

    def fingerprint(self) -> str:
        return content_fingerprint(self.root)

    def needs_training(self) -> bool:
        return is_stale(self.project())

    # -- test reports -------------------------------------------------------------------------

    def save_report(self, report: dict[str, Any]) -> None:
        """Keep the outcome of testing the draft as it is now (any later edit discards it)."""
        write_atomic(self.root / TEST_REPORT, json.dumps(report, indent=2).encode() + b"\n")

    def report(self) -> dict[str, Any] | None:
        """The last test report, if the draft has not changed since it was made."""
        try:
            report = dict(json.loads((self.root / TEST_REPORT).read_text()))
        except (OSError, ValueError):
            return None
        return report if report.get("fingerprint") == self.fingerprint() else None

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, *, author: str, message: str, override: bool = False) -> Version:
        """Make the tested draft a new version and publish it.

        Only a draft whose last test passed (and that has not changed since) is published,
        unless ``override`` (an admin's decision, recorded in the version). The draft stays
        locked from the check to the copy, so an edit saved meanwhile cannot slip in untested.
        """
        if not self.exists():
            raise VersionError("there is no draft yet: the console or `ivr versions test` makes it")
        with self._locked():
            report = self.report()
            passed = bool(report and report.get("passed"))
            if not passed and not override:
                raise VersionError(
                    "the draft's tests have not passed since its last change: test it first"
                )
            if self.needs_training():
                raise VersionError("the draft's model is older than its files: test it first")
            version = self.store.create(
                self.project(),
                author=author,
                message=message,
                parent=self.base,
                tests=_summary(report),
                override=author if override and not passed else "",
            )
            self.store.publish(
                version.number, by=author, action="override" if version.override else "publish"
            )
            self._save_state({**self.state(), "base": version.number, "edits": {}})
        return version

    # -- internals ----------------------------------------------------------------------------

    def _import_project(self, author: str) -> Version:
        project = self.source_project
        if is_stale(project):
            raise VersionError(f"{project.model_path} is missing or stale: run `ivr train` first")
        return self.store.create(project, author=author, message=SHIPPED_MESSAGE, parent=None)

    def _fill_from(self, version: Version, author: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        copy_design(version.path, self.root)
        for path in [self.root, *self.root.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        models = self.root / MODEL_DIR
        shutil.rmtree(models, ignore_errors=True)
        shutil.copytree(version.project().model_dir, models)
        for path in models.iterdir():
            path.chmod(0o600)
        self._save_state(
            {"base": version.number, "edits": {}, "made_by": author, "made_at": time.time()}
        )

    def _edited(self, name: str, author: str) -> None:
        """Note who changed ``name``; the test report no longer speaks for the draft."""
        state = self.state()
        state.setdefault("edits", {})[name] = {"by": author, "at": time.time()}
        self._save_state(state)
        (self.root / TEST_REPORT).unlink(missing_ok=True)

    def _save_state(self, state: dict[str, Any]) -> None:
        write_atomic(self.root / STATE, json.dumps(state, indent=2).encode())

    def _locked(self) -> AbstractContextManager[None]:
        return folder_lock(self.root)


def _check_yaml(name: str, text: str) -> None:
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise DraftError(f"{name} would be larger than {MAX_FILE_BYTES // 1024} kB")
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise DraftError(f"{name} would not be valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise DraftError(f"{name} must hold a YAML mapping")


def _summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {key: report[key] for key in ("passed", "finished_at", "summary") if key in report}
