"""Limits on the stream transports, over real sockets on 127.0.0.1: connections over the cap are
refused before the handshake, silent ones are closed after the start or idle timeout, caller
audio and digits faster than real time are dropped and counted (a flood closes that call only),
and deeply nested JSON closes its call cleanly while the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from telephony.audiosocket.frames import Frame
from telephony.audiosocket.server import AudioSocketServer
from telephony.bridge import AudioIn, CallBridge, DtmfIn, Hangup
from telephony.policing import InputRate
from telephony.stream import StreamLimits
from telephony.websocket.server import WebSocketMediaServer

from .peers import wait_for

FRAME = b"\x01\x00" * 160
"""20 ms of (quiet but not silent) caller audio: silence the bridge fills in is all zeros."""


@dataclass
class Heard:
    """What one call's session received."""

    bridge: CallBridge
    voiced_frames: int = 0
    digits: str = ""
    hangup: Hangup | None = None


@dataclass
class Listener:
    """The on_call callback: a session that only listens, until the hang-up."""

    calls: dict[str, Heard] = field(default_factory=dict)

    async def on_call(self, bridge: CallBridge) -> None:
        heard = self.calls[bridge.info.call_id] = Heard(bridge)
        while not isinstance(event := await bridge.receive(), Hangup):
            if isinstance(event, AudioIn) and any(event.pcm):
                heard.voiced_frames += 1
            elif isinstance(event, DtmfIn):
                heard.digits += event.digit
        heard.hangup = event


@contextlib.asynccontextmanager
async def media_server(
    listener: Listener, limits: StreamLimits, max_message_bytes: int = 64 * 1024
) -> AsyncIterator[tuple[WebSocketMediaServer, str]]:
    streams = WebSocketMediaServer(
        listener.on_call, limits=limits, max_message_bytes=max_message_bytes
    )
    app = web.Application()
    streams.add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield streams, f"ws://127.0.0.1:{server.port}/media/pcm"
    finally:
        await streams.stop()
        await server.close()


@contextlib.asynccontextmanager
async def audiosocket_server(
    listener: Listener, limits: StreamLimits
) -> AsyncIterator[AudioSocketServer]:
    server = AudioSocketServer("127.0.0.1", 0, listener.on_call, limits)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def start(call_id: str) -> str:
    return json.dumps({"event": "start", "call_id": call_id})


async def closed_with(ws: aiohttp.ClientWebSocketResponse, within_s: float) -> tuple[int, str]:
    """The close code and reason the server ended the connection with."""
    while True:
        message = await ws.receive(timeout=within_s)
        if message.type is WSMsgType.CLOSE:
            return message.data, message.extra or ""
        assert message.type is WSMsgType.BINARY, message


async def refused_status(http: aiohttp.ClientSession, url: str) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url)
    return refused.value.status


async def another_address_gets_a_line(url: str, listener: Listener) -> None:
    """A call from 127.0.0.2 is taken while 127.0.0.1 is refused: the bound is per address."""
    other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=other) as stranger:
        ws = await stranger.ws_connect(url)
        await ws.send_str(start("other-address"))
        assert await wait_for(lambda: "other-address" in listener.calls, 3.0)
        await ws.close()


async def test_audio_faster_than_real_time_is_cut_to_real_time_and_the_other_call_hears_all() -> (
    None
):
    listener = Listener()
    limits = StreamLimits(input_rate=InputRate(audio_burst_s=1.0, flood_close_s=600))
    async with media_server(listener, limits) as (streams, url), aiohttp.ClientSession() as http:
        flooder, caller = await http.ws_connect(url), await http.ws_connect(url)
        await flooder.send_str(start("flooder"))
        await caller.send_str(start("caller"))
        assert await wait_for(lambda: len(listener.calls) == 2, 3.0)
        began = time.monotonic()
        for _ in range(100):  # two seconds: the caller in real time, the flooder at 5x
            await caller.send_bytes(FRAME)
            await flooder.send_bytes(FRAME * 5)
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - began
        flooded, heard = listener.calls["flooder"], listener.calls["caller"]
        assert await wait_for(lambda: heard.voiced_frames == 100, 3.0), heard.voiced_frames
        await asyncio.sleep(0.2)
        real_time = elapsed * 50
        assert 0.9 * real_time <= flooded.voiced_frames <= real_time + 50 + 5, (
            f"{flooded.voiced_frames} frames in {elapsed:.2f} s at five times real time"
        )
        flood_stats, caller_stats = flooded.bridge.stats(), heard.bridge.stats()
        assert flood_stats["rx_audio_dropped_ms"] >= 10_000 - 20 * (real_time + 55)
        assert caller_stats.get("rx_audio_dropped_ms", 0) == 0
        assert streams.stats()["rx_audio_dropped_ms"] == flood_stats["rx_audio_dropped_ms"]
        assert flooded.hangup is None and heard.hangup is None


