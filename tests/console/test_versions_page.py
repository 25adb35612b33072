"""The Versions page on a real draft and version store in tmp_path (the repository's design files,
a stand-in model file as ``tests/versions`` uses): who may do what, Publish refused without a
valid passing report, the override for admins only, roll-back, discard, the diff, and a test
whose validation step really runs ``rasa data validate`` and fails.

The whole pipeline (QA scripts on the real engines, training) is tested in
``tests/console/test_versions_pipeline.py``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from html import unescape
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient

from ivr.config import load_config
from ivr.console.draft_tests import DraftTestDesk
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.qa.draft_testing import own_engines, run_draft_test
from ivr.versions.draft import Draft
from ivr.versions.store import MAX_MESSAGE, VersionStore
from ivr.versions.testing import DraftTest
from ivr.versions.workspace import DRAFT_DIR, Workspace
from tests.console.conftest import ConsoleFactory, add_users, log_in, post_form
from tests.console.test_recordings import audit_rows
from tests.versions.conftest import passing_report, trained_copy

PAGE = "/console/versions"
HOURS = "data/knowledge/hours.yml"
OLD_HOURS = "Monday to Friday from 9 AM to 5 PM"
NEW_HOURS = "Monday to Friday from 8 AM to 6 PM"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A draft made from the repository's files (version 1, published)."""
    store = VersionStore(tmp_path / "design")
    draft = Draft(store.root / DRAFT_DIR, store, trained_copy(tmp_path / "project"))
    draft.ensure(author="system")
    store.publish(1, by="system")
    return Workspace(store, draft)


def change_hours(draft: Draft, author: str = "designer") -> None:
    text = draft.read(HOURS).replace(OLD_HOURS, NEW_HOURS)
    draft.write(HOURS, text, revision=draft.revision(HOURS), author=author)


async def logged_in(
    make_client: ConsoleFactory, users: UserStore, role: str, tools: CallTools
) -> TestClient:
    client = await make_client(tools=tools)
    add_users(users, role)
    assert (await log_in(client, role)).status == 303
    return client


async def page_text(client: TestClient) -> str:
    answer = await client.get(PAGE)
    assert answer.status == 200
    return unescape(await answer.text())


@pytest.mark.parametrize("role", ["qa", "supervisor"])
async def test_qa_and_supervisors_read_the_page_but_change_nothing(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace, role: str
) -> None:
    change_hours(workspace.draft)
    workspace.draft.save_report(passing_report(workspace.draft))
    client = await logged_in(make_client, users, role, CallTools(workspace=workspace))
    text = await page_text(client)
    assert 'href="/console/versions"' in text  # in the menu
    assert NEW_HOURS in text and "The draft's last test passed" in text
    for form in ("/versions/test", "/versions/publish", "/versions/rollback", "/versions/discard"):
        assert f'action="/console{form}"' not in text
    for action, fields in (
        ("publish", {"message": "new hours"}),
        ("rollback", {"version": "1"}),
        ("discard", {}),
        ("test", {}),
    ):
        answer = await post_form(client, PAGE, f"{PAGE}/{action}", **fields)
        assert answer.status == 403
    assert workspace.store.latest().number == 1  # type: ignore[union-attr]
    assert workspace.draft.changes()


async def test_publish_is_refused_without_a_valid_passing_report(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace, records_url: str
) -> None:
    draft, store = workspace.draft, workspace.store
    client = await logged_in(make_client, users, "designer", CallTools(workspace=workspace))
    change_hours(draft)
    text = await page_text(client)
    assert "no test report for its current content" in text
    assert f'name="message" maxlength="{MAX_MESSAGE}"' in text
    refused = await post_form(client, PAGE, f"{PAGE}/publish", message="new hours")
    assert refused.status == 409
    assert "tests have not passed" in unescape(await refused.text())

    draft.save_report({**passing_report(draft), "passed": False, "summary": "qa failed"})
    assert "last test failed" in await page_text(client)
    refused = await post_form(client, PAGE, f"{PAGE}/publish", message="new hours")
    assert refused.status == 409

    draft.save_report(passing_report(draft))
    change_hours_again = draft.read(HOURS).replace("Saturday", "Saturdays")
    draft.write(HOURS, change_hours_again, revision=draft.revision(HOURS), author="designer")
    refused = await post_form(client, PAGE, f"{PAGE}/publish", message="new hours")
    assert refused.status == 409, "an edit after the test makes its report invalid"

    draft.save_report(passing_report(draft))
    missing = await post_form(client, PAGE, f"{PAGE}/publish", message="   ")
    assert missing.status == 400
    done = await post_form(client, PAGE, f"{PAGE}/publish", message="Longer opening hours")
    assert done.status == 303
    assert store.published().version == 2  # type: ignore[union-attr]
    assert store.get(2).message == "Longer opening hours" and store.get(2).author == "designer"
    assert ("designer", "version.publish", "version 2", "Longer opening hours") in audit_rows(
        records_url
    )
    text = await page_text(client)
    assert re.search(r"<td>2</td>.*?<strong>published</strong>", text, re.S)
    assert "Roll back to version 1" in text


