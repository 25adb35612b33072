"""Calls made by the real bot for the console's browser tests: QA scripts from ``data/qa`` run
in-process by ``run_calls`` (the real CallSession, record store and sealed recorder), and the
console that serves them with their recordings."""

from __future__ import annotations

import shutil
from pathlib import Path

from ivr.config import load_config
from ivr.console.app import Console
from ivr.console.flow_store import FlowStore
from ivr.console.nlu_project import NluProject
from ivr.console.prompt_preview import PromptVoice
from ivr.console.recordings import RecordingShelf
from ivr.console.state import CallTools
from ivr.console.talk_desk import TalkDesk
from ivr.qa.run import RunFolder, run_calls
from ivr.qa.script import load_script
from ivr.qa.simulate import run_script
from ivr.services import Services
from tests.console.test_browser import add_user

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("balance", "branch_hours", "lost_card")
"""A verified balance, a question anyone may ask, an unverified caller blocking a card."""
ROLES = ("designer", "qa", "supervisor", "admin")


async def make_calls(
    services: Services, folder: Path, scripts: tuple[str, ...] = SCRIPTS
) -> RunFolder:
    """One recorded call per script named (``data/qa/<name>.yml``), each passing its checks."""
    made = RunFolder(folder)
    results = await run_calls(
        services,
        made,
        "inprocess",
        True,
        [load_script(ROOT / "data" / "qa" / f"{name}.yml") for name in scripts],
        run_script,
        services.recording_keys,
        progress=False,
    )
    assert [result.passed for result in results] == [True] * len(scripts), [
        (result.checks, result.error) for result in results
    ]
    return made


def records_copy(made: RunFolder, folder: Path) -> str:
    """A copy of the calls' records database in ``folder`` with a user per role (named after
    it, made by ``ivr users add``), so each test's console writes to its own."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(made.root / "calls.db", folder / "calls.db")
    url = f"sqlite:///{folder / 'calls.db'}"
    for role in ROLES:
        add_user(url, folder, role, role)
    return url


def console_of(services: Services, made: RunFolder, url: str) -> Console:
    """The console over ``url`` with the calls' recordings, the assistant's NLU project and the
    talk page's text chat, as the bot's own server mounts it."""
    tools = CallTools(
        recordings=RecordingShelf(Path(made.recordings_dir), services.recording_keys),
        nlu=NluProject.of_config(services.config.dialogue),
        talk=TalkDesk.of_server(services, None),
        flows=FlowStore(ROOT),
        prompt_voice=PromptVoice(services.tts),
    )
    return Console(load_config(environ={}).console, url, tools=tools)
