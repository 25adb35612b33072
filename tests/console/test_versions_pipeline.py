"""The draft's Test → Publish cycle really run: Rasa's validator, the QA scripts on the real
engines and the trained assistant, a recorded call replayed against the draft, and (one test,
marked below) training a changed model.

A knowledge-only change needs no training (the FAQ facts are not model inputs), so the QA
failure is made there: the rates say "per cent" where ``data/qa/rates_and_fees.yml`` expects
"percent". Only that one short script runs (``design.test_scripts``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from ivr.cli import main
from ivr.config import load_config
from ivr.console.draft_tests import DraftTestDesk
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.qa.draft_testing import draft_test_for_console
from ivr.recording_keys import create_key_file
from ivr.services import Services, start_services
from ivr.versions.draft import Draft
from ivr.versions.store import VersionStore
from ivr.versions.testing import DraftTest
from ivr.versions.workspace import DRAFT_DIR, Workspace
from tests.console.conftest import ConsoleFactory, add_users, log_in, post_form
from tests.console.real_calls import make_calls
from tests.console.test_recordings import audit_rows
from tests.console.test_versions_page import finished, statuses
from tests.versions.conftest import REPO, trained_copy

pytestmark = [pytest.mark.slow, pytest.mark.long]
"""Minutes each (one trains a model): ``make test-long``, beside the same cycle in the browser
(``tests/console/test_designer_browser.py``). ``make test`` covers the pages and the store
without training (``test_versions_page.py``, ``tests/versions``)."""

PAGE = "/console/versions"
RATES = "data/knowledge/rates.yml"
SCRIPT = REPO / "data" / "qa" / "rates_and_fees.yml"
MODEL = REPO / "models" / "dialogue.tar.gz"


def settings(tmp_path: Path, *extra: str) -> list[str]:
    """Everything in tmp_path: the design folder, the bot's call records and recordings (with a
    key), the bank and the prompt cache; as ``section.key=value`` for the loader or ``--set``."""
    (tmp_path / "calls").mkdir(exist_ok=True)
    if not (tmp_path / "recording.keys").exists():
        create_key_file(tmp_path / "recording.keys")
    return [
        f"design.dir={tmp_path / 'design'}",
        f"design.test_scripts={SCRIPT}",
        f"call.records_db=sqlite:///{tmp_path / 'calls' / 'calls.db'}",
        f"call.recordings_dir={tmp_path / 'calls' / 'recordings'}",
        f"call.recording_key_file={tmp_path / 'recording.keys'}",
        f"bank.database=sqlite:///{tmp_path / 'bank.db'}",
        f"tts.cache_dir={tmp_path / 'prompts'}",
        "tts.prepare_prompts=false",
        *extra,
    ]


def trained_workspace(tmp_path: Path) -> Workspace:
    """A draft made from the repository's files and trained model, published as version 1."""
    store = VersionStore(tmp_path / "design")
    draft = Draft(store.root / DRAFT_DIR, store, trained_copy(tmp_path / "project", MODEL))
    draft.ensure(author="system")
    store.publish(1, by="system")
    return Workspace(store, draft)


def edit(draft: Draft, path: str, old: str, new: str) -> None:
    text = draft.read(path)
    assert old in text
    draft.write(path, text.replace(old, new), revision=draft.revision(path), author="designer")


@pytest_asyncio.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    config = load_config(overrides=settings(tmp_path, "design.test_replays=1"), environ={})
    started = await start_services(config)
    yield started
    await started.close()


async def run_draft_test(client: TestClient, desk: DraftTestDesk) -> DraftTest:
    assert (await post_form(client, PAGE, f"{PAGE}/test")).status == 303
    test = desk.latest
    assert test is not None
    return await finished(test, 600)


