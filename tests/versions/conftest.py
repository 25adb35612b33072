"""A project to version: the repository's design files and a stand-in for its model.

The store and the draft copy a model file without opening it, so these tests give them a small
file with a fingerprint matching the design, as ``ivr train`` leaves one; the tests that run
the bot on a version use the real trained model (``tests/versions/test_live.py``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dialogue.training import Project, fingerprint
from ivr.versions.draft import Draft
from ivr.versions.files import copy_design
from ivr.versions.store import VersionStore
from ivr.versions.workspace import DRAFT_DIR

REPO = Path(__file__).resolve().parents[2]


def trained_copy(root: Path, model: Path | None = None) -> Project:
    """The repository's design files under ``root``, with ``model`` (default: a stand-in)."""
    copy_design(REPO, root)
    project = Project(root=root, model_dir=root / "models")
    project.model_dir.mkdir(parents=True, exist_ok=True)
    if model is None:
        project.model_path.write_bytes(b"stand-in model\n")
    else:
        shutil.copyfile(model, project.model_path)
    project.fingerprint_path.write_text(json.dumps({"fingerprint": fingerprint(project)}))
    return project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return trained_copy(tmp_path / "project")


@pytest.fixture
def store(tmp_path: Path) -> VersionStore:
    return VersionStore(tmp_path / "design")


@pytest.fixture
def draft(store: VersionStore, project: Project) -> Draft:
    made = Draft(store.root / DRAFT_DIR, store, project)
    made.ensure(author="alice")
    return made


def passing_report(draft: Draft) -> dict[str, object]:
    return {"passed": True, "fingerprint": draft.fingerprint(), "finished_at": 1.0, "summary": "ok"}