async def test_the_override_is_for_admins_only_and_is_audited(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace, records_url: str
) -> None:
    draft, store = workspace.draft, workspace.store
    change_hours(draft)
    tools = CallTools(workspace=workspace)
    designer = await logged_in(make_client, users, "designer", tools)
    assert 'name="override"' not in await page_text(designer)
    refused = await post_form(
        designer, PAGE, f"{PAGE}/publish", message="untested hours", override="yes"
    )
    assert refused.status == 403
    assert store.latest().number == 1  # type: ignore[union-attr]

    admin = await logged_in(make_client, users, "admin", tools)
    assert 'name="override"' in await page_text(admin)
    done = await post_form(admin, PAGE, f"{PAGE}/publish", message="untested hours", override="yes")
    assert done.status == 303
    assert store.published().version == 2  # type: ignore[union-attr]
    assert store.published().action == "override"  # type: ignore[union-attr]
    assert store.get(2).override == "admin"
    rows = audit_rows(records_url)
    assert ("admin", "version.override", "version 2", "untested hours") in rows
    assert not any(row[1] == "version.publish" for row in rows)
    assert "override by admin" in await page_text(admin)


async def test_roll_back_moves_the_published_pointer_and_is_audited(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace, records_url: str
) -> None:
    draft, store = workspace.draft, workspace.store
    change_hours(draft)
    draft.save_report(passing_report(draft))
    draft.publish(author="designer", message="new hours")
    client = await logged_in(make_client, users, "designer", CallTools(workspace=workspace))
    again = await post_form(client, PAGE, f"{PAGE}/rollback", version="2")
    assert again.status == 409  # already published
    unknown = await post_form(client, PAGE, f"{PAGE}/rollback", version="9")
    assert unknown.status == 409 and "no version 9" in await unknown.text()
    bad = await post_form(client, PAGE, f"{PAGE}/rollback", version="../1")
    assert bad.status == 400

    back = await post_form(client, PAGE, f"{PAGE}/rollback", version="1")
    assert back.status == 303
    published = store.published()
    assert published is not None
    assert (published.version, published.action, published.previous) == (1, "rollback", 2)
    assert ("designer", "version.rollback", "version 1", "from version 2") in audit_rows(
        records_url
    )
    text = await page_text(client)
    assert "Publish version 2 again" in text
    assert re.search(r"<td>1</td>\s*<td>rollback</td>\s*<td>designer</td>", text)
    # The history survives a restart: it is read from disk by a new store.
    assert VersionStore(store.root).published().version == 1  # type: ignore[union-attr]


async def test_the_draft_shows_each_changed_file_as_a_diff_with_its_editor(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace
) -> None:
    change_hours(workspace.draft, author="dana")
    client = await logged_in(make_client, users, "qa", CallTools(workspace=workspace))
    text = await page_text(client)
    assert "The draft changes 1 file(s) of version 1" in text
    assert f"{HOURS} (modified, last edited by dana at" in text
    assert re.search(rf'<span class="removed">-branches: "{OLD_HOURS}', text)
    assert re.search(rf'<span class="added">\+branches: "{NEW_HOURS}', text)
    assert f"--- version 1/{HOURS}" in text and f"+++ draft/{HOURS}" in text


async def test_discard_starts_the_draft_again_from_the_published_version(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace, records_url: str
) -> None:
    draft = workspace.draft
    change_hours(draft)
    client = await logged_in(make_client, users, "designer", CallTools(workspace=workspace))
    assert "Discard the draft" in await page_text(client)
    done = await post_form(client, PAGE, f"{PAGE}/discard")
    assert done.status == 303
    assert draft.changes() == [] and OLD_HOURS in draft.read(HOURS)
    assert draft.state()["edits"] == {}
    assert (
        "designer",
        "design.discard",
        "draft",
        "started again from version 1",
    ) in audit_rows(records_url)
    assert "unchanged" in await page_text(client)


