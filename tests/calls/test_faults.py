"""Faults mid-call with real components: a full disk, an unwritable recordings folder, a locked
records database, a Rasa server that dies, a voice that fails. The call either goes on (with a
note in its record) or apologises and hands off; nothing fails silently."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from dialogue.client import HttpClient
from ivr.records import CallRecordStore
from ivr.services import Services
from ivr.session import MAX_PENDING_INPUTS, CallSession
from speech.audio import Audio
from speech.tts import TtsEngine
from telephony.loopback import LoopbackCall
from tests.calls.conftest import RATE, caller_says, loopback_call, records, transcribe, until
from tests.calls.settings import with_call_settings

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


def logged(caplog: pytest.LogCaptureFixture, event: str) -> list[dict]:
    """The structured fields of each log line with this event name."""
    return [getattr(r, "ivr_fields", {}) for r in caplog.records if r.getMessage() == event]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 kB tmpfs: the recording's first second of audio does not fit (a real ENOSPC)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


async def test_a_full_disk_stops_the_recording_not_the_call(
    services, voice, call_dirs, full_disk, caplog
) -> None:
    caplog.set_level(logging.INFO)
    on_full_disk = with_call_settings(services, recordings_dir=str(full_disk))
    async with loopback_call(on_full_disk) as (call, session):
        greeting = await transcribe(services, await call.wait_for_bot_silence(1.6, 90))
        assert "help" in greeting, "the greeting was paced out whole after the disk filled"
        await call.say(caller_says(voice, "I lost my card"))
        reply = await call.wait_for_bot_silence(1.6, 90)
        assert len(reply) / 2 / RATE > 1, "the session still hears the caller and answers"
        call.hang_up()
        assert await asyncio.wait_for(session, 30) == "abandoned"
    row, turns = records(call_dirs, call.bridge.info.call_id)
    assert "No space left on device" in row["details"], row
    assert [t["input_kind"] for t in turns] == ["start", "speech"]
    failures = logged(caplog, "recording.failed")
    assert failures and failures[0]["call_id"] == row["call_id"]


async def test_an_unwritable_recordings_folder_leaves_the_call_unrecorded(
    services, voice, call_dirs, tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO)
    not_a_folder = tmp_path / "recordings"
    not_a_folder.write_text("a file where the recordings folder should be")
    unwritable = with_call_settings(services, recordings_dir=str(not_a_folder))
    async with loopback_call(unwritable) as (call, session):
        greeting = await transcribe(services, await call.wait_for_bot_silence(1.6, 90))
        assert "help" in greeting
        call.hang_up()
        assert await asyncio.wait_for(session, 30) == "abandoned"
    row, turns = records(call_dirs, call.bridge.info.call_id)
    assert row["recording"] == "" and "recording stopped" in row["details"], row
    assert len(turns) == 1
    assert logged(caplog, "recording.failed")[0]["call_id"] == row["call_id"]


async def test_a_locked_records_database_delays_the_record_not_the_call(
    services, voice, tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO)
    store = CallRecordStore(f"sqlite:///{tmp_path}/calls.db", node_id="test")
    locked = dataclasses.replace(services, records=store)
    holder = sqlite3.connect(tmp_path / "calls.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        async with loopback_call(locked) as (call, session):
            greeting = await transcribe(services, await call.wait_for_bot_silence(1.6, 90))
            assert "help" in greeting, "the call is answered while the database is locked"
            await call.say(caller_says(voice, "I lost my card"))
            await call.wait_for_bot_silence(1.6, 90)
            assert store.backlog >= 2, "the writes wait for the database"
            holder.execute("COMMIT")
            call.hang_up()
            assert await asyncio.wait_for(session, 30) == "abandoned"
        await until(lambda: store.backlog == 0, 30, "the backlog to be written")
        row = store.call(call.bridge.info.call_id)
        assert row is not None and row["outcome"] == "abandoned" and row["node_id"] == "test"
        assert [t["input_kind"] for t in store.turns(row["call_id"])] == ["start", "speech"]
        delayed = logged(caplog, "records.write_delayed")
        assert delayed and delayed[0]["call_id"] == row["call_id"]
    finally:
        holder.close()
        store.close()


class BrokenVoice(TtsEngine):
    """A voice whose model file has gone: every synthesis fails."""

    name = "broken"
    voice = "gone"
    native_rate = 22050
    speaking_rate = 1.0

    def synthesize(self, text: str) -> Iterator[Audio]:
        raise OSError("voice model unreadable")


async def test_a_failing_voice_hands_the_caller_off_without_the_apology(
    services, call_dirs, caplog
) -> None:
    caplog.set_level(logging.INFO)
    mute = dataclasses.replace(services, tts=BrokenVoice())
    call = LoopbackCall()
    call.start()
    session = CallSession(call.bridge, mute)
    assert await asyncio.wait_for(session.run(), 60) == "failed"
    assert not any(call.heard), "nothing could be said"
    assert call.transfers and "speech synthesis failed" in call.transfers[0][1]["reason"]
    row, _ = records(call_dirs, session.call_id)
    assert row["outcome"] == "failed" and "voice model unreadable" in row["reason"]
    assert logged(caplog, "call.apology_failed")[0]["call_id"] == session.call_id


RASA_TOKEN = secrets.token_urlsafe(32)


@pytest_asyncio.fixture(loop_scope="session")
async def rasa_server(services: Services) -> AsyncIterator[object]:
    """Rasa's own HTTP server (as `rasa run --enable-api` serves it) on the session's model."""
    from rasa import server
    from rasa.core.channels.channel import register
    from rasa.core.run import create_http_input_channels
    from sanic import Sanic

    from dialogue.action_server import SanicInLoop

    Sanic._app_registry.pop("rasa_server", None)
    agent = services.dialogue.agent  # type: ignore[attr-defined]
    app = server.create_app(agent=agent, cors_origins="", auth_token=RASA_TOKEN)
    with pytest.MonkeyPatch.context() as env:  # what `rasa run --credentials` reads
        env.setenv("IVR_RASA_TOKEN", RASA_TOKEN)
        channels = create_http_input_channels(None, "dialogue/credentials.yml")
    register(channels, app, "/webhooks/")
    serving = SanicInLoop(app, "127.0.0.1", 0)
    await serving.start()
    yield serving
    await serving.stop()
    Sanic._app_registry.pop("rasa_server", None)


async def test_a_rasa_server_dying_mid_call_gets_an_apology_and_a_handoff(
    services, voice, call_dirs, rasa_server
) -> None:
    client = HttpClient(
        f"http://127.0.0.1:{rasa_server.port}",
        action_server=None,
        vault=services.dialogue.vault,
        token=RASA_TOKEN,
        timeout_s=5,
    )
    await client.start()
    remote = dataclasses.replace(services, dialogue=client)
    try:
        async with loopback_call(remote) as (call, session):
            greeting = await call.wait_for_bot_silence(1.6, 90)
            assert "help" in await transcribe(services, greeting)
            await rasa_server.stop()  # the Rasa server dies
            heard_before = len(call.heard)
            await call.say(caller_says(voice, "I lost my card"))
            assert await asyncio.wait_for(session, 60) == "failed"
            apology = await transcribe(services, bytes(call.heard[heard_before:]))
    finally:
        await client.close()
    assert "sorry" in apology and "technical" in apology, apology
    assert call.transfers and call.transfers[0][1]["reason"].startswith("dialogue failed")
    row, turns = records(call_dirs, call.bridge.info.call_id)
    assert row["outcome"] == "failed" and "dialogue failed" in row["reason"]
    assert len(turns) == 1, "the greeting's turn was recorded before the failure"


class StalledAssistant:
    """The real assistant, except that a keypad entry gets no answer until ``answer`` is set:
    the conversation is stuck in one turn while the caller goes on."""

    def __init__(self, assistant: Any) -> None:
        self._assistant = assistant
        self.answer = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._assistant, name)

    async def send_digits(self, conversation_id: str, digits: str, *, secure: bool) -> object:
        await self.answer.wait()
        return await self._assistant.send_digits(conversation_id, digits, secure=secure)


def dropped_inputs(services: Services, kind: str) -> float:
    value = services.metrics.registry.get_sample_value(
        "ivr_events_total", {"event": "input_dropped", "kind": kind}
    )
    return value or 0.0


async def test_input_beyond_the_pending_bound_is_dropped_and_the_hang_up_still_gets_through(
    services, voice, caplog
) -> None:
    caplog.set_level(logging.INFO)
    stalled = StalledAssistant(services.dialogue)
    stuck = dataclasses.replace(services, dialogue=stalled)
    digits_before = dropped_inputs(services, "digits")
    speech_before = dropped_inputs(services, "utterance")
    call = LoopbackCall()
    call.start()
    session = CallSession(call.bridge, stuck)
    running = asyncio.create_task(session.run())
    try:
        await call.wait_for_bot_silence(1.6, 90)
        # One entry the conversation takes (and waits on), MAX_PENDING_INPUTS queued, 7 more.
        await call.press("1#" * (1 + MAX_PENDING_INPUTS + 7), gap_s=0.01)
        await until(lambda: dropped_inputs(services, "digits") - digits_before == 7, 10, "drops")
        await call.say(caller_says(voice, "I lost my card"))
        await until(lambda: dropped_inputs(services, "utterance") > speech_before, 30, "drop")
        # The dropped utterance's held audio is let go: the recording goes on being written.
        recorder = session.recorder
        assert recorder is not None
        written = recorder.frames_written
        await until(lambda: recorder.frames_written > written, 5, "the recording to go on")
        call.hang_up()  # into a full queue: it takes the place of the oldest entry
        await until(lambda: dropped_inputs(services, "digits") - digits_before == 8, 5, "room")
        stalled.answer.set()
        assert await asyncio.wait_for(running, 60) == "abandoned"
    finally:
        stalled.answer.set()
        call.hang_up()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 30)
    full = logged(caplog, "call.inputs_full")
    assert len(full) == 1 and full[0]["dropped"] == "digits", full
    assert not logged(caplog, "call.pump_failed")
