"""``ivr versions``: list, show, publish and roll back from the shell, on ``design.dir``, with
audit rows in the records database and at most ``design.keep_versions`` versions kept; and the
bot following what is published (``design.follow_published``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dialogue.client import InProcessClient
from ivr.cli import main
from ivr.config import load_config
from ivr.secretfile import new_token, write_secret
from ivr.services import dialogue_client
from ivr.versions.live import VersionedDialogue
from ivr.versions.workspace import Workspace
from tests.versions.conftest import passing_report, trained_copy

HOURS = "data/knowledge/hours.yml"


@pytest.fixture
def settings(tmp_path: Path) -> list[str]:
    project = trained_copy(tmp_path / "project")
    return [
        f"dialogue.project_dir={project.root}",
        f"design.dir={tmp_path / 'design'}",
        f"call.records_db=sqlite:///{tmp_path / 'calls.db'}",
    ]


def ivr(settings: list[str], *args: str) -> Result:
    options = [part for setting in settings for part in ("--set", setting)]
    return CliRunner().invoke(main, [*options, "versions", *args], catch_exceptions=False)


def new_hours(settings: list[str], hours: str) -> None:
    """A designer changes the draft's weekday hours and its test passes."""
    draft = Workspace.of_config(load_config(overrides=settings, environ={})).draft
    draft.ensure(author="designer")
    text = draft.read(HOURS).replace("from 9 AM to 5 PM", hours)
    draft.write(HOURS, text, revision=draft.revision(HOURS), author="designer")
    draft.save_report(passing_report(draft))


def test_publish_show_and_roll_back_from_the_shell(settings: list[str], tmp_path: Path) -> None:
    assert "no versions yet" in ivr(settings, "list").output

    refused = ivr(settings, "publish", "-m", "nothing tested")
    assert refused.exit_code == 1 and "no draft yet" in refused.output

    new_hours(settings, "from 8 AM to 6 PM")
    published = ivr(settings, "publish", "-m", "longer weekday hours")
    assert published.exit_code == 0, published.output
    assert "published version 2" in published.output

    listing = ivr(settings, "list").output.splitlines()
    assert listing[1].startswith("* 2") and "longer weekday hours" in listing[1]
    assert listing[2].startswith("  1") and "as shipped" in listing[2]
    shown = ivr(settings, "show", "2").output
    assert "(published)" in shown and f"modified  {HOURS}" in shown

    back = ivr(settings, "rollback")
    assert back.exit_code == 0 and "version 1 published again" in back.output
    design = Path(settings[1].partition("=")[2])
    assert '"version": 1' in (design / "published.json").read_text()
    assert ivr(settings, "rollback", "1").exit_code == 1  # already published

    audit = sqlite3.connect(tmp_path / "calls.db").execute(
        "SELECT action, target FROM console_audit ORDER BY at"
    )
    assert [tuple(row) for row in audit] == [
        ("version.publish", "version 2"),
        ("version.rollback", "version 1"),
    ]


def test_an_untested_draft_is_refused_and_an_override_is_recorded(settings: list[str]) -> None:
    new_hours(settings, "from 8 AM to 6 PM")
    draft = Workspace.of_config(load_config(overrides=settings, environ={})).draft
    draft.write(HOURS, draft.read(HOURS) + "# later\n", revision=draft.revision(HOURS), author="x")

    refused = ivr(settings, "publish", "-m", "untested")
    assert refused.exit_code == 1 and "tests have not passed" in refused.output

    forced = ivr(settings, "publish", "-m", "hotfix", "--override")
    assert forced.exit_code == 0
    assert "override" in ivr(settings, "list").output.splitlines()[1]


def test_keep_versions_bounds_the_versions_on_disk(settings: list[str]) -> None:
    kept = [*settings, "design.keep_versions=2"]
    for hours in ("from 8 AM to 5 PM", "from 8 AM to 6 PM", "from 7 AM to 6 PM"):
        new_hours(kept, hours)
        assert ivr(kept, "publish", "-m", hours).exit_code == 0

    numbers = [line[2:].split()[0] for line in ivr(kept, "list").output.splitlines()[1:]]
    assert numbers == ["4", "3"]


def test_the_bot_follows_the_published_version_unless_told_not_to(tmp_path: Path) -> None:
    pepper = write_secret(tmp_path / "pepper", new_token())
    common = [f"design.dir={tmp_path / 'design'}", f"bank.pin_pepper_file={pepper}"]

    following = dialogue_client(load_config(overrides=common, environ={}))
    fixed = dialogue_client(
        load_config(overrides=[*common, "design.follow_published=false"], environ={})
    )

    assert isinstance(following, VersionedDialogue)
    assert following.store.root == tmp_path / "design"
    assert isinstance(fixed, InProcessClient)
    assert fixed.model_path == Path("models/dialogue.tar.gz")
