"""Publishing while a call is in progress: that call finishes on the version it began on, the
next call runs the new one, and the old assistant is let go when its last call ends.

Version 2 changes only the opening hours (a knowledge file), so no training is needed: this is
the designer's "change an opening hour and the next caller hears it" path, through a real
CallSession with audio both ways.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import pytest_asyncio

from dialogue.client import make_client
from ivr.pepper import bank_pepper
from ivr.services import Services
from ivr.versions.draft import Draft
from ivr.versions.live import VersionedDialogue
from ivr.versions.store import VersionStore
from tests.calls.conftest import caller_says, loopback_call, transcribe, until
from tests.versions.conftest import REPO, passing_report, trained_copy

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

HOURS = "data/knowledge/hours.yml"
OLD, NEW = "from 9 AM to 5 PM", "from 8 AM to 6 PM"


@pytest_asyncio.fixture(loop_scope="session")
async def versioned(services: Services, tmp_path: Path):
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
    yield dialogue, draft
    await dialogue.close()


async def test_a_call_finishes_on_its_version_and_the_next_one_runs_the_new_one(
    services: Services, voice, versioned: tuple[VersionedDialogue, Draft]
) -> None:
    dialogue, draft = versioned
    patient = dataclasses.replace(
        services.config, vad=dataclasses.replace(services.config.vad, no_input_ms=120_000)
    )
    on_versions = dataclasses.replace(services, dialogue=dialogue, config=patient)
    hours = draft.read(HOURS)
    assert OLD in hours

    async with loopback_call(on_versions) as (first, _):
        assert "help" in await transcribe(services, await first.wait_for_bot_silence(1.6, 90))

        draft.write(HOURS, hours.replace(OLD, NEW), revision=draft.revision(HOURS), author="d")
        assert not draft.needs_training()
        draft.save_report(passing_report(draft))
        draft.publish(author="designer", message="longer weekday hours")
        await until(lambda: dialogue.version == 2, 120, "the bot to load version 2")
        assert dialogue.version == 2 and dialogue.loaded == [1, 2]

        await first.say(caller_says(voice, "When are you open?"))
        heard_first = await transcribe(services, await first.wait_for_bot_silence(1.6, 90))

        async with loopback_call(on_versions) as (second, _):
            await second.wait_for_bot_silence(1.6, 90)
            await second.say(caller_says(voice, "When are you open?"))
            heard_second = await transcribe(services, await second.wait_for_bot_silence(1.6, 90))

    assert "nine a m to five p m" in heard_first, heard_first
    assert "eight a m to six p m" in heard_second, heard_second
    assert dialogue.loaded == [2], "version 1 is let go once its last call has ended"
