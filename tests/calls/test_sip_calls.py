"""Real calls over SIP: baresip phones the running bot server on 127.0.0.1.

baresip's microphone is a WAV made by the test (silence through the greeting, then the caller's
request); keys are sent as RFC 4733 events through baresip's control socket when the bot has
asked for them (the call record says when a turn is complete); baresip records what it hears.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from pathlib import Path

import pytest
import pytest_asyncio

from ivr.qa.voice import CallerVoice, speak
from ivr.server import BotServer
from ivr.services import Services
from speech.asr.scoring import normalise_text
from speech.audio import Audio, load_audio
from speech.channel import telephone_channel
from speech.resample import resample
from tests.calls.conftest import (
    ACCOUNT,
    PIN,
    RATE,
    balance_dollars,
    caller_says,
    holds_pin,
    records,
    transcribe,
    until,
)
from tests.speech.corpus import piper
from tests.telephony.peers import BARESIP, Baresip, write_wav

pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(BARESIP is None, reason="baresip is installed by `make setup`"),
]


@pytest_asyncio.fixture(loop_scope="session")
async def server(services: Services):
    config = dataclasses.replace(
        services.config,
        sip=dataclasses.replace(services.config.sip, host="127.0.0.1", port=0),
        http=dataclasses.replace(services.config.http, host="127.0.0.1", port=0),
    )
    bot = BotServer(config, services)
    await bot.start()
    yield bot
    await bot.stop()


def _calls(services: Services) -> list[str]:
    """SIP call ids, oldest first."""
    rows = services.records.recent_calls(50)
    return [row["call_id"] for row in reversed(rows) if row["transport"] == "sip"]


def _turns(services: Services, call_dirs: Path) -> list[dict]:
    calls = _calls(services)
    return records(call_dirs, calls[-1])[1] if calls else []


async def _press(caller: Baresip, keys: str) -> None:
    for key in keys:
        await caller.command("sndcode", key)
        await asyncio.sleep(0.25)


async def test_baresip_caller_gets_the_balance_from_the_database(
    server: BotServer, services: Services, voice, call_dirs: Path, tmp_path: Path
) -> None:
    before = set(_calls(services))
    request = caller_says(voice, "I would like to check my balance please.")
    microphone = bytes(RATE * 2 * 9) + request + bytes(RATE * 2 * 80)
    caller = Baresip(tmp_path, "caller", source_wav=write_wav(tmp_path / "mic.wav", microphone))
    await caller.start()
    try:
        await caller.command("dial", f"sip:bot@127.0.0.1:{server.sip_port}")
        assert await caller.wait_event("CALL_ESTABLISHED", 15), caller.log()
        await until(lambda: set(_calls(services)) - before, 10, "the call record")
        await until(lambda: len(_turns(services, call_dirs)) >= 2, 60, "the account prompt")
        await _press(caller, ACCOUNT)
        await until(lambda: len(_turns(services, call_dirs)) >= 3, 40, "the PIN prompt")
        await _press(caller, PIN)
        await until(lambda: len(_turns(services, call_dirs)) >= 4, 40, "the balances")
        await asyncio.sleep(0.5)
        await caller.command("hangup")
        assert await caller.wait_event("CALL_CLOSED", 10)
    finally:
        await caller.stop()

    call_id = _calls(services)[-1]
    await until(lambda: records(call_dirs, call_id)[0].get("ended_at"), 10, "the call to end")
    call, turns = records(call_dirs, call_id)
    assert call["outcome"] == "abandoned"  # the caller hung up without saying goodbye
    assert [t["input_kind"] for t in turns[:4]] == ["start", "speech", "dtmf", "secure_dtmf"]
    assert turns[1]["intent"] == "check_balance"
    assert turns[2]["transcript"] == "****" + ACCOUNT[-4:]  # masked outside the bank
    assert turns[3]["transcript"] == ""
    assert not holds_pin((call_dirs / "calls.db").read_bytes())

    heard = load_audio(caller.recordings()[0])
    spoken = await transcribe(services, _at_8k(heard))
    assert balance_dollars(services) in spoken, spoken


async def test_festival_caller_speaks_account_number_and_pin_and_is_verified_first_time(
    server: BotServer, services: Services, call_dirs: Path, tmp_path: Path
) -> None:
    """A voice family the other call tests do not use says every answer, the digits included:
    each digit prompt puts the recogniser in digit mode for the answer."""
    festival = CallerVoice(engine="festival", voice="kal_diphone")
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

    def says(text: str, seconds_after: int) -> Path:
        pcm = speak(festival, text).pcm + bytes(RATE * 2 * seconds_after)
        return write_wav(tmp_path / f"{len(list(tmp_path.glob('*.wav')))}.wav", pcm)

    request = speak(festival, "I would like to check my balance please.").pcm
    mic = write_wav(tmp_path / "mic.wav", bytes(RATE * 2 * 9) + request + bytes(RATE * 2 * 60))
    caller = Baresip(tmp_path, "caller", source_wav=mic)
    await caller.start()
    try:
        await caller.command("dial", f"sip:bot@127.0.0.1:{server.sip_port}")
        assert await caller.wait_event("CALL_ESTABLISHED", 15), caller.log()
        await until(lambda: _calls(services), 10, "the call record")
        await until(lambda: len(_turns(services, call_dirs)) >= 2, 60, "the account prompt")
        await caller.use_microphone(says(" ".join(words[int(d)] for d in ACCOUNT), 40))
        await until(lambda: len(_turns(services, call_dirs)) >= 3, 40, "the PIN prompt")
        await caller.use_microphone(says(" ".join(words[int(d)] for d in PIN), 40))
        await until(lambda: len(_turns(services, call_dirs)) >= 4, 40, "the balances")
        await caller.command("hangup")
        assert await caller.wait_event("CALL_CLOSED", 10)
    finally:
        await caller.stop()

    call_id = _calls(services)[-1]
    await until(lambda: records(call_dirs, call_id)[0].get("ended_at"), 10, "the call to end")
    turns = records(call_dirs, call_id)[1]
    assert [t["input_kind"] for t in turns[:4]] == ["start", "speech", "speech", "secure_speech"]
    assert ACCOUNT[-4:] in turns[2]["transcript"], turns[2]  # masked to its last four
    assert ACCOUNT[:4] not in turns[2]["transcript"], turns[2]
    assert "PIN" in turns[2]["bot_text"], turns[2]  # the account number was taken first time
    assert "verified" in turns[3]["bot_text"] or "all set" in turns[3]["bot_text"], turns[3]
    assert turns[3]["transcript"] == ""  # the spoken PIN is never written down
    assert not holds_pin((call_dirs / "calls.db").read_bytes())


# Nonsense, spoken with line noise at 20 dB SNR: words that mean nothing to a bank, then
# made-up ones. Which of them the recogniser turns into something the assistant maps to an
# intent changes with the models, so the test first keeps the ones the call's own recogniser
# and assistant leave not understood (see _mumbles).
MUMBLES = (
    "The giraffe sings under the bridge.",
    "Elephant marmalade.",
    "Banana telescope.",
    "Walrus pajamas.",
    "Skree nib wompa.",
    "Frib norp glam.",
    "Torque wibble frontal.",
)


async def _mumbles(services: Services, voice, wanted: int = 2) -> list[bytes]:
    """The first ``wanted`` mumbles, as line audio, that the recogniser and the assistant leave
    not understood where the call says them: each is tried after the ones already kept, heard
    with the hints of the bot's reply at that point (the greeting's, then the re-prompt's)."""
    kept: list[tuple[bytes, str]] = []
    seen = []
    for seed, text in enumerate(MUMBLES, start=1):
        pcm = telephone_channel(piper(voice, text, 1.05), snr_db=20, seed=seed).pcm
        probe = f"probe-{uuid.uuid4().hex[:10]}"
        reply = await services.dialogue.begin(probe)
        for _, earlier in kept:
            reply = await services.dialogue.send(probe, earlier)
        heard = await services.asr.transcribe_async(Audio.from_pcm(pcm, RATE), reply.hints)
        reply = await services.dialogue.send(probe, heard.text)
        await services.dialogue.end(probe)
        seen.append((text, heard.text, reply.intent))
        if reply.intent == "nlu_fallback":
            kept.append((pcm, heard.text))
            if len(kept) == wanted:
                return [audio for audio, _ in kept]
    raise AssertionError(f"fewer than {wanted} mumbles are misunderstood: {seen}")


