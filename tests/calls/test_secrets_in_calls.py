"""A secret said where none was asked for leaves no trace, and the prompt cache keeps no
caller's data: whole calls through the CallSession with real engines, the real assistant,
a real record store and a real prompt cache folder."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from ivr.sealed import open_recording
from ivr.services import Services
from speech.tts import create_tts_engine, plan_speech
from speech.tts.cache import CachedTts, PromptKey, decode_entry
from tests.calls.conftest import (
    ACCOUNT,
    PIN,
    RATE,
    balance_dollars,
    caller_says,
    loopback_call,
    records,
    transcribe,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

SAID_PIN = "4321"
"""A PIN said at the wrong moment (not Alice's: any PIN said is a secret)."""
_DIGIT = r"(?:zero|one|two|three|four|five|six|seven|eight|nine)"
DIGITS_READ_OUT = re.compile(rf"\b{_DIGIT}(?: {_DIGIT})+\b")
"""Two or more digits in a row, as ``normalise_text`` spells numbers: figures, not "press 1"."""


def spelled(digits: str) -> str:
    """A pattern for ``digits`` in any spacing, but not inside a longer number (a time stamp,
    a confidence score), which may hold the same four digits by chance."""
    return r"(?<![\d.])" + r"\W{0,3}".join(digits) + r"(?!\d)"


TRACES = re.compile(rf"{spelled(SAID_PIN)}|four\W+three\W+two\W+one", re.IGNORECASE)
"""The PIN said out of turn, in figures or words."""
ALICES_PIN = re.compile(spelled(PIN))


def with_fresh_prompt_cache(services: Services, folder: Path) -> Services:
    """The same engines and assistant, speaking through a prompt cache of its own."""
    tts_config = dataclasses.replace(services.config.tts, cache_dir=str(folder))
    config = dataclasses.replace(services.config, tts=tts_config)
    tts = create_tts_engine(tts_config)
    return dataclasses.replace(services, config=config, tts=tts)


async def bot_turn(call) -> bytes:
    return await call.wait_for_bot_silence(quiet_s=1.6, timeout_s=90)


async def test_a_pin_said_out_of_turn_is_redacted_everywhere_and_muted_in_the_recording(
    services, voice, call_dirs, caplog, tmp_path
) -> None:
    # The caller's voice first: its synthesis logs the words, the bot's side is what is checked.
    request, out_of_turn_pin, pin, done = (
        caller_says(voice, words)
        for words in (
            "Hi, I'd like to check my account balance please.",
            # A secret word whisper hears in this voice: for "my PIN" it writes "my PDIN" or
            # "my pea ion" (README, Security: a PIN said out of turn is found by its word).
            "My password is four three two one.",
            "Two four six eight.",
            "No, that's all, thank you.",
        )
    )
    caplog.set_level(logging.DEBUG)
    line = with_fresh_prompt_cache(services, tmp_path / "prompts")
    async with loopback_call(line) as (call, session):
        await bot_turn(call)
        await call.say(request)
        asked = await transcribe(services, await bot_turn(call))
        assert "account number" in asked, asked

        # Out of turn: the bot asked for the account number, the caller says a PIN.
        started = len(call.said)
        await call.say(out_of_turn_pin)
        ended = len(call.said)
        told = await transcribe(services, await bot_turn(call))
        # Not taken as a wrong PIN for no account: the caller is told to key it in later.
        assert re.search(r"don'?t say|key ?pad once", told) and "match" not in told, told
        bot_id = records(call_dirs, call.bridge.info.call_id)[0]["call_id"]
        tracker = await services.dialogue.tracker_events(bot_id)
        assert not TRACES.search(json.dumps(tracker)), "the PIN reached Rasa's tracker"

        await call.press(ACCOUNT)
        await bot_turn(call)
        await call.say(pin)
        balances = await transcribe(services, await bot_turn(call))
        assert balance_dollars(services) in balances, balances
        await call.say(done)
        await asyncio.wait_for(call.ended.wait(), 120)
        assert await asyncio.wait_for(session, 30) == "self_served"

    row, turns = records(call_dirs, call.bridge.info.call_id)
    said = [t["transcript"] for t in turns if t["input_kind"] == "speech"]
    assert any("[PIN]" in t for t in said), f"the PIN was not recognised as one: {said}"
    assert not TRACES.search(json.dumps(turns)), turns
    assert not ALICES_PIN.search(json.dumps(turns))

    logged = [getattr(r, "ivr_fields", {}) for r in caplog.records]
    finals = [f for f in logged if f.get("text") and "[PIN]" in f["text"]]
    assert finals and finals[0]["redacted"] is True, "asr.final shows the redaction"
    everything = caplog.text + json.dumps(logged, default=str)
    assert not TRACES.search(everything) and not ALICES_PIN.search(everything)

    assert services.recording_keys is not None
    _, _, pcm = open_recording(row["recording"], services.recording_keys)
    stereo = np.frombuffer(pcm, "<i2").reshape(-1, 2)
    caller = stereo[:, 0]
    assert np.any(caller[: started // 2] != 0), "the balance request is audible"
    out_of_turn = caller[started // 2 : ended // 2]
    assert len(out_of_turn) > RATE and not np.any(out_of_turn), "the PIN is audible"
    assert np.any(caller[ended // 2 :] != 0), "what the caller said afterwards is audible"

    await cache_holds_no_caller_data(line, turns)


async def cache_holds_no_caller_data(line: Services, turns: list[dict]) -> None:
    """Every entry in the call's prompt cache is a sentence the bot said that carries no
    caller data, and what it holds, transcribed, names no one and reads out no figures."""
    assert isinstance(line.tts, CachedTts)
    cache, inner = line.tts.cache, line.tts.inner
    personal = re.compile(r"Alice|5\W?9\W?2\W?6|dollars|cents|\$", re.IGNORECASE)
    sentences = [s for t in turns for s in plan_speech(t["bot_text"] or "")]
    keys = {s.text: PromptKey.for_engine(inner, s.spoken, RATE) for s in sentences}
    where = {cache.path_for(key): text for text, key in keys.items()}
    entries = set(cache.entries())
    assert entries, "fixed prompts are cached"
    assert entries <= set(where), "an entry that is no sentence of this call's bot"
    cached = [where[path] for path in entries]
    assert not [text for text in cached if personal.search(text)], cached
    assert any("Alice" in s.text for s in sentences), "the call covers a name"
    assert any(re.search(r"\d \d \d \d", s.text) for s in sentences), "and account digits"
    for path in entries:
        audio = decode_entry(path.read_bytes(), keys[where[path]])
        heard = await transcribe(line, audio.pcm)
        assert "alice" not in heard and "dollar" not in heard, heard
        assert not DIGITS_READ_OUT.search(heard), heard
