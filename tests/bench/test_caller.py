"""The bench's load generator on real sockets: its RTP, its SIP call, its timing of replies."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from ivr.bench.caller import SILENCE_PAYLOAD, CallerLine, CallerRtp, place_call
from ivr.bench.voice import caller_lines, last_voiced_frame
from ivr.config import load_config
from speech.endpointer import Endpointer, UtteranceEnded
from speech.settings import VadConfig
from telephony.bridge import AudioIn, CallBridge, Hangup
from telephony.rtp import PT_PCMU, RtpPacket
from telephony.sip.server import SipServer

RATE = 8000
REPLY_DELAY_S = 0.3


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append(RtpPacket.parse(data))


def _tone(seconds: float) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


async def test_caller_rtp_sends_a_line_as_one_paced_talkspurt() -> None:
    loop = asyncio.get_running_loop()
    sink = _Sink()
    transport, _ = await loop.create_datagram_endpoint(lambda: sink, local_addr=("127.0.0.1", 0))
    rtp = CallerRtp()
    await rtp.open()
    line = CallerLine("beep", tuple(bytes([i]) * 160 for i in range(1, 11)), last_voiced=6)
    try:
        rtp.start(transport.get_extra_info("sockname"))
        await asyncio.sleep(0.1)
        sent_at = await rtp.say(line)
        while len(sink.packets) < 30:
            await asyncio.sleep(0.02)
    finally:
        await rtp.close()
        transport.close()
    packets = sink.packets[:30]
    assert {p.payload_type for p in packets} == {PT_PCMU}
    pairs = list(itertools.pairwise(packets))
    assert all((b.sequence_number - a.sequence_number) % 65536 == 1 for a, b in pairs)
    assert all((b.timestamp - a.timestamp) % 2**32 == 160 for a, b in pairs)
    first = next(i for i, p in enumerate(packets) if p.payload != SILENCE_PAYLOAD)
    assert [p.payload for p in packets[first : first + 10]] == list(line.payloads)
    assert [p.marker for p in packets] == [i == first for i in range(30)]
    assert all(p.payload == SILENCE_PAYLOAD for p in packets[first + 10 :])
    assert sent_at <= loop.time()


async def _echo_bot(bridge: CallBridge) -> None:
    """A bot that greets with a beep, then answers each utterance with a beep after a pause."""
    endpointer = Endpointer(VadConfig(), RATE)
    await bridge.play(_tone(0.4))
    while True:
        event = await bridge.receive()
        if isinstance(event, Hangup):
            return
        if isinstance(event, AudioIn):
            for ended in endpointer.feed(event.pcm):
                if isinstance(ended, UtteranceEnded):
                    await asyncio.sleep(REPLY_DELAY_S)
                    await bridge.play(_tone(0.5))


@pytest_asyncio.fixture
async def echo_server() -> AsyncIterator[SipServer]:
    server = SipServer("127.0.0.1", 0, _echo_bot, tcp=False, rtp_port_range=(42000, 42998))
    await server.start()
    yield server
    await server.stop()


@pytest.mark.slow
async def test_place_call_times_each_reply_from_the_last_voiced_frame(
    echo_server: SipServer,
) -> None:
    config = load_config(environ={})
    lines = await asyncio.to_thread(caller_lines, config, ["What is the savings rate?"])
    assert 0 < lines[0].last_voiced < len(lines[0].payloads)
    loop = asyncio.get_running_loop()
    result = await place_call(("127.0.0.1", echo_server.port), lines, 2, loop.time() + 60)
    assert result.error == ""
    assert [t.text for t in result.turns] == ["What is the savings rate?"] * 2
    for turn in result.turns:
        # The bot answers only after its end-of-speech hangover and its own pause.
        assert turn.latency_ms is not None
        assert turn.latency_ms >= REPLY_DELAY_S * 1000
    assert result.rx_packets > 0 and result.tx_packets > 0
    stats = echo_server.stats()
    assert stats["calls_answered"] == 1
    for _ in range(50):
        if echo_server.stats()["active_calls"] == 0:
            break
        await asyncio.sleep(0.1)
    assert echo_server.stats()["active_calls"] == 0


def _peak(pcm: bytes) -> int:
    return int(np.abs(np.frombuffer(pcm, "<i2").astype(np.int32)).max(initial=0))


GREETING_DELAY_S = 1.2
"""Longer than the caller's quiet gap (0.6 s): a bot still preparing its greeting sends only
silence, which must not pass for a greeting already over."""


@pytest.mark.slow
async def test_place_call_waits_for_a_late_greeting_before_speaking() -> None:
    loop = asyncio.get_running_loop()
    heard: dict[str, float] = {}

    async def greet(bridge: CallBridge) -> None:
        await asyncio.sleep(GREETING_DELAY_S)
        await bridge.play(_tone(0.4))
        await bridge.wait_played()
        heard["greeting_done"] = loop.time()

    async def late_greeting_bot(bridge: CallBridge) -> None:
        """Greets late, and notes when the caller's first sound arrives (while it greets)."""
        greeting = asyncio.create_task(greet(bridge))
        try:
            while not isinstance(event := await bridge.receive(), Hangup):
                loud = isinstance(event, AudioIn) and _peak(event.pcm) > 1000
                if loud and "caller_spoke" not in heard:
                    heard["caller_spoke"] = loop.time()
        finally:
            greeting.cancel()

    server = SipServer("127.0.0.1", 0, late_greeting_bot, tcp=False, rtp_port_range=(43000, 43998))
    await server.start()
    try:
        config = load_config(environ={})
        lines = await asyncio.to_thread(caller_lines, config, ["Thank you."])
        await place_call(("127.0.0.1", server.port), lines, 1, loop.time() + 30)
    finally:
        await server.stop()
    assert "greeting_done" in heard and "caller_spoke" in heard, heard
    assert heard["caller_spoke"] > heard["greeting_done"], "the caller talked over the greeting"


def test_last_voiced_frame_is_where_the_endpointer_ends_the_speech() -> None:
    speech = _tone(1.0)
    pcm = bytes(RATE // 2 * 2) + speech + bytes(RATE * 2)
    index = last_voiced_frame(pcm, VadConfig())
    assert 70 <= index <= 76  # 0.5 s silence + 1 s tone = frame 75 ends the speech
