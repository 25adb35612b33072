"""Whole calls through the CallSession with real engines, the real assistant and a real database.

The caller is an in-process loopback line paced in real time: its speech is synthesised by the
test (piper, through an 8 kHz G.711 channel), keys are pressed as DTMF events, and everything
the bot sends is kept to be transcribed and measured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import wave
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from dialogue import payloads
from dialogue.client import GREET, _ClientBase
from dialogue.secrets import SecretVault, is_token
from ivr.bench.voice import last_voiced_frame
from ivr.cli import main
from ivr.services import Services
from ivr.session import CallSession
from speech.asr.base import AsyncAsrStream, Transcript
from speech.asr.scoring import word_error_rate
from speech.settings import VadConfig
from telephony.loopback import EchoPath, LoopbackCall
from tests.calls.conftest import (
    ACCOUNT,
    PIN,
    RATE,
    balance_dollars,
    caller_says,
    holds_pin,
    loopback_call,
    records,
    speech_onset_bytes,
    transcribe,
    until,
)
from tests.calls.settings import with_call_settings

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def bot_turn(call: LoopbackCall) -> bytes:
    """Wait for the bot to say something and fall quiet; returns what it said."""
    return await call.wait_for_bot_silence(quiet_s=1.6, timeout_s=90)


def barge_ins(services: Services) -> float:
    value = services.metrics.registry.get_sample_value(
        "ivr_events_total", {"event": "barge_in", "kind": ""}
    )
    return value or 0.0


async def test_authenticated_balance_call(services, voice, call_dirs, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with loopback_call(services) as (call, session):
        greeting = await transcribe(services, await bot_turn(call))
        assert "recorded" in greeting and "help" in greeting

        await call.say(caller_says(voice, "Hi, I'd like to check my account balance please."))
        asked_account = await transcribe(services, await bot_turn(call))
        assert "account number" in asked_account, asked_account

        # The account number in two parts: the bot keeps the first and asks for the rest.
        await call.press(ACCOUNT[:4] + "#")
        asked_rest = await transcribe(services, await bot_turn(call))
        assert "last four digits" in asked_rest, asked_rest
        await call.press(ACCOUNT[4:])
        # Audible (a prompt to key something in); what it asks for is read from the record below.
        asked_pin = await transcribe(services, await bot_turn(call))
        assert "keypad" in asked_pin.replace("key pad", "keypad"), asked_pin

        # The PIN is spoken, not keyed: the harder case for keeping it out of records and audio.
        pin_started = len(call.said)
        await call.say(caller_says(voice, "Two four six eight."))
        pin_ended = len(call.said)
        balances = await transcribe(services, await bot_turn(call))
        assert balance_dollars(services) in balances, balances

        await call.say(caller_says(voice, "No, that's all, thank you."))
        await asyncio.wait_for(call.ended.wait(), 120)
        outcome = await asyncio.wait_for(session, 30)

    row, turns = records(call_dirs, call.bridge.info.call_id)
    assert outcome == row["outcome"] == "self_served", row
    assert row["caller"].endswith("1234@loopback") and "555000" not in row["caller"]
    kinds = [t["input_kind"] for t in turns]
    assert kinds[:5] == ["start", "speech", "dtmf", "dtmf", "secure_speech"], kinds
    assert turns[1]["intent"] == "check_balance" and "balance" in turns[1]["transcript"].lower()
    # Parts of the account number keep no digit, in what the caller keyed or the bot read back
    # (with the last four shown elsewhere they would give the number away).
    assert turns[2]["transcript"] == turns[3]["transcript"] == "****"
    assert turns[2]["bot_text"] == "I have ****. Please say the last 4 digits.", turns[2]
    assert "PIN" in turns[3]["bot_text"], turns[3]
    assert turns[4]["transcript"] == ""
    read_back = " ".join(ACCOUNT[:4])  # as the bot says it: "I have 3 1 4 1."
    assert read_back.encode() not in (call_dirs / "calls.db").read_bytes()
    assert read_back not in caplog.text
    assert turns[1]["asr_ms"] is not None and 0 < turns[1]["response_ms"] < 10_000

    # The PIN is nowhere: not in records, not in logs, not audible in the recording.
    assert not holds_pin((call_dirs / "calls.db").read_bytes())
    assert not holds_pin(caplog.text.encode())
    # The recording is sealed: no WAV on disk; exported (by the peer's id) it is what was heard.
    with pytest.raises(wave.Error):
        wave.open(row["recording"]).close()
    exported = call_dirs / f"{row['call_id']}-export.wav"
    result = CliRunner().invoke(
        main,
        [
            "--set",
            f"call.records_db=sqlite:///{call_dirs}/calls.db",
            "--set",
            f"call.recording_key_file={call_dirs}/recording.keys",
            "recordings",
            "export",
            call.bridge.info.call_id,
            "-o",
            str(exported),
        ],
    )
    assert result.exit_code == 0, result.output
    with wave.open(str(exported)) as recording:
        assert recording.getnchannels() == 2 and recording.getframerate() == RATE
        stereo = np.frombuffer(recording.readframes(recording.getnframes()), "<i2").reshape(-1, 2)
    caller_channel = stereo[:, 0]
    heard_before_pin = np.frombuffer(bytes(call.said[:pin_started]), "<i2")
    assert np.array_equal(caller_channel[: pin_started // 2], heard_before_pin)
    assert np.any(caller_channel[: pin_started // 2] != 0), "caller audio was recorded"
    spoken_pin = caller_channel[pin_started // 2 : pin_ended // 2]
    assert len(spoken_pin) > RATE and not np.any(spoken_pin), "PIN audible in the recording"
    assert np.any(stereo[:, 1] != 0), "bot audio was recorded"


def trimmed(pcm: bytes) -> bytes:
    """Speech cut after its last voiced frame, so a pause added after it is exactly that long."""
    return pcm[: (last_voiced_frame(pcm, VadConfig()) + 1) * RATE // 50 * 2]


def speculations(services: Services, kind: str) -> float:
    value = services.metrics.registry.get_sample_value(
        "ivr_events_total", {"event": "asr_speculation", "kind": kind}
    )
    return value or 0.0


async def test_recognition_started_in_the_hangover_is_kept_only_if_the_caller_stays_quiet(
    services, voice, call_dirs
) -> None:
    pause = bytes(RATE * 2 * 3 // 10)  # 300 ms: past speculate_after_ms, short of the hangover
    first_half = trimmed(caller_says(voice, "How much is the"))
    second_half = caller_says(voice, "overdraft fee?")
    second_half = second_half[speech_onset_bytes(second_half) :]  # the pause is all the quiet
    # No early end: a guess of the first half that whisper writes as a whole question ("How
    # much is it?") would close the turn there; this test is about the guess being voided.
    vad = dataclasses.replace(services.config.vad, early_end_ms=0)
    config = dataclasses.replace(services.config, vad=vad)
    async with loopback_call(dataclasses.replace(services, config=config)) as (call, _):
        await bot_turn(call)
        kept, voided = speculations(services, "kept"), speculations(services, "voided")
        await call.say(caller_says(voice, "What is the interest rate on savings?"))
        await bot_turn(call)
        assert speculations(services, "kept") == kept + 1
        await call.say(first_half + pause + second_half)
        fee = await transcribe(services, await bot_turn(call))
        assert speculations(services, "voided") >= voided + 1
    _, turns = records(call_dirs, call.bridge.info.call_id)
    spoken = [t for t in turns if t["input_kind"] == "speech"]
    said = [t["transcript"].lower() for t in spoken]
    assert "savings" in said[0], said
    # Both halves in one utterance ("over draft" or "overdraft": whisper writes either), and
    # the bot answered the whole question: in the words it sent, and those words reached the
    # caller (most of them as a recogniser hears the bot's voice: it wrote "overgraph" once).
    joined = said[1].replace(" ", "")
    assert "howmuch" in joined and "overdraft" in joined, said
    answer = spoken[1]["bot_text"] if len(spoken) == 2 else ""
    assert "overdraft fee is" in answer.lower(), spoken
    assert word_error_rate([answer], [fee]).wer <= 0.3, (answer, fee)


async def test_a_caller_who_pauses_often_never_queues_up_recognitions(
    services, voice, call_dirs, monkeypatch
) -> None:
    """Every pause past ``asr.speculate_after_ms`` may start a guess; a new one waits for a voided
    one still running, so the final recognition never queues behind a pile of stale ones."""
    running, most = 0, 0
    preview = AsyncAsrStream.preview

    async def slow_preview(stream: AsyncAsrStream) -> Transcript | None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(1.0)  # a busy machine: each guess outlasts the next pause
            return await preview(stream)
        finally:
            running -= 1

    monkeypatch.setattr(AsyncAsrStream, "preview", slow_preview)
    pause = bytes(RATE * 2 * 3 // 10)
    halting = b"".join(
        trimmed(caller_says(voice, words)) + pause
        for words in ("I would like", "to check", "my savings", "balance")
    )
    async with loopback_call(services) as (call, _):
        await bot_turn(call)
        voided = speculations(services, "voided")
        await call.say(halting + bytes(RATE * 2))
        await bot_turn(call)
        assert speculations(services, "voided") >= voided + 1
    assert most == 1
    _, turns = records(call_dirs, call.bridge.info.call_id)
    said = [t["transcript"].lower() for t in turns if t["input_kind"] == "speech"]
    assert len(said) == 1 and "balance" in said[0], said


def early_turn_ends(services: Services) -> float:
    value = services.metrics.registry.get_sample_value(
        "ivr_events_total", {"event": "turn_end", "kind": "early"}
    )
    return value or 0.0


async def test_a_finished_sentence_ends_the_turn_before_the_hangover_and_a_fragment_does_not(
    services, voice, call_dirs
) -> None:
    # A 2.5 s hangover makes the early close plain to see however slowly whisper runs here.
    vad = dataclasses.replace(services.config.vad, end_of_speech_ms=2500, early_end_ms=300)
    patient = dataclasses.replace(services, config=dataclasses.replace(services.config, vad=vad))
    async with loopback_call(patient) as (call, _):
        await bot_turn(call)
        early = early_turn_ends(services)
        await call.say(caller_says(voice, "What is the interest rate on savings?"))
        await bot_turn(call)
        assert early_turn_ends(services) == early + 1
        await call.say(caller_says(voice, "My account number is"))
        await bot_turn(call)
        assert early_turn_ends(services) == early + 1
    _, turns = records(call_dirs, call.bridge.info.call_id)
    finished, fragment = [t for t in turns if t["input_kind"] == "speech"]
    assert "savings" in finished["transcript"].lower(), finished
    assert vad.early_end_ms <= finished["endpoint_ms"] < 2000, finished
    assert fragment["endpoint_ms"] >= 2000, fragment  # the hangover less its 10% voiced allowance


class AsksForKeysTwice(_ClientBase):
    """An assistant whose greeting asks for an account number and then, in the same reply, for
    a PIN: two keypad requests in one turn, which the domain's own flows never send."""

    def __init__(self) -> None:
        super().__init__(SecretVault(), None)
        self.heard: list[str] = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def _exchange(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        self.heard.append(text)
        if text == GREET:
            return [
                {"text": "Key in your account number.", "custom": payloads.expect_digits(8)},
                {"text": "Now your PIN.", "custom": payloads.expect_digits(4, secure=True)},
            ], {}
        return [{"text": "Thank you.", "custom": None}], {}


async def test_a_reply_asking_for_keys_twice_collects_and_routes_by_its_last_request(
    services, call_dirs
) -> None:
    """The session's keypad collection and the client's secure routing read one rule: the
    reply's last keypad request (the PIN's) holds, so four keys are a whole secure entry."""
    assistant = AsksForKeysTwice()
    scripted = dataclasses.replace(services, dialogue=assistant)
    async with loopback_call(scripted) as (call, _):
        await bot_turn(call)
        call_id = records(call_dirs, call.bridge.info.call_id)[0]["call_id"]
        assert assistant.expects_secure_input(call_id)
        await call.press(PIN)  # no terminator: the PIN's four keys end the entry
        await until(lambda: len(assistant.heard) == 2, 5, "the four keys to be sent")
        await bot_turn(call)
    sent = assistant.heard[1]
    assert PIN not in sent, sent
    token = json.loads(sent.removeprefix("/dtmf"))["digits"]
    assert is_token(token) and assistant.vault.redeem(token) == PIN
    _, turns = records(call_dirs, call.bridge.info.call_id)
    assert [t["input_kind"] for t in turns] == ["start", "secure_dtmf"], turns
    assert turns[1]["transcript"] == ""


async def menu_playing(call: LoopbackCall, voice) -> None:
    """Past the greeting, the caller asks what the bot can do; returns a second into the menu."""
    await bot_turn(call)
    call.say_nowait(caller_says(voice, "What can you do for me?"))
    await _bot_starts_speaking(call)
    await asyncio.sleep(1.0)


async def test_barge_in_stops_the_prompt_within_300ms(services, voice) -> None:
    async with loopback_call(services) as (call, session):
        await menu_playing(call, voice)  # talk over it
        before = barge_ins(services)
        onset = len(call.said) // 2
        call.say_nowait(caller_says(voice, "I want to talk to an agent."))
        await asyncio.sleep(1.5)
        assert barge_ins(services) == before + 1
        heard = np.frombuffer(bytes(call.heard[onset * 2 :]), "<i2")
        frames = np.abs(heard[: len(heard) // 160 * 160].reshape(-1, 160)).max(axis=1)
        quiet = [i for i in range(len(frames) - 10) if not frames[i : i + 10].any()]
        stop_ms = quiet[0] * 20 if quiet else None
        assert stop_ms is not None and stop_ms <= 300, f"bot audio went on {stop_ms} ms"
        await asyncio.wait_for(call.ended.wait(), 90)
        assert await asyncio.wait_for(session, 30) == "handed_off"
    assert call.transfers and call.transfers[0][0] == services.config.call.agent_uri


async def test_the_bots_own_echo_does_not_interrupt_it(services, voice) -> None:
    """A line returning the bot's voice 80 ms later at -8 dB: the menu plays to the end."""
    line = LoopbackCall(echo=EchoPath(delay_ms=80, gain_db=-8))
    async with loopback_call(services, line) as (call, _):
        await bot_turn(call)
        before = barge_ins(services)
        await call.say(caller_says(voice, "What can you do for me?"))
        menu = await bot_turn(call)
        assert len(menu) / 2 / RATE > 2, "an interruptible menu was played"
        assert barge_ins(services) == before, "the bot's own echo caused a barge-in"
        said = await transcribe(services, menu)
        assert "balance" in said or "card" in said, said


async def test_caller_hanging_up_mid_sentence_leaves_an_abandoned_record(
    services, voice, call_dirs
) -> None:
    async with loopback_call(services) as (call, session):
        await bot_turn(call)
        words = caller_says(voice, "I need to report that my card was stolen yesterday")
        call.say_nowait(words)
        await asyncio.sleep(len(words) / 2 / RATE / 2)
        call.hang_up()
        assert await asyncio.wait_for(session, 30) == "abandoned"
    row, _ = records(call_dirs, call.bridge.info.call_id)
    assert row["outcome"] == "abandoned" and row["ended_at"] is not None
    # The assistant forgot the call (its tracker is not kept for the life of the process).
    assert await services.dialogue.tracker_events(row["call_id"]) == []


async def test_caller_hanging_up_while_the_bot_speaks_ends_the_session_normally(
    services, call_dirs
) -> None:
    async with loopback_call(services) as (call, session):
        await until(lambda: any(call.heard), 60, "the greeting to start")
        await asyncio.sleep(0.5)
        assert not session.done(), "the greeting is still playing"
        call.hang_up()
        assert await asyncio.wait_for(session, 30) == "abandoned"
    row, _ = records(call_dirs, call.bridge.info.call_id)
    assert row["outcome"] == "abandoned" and "caller hung up" in row["reason"], row


async def test_dialogue_failure_apologises_and_hands_off(services, call_dirs) -> None:
    class Unreachable:
        async def begin(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("assistant unreachable")

    broken = Services(services.config, services.asr, services.tts, Unreachable(), services.records)
    call = LoopbackCall()
    call.start()
    outcome = await asyncio.wait_for(CallSession(call.bridge, broken).run(), 60)
    assert outcome == "failed"
    apology = await transcribe(services, bytes(call.heard))
    assert "sorry" in apology and "technical" in apology, apology
    assert call.transfers and call.transfers[0][1]["reason"].startswith("dialogue failed")
    row, _ = records(call_dirs, call.bridge.info.call_id)
    assert row["outcome"] == "failed" and "assistant unreachable" in row["reason"]


async def _bot_starts_speaking(call: LoopbackCall, timeout_s: float = 30) -> None:
    start = len(call.heard)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not any(call.heard[start:]):
        if loop.time() > deadline:
            raise TimeoutError("the bot never started speaking")
        await asyncio.sleep(0.02)


async def test_max_call_s_ends_a_call_politely_when_it_runs_out(services, call_dirs) -> None:
    short = with_call_settings(services, max_call_s=4)
    call = LoopbackCall()
    call.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = await asyncio.wait_for(CallSession(call.bridge, short).run(), 60)
    took = loop.time() - started
    assert outcome == "self_served" and call.end_reason == "max_call_length"
    assert 4 <= took < 15, took
    row, _ = records(call_dirs, call.bridge.info.call_id)
    assert row["reason"] == "maximum call length reached"


async def test_with_barge_in_off_caller_speech_does_not_stop_the_prompt(services, voice) -> None:
    patient = with_call_settings(services, barge_in=False)
    async with loopback_call(patient) as (call, _):
        await menu_playing(call, voice)  # talk over it
        before = barge_ins(services)
        call.say_nowait(caller_says(voice, "I want to talk to an agent."))
        await asyncio.sleep(1.5)  # a barge-in would have stopped the menu by now
        assert barge_ins(services) == before


async def test_a_failure_speaks_the_configured_apology_and_hands_to_the_configured_agent(
    services,
) -> None:
    class Unreachable:
        async def begin(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("assistant unreachable")

    configured = with_call_settings(
        services, apology="Please hold the line for a colleague.", agent_uri="sip:desk@bank.example"
    )
    broken = dataclasses.replace(configured, dialogue=Unreachable())
    call = LoopbackCall()
    call.start()
    assert await asyncio.wait_for(CallSession(call.bridge, broken).run(), 60) == "failed"
    apology = await transcribe(services, bytes(call.heard))
    assert "hold" in apology and "colleague" in apology and "technical" not in apology, apology
    assert call.transfers and call.transfers[0][0] == "sip:desk@bank.example"
