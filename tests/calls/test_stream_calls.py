"""Whole calls over the stream transports of the running bot server: Twilio Media Streams and
Asterisk chan_websocket and plain PCM over the WebSocket, and Asterisk AudioSocket over TCP.

The callers (``telephony.websocket.client.TwilioCaller``, the rest in tests/calls/stream_callers.py)
speak each wire format for real on 127.0.0.1 with speech synthesised by the test; what the bot
sends back is transcribed and measured.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import os
import re
import time
import uuid
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import pytest_asyncio

from ivr.retention import DAY_S
from ivr.sealed import open_recording
from ivr.server import BotServer
from ivr.services import Services
from speech.resample import resample
from telephony.audiosocket.frames import HEADER
from telephony.peer import StreamPeer
from telephony.websocket.client import TwilioCaller
from tests.calls.conftest import (
    ACCOUNT,
    PIN,
    RATE,
    balance_dollars,
    caller_says,
    holds_pin,
    records,
    speech_onset_bytes,
    transcribe,
    until,
)
from tests.calls.stream_callers import AsteriskWsCaller, AudioSocketCaller, PcmCaller

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def server(services: Services):
    config = dataclasses.replace(
        services.config,
        sip=dataclasses.replace(services.config.sip, enabled=False),
        http=dataclasses.replace(services.config.http, host="127.0.0.1", port=0),
    )
    bot = BotServer(config, services)
    await bot.start()
    yield bot
    await bot.stop()


def ws_url(server: BotServer, media_format: str) -> str:
    return f"ws://127.0.0.1:{server.http_port}/media/{media_format}"


async def ended(call_dirs: Path, call_id: str) -> tuple[dict, list[dict]]:
    """The call's record once the session has written its end."""
    await until(lambda: records(call_dirs, call_id)[0].get("ended_at"), 20, f"{call_id} to end")
    return records(call_dirs, call_id)


async def metrics_text(server: BotServer) -> str:
    url = f"http://127.0.0.1:{server.http_port}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return await response.text()


async def balance_call_with_barge_in(
    caller: StreamPeer, services: Services, voice, call_dirs: Path, call_id: str
) -> int:
    """Greeting, menu interrupted by a balance request, account and PIN keyed, balances heard.

    Returns where the caller's barge-in speech began, in bytes of bot audio heard until then
    (the bot's own outbound clock).
    """
    greeting = await transcribe(services, await caller.wait_for_bot_silence())
    assert "help" in greeting, greeting

    await caller.say(caller_says(voice, "What can you do for me?"))
    await caller.wait_for_voice()
    await asyncio.sleep(1.0)  # the menu is playing: talk over it
    request = caller_says(voice, "I'd like to check my account balance please.")
    onset = len(caller.heard) + speech_onset_bytes(request)
    caller.say_nowait(request)
    await asyncio.sleep(len(request) / 2 / RATE)
    asked_account = await transcribe(services, await caller.wait_for_bot_silence())
    assert "account number" in asked_account, asked_account

    await caller.press(ACCOUNT)
    asked_pin = await transcribe(services, await caller.wait_for_bot_silence())
    # tiny.en now and then writes the bot's "4-digit PIN" as "fordage depend"; "enter your ...
    # on your keypad" is said by the PIN prompt alone.
    pin_prompt = "pin" in asked_pin or ("enter your" in asked_pin and "on your keypad" in asked_pin)
    assert pin_prompt, asked_pin

    await caller.press(PIN)
    balances = await transcribe(services, await caller.wait_for_bot_silence())
    assert balance_dollars(services) in balances, balances

    await caller.hang_up()
    call, turns = await ended(call_dirs, call_id)
    assert call["outcome"] == "abandoned", call
    kinds = [t["input_kind"] for t in turns]
    assert kinds[:5] == ["start", "speech", "speech", "dtmf", "secure_dtmf"], kinds
    assert turns[2]["intent"] == "check_balance" and turns[2]["barged_in"], turns[2]
    assert turns[3]["transcript"] == "****" + ACCOUNT[-4:]
    assert turns[4]["transcript"] == ""
    assert not holds_pin((call_dirs / "calls.db").read_bytes())
    return onset