async def test_caller_who_mumbles_twice_checks_the_balance_by_keypad_alone(
    server: BotServer, services: Services, voice, call_dirs: Path, tmp_path: Path
) -> None:
    """Two misunderstandings bring the keypad menu; key 1, the account number and the PIN
    keyed in get the balance read out. Each mumble and the menu key come once the bot has
    finished speaking, so every mumble is heard whole, as the probe heard it."""
    before = set(_calls(services))
    first, second = await _mumbles(services, voice)
    microphone = bytes(RATE * 2 * 9) + first + bytes(RATE * 2 * 60)
    caller = Baresip(tmp_path, "caller", source_wav=write_wav(tmp_path / "mic.wav", microphone))

    async def turns_reach(count: int, timeout_s: float, what: str) -> None:
        try:
            await until(lambda: len(_turns(services, call_dirs)) >= count, timeout_s, what)
        except TimeoutError as exc:
            seen = [
                (t["input_kind"], t["transcript"], t["intent"], t["bot_text"][:60])
                for t in _turns(services, call_dirs)
            ]
            raise AssertionError(f"{exc}; the call so far: {seen}") from exc

    await caller.start()
    try:
        await caller.command("dial", f"sip:bot@127.0.0.1:{server.sip_port}")
        assert await caller.wait_event("CALL_ESTABLISHED", 15), caller.log()
        await until(lambda: set(_calls(services)) - before, 10, "the call record")
        await turns_reach(2, 40, "the re-prompt")  # recorded once spoken
        await caller.use_microphone(
            write_wav(tmp_path / "second.wav", second + bytes(RATE * 2 * 60))
        )
        await turns_reach(3, 40, "the keypad menu")
        await _press(caller, "1#")  # a key outside a digit prompt: '#' sends it at once
        await turns_reach(4, 20, "the account prompt")
        await _press(caller, ACCOUNT)
        await turns_reach(5, 20, "the PIN prompt")
        await _press(caller, PIN)
        await turns_reach(6, 40, "the balances")  # recorded once spoken: three accounts
        await caller.command("hangup")
        assert await caller.wait_event("CALL_CLOSED", 10)
    finally:
        await caller.stop()

    call_id = _calls(services)[-1]
    await until(lambda: records(call_dirs, call_id)[0].get("ended_at"), 10, "the call to end")
    _, turns = records(call_dirs, call_id)
    heard = [(t["transcript"], t["intent"]) for t in turns[1:3]]
    assert [t["input_kind"] for t in turns[:6]] == [
        "start",
        "speech",
        "speech",
        "dtmf",
        "dtmf",
        "secure_dtmf",
    ], heard
    assert [t["intent"] for t in turns[1:3]] == ["nlu_fallback", "nlu_fallback"], heard
    assert "You can say things like" in turns[1]["bot_text"]
    assert "For balances press 1" in turns[2]["bot_text"]
    assert turns[3]["intent"] == "check_balance" and "account number" in turns[3]["bot_text"]
    assert balance_dollars(services) in normalise_text(turns[5]["bot_text"]), turns[5]["bot_text"]
    assert not holds_pin((call_dirs / "calls.db").read_bytes())


