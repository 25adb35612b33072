"""Publishing while a call is in progress, over SIP: that call finishes on the version it began
on, the next call runs the new one, and the old assistant is let go when its last call ends.

Version 2 changes only the opening hours (a knowledge file), so no training is needed: this is
the designer's "change an opening hour and the next caller hears it" path. The callers are the
project's own SIP user agent and RTP sender (``ivr.bench``), which speak when the test says:
the first caller asks after the publish. What the bot said is read from the call records.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio

from dialogue.client import make_client
from ivr.bench.caller import CallerLine, CallerRtp
from ivr.bench.uac import SipUac
from ivr.bench.voice import caller_lines
from ivr.pepper import bank_pepper
from ivr.server import BotServer
from ivr.services import Services
from ivr.versions.draft import Draft
from ivr.versions.live import VersionedDialogue
from ivr.versions.store import VersionStore
from tests.calls.conftest import records, until
from tests.versions.conftest import REPO, passing_report, trained_copy

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

HOURS = "data/knowledge/hours.yml"
OLD, NEW = "from 9 AM to 5 PM", "from 8 AM to 6 PM"


@pytest_asyncio.fixture(loop_scope="session")
async def versioned(services: Services, tmp_path: Path):
    """A bot over SIP following a design folder of its own, version 1 (the shipped files)
    published; it waits patiently for a caller who says nothing while the test publishes."""
    project = trained_copy(tmp_path / "project", model=REPO / "models" / "dialogue.tar.gz")
    store = VersionStore(tmp_path / "design")
    draft = Draft(store.root / "draft", store, project)
    draft.ensure(author="designer")
    store.publish(1, by="designer")
    config = services.config
    pepper = bank_pepper(config)
    dialogue = VersionedDialogue(
        config.dialogue,
        config.bank,
        store,
        lambda settings, bank: make_client(settings, bank, pepper=pepper),
        watch_s=0.5,
    )
    await dialogue.start()
    patient = dataclasses.replace(
        config,
        vad=dataclasses.replace(config.vad, no_input_ms=120_000),
        sip=dataclasses.replace(config.sip, host="127.0.0.1", port=0),
        http=dataclasses.replace(config.http, host="127.0.0.1", port=0),
    )
    bot = BotServer(patient, dataclasses.replace(services, dialogue=dialogue, config=patient))
    await bot.start()
    yield bot, dialogue, draft
    await bot.stop()
    await dialogue.close()


@asynccontextmanager
async def sip_call(bot: BotServer) -> AsyncIterator[tuple[SipUac, CallerRtp]]:
    """A call answered and its greeting heard out; hung up at the end."""
    uac, rtp = SipUac(("127.0.0.1", bot.sip_port)), CallerRtp()
    await uac.open()
    await rtp.open()
    try:
        media = await uac.invite(rtp.port)
        rtp.start((media.remote_address, media.remote_port))
        answered = asyncio.get_running_loop().time()
        await rtp.audible(30)
        await rtp.quiet(answered, 30)
        yield uac, rtp
    finally:
        await uac.bye()
        await rtp.close()
        uac.close()


async def ask(rtp: CallerRtp, line: CallerLine) -> None:
    voiced = await rtp.say(line)
    reply = await rtp.reply_after(voiced, 60)
    assert reply is not None, "the bot answered"
    await rtp.quiet(reply, 40)


def hours_said(call_dirs: Path, sip_call_id: str) -> str:
    _, turns = records(call_dirs, sip_call_id)
    return " ".join(t["bot_text"] for t in turns if t["intent"] == "branch_hours")


async def test_a_sip_call_finishes_on_its_version_and_the_next_one_runs_the_new_one(
    services: Services, call_dirs: Path, versioned: tuple[BotServer, VersionedDialogue, Draft]
) -> None:
    bot, dialogue, draft = versioned
    (line,) = await asyncio.to_thread(caller_lines, services.config, ["When are you open?"])
    hours = draft.read(HOURS)
    assert OLD in hours

    async with sip_call(bot) as (first, first_rtp):
        draft.write(HOURS, hours.replace(OLD, NEW), revision=draft.revision(HOURS), author="d")
        assert not draft.needs_training()
        draft.save_report(passing_report(draft))
        draft.publish(author="designer", message="longer weekday hours")
        await until(lambda: dialogue.version == 2, 120, "the bot to load version 2")
        assert dialogue.loaded == [1, 2]
        await ask(first_rtp, line)
        async with sip_call(bot) as (second, second_rtp):
            await ask(second_rtp, line)

    assert OLD in hours_said(call_dirs, first.call_id), records(call_dirs, first.call_id)
    assert NEW in hours_said(call_dirs, second.call_id), records(call_dirs, second.call_id)
    await until(lambda: dialogue.loaded == [2], 30, "version 1 to be let go")