async def test_twilio_media_stream_balance_call_with_barge_in_clear(
    server: BotServer, services: Services, voice, call_dirs: Path
) -> None:
    caller = TwilioCaller(
        ws_url(server, "twilio"), call_sid="CA" + uuid.uuid4().hex, parameters={"campaign": "tests"}
    )
    await caller.dial()
    try:
        onset = await balance_call_with_barge_in(
            caller, services, voice, call_dirs, caller.call_sid
        )
    finally:
        await caller.close()
    # Measured on the bot's own outbound clock: the paced audio frames it sent after the
    # caller began to talk, until the clear.
    clears = [heard for heard, message in caller.events if message["event"] == "clear"]
    assert clears and clears[0] >= onset, caller.events
    went_on_ms = (clears[0] - onset) // 320 * 20
    assert went_on_ms <= 300, f"the bot spoke {went_on_ms} ms over the caller before clear"
    marks = [m for _, m in caller.events if m["event"] == "mark"]
    assert marks, "wait_played is confirmed by marks"
    call, _ = records(call_dirs, caller.call_sid)
    assert call["transport"] == "websocket"
    assert call["caller"].endswith("1234") and "555000" not in call["caller"], call
    assert json.loads(call["details"])["custom_parameters"] == {"campaign": "tests"}