async def finished(test: DraftTest, seconds: float) -> DraftTest:
    """``test`` once done (AssertionError after ``seconds``)."""
    for _ in range(int(seconds * 5)):
        if not test.running:
            return test
        await asyncio.sleep(0.2)
    raise AssertionError(f"the test of the draft did not finish in {seconds:g} s")


def statuses(test: DraftTest) -> tuple[str, ...]:
    """Each step's status: validate, train, qa, replays."""
    return tuple(step.status for step in test.steps)


def break_a_rule(draft: Draft) -> None:
    """A rule that runs a custom action the domain does not list: ``rasa data validate`` errors."""
    path = "data/rules/conversation.yml"
    data = yaml.safe_load(draft.read(path))
    data["rules"].append(
        {
            "rule": "goodbye with an action nobody wrote",
            "steps": [{"intent": "goodbye"}, {"action": "action_nobody_wrote"}],
        }
    )
    draft.write(
        path, yaml.safe_dump(data, sort_keys=False), revision=draft.revision(path), author="dana"
    )


async def test_a_test_runs_in_the_background_and_its_failed_validation_blocks_publishing(
    make_client: ConsoleFactory,
    users: UserStore,
    workspace: Workspace,
    records_url: str,
    tmp_path: Path,
) -> None:
    """The validation step really runs Rasa's validator on the draft; the failed report is kept
    (the draft did not change), shown with the validator's output, and Publish is refused. The
    later steps never start, so no engines are loaded."""
    draft = workspace.draft
    break_a_rule(draft)
    config = load_config(overrides=[f"design.dir={workspace.store.root}"], environ={})
    tester = functools.partial(run_draft_test, config, engines=own_engines, timeout_s=120.0)
    desk = DraftTestDesk(draft, tester)
    client = await logged_in(
        make_client, users, "designer", CallTools(workspace=workspace, draft_tests=desk)
    )
    assert (await post_form(client, PAGE, f"{PAGE}/test")).status == 303
    running = desk.latest
    assert running is not None and running.running
    text = await page_text(client)
    assert 'class="draft-test running"' in text and "versions.js" in text
    assert 'action="/console/versions/test"' not in text  # no second button while it runs
    again = await post_form(client, PAGE, f"{PAGE}/test")  # a second click: the same test
    assert again.status == 303 and desk.latest is running
    progress = await (await client.get(f"{PAGE}/test.json")).json()
    assert progress["running"] is True
    assert [step["name"] for step in progress["test"]["steps"]] == [
        "validate",
        "train",
        "qa",
        "replays",
    ]
    await finished(running, 120)
    assert running.passed is False and running.kept
    assert statuses(running) == ("failed", "skipped", "skipped", "skipped")
    assert any("action_nobody_wrote" in line for line in running.step("validate").lines)
    report = draft.report()
    assert report is not None and report["passed"] is False
    assert report["fingerprint"] == draft.fingerprint()

    text = await page_text(client)
    assert "FAILED" in text and "action_nobody_wrote" in text
    assert "last test failed" in text
    refused = await post_form(client, PAGE, f"{PAGE}/publish", message="broken rule")
    assert refused.status == 409
    assert [row for row in audit_rows(records_url) if row[1] == "design.test"] == [
        ("designer", "design.test", "draft", "")
    ]


def children_running(word: str) -> list[int]:
    """This process's child processes whose command line holds ``word``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(parent) == os.getpid() and word in command:
            found.append(int(entry.name))
    return found


async def test_a_test_stopped_at_its_time_limit_fails_and_ends_its_process(
    workspace: Workspace,
) -> None:
    draft = workspace.draft
    change_hours(draft)
    config = load_config(
        overrides=[f"design.dir={workspace.store.root}", "design.test_timeout_s=1.5"], environ={}
    )
    test = DraftTest.start("designer", 0.0)
    task = asyncio.create_task(
        run_draft_test(config, draft, test, own_engines, config.design.test_timeout_s)
    )
    await asyncio.sleep(0.8)
    assert children_running("validate"), "Rasa's validator runs in a process of its own"
    await task
    assert test.passed is False and test.error == "stopped after 1.5 s (design.test_timeout_s)"
    assert test.step("validate").status == "failed"
    assert test.step("qa").status == "skipped"
    assert children_running("validate") == []
    report = draft.report()
    assert report is not None and report["passed"] is False
