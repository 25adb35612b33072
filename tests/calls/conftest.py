"""Shared, expensive fixtures for whole-call tests: one set of loaded engines and the assistant."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from dialogue.bank import open_repository
from dialogue.bank.security import hash_pin
from ivr.config import Config, load_config
from ivr.recording_keys import create_key_file
from ivr.services import Services, start_services
from ivr.session import CallSession
from speech.asr.scoring import normalise_text
from speech.audio import Audio
from speech.channel import telephone_channel
from speech.endpointer import Endpointer, UtteranceEnded
from speech.settings import VadConfig
from telephony.loopback import LoopbackCall
from tests.speech.corpus import piper, piper_voice

RATE = 8000
PIN = "2468"
ACCOUNT = "31415926"


def holds_pin(data: bytes) -> bool:
    """Whether ``data`` (a database file, a log) holds the PIN as a number of its own; inside a
    longer one (an RTP port such as 32468, a timestamp) it is not the PIN."""
    return re.search(rb"(?<!\d)" + PIN.encode() + rb"(?!\d)", data) is not None


@pytest.fixture(scope="session")
def call_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calls")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def services(call_dirs: Path):
    """Engines, the assistant and stores, with a bank whose demo customer Alice has PIN 2468."""
    started = await start_services(call_config(call_dirs))
    yield started
    await started.close()


def call_config(call_dirs: Path) -> Config:
    """The configuration of whole-call tests, everything in ``call_dirs``: a demo bank whose
    customer Alice has PIN 2468, records, encrypted recordings and the prompt cache."""
    bank = f"sqlite:///{call_dirs}/bank.db"
    repository = open_repository(bank, "data/bank/seed.yml")
    with repository.transaction() as tx:
        tx.execute("UPDATE customers SET pin_hash = ? WHERE first_name = 'Alice'", (hash_pin(PIN),))
    repository.close()
    create_key_file(call_dirs / "recording.keys")
    return load_config(
        overrides=[
            f"bank.database={bank}",
            f"call.records_db=sqlite:///{call_dirs}/calls.db",
            f"call.recordings_dir={call_dirs}/recordings",
            f"call.recording_key_file={call_dirs}/recording.keys",
            f"tts.cache_dir={call_dirs}/prompts",
            # The calls run the project's own model, whatever a developer published locally
            # (tests/console/test_designer_browser.py follows published versions on its own).
            f"design.dir={call_dirs}/design",
            "design.follow_published=false",
            # Prepared once per test session would still cost half a minute of both cores
            # while other calls are timed; tests/calls/test_prompt_warmup.py prepares its own.
            "tts.prepare_prompts=false",
            # The bot's voice the same in every run (no sampled noise): tests that transcribe
            # what the bot said hear one rendering, whatever the bot said before in this session.
            "tts.piper_variation=false",
            "audiosocket.host=127.0.0.1",
            "audiosocket.port=0",
            # Every test call comes from the same scripted caller line: the hourly
            # per-caller limit on verifications is for real callers, not this session.
            "bank.max_verifications_per_hour=1000",
            # Likewise every test caller dials from 127.0.0.1, which proves nothing: the
            # per-address bounds on stream calls are for strangers, not these scripted peers.
            "websocket.max_calls_per_source=32",
            "audiosocket.max_calls_per_source=32",
            "websocket.connections_per_minute_per_source=6000",
            "audiosocket.connections_per_minute_per_source=6000",
        ],
        environ={},
    )


@pytest.fixture(scope="session")
def voice():
    return piper_voice()


def caller_says(voice, text: str) -> bytes:
    """The caller's words as they arrive over a G.711 line, with a breath of silence after."""
    spoken = telephone_channel(piper(voice, text, length_scale=1.05))
    return spoken.pcm + bytes(RATE // 5 * 2)


def speech_onset_bytes(pcm: bytes, level: int = 1000) -> int:
    """Where speech starts in ``pcm`` (first 20 ms frame above ``level``), as a byte offset:
    barge-in is timed from there, not from the breath of silence the voice starts with."""
    samples = np.frombuffer(pcm, "<i2")
    frames = np.abs(samples[: len(samples) // 160 * 160].reshape(-1, 160)).max(axis=1)
    loud = np.flatnonzero(frames > level)
    return int(loud[0]) * 320 if len(loud) else 0


async def transcribe(services: Services, pcm: bytes) -> str:
    """What a listener hears in bot audio, normalised for comparison (numbers digit by digit).

    Long recordings are cut into utterances by the endpointer first: whisper decodes one
    utterance at a time well, but skips stretches of a minute of speech with long pauses.
    """
    endpointer = Endpointer(VadConfig(end_of_speech_ms=700, max_utterance_ms=25_000), RATE)
    pieces = [
        e.audio for e in endpointer.feed(pcm + bytes(RATE * 2)) if isinstance(e, UtteranceEnded)
    ]
    texts = [
        (await services.asr.transcribe_async(Audio.from_pcm(piece, RATE))).text
        for piece in pieces or [pcm]
    ]
    return normalise_text(" ".join(texts))


def balance_dollars(services: Services, account: str = ACCOUNT) -> str:
    """The account's whole-dollar balance from the bank database, as spoken words compare."""
    repository = open_repository(services.config.bank.database, "data/bank/seed.yml")
    with repository.transaction() as tx:
        row = tx.one("SELECT balance_cents FROM accounts WHERE number = ?", (account,))
    repository.close()
    assert row is not None
    return normalise_text(str(row["balance_cents"] // 100))


def records(call_dirs: Path, call_id: str) -> tuple[dict, list[dict]]:
    """The call (by the bot's id, or the newest with this peer id) and its turns."""
    db = sqlite3.connect(call_dirs / "calls.db")
    db.row_factory = sqlite3.Row
    call = db.execute(
        "SELECT * FROM calls WHERE call_id = ? OR peer_call_id = ? ORDER BY started_at DESC",
        (call_id, call_id),
    ).fetchone()
    turns = db.execute(
        "SELECT * FROM turns WHERE call_id = ? ORDER BY turn", (call["call_id"] if call else "",)
    )
    result = (dict(call) if call else {}, [dict(t) for t in turns])
    db.close()
    return result


async def until(condition, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def loopback_call(
    services: Services, call: LoopbackCall | None = None
) -> AsyncIterator[tuple[LoopbackCall, asyncio.Task[str]]]:
    """A live loopback call with its session running; hung up and awaited however the test ends."""
    call = call or LoopbackCall()
    call.start()
    task = asyncio.create_task(CallSession(call.bridge, services).run())
    try:
        yield call, task
    finally:
        call.hang_up()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)
