"""Versions are numbered, immutable, readable on disk, and publishing moves one pointer."""

from __future__ import annotations

import json

import pytest

from dialogue.training import Project
from ivr.versions.files import DesignPathError, check_path, design_files
from ivr.versions.store import VersionError, VersionStore


def test_a_version_holds_the_design_and_model_in_a_plain_folder(
    project: Project, store: VersionStore
) -> None:
    version = store.create(project, author="alice", message="  first\nversion ", parent=None)

    assert version.number == 1 and version.path == store.root / "versions" / "0001"
    assert version.message == "first version"
    assert design_files(version.path) == design_files(project.root)
    assert (version.path / "dialogue/domain.yml").read_text() == project.domain.read_text()
    assert (version.path / "models/dialogue.tar.gz").read_bytes() == b"stand-in model\n"
    meta = json.loads((version.path / "version.json").read_text())
    assert meta["author"] == "alice" and meta["number"] == 1 and meta["parent"] is None
    assert not (version.path / "dialogue/domain.yml").stat().st_mode & 0o222


def test_numbers_follow_on_and_survive_a_new_store(project: Project, store: VersionStore) -> None:
    store.create(project, author="a", message="one", parent=None)
    store.create(project, author="b", message="two", parent=1)

    again = VersionStore(store.root)
    assert [v.number for v in again.all()] == [1, 2]
    assert again.get(2).parent == 1 and again.get(2).author == "b"


def test_a_version_needs_a_message_and_a_trained_model(
    project: Project, store: VersionStore
) -> None:
    with pytest.raises(VersionError, match="message"):
        store.create(project, author="a", message="  ", parent=None)
    project.fingerprint_path.unlink()
    with pytest.raises(VersionError, match="no trained model"):
        store.create(project, author="a", message="x", parent=None)
    assert store.all() == []
    assert not (store.root / "versions").exists()


def test_publish_and_roll_back_move_the_pointer_and_keep_the_history(
    project: Project, store: VersionStore
) -> None:
    assert store.published() is None
    store.create(project, author="a", message="one", parent=None)
    store.create(project, author="a", message="two", parent=1)

    store.publish(1, by="alice")
    store.publish(2, by="bob")
    back = store.roll_back(1, by="carol")

    assert back.previous == 2 and back.detail == "from version 2"
    assert store.published_version() == store.get(1)
    assert [(p.version, p.by, p.action) for p in store.history()] == [
        (1, "carol", "rollback"),
        (2, "bob", "publish"),
        (1, "alice", "publish"),
    ]
    with pytest.raises(VersionError, match="no version 9"):
        store.publish(9, by="x")
    with pytest.raises(VersionError, match="version 1 is already published"):
        store.roll_back(1, by="dave")
    assert len(store.history()) == 3


def test_a_damaged_pointer_is_an_error_not_a_silent_fallback(store: VersionStore) -> None:
    store.root.mkdir(parents=True)
    (store.root / "published.json").write_text("{not json")
    with pytest.raises(VersionError, match="unreadable"):
        store.published()


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "/etc/passwd",
        "data/nlu/../../secret.yml",
        "data/bank/seed.yml",
        "data/nlu/.hidden.yml",
        "data/nlu/script.py",
        "dialogue/endpoints.yml",
        "data\\nlu\\x.yml",
        "",
    ],
)
def test_only_design_files_are_paths(path: str) -> None:
    with pytest.raises(DesignPathError):
        check_path(path)


def test_design_paths_are_accepted() -> None:
    assert check_path("data/nlu/faq.yml") == "data/nlu/faq.yml"
    assert check_path("data/knowledge/hours.yml") == "data/knowledge/hours.yml"
    assert check_path("dialogue/domain.yml") == "dialogue/domain.yml"


def test_only_the_newest_versions_are_kept_and_never_the_published_one(
    project: Project, store: VersionStore
) -> None:
    store.keep = 2
    store.create(project, author="a", message="one", parent=None)
    store.publish(1, by="a")
    for n in (2, 3, 4):
        store.create(project, author="a", message=str(n), parent=n - 1)

    assert [v.number for v in store.all()] == [1, 3, 4]
    assert not (store.versions_dir / "0002").exists()


def test_the_history_is_bounded_and_keeps_the_newest(
    project: Project, store: VersionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ivr.versions.store.MAX_HISTORY", 4)
    store.create(project, author="a", message="one", parent=None)
    store.create(project, author="a", message="two", parent=1)
    for turn in range(5):
        store.publish(1 + turn % 2, by=f"user{turn}")

    assert [p.by for p in store.history()] == ["user4", "user3"]
    assert store.published() is not None and store.published().by == "user4"


def test_only_what_check_path_takes_is_a_design_file(project: Project) -> None:
    hidden = project.root / "data" / "nlu" / ".drafts"
    hidden.mkdir()
    (hidden / "old.yml").write_text("nlu: []\n")
    (project.root / "data" / "nlu" / "notes.txt").write_text("not data")
    (project.root / "data" / "nlu" / "linked.yml").symlink_to(project.domain)

    names = design_files(project.root)

    assert "data/nlu/faq.yml" in names and "dialogue/domain.yml" in names
    assert not [n for n in names if ".drafts" in n or n.endswith(".txt") or "linked" in n]