async def test_a_flood_closes_that_call_as_bad_input_and_the_server_keeps_serving() -> None:
    listener = Listener()
    limits = StreamLimits(input_rate=InputRate(audio_burst_s=1.0, flood_close_s=2.0))
    async with media_server(listener, limits) as (streams, url), aiohttp.ClientSession() as http:
        caller, flooder = await http.ws_connect(url), await http.ws_connect(url)
        await caller.send_str(start("caller"))
        await flooder.send_str(start("flooder"))
        for _ in range(4):  # four seconds of audio at once
            await flooder.send_bytes(FRAME * 50)
        code, reason = await closed_with(flooder, 3.0)
        assert code == 1008 and "faster than real time" in reason, (code, reason)
        hangup = listener.calls["flooder"].hangup
        assert hangup is not None and hangup.failed and "flood" in hangup.reason
        for _ in range(10):
            await caller.send_bytes(FRAME)
        heard = listener.calls["caller"]
        assert await wait_for(lambda: heard.voiced_frames == 10, 3.0)
        assert heard.hangup is None
        for _ in range(30):  # digits: ten a second pass, a flood of them closes the call
            await caller.send_str(json.dumps({"event": "dtmf", "digit": "7"}))
        code, reason = await closed_with(caller, 3.0)
        assert code == 1008 and "faster than real time" in reason
        assert heard.digits == "7" * 10
        stats = streams.stats()
        assert stats["bad_input_closed"] == 2 and stats["rx_dtmf_dropped"] == 20
        newcomer = await http.ws_connect(url)
        await newcomer.send_str(start("newcomer"))
        assert await wait_for(lambda: "newcomer" in listener.calls, 3.0)
        await newcomer.close()


async def test_deeply_nested_json_closes_its_call_with_1008_and_the_server_keeps_serving() -> None:
    listener = Listener()
    async with (
        media_server(listener, StreamLimits()) as (streams, url),
        aiohttp.ClientSession() as http,
    ):
        before_start = await http.ws_connect(url)
        await before_start.send_str("[" * 60_000)
        code, reason = await closed_with(before_start, 3.0)
        assert code == 1008 and "nested deeper" in reason, (code, reason)
        during_call = await http.ws_connect(url)
        await during_call.send_str(start("nested"))
        await during_call.send_str('{"event": "dtmf", "digit": ' + "[" * 60_000)
        code, reason = await closed_with(during_call, 3.0)
        assert code == 1008 and "nested deeper" in reason, (code, reason)
        hangup = listener.calls["nested"].hangup
        assert hangup is not None and hangup.failed
        assert streams.stats()["connections_rejected_bad_start"] == 1
        assert streams.stats()["bad_input_closed"] == 1
        after = await http.ws_connect(url)
        await after.send_str(start("after"))
        assert await wait_for(lambda: "after" in listener.calls, 3.0)
        await after.close()


async def test_websocket_connections_over_the_caps_are_refused_before_the_handshake() -> None:
    listener = Listener()
    limits = StreamLimits(max_calls=2, max_unstarted=1)
    async with media_server(listener, limits) as (streams, url), aiohttp.ClientSession() as http:
        first = await http.ws_connect(url)  # connected, not started: holds the unstarted place
        assert await wait_for(lambda: streams.stats()["unstarted_connections"] == 1, 3.0)
        assert await refused_status(http, url) == 503
        assert streams.stats()["refused_unstarted"] == 1
        await first.send_str(start("first"))
        assert await wait_for(lambda: streams.stats()["unstarted_connections"] == 0, 3.0)
        second = await http.ws_connect(url)
        await second.send_str(start("second"))
        assert await wait_for(lambda: len(listener.calls) == 2, 3.0)
        assert await refused_status(http, url) == 503
        assert streams.stats()["refused_busy"] == 1
        await first.close()
        assert await wait_for(lambda: streams.stats()["open_connections"] == 1, 3.0)
        third = await http.ws_connect(url)
        await third.send_str(start("third"))
        assert await wait_for(lambda: "third" in listener.calls, 3.0)
        await second.close()
        await third.close()


