"""The shared draft: edits land in it, conflicts are refused, and publishing needs a passed test."""

from __future__ import annotations

import pytest

from dialogue.training import Project
from ivr.qa.draft_testing import finish_draft_test
from ivr.versions.draft import Draft, DraftConflict, DraftError
from ivr.versions.files import Change, DesignPathError
from ivr.versions.store import VersionError, VersionStore
from ivr.versions.testing import DraftTest
from tests.versions.conftest import passing_report

HOURS = "data/knowledge/hours.yml"


def test_the_first_draft_makes_version_1_from_the_project_files(
    draft: Draft, store: VersionStore, project: Project
) -> None:
    (first,) = store.all()
    assert first.message == "The project's files as shipped" and first.author == "alice"
    assert draft.base == 1 and draft.changes() == []
    assert store.published() is None  # the bot keeps running the project's own files
    assert draft.read(HOURS) == (project.root / HOURS).read_text()
    assert not draft.needs_training()


def test_an_edit_on_the_revision_seen_lands_and_shows_as_a_change(draft: Draft) -> None:
    seen = draft.revision(HOURS)
    text = draft.read(HOURS) + "\n# checked by alice\n"

    new = draft.write(HOURS, text, revision=seen, author="alice")

    assert new != seen and draft.read(HOURS) == text
    assert draft.changes() == [Change(HOURS, "modified")]
    assert draft.state()["edits"][HOURS]["by"] == "alice"


def test_a_second_designer_on_a_stale_revision_gets_a_conflict(draft: Draft) -> None:
    seen = draft.revision(HOURS)
    mine = draft.read(HOURS) + "\n# alice\n"
    draft.write(HOURS, mine, revision=seen, author="alice")

    with pytest.raises(DraftConflict, match="changed by someone else"):
        draft.write(HOURS, draft.read(HOURS) + "\n# bob\n", revision=seen, author="bob")
    assert draft.read(HOURS) == mine


def test_edits_that_would_break_a_file_are_refused(draft: Draft) -> None:
    seen = draft.revision(HOURS)
    with pytest.raises(DraftError, match="valid YAML"):
        draft.write(HOURS, "hours: [unclosed", revision=seen, author="alice")
    with pytest.raises(DraftError, match="mapping"):
        draft.write(HOURS, "- a list\n", revision=seen, author="alice")
    with pytest.raises(DraftError, match="larger"):
        draft.write(HOURS, "a: " + "x" * 3_000_000, revision=seen, author="alice")
    with pytest.raises(DesignPathError):
        draft.write("../../evil.yml", "a: 1", revision="", author="alice")
    assert draft.revision(HOURS) == seen


def test_new_and_deleted_files_are_changes(draft: Draft) -> None:
    draft.write("data/nlu/extra.yml", 'version: "3.1"\nnlu: []\n', revision="", author="a")
    cards = "data/rules/cards.yml"
    draft.delete(cards, revision=draft.revision(cards), author="a")

    assert draft.changes() == [
        Change("data/nlu/extra.yml", "added"),
        Change("data/rules/cards.yml", "deleted"),
    ]


def test_publishing_needs_a_passed_test_of_the_draft_as_it_is(
    draft: Draft, store: VersionStore
) -> None:
    draft.write(HOURS, draft.read(HOURS) + "\n# v2\n", revision=draft.revision(HOURS), author="a")
    with pytest.raises(VersionError, match="tests have not passed"):
        draft.publish(author="alice", message="new hours")

    draft.save_report(passing_report(draft))
    draft.write(HOURS, draft.read(HOURS) + "# later\n", revision=draft.revision(HOURS), author="b")
    assert draft.report() is None  # the edit made the report stale
    with pytest.raises(VersionError):
        draft.publish(author="alice", message="new hours")

    draft.save_report(passing_report(draft))
    version = draft.publish(author="alice", message="new hours")

    assert version.number == 2 and version.parent == 1 and version.tests["passed"]
    assert store.published_version() == version
    assert draft.base == 2 and draft.changes() == []


def test_an_override_is_recorded_in_the_version(draft: Draft, store: VersionStore) -> None:
    version = draft.publish(author="admin", message="hotfix", override=True)
    assert version.override == "admin"
    assert store.history()[0].action == "override"


def test_a_draft_made_later_starts_from_the_published_version(
    draft: Draft, store: VersionStore, project: Project
) -> None:
    draft.write(HOURS, draft.read(HOURS) + "\n# v2\n", revision=draft.revision(HOURS), author="a")
    draft.save_report(passing_report(draft))
    published = draft.publish(author="a", message="v2")

    other = Draft(store.root / "second-draft", store, project)
    other.ensure(author="bob")

    assert other.base == published.number and other.read(HOURS) == draft.read(HOURS)


def test_reset_throws_the_edits_away(draft: Draft, store: VersionStore) -> None:
    draft.write(HOURS, draft.read(HOURS) + "\n# oops\n", revision=draft.revision(HOURS), author="a")
    draft.reset(store.get(1), author="a")
    assert draft.changes() == [] and draft.base == 1


def test_a_test_of_the_draft_reads_finished_only_once_its_report_is_kept(
    draft: Draft, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Versions page polls ``running`` from another thread: whoever reads the test finished
    finds its report on the draft (a CI run once read it in between and found none)."""
    run = DraftTest.start("alice", 1.0)
    run.fingerprint = draft.fingerprint()
    run.passed = False
    seen_running: list[bool] = []
    save = draft.save_report

    def watched(report: dict[str, object]) -> None:
        seen_running.append(run.running)
        save(report)

    monkeypatch.setattr(draft, "save_report", watched)
    finish_draft_test(draft, run)
    assert seen_running == [True]
    assert not run.running and run.kept
    report = draft.report()
    assert report is not None and report["passed"] is False and report["kept"] is True
    assert report["finished_at"] == run.finished_at


def test_a_test_of_a_draft_edited_meanwhile_finishes_without_a_report(draft: Draft) -> None:
    run = DraftTest.start("alice", 1.0)
    run.fingerprint = "what the draft was before an edit"
    finish_draft_test(draft, run)
    assert not run.running and not run.kept and draft.report() is None