async def test_audiosocket_balance_call_with_barge_in(
    server: BotServer, services: Services, voice, call_dirs: Path
) -> None:
    caller = AudioSocketCaller(server.audiosocket_port)
    await caller.dial()
    try:
        start = await balance_call_with_barge_in(
            caller, services, voice, call_dirs, str(caller.uuid)
        )
    finally:
        await caller.close()
    # The bot's frames are continuous (silence while quiet): its audio after the caller's
    # onset, frame by frame, shows when it stopped.
    heard = np.frombuffer(bytes(caller.heard[start:]), "<i2")
    frames = np.abs(heard[: len(heard) // 160 * 160].reshape(-1, 160)).max(axis=1)
    quiet = [i for i in range(len(frames) - 10) if not frames[i : i + 10].any()]
    stop_ms = quiet[0] * 20 if quiet else None
    assert stop_ms is not None and stop_ms <= 300, f"bot audio went on {stop_ms} ms"
    call, _ = records(call_dirs, str(caller.uuid))
    assert call["transport"] == "audiosocket"
    text = await metrics_text(server)
    assert 'ivr_calls_total{outcome="abandoned",transport="audiosocket"}' in text


async def test_audiosocket_handoff_returns_the_caller_to_the_dialplan(
    server: BotServer, services: Services, voice, call_dirs: Path
) -> None:
    """AudioSocket carries no transfer: the bot hangs up its side, Asterisk's dialplan goes on
    to the agent queue, and the record says handed_off (not failed)."""
    caller = AudioSocketCaller(server.audiosocket_port)
    await caller.dial()
    try:
        await caller.wait_for_bot_silence()
        await caller.say(caller_says(voice, "I want to speak to a real person please."))
        await asyncio.wait_for(caller.ended.wait(), 60)
    finally:
        await caller.close()
    assert caller.hangup_received, "the bot leaves with a hang-up frame, the dialplan goes on"
    base = f"http://127.0.0.1:{server.http_port}"
    async with aiohttp.ClientSession() as http:
        # What the dialplan's CURL() asks once AudioSocket() returns.
        async with http.get(f"{base}/calls/{caller.uuid}/next?format=text") as response:
            assert await response.text() == "agent"
        async with http.get(f"{base}/calls/{uuid.uuid4()}/next") as response:
            assert (await response.json())["next"] == "hangup"
    call, turns = await ended(call_dirs, str(caller.uuid))
    assert call["outcome"] == "handed_off", call
    assert turns[-1]["intent"] == "talk_to_agent", turns[-1]


async def test_garbage_connections_leave_a_concurrent_call_working(
    server: BotServer, services: Services, call_dirs: Path
) -> None:
    """A browser-style PCM call at 16 kHz runs while six connections send garbage."""
    good = PcmCaller(ws_url(server, "pcm"))
    good_id = "pcm-" + uuid.uuid4().hex[:8]
    await good.dial(rate=16000, call_id=good_id, caller="+15550004321")

    # Garbage as the first message: refused with a policy violation (1008) and its reason.
    # Checked before the floods below load the loop: the close handshake has 2 s to finish.
    first_message_garbage = PcmCaller(ws_url(server, "twilio"))
    await first_message_garbage.connect("\x00\xff garbage before start")
    await asyncio.wait_for(first_message_garbage.ended.wait(), 5)
    assert first_message_garbage.close_code == 1008
    assert "invalid JSON" in first_message_garbage.close_reason

    bad_twilio = {
        "invalid JSON": "{not json",
        "unknown Twilio event": json.dumps({"event": "dance", "streamSid": "{sid}"}),
        "not base64": json.dumps(
            {"event": "media", "streamSid": "{sid}", "media": {"payload": "@@not base64@@"}}
        ),
        "Message size": "x" * (server.config.websocket.max_message_kb * 1024 + 1),
        "nested deeper": '{"event": "media", "streamSid": "{sid}", "media": ' + "[" * 60_000,
    }
    second = base64.b64encode(bytes(8000)).decode()  # one second of mu-law audio
    flood = json.dumps({"event": "media", "streamSid": "{sid}", "media": {"payload": second}})
    bad_twilio_bursts = {reason: [m] for reason, m in bad_twilio.items()}
    bad_twilio_bursts["faster than real time"] = [flood] * 8  # beyond burst + flood_close_s
    callers: dict[str, TwilioCaller] = {}
    for reason, messages in bad_twilio_bursts.items():
        caller = TwilioCaller(ws_url(server, "twilio"), call_sid="CA" + uuid.uuid4().hex)
        await caller.dial()
        for message in messages:
            caller.send(message.replace("{sid}", caller.stream_sid))
        callers[reason] = caller
    audiosocket = AudioSocketCaller(server.audiosocket_port)
    await audiosocket.dial()
    audiosocket.write(HEADER.pack(0x42, 0))  # an unknown frame kind

    try:
        greeting = await transcribe(services, resample_16k(await good.wait_for_bot_silence()))
        assert "help" in greeting, greeting
        for reason, caller in callers.items():
            call, _ = await ended(call_dirs, caller.call_sid)
            assert call["outcome"] == "failed", call
            assert reason in call["reason"], (reason, call["reason"])
            await asyncio.wait_for(caller.ended.wait(), 5)
            assert caller.close_code in (1008, 1009), (reason, caller.close_code)
        call, _ = await ended(call_dirs, str(audiosocket.uuid))
        assert call["outcome"] == "failed" and "0x42" in call["reason"], call

        await good.hang_up()
        call, _ = await ended(call_dirs, good_id)
        assert call["outcome"] == "abandoned" and call["transport"] == "websocket", call
        assert json.loads(call["details"])["rate"] == 16000
    finally:
        for caller in (good, first_message_garbage, audiosocket, *callers.values()):
            await caller.close()
    text = await metrics_text(server)
    assert metric(text, "websocket", "bad_input_closed") >= 6
    assert metric(text, "websocket", "rx_audio_dropped_ms") >= 5000
    assert metric(text, "websocket", "connections_rejected_bad_start") >= 1
    assert metric(text, "audiosocket", "bad_input_closed") >= 1


async def test_asterisk_websocket_flow_control_holds_audio_and_barge_in_flushes(
    server: BotServer, services: Services, voice, call_dirs: Path
) -> None:
    connection = "media-" + uuid.uuid4().hex[:8]
    caller = AsteriskWsCaller(ws_url(server, "asterisk"), connection)
    await caller.dial()
    try:
        await caller.wait_for_voice()
        caller.send("MEDIA_XOFF")
        await asyncio.sleep(0.1)  # frames already on the way
        held = len(caller.heard)
        await asyncio.sleep(0.6)
        assert len(caller.heard) == held, "audio was sent while Asterisk said MEDIA_XOFF"
        caller.send("MEDIA_XON")
        await caller.wait_for_bot_silence()
        greeting = await transcribe(services, bytes(caller.heard))
        assert "recorded" in greeting and "help" in greeting, greeting

        await caller.say(caller_says(voice, "What can you do for me?"))
        await caller.wait_for_voice()
        await asyncio.sleep(1.0)
        caller.say_nowait(caller_says(voice, "What are your branch hours?"))
        await until(lambda: any(m["event"] == "FLUSH_MEDIA" for _, m in caller.events), 10, "flush")
        await caller.hang_up()
        call, turns = await ended(call_dirs, connection)
    finally:
        await caller.close()
    assert call["outcome"] == "abandoned" and json.loads(call["details"])["codec"] == "ulaw"
    assert [t["input_kind"] for t in turns[:2]] == ["start", "speech"], turns


async def test_audiosocket_peer_that_stops_reading_fails_the_call(
    server: BotServer, call_dirs: Path
) -> None:
    caller = AudioSocketCaller(server.audiosocket_port)
    await caller.dial(receive_buffer=2048)
    caller.reading.clear()
    try:
        call, _ = await ended(call_dirs, str(caller.uuid))
    finally:
        await caller.close()
    assert call["outcome"] == "failed" and "stopped reading" in call["reason"], call


def resample_16k(pcm: bytes) -> bytes:
    samples = np.frombuffer(pcm, "<i2")
    return resample(samples, 16000, RATE).astype("<i2").tobytes()


def metric(text: str, transport: str, name: str) -> float:
    line = f'ivr_transport{{name="{name}",transport="{transport}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_a_path_like_peer_call_id_writes_nothing_outside_and_reuse_overwrites_nothing(
    server: BotServer, services: Services, call_dirs: Path
) -> None:
    """The peer's call id is a column only: records and recordings use the bot's own ids."""
    peer_id = "../../../../tmp/x/y"
    recordings = Path(services.config.call.recordings_dir).resolve()
    rows = []
    for _ in range(2):  # the same peer id twice: neither call may replace the other's data
        caller = PcmCaller(ws_url(server, "pcm"))
        await caller.dial(rate=RATE, call_id=peer_id, caller="+15550009999")
        try:
            await caller.wait_for_bot_silence()
            await caller.hang_up()
            call, _ = await ended(call_dirs, peer_id)
        finally:
            await caller.close()
        rows.append(call)
    first, second = rows
    assert first["call_id"] != second["call_id"]
    for call in rows:
        assert call["peer_call_id"] == peer_id and call["outcome"] == "abandoned", call
        assert re.fullmatch(r"[0-9a-z-]+", call["call_id"]), call["call_id"]
        recording = Path(call["recording"]).resolve()
        assert recording.is_relative_to(recordings) and recording.stem == call["call_id"]
        rate, channels, pcm = open_recording(recording, services.recording_keys)
        assert (rate, channels) == (RATE, 2) and np.any(np.frombuffer(pcm, "<i2")), call
        assert records(call_dirs, call["call_id"])[0]["call_id"] == call["call_id"]
        day = recording.parent
        assert not (day / peer_id).resolve().parent.exists(), "a folder outside was created"
    assert records(call_dirs, peer_id)[0]["call_id"] == second["call_id"]  # the newest


async def test_the_server_deletes_expired_call_data_when_it_starts_and_stops_the_purge_task(
    services: Services, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.server")
    now = time.time()
    recordings = tmp_path / "recordings"
    old, recent = recordings / "20250101" / "old.sealed", recordings / "20261201" / "recent.sealed"
    for path, age_days in ((old, 40), (recent, 20)):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"sealed audio")
        os.utime(path, (now - age_days * DAY_S, now - age_days * DAY_S))
    expired = "expired-" + uuid.uuid4().hex[:8]
    await services.records.start_call(expired, "sip", "sip:+15550001111@pbx")
    with services.records.db.transaction() as tx:
        tx.execute("UPDATE calls SET started_at = ? WHERE call_id = ?", (now - 40 * DAY_S, expired))
    config = dataclasses.replace(
        services.config,
        sip=dataclasses.replace(services.config.sip, enabled=False),
        websocket=dataclasses.replace(services.config.websocket, enabled=False),
        audiosocket=dataclasses.replace(services.config.audiosocket, enabled=False),
        http=dataclasses.replace(services.config.http, host="127.0.0.1", port=0),
        call=dataclasses.replace(
            services.config.call, recordings_dir=str(recordings), retention_days=30
        ),
    )
    purges = lambda: {t for t in asyncio.all_tasks() if t.get_name() == "retention"}  # noqa: E731
    running = purges()  # the module's server has its own
    bot = BotServer(config, services)
    await bot.start()
    assert len(purges() - running) == 1
    try:
        await until(lambda: not old.exists(), 10, "the expired recording to be deleted")
        assert recent.exists() and services.records.call(expired) is None
        purged = next(r for r in caplog.records if r.getMessage() == "retention.purged")
        assert purged.ivr_fields["recordings"] == 1 and purged.ivr_fields["calls"] >= 1
    finally:
        await bot.stop()
    assert purges() == running, "stopping the server cancels its purge task"


async def test_parallel_pin_guessing_over_pcm_streams_locks_the_account(
    server: BotServer, services: Services, voice
) -> None:
    """Two callers guess Alice's PIN at once over /media/pcm, three tries each (the per-call
    limit): the fifth failure, across the two calls, locks her account, and then her right PIN
    no longer verifies, from any call."""
    from dialogue.bank import VerificationRefused, open_repository
    from ivr.pepper import bank_pepper

    request = caller_says(voice, "I'd like to check my account balance please.")

    async def guess(caller: PcmCaller) -> None:
        await caller.wait_for_bot_silence()
        await caller.say(request)
        for _ in range(3):
            await caller.wait_for_bot_silence()  # the account number, please
            await caller.press(ACCOUNT)
            await caller.wait_for_bot_silence()  # the PIN, please
            await caller.press("1357")
        await caller.wait_for_bot_silence()  # the third failure: passed to an agent

    config = services.config
    repository = open_repository(config.bank.database, pepper=bank_pepper(config))
    callers = [PcmCaller(ws_url(server, "pcm")) for _ in range(2)]
    try:
        for index, caller in enumerate(callers):
            await caller.dial(call_id=f"guess-{index}", caller=f"+1555000{index}")
        await asyncio.gather(*(guess(caller) for caller in callers))
        with pytest.raises(VerificationRefused):
            await asyncio.to_thread(repository.authenticate, ACCOUNT, PIN, "after-guessing")
    finally:
        for caller in callers:
            await caller.close()
        assert await asyncio.to_thread(repository.unlock, ACCOUNT, "test")  # for later tests
        repository.close()