async def test_one_unproven_address_cannot_take_every_place() -> None:
    listener = Listener()
    limits = StreamLimits(max_calls=8, max_calls_per_source=2)
    async with media_server(listener, limits) as (streams, url), aiohttp.ClientSession() as http:
        held = [await http.ws_connect(url) for _ in range(2)]
        assert await refused_status(http, url) == 503
        assert streams.stats()["refused_source_busy"] == 1
        await another_address_gets_a_line(url, listener)
        for ws in held:
            await ws.close()


async def test_an_unproven_address_redialling_in_a_loop_is_refused_before_the_handshake() -> None:
    listener = Listener()
    limits = StreamLimits(max_calls_per_source=2, connections_per_minute_per_source=1)
    async with media_server(listener, limits) as (streams, url), aiohttp.ClientSession() as http:
        for index in range(2):  # the burst: calls that hang up at once, one after the other
            ws = await http.ws_connect(url)
            name = f"loop-{index}"
            await ws.send_str(start(name))
            assert await wait_for(lambda name=name: name in listener.calls, 3.0)
            await ws.close()
        assert await wait_for(lambda: streams.stats()["open_connections"] == 0, 3.0)
        assert await refused_status(http, url) == 503
        assert streams.stats()["refused_source_rate"] == 1
        await another_address_gets_a_line(url, listener)