@pytest.mark.timeout(1800)  # two tests of the draft, each loading an assistant, on a busy CI box
async def test_a_qa_failure_blocks_publishing_and_the_fixed_draft_is_published(
    make_client: ConsoleFactory,
    users: UserStore,
    services: Services,
    tmp_path: Path,
    records_url: str,
) -> None:
    workspace = trained_workspace(tmp_path)
    draft, store = workspace.draft, workspace.store
    # A call on the published version, recorded where the bot's own calls are: the one replayed.
    made = await make_calls(services, tmp_path / "calls", ("rates_and_fees",))
    assert made.records_db == services.config.call.records_db
    desk = DraftTestDesk(draft, functools.partial(draft_test_for_console, services))
    client = await make_client(tools=CallTools(workspace=workspace, draft_tests=desk))
    add_users(users, "designer")
    assert (await log_in(client, "designer")).status == 303

    edit(draft, RATES, "3.1 percent", "3.1 per cent")
    edit(draft, RATES, "0.1 percent", "0.1 per cent")
    edit(draft, RATES, "19.9 percent", "19.9 per cent")
    failed = await run_draft_test(client, desk)
    assert statuses(failed) == ("passed", "skipped", "failed", "differs"), failed.report()
    assert failed.passed is False and failed.kept
    page = unescape(await (await client.get(PAGE)).text())
    assert "FAILED" in page and "FAIL rates_and_fees" in page
    assert "/percent|%/" in page and "per cent" in page  # the failed check, expected and got
    assert "change(s) from the original call" in page  # the replay's differences, turn by turn
    refused = await post_form(client, PAGE, f"{PAGE}/publish", message="rates as words")
    assert refused.status == 409
    assert store.latest().number == 1  # type: ignore[union-attr]

    edit(draft, RATES, "3.1 per cent", "3.2 percent")
    edit(draft, RATES, "0.1 per cent", "0.1 percent")
    edit(draft, RATES, "19.9 per cent", "19.9 percent")
    passed = await run_draft_test(client, desk)
    assert passed.passed is True and passed.kept, passed.report()
    assert passed.step("qa").status == "passed"
    assert passed.step("train").status == "skipped"
    assert passed.step("replays").results, "the recorded call was replayed"
    page = unescape(await (await client.get(PAGE)).text())
    assert "PASSED" in page and "last test passed" in page
    done = await post_form(client, PAGE, f"{PAGE}/publish", message="Savings earn 3.2 percent")
    assert done.status == 303
    version = store.get(2)
    assert store.published().version == 2  # type: ignore[union-attr]
    assert version.tests is not None and version.tests["passed"] is True
    assert "3.2 percent" in (version.path / RATES).read_text()
    tests_audited = [row for row in audit_rows(records_url) if row[1] == "design.test"]
    assert len(tests_audited) == 2


@pytest.mark.timeout(1800)
async def test_ivr_versions_test_trains_a_changed_prompt_then_publish_takes_it(
    tmp_path: Path,
) -> None:
    """THE TEST THAT TRAINS (a few minutes): a response's text is a model input, so a prompt
    change retrains the draft's model in the test's own process, from the shell."""
    workspace = trained_workspace(tmp_path)
    draft = workspace.draft
    edit(
        draft,
        "dialogue/domain.yml",
        "Our branches are open {branch_hours}.",
        "Our branches open their doors {branch_hours}.",
    )
    assert draft.needs_training()
    overrides = [
        f"--set={setting}"
        for setting in settings(
            tmp_path,
            f"design.test_scripts={REPO / 'data' / 'qa' / 'branch_hours.yml'}",
            "design.test_replays=0",
        )
    ]
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, main, [*overrides, "versions", "test"])
    assert result.exit_code == 0, result.output
    assert "[train] passed: trained" in result.output
    assert "[qa] passed: 1 script(s) passed" in result.output
    assert not draft.needs_training()
    published = await asyncio.to_thread(
        runner.invoke, main, [*overrides, "versions", "publish", "-m", "Warmer hours"]
    )
    assert published.exit_code == 0, published.output
    version = workspace.store.get(2)
    assert version.model_fingerprint != workspace.store.get(1).model_fingerprint
    assert "open their doors" in (version.path / "dialogue/domain.yml").read_text()
