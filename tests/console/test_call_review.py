"""Replay through the current bot and save as QA script, from a call's page, with the real
engines and assistant: the call is made by the real CallSession on the virtual-clock line (its
record and sealed recording written by the real store and recorder), then replayed from the
console and turned into a script that ``ivr simulate``'s runner plays and passes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import html
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from dialogue.protocol import DialogueClient
from ivr.config import Config, load_config
from ivr.console.app import Console
from ivr.console.browser import token_in
from ivr.console.qa_scripts import QaScripts
from ivr.console.recordings import RecordingShelf
from ivr.console.replays import ReplayDesk
from ivr.console.schema import open_console_db
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.http import build_app
from ivr.metrics import Metrics
from ivr.qa.console_replay import replay_for_console
from ivr.qa.run import RunFolder, run_calls
from ivr.qa.script import load_script
from ivr.qa.simulate import run_script
from ivr.services import Services
from tests.calls.conftest import call_dirs, services  # noqa: F401 (the engines, loaded once)
from tests.console.conftest import PASSWORD, log_in

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "data" / "qa" / "branch_hours.yml"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def made_call(services: Services, tmp_path_factory: pytest.TempPathFactory) -> RunFolder:  # noqa: F811
    """One call asking for the branch hours, recorded by the bot."""
    folder = RunFolder(tmp_path_factory.mktemp("made"))
    [result] = await run_calls(
        services,
        folder,
        "inprocess",
        True,
        [load_script(SCRIPT)],
        run_script,
        services.recording_keys,
        progress=False,
    )
    assert result.passed, (result.checks, result.error)
    return folder


def shared(dialogue: DialogueClient):
    """The tests' assistant (already on a demo bank) lent to one replay, not closed after it."""

    @contextlib.asynccontextmanager
    async def lend(_config: Config) -> AsyncIterator[DialogueClient]:
        yield dialogue

    return lend


@pytest_asyncio.fixture(loop_scope="session")
async def console(services: Services, made_call: RunFolder, tmp_path: Path):  # noqa: F811
    records = tmp_path / "calls.db"
    records.write_bytes((made_call.root / "calls.db").read_bytes())
    url = f"sqlite:///{records}"
    db = open_console_db(url)
    for role in ("qa", "designer"):
        UserStore(db, time.time).add(role, role, PASSWORD, "cli:test")
    db.close()
    config = services.config
    bot = dataclasses.replace(
        services,
        config=dataclasses.replace(
            config, qa=dataclasses.replace(config.qa, reports_dir=str(tmp_path / "reports"))
        ),
    )
    tools = CallTools(
        recordings=RecordingShelf(Path(made_call.recordings_dir), services.recording_keys),
        replays=ReplayDesk(
            bot, functools.partial(replay_for_console, assistant=shared(services.dialogue))
        ),
        scripts=QaScripts(tmp_path / "qa", ROOT / "dialogue" / "domain.yml"),
    )
    settings = load_config(environ={}).console
    app_console = Console(settings, url, tools=tools)
    await app_console.start()
    client = TestClient(TestServer(build_app(Metrics(), lambda: {}, [app_console.add_routes])))
    await client.start_server()
    yield client, url, tools
    await client.close()
    await app_console.stop()


def call_id_of(url: str) -> str:
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    [(call_id,)] = db.execute("SELECT call_id FROM calls").fetchall()
    db.close()
    return call_id


async def post_from(client: TestClient, page: str, action: str, **fields: str):
    token = token_in(await (await client.get(page)).text())
    return await client.post(action, data={"csrf_token": token, **fields}, allow_redirects=False)


async def test_a_replay_from_the_page_shows_its_differences(console) -> None:
    client, url, _ = console
    call_id = call_id_of(url)
    page = f"/console/calls/{call_id}"
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    with db:  # as if the bot had understood this turn otherwise when the call was made
        db.execute(
            "UPDATE turns SET intent = 'check_balance' WHERE call_id = ? AND turn = 1", (call_id,)
        )
    db.close()
    assert (await log_in(client, "designer")).status == 303
    assert (await post_from(client, "/console/", f"{page}/replay")).status == 403
    assert (await post_from(client, "/console/", "/console/logout")).status == 303
    assert (await log_in(client, "qa")).status == 303
    refused = await client.post(f"{page}/replay", data={"keys": "1"}, allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    started = await post_from(client, page, f"{page}/replay", keys="", pin="2468")
    assert started.status == 303 and started.headers["Location"] == f"{page}#replay"
    again = await post_from(client, page, f"{page}/replay")
    assert again.status == 503 and "being replayed already" in await again.text()
    text = ""
    for _ in range(600):
        text = await (await client.get(page)).text()
        if "replay done" in text:
            break
        assert "replay running" in text
        await asyncio.sleep(0.2)
    assert "replay done" in text and "The replay failed" not in text, text[-3000:]
    diff = text[text.index('<table class="diff">') :]
    assert "<td>1</td>\n<td>intent</td>\n<td>check_balance</td>\n<td>branch_hours</td>" in diff
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    rows = db.execute(
        "SELECT actor, action, target, detail FROM console_audit WHERE action = 'call.replay'"
    ).fetchall()
    db.close()
    assert rows == [("qa", "call.replay", call_id, "0 keyed entries, test PIN given")]
    assert "2468" not in rows[0][3]


async def test_a_call_saved_as_a_qa_script_runs_and_passes(
    console,
    services: Services,  # noqa: F811
    tmp_path: Path,
) -> None:
    client, url, tools = console
    call_id = call_id_of(url)
    page = f"/console/calls/{call_id}"
    assert (await log_in(client, "qa")).status == 303
    review = await post_from(client, page, f"{page}/script")
    assert review.status == 200
    shown = html.unescape(await review.text())
    assert "intent: branch_hours" in shown and "greeting:" in shown
    for bad in ("../evil", "a/b", ".hidden", "UPPER", ""):
        refused = await post_from(client, page, f"{page}/script/save", name=bad)
        assert refused.status == 400, bad
    saved = await post_from(client, page, f"{page}/script/save", name="hours_from_console")
    assert saved.status == 200, await saved.text()
    path = tools.scripts.folder / "hours_from_console.yml"
    assert path.is_file() and path.stat().st_mode & 0o077 == 0
    first = path.read_text()
    clash = await post_from(client, page, f"{page}/script/save", name="hours_from_console")
    assert clash.status == 409 and path.read_text() == first
    replaced = await post_from(
        client, page, f"{page}/script/save", name="hours_from_console", overwrite="yes"
    )
    assert replaced.status == 200
    assert sorted(p.name for p in tools.scripts.folder.iterdir()) == ["hours_from_console.yml"]

    script = load_script(path)
    [result] = await run_calls(
        services,
        RunFolder(tmp_path / "run"),
        "inprocess",
        True,
        [script],
        run_script,
        services.recording_keys,
        progress=False,
    )
    assert result.passed, (result.checks, result.error, first)
    assert [c.what for c in result.checks if c.what.startswith("intent")]