async def test_audiosocket_bounds_one_unproven_address_too() -> None:
    listener = Listener()
    async with audiosocket_server(listener, StreamLimits(max_calls_per_source=1)) as server:
        first = await asyncio.open_connection("127.0.0.1", server.port)
        assert await wait_for(lambda: server.stats()["open_connections"] == 1, 3.0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await reader.read() == bytes(Frame.hangup())
        assert server.stats()["refused_source_busy"] == 1
        writer.close()
        first[1].close()


async def test_silent_websocket_connections_are_closed_after_the_start_and_idle_timeouts() -> None:
    listener = Listener()
    limits = StreamLimits(start_timeout_s=0.3, idle_timeout_s=0.5)
    async with media_server(listener, limits) as (streams, url), aiohttp.ClientSession() as http:
        silent = await http.ws_connect(url)
        code, reason = await closed_with(silent, 3.0)
        assert code == 1008 and "no start message within 0.3 s" in reason, (code, reason)
        assert streams.stats()["connections_rejected_start_timeout"] == 1
        assert await wait_for(lambda: streams.stats()["open_connections"] == 0, 3.0)
        assert not listener.calls

        quiet = await http.ws_connect(url)
        await quiet.send_str(start("quiet"))
        code, reason = await closed_with(quiet, 3.0)
        assert code == 1008 and "nothing received for 0.5 s" in reason, (code, reason)
        hangup = listener.calls["quiet"].hangup
        assert hangup is not None and hangup.failed
        assert streams.stats()["idle_closed"] == 1


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before it closed the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.wait_for(reader.read(4096), 3.0):
            received += chunk
    return received


async def test_audiosocket_over_the_cap_is_hung_up_unread_and_a_silent_one_times_out() -> None:
    listener = Listener()
    limits = StreamLimits(max_calls=1, start_timeout_s=0.3, idle_timeout_s=0.5)
    async with audiosocket_server(listener, limits) as server:
        call = uuid.uuid4()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(bytes(Frame.call_uuid(call)))
        assert await wait_for(lambda: str(call) in listener.calls, 3.0)

        over_reader, over_writer = await asyncio.open_connection("127.0.0.1", server.port)
        over_writer.write(bytes(Frame.call_uuid(uuid.uuid4())))
        assert await read_until_closed(over_reader) in (b"", bytes(Frame.hangup()))
        over_writer.close()
        assert server.stats()["refused_busy"] == 1 and len(listener.calls) == 1

        # The call sends nothing after its UUID: closed as idle, which frees its place.
        await read_until_closed(reader)
        writer.close()
        hangup = listener.calls[str(call)].hangup
        assert hangup is not None and hangup.failed and "nothing received" in hangup.reason
        assert server.stats()["idle_closed"] == 1

        silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await read_until_closed(silent_reader) == b""
        silent_writer.close()
        assert server.stats()["connections_rejected_start_timeout"] == 1


async def test_audiosocket_audio_and_digits_faster_than_real_time_are_dropped_and_counted() -> None:
    listener = Listener()
    limits = StreamLimits(input_rate=InputRate(audio_burst_s=1.0, dtmf_per_s=5, flood_close_s=600))
    async with audiosocket_server(listener, limits) as server:
        call = uuid.uuid4()
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(bytes(Frame.call_uuid(call)))
        writer.write(b"".join(bytes(Frame.audio(FRAME)) for _ in range(250)))  # five seconds
        writer.write(b"".join(bytes(Frame.dtmf(digit)) for digit in "0123456789"))
        await writer.drain()
        assert await wait_for(lambda: str(call) in listener.calls, 3.0)
        heard = listener.calls[str(call)]
        assert await wait_for(lambda: heard.digits == "01234", 3.0), heard.digits
        assert 50 <= heard.voiced_frames <= 55, heard.voiced_frames
        stats = server.stats()
        assert stats["rx_dtmf_dropped"] == 5 and 3900 <= stats["rx_audio_dropped_ms"] <= 4000
        writer.write(bytes(Frame.hangup()))
        writer.close()


async def test_a_flood_of_messages_that_carry_nothing_is_dropped_unparsed_then_closed() -> None:
    listener = Listener()
    limits = StreamLimits(input_rate=InputRate(messages_per_s=100, flood_close_s=2.0))
    async with media_server(listener, limits) as (streams, url), aiohttp.ClientSession() as http:
        url = url.replace("/pcm", "/asterisk")
        chatty = await http.ws_connect(url)
        await chatty.send_str("MEDIA_START connection_id:chatty format:ulaw")
        for _ in range(80):  # within the first second's allowance: parsed, nothing to act on
            await chatty.send_str("STATUS")
        await asyncio.sleep(0.1)
        assert streams.stats()["rx_messages_dropped"] == 0
        for _ in range(1000):
            await chatty.send_str("STATUS")
        code, reason = await closed_with(chatty, 3.0)
        assert code == 1008 and "faster than real time" in reason, (code, reason)
        assert streams.stats()["rx_messages_dropped"] >= 200
        hangup = listener.calls["chatty"].hangup
        assert hangup is not None and hangup.failed


async def test_a_draining_audiosocket_server_hangs_up_new_connections_unread() -> None:
    listener = Listener()
    async with audiosocket_server(listener, StreamLimits(start_timeout_s=30)) as server:
        server.calls.stop_admitting()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        # Nothing sent: an answer well before the start timeout shows nothing was waited for.
        assert await read_until_closed(reader) == bytes(Frame.hangup())
        writer.close()
        stats = server.stats()
        assert stats["refused_draining"] == 1 and stats["open_connections"] == 0
        assert stats["connections_rejected_start_timeout"] == 0 and not listener.calls


async def test_a_thousand_refused_connections_log_one_line_and_count_every_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener = Listener()
    server = AudioSocketServer(
        "127.0.0.1", 0, listener.on_call, StreamLimits(), trusted_sources="192.0.2.0/24"
    )
    await server.start()
    try:
        with caplog.at_level(logging.WARNING, logger="telephony.stream"):
            for _ in range(1000):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                await read_until_closed(reader)
                writer.close()
        assert server.stats()["refused_untrusted_source"] == 1000
        refusals = [r for r in caplog.records if "refused (untrusted_source)" in r.getMessage()]
        assert len(refusals) == 1, [r.getMessage() for r in refusals[:5]]
    finally:
        await server.stop()


async def test_a_message_over_the_size_limit_closes_its_call_and_a_smaller_one_is_heard() -> None:
    listener = Listener()
    sized = media_server(listener, StreamLimits(), max_message_bytes=2048)
    async with sized as (_, url), aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url)
        await ws.send_str(start("sized"))
        assert await wait_for(lambda: "sized" in listener.calls, 3.0)
        await ws.send_bytes(FRAME * 6)  # 1920 bytes: within the limit
        assert await wait_for(lambda: listener.calls["sized"].voiced_frames > 0, 3.0)
        await ws.send_bytes(FRAME * 7)  # 2240 bytes: over it
        code, _ = await closed_with(ws, 3.0)
    assert code == 1009