async def test_garbage_on_every_port_leaves_calls_working(
    server: BotServer, services: Services, voice, call_dirs: Path, tmp_path: Path
) -> None:
    port = server.sip_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for junk in (b"\x00\xff" * 300, b"INVITE sip:bot@x SIP/2.0\r\nVia: broken", b"x" * 70000):
            udp.sendto(junk[:65000], ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x16\x03\x01 not sip at all\r\n\r\n" * 10)
    await writer.drain()
    await reader.read(100)
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    writer.write(b"GARBAGE / HTTP/9.9\r\n\r\n")
    await writer.drain()
    await reader.read(100)
    writer.close()

    caller = Baresip(
        tmp_path, "after", source_wav=write_wav(tmp_path / "m.wav", bytes(RATE * 2 * 30))
    )
    await caller.start()
    try:
        await caller.command("dial", f"sip:bot@127.0.0.1:{port}")
        assert await caller.wait_event("CALL_ESTABLISHED", 15), caller.log()
        await asyncio.sleep(8)
        await caller.command("hangup")
        assert await caller.wait_event("CALL_CLOSED", 10)
    finally:
        await caller.stop()
    greeting = await transcribe(services, _at_8k(load_audio(caller.recordings()[0])))
    assert "help" in greeting or "bank" in greeting, greeting
    stats = server.sip.stats() if server.sip is not None else {}
    assert stats["malformed_dropped"] + stats["oversized_dropped"] >= 2, stats
    assert stats["tcp_connections_closed_on_garbage"] >= 1, stats


def _at_8k(audio: Audio) -> bytes:
    return resample(audio.samples, audio.rate, RATE).astype("<i2").tobytes()


async def test_handoff_takes_the_caller_to_the_agent(
    server: BotServer, services: Services, voice, call_dirs: Path, tmp_path: Path
) -> None:
    """The caller asks for a person: the bot REFERs baresip to a second baresip, the agent."""
    silence = write_wav(tmp_path / "agent.wav", bytes(RATE * 2 * 60))
    agent = Baresip(tmp_path, "agent", source_wav=silence)
    ask = caller_says(voice, "I want to talk to a real person.")
    mic = write_wav(tmp_path / "mic.wav", bytes(RATE * 2 * 9) + ask + bytes(RATE * 2 * 60))
    caller = Baresip(tmp_path, "caller", source_wav=mic)
    await agent.start()
    await caller.start()
    agent_uri = f"sip:agent@127.0.0.1:{agent.sip_port}"
    original = server.services.config  # type: ignore[union-attr]
    server.services.config = dataclasses.replace(  # type: ignore[union-attr]
        original, call=dataclasses.replace(original.call, agent_uri=agent_uri)
    )
    try:
        await caller.command("dial", f"sip:bot@127.0.0.1:{server.sip_port}")
        assert await caller.wait_event("CALL_ESTABLISHED", 15), caller.log()
        assert await agent.wait_event("CALL_ESTABLISHED", 90), agent.log()
        assert caller.has_event("TRANSFER")
    finally:
        server.services.config = original  # type: ignore[union-attr]
        await caller.stop()
        await agent.stop()
    call_id = _calls(services)[-1]
    await until(lambda: records(call_dirs, call_id)[0].get("ended_at"), 15, "the call to end")
    call, turns = records(call_dirs, call_id)
    assert call["outcome"] == "handed_off", call
    assert turns[-1]["intent"] == "talk_to_agent"


async def test_two_simultaneous_callers_are_served_independently(
    server: BotServer, services: Services, voice, call_dirs: Path, tmp_path: Path
) -> None:
    before = set(_calls(services))
    callers = []
    for name, line in (("ann", "What are your opening hours?"), ("ben", "I lost my card.")):
        mic = bytes(RATE * 2 * 9) + caller_says(voice, line) + bytes(RATE * 2 * 40)
        callers.append(Baresip(tmp_path, name, source_wav=write_wav(tmp_path / f"{name}.wav", mic)))
    try:
        await asyncio.gather(*(c.start() for c in callers))
        await asyncio.gather(
            *(c.command("dial", f"sip:bot@127.0.0.1:{server.sip_port}") for c in callers)
        )
        for c in callers:
            assert await c.wait_event("CALL_ESTABLISHED", 15), c.log()
        new = lambda: [c for c in _calls(services) if c not in before]  # noqa: E731
        await until(lambda: len(new()) == 2, 10, "two call records")
        await until(
            lambda: all(len(records(call_dirs, c)[1]) >= 2 for c in new()), 90, "both answers"
        )
        await asyncio.sleep(3)
        await asyncio.gather(*(c.command("hangup") for c in callers))
    finally:
        await asyncio.gather(*(c.stop() for c in callers))
    intents = sorted(records(call_dirs, c)[1][1]["intent"] for c in new())
    assert intents == ["branch_hours", "report_lost_card"], intents
