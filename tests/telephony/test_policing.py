"""Caller input no faster than real time: the policer on a controlled clock, and the stream
bridge that drops the excess, counts it and closes a flood as bad input.
"""

from __future__ import annotations

import asyncio

import pytest

from telephony.bridge import AudioIn, CallInfo, DtmfIn, Hangup
from telephony.events import EventChannel
from telephony.policing import InputPolicer, InputRate, SourceRate
from telephony.stream import StreamBridge

BYTES_PER_S = 16000
FRAME = b"\x01\x00" * 160


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_audio_three_times_faster_than_real_time_is_cut_to_real_time_plus_the_burst() -> None:
    clock = Clock()
    policer = InputPolicer(InputRate(audio_burst_s=1.0, flood_close_s=60), BYTES_PER_S, clock)
    taken = 0
    for _ in range(500):  # 10 s of sending, three 20 ms frames every 20 ms
        for _ in range(3):
            taken += len(policer.audio(FRAME))
        clock.now += 0.02
    assert taken / BYTES_PER_S == pytest.approx(11.0, rel=0.05)
    assert policer.dropped_audio_bytes == 3 * 500 * len(FRAME) - taken
    assert not policer.flooding


def test_real_time_audio_with_jitter_loses_nothing() -> None:
    clock = Clock()
    policer = InputPolicer(InputRate(audio_burst_s=1.0), BYTES_PER_S, clock)
    for second in range(20):
        for _ in range(10):  # 200 ms on time
            clock.now += 0.02
            assert policer.audio(FRAME) == FRAME, f"dropped at second {second}"
        clock.now += 0.8  # then the network holds 800 ms and delivers it at once
        for _ in range(40):
            assert policer.audio(FRAME) == FRAME, f"dropped at second {second}"
    assert policer.dropped_audio_bytes == 0


def test_a_chunk_over_the_budget_keeps_whole_samples_up_to_it() -> None:
    clock = Clock()
    policer = InputPolicer(InputRate(audio_burst_s=0.5), BYTES_PER_S, clock)
    kept = policer.audio(bytes(BYTES_PER_S))  # one second into a half-second bucket
    assert len(kept) == BYTES_PER_S // 2 and policer.dropped_audio_bytes == BYTES_PER_S // 2
    clock.now += 0.0101
    assert len(policer.audio(bytes(1000))) == 160  # 10.1 ms of room: 80 whole samples


def test_digits_pass_at_the_configured_rate_and_a_flood_of_them_is_flagged() -> None:
    clock = Clock()
    policer = InputPolicer(InputRate(dtmf_per_s=10, flood_close_s=2), BYTES_PER_S, clock)
    assert sum(policer.dtmf() for _ in range(100)) == 10
    clock.now += 0.5
    assert sum(policer.dtmf() for _ in range(3)) == 3  # the bucket refilled five
    assert policer.dropped_dtmf == 90 and policer.flooding  # 90 >= 2 s x 10 digits


def test_a_flood_of_audio_is_flagged_once_the_excess_reaches_flood_close_s() -> None:
    policer = InputPolicer(InputRate(audio_burst_s=1.0, flood_close_s=2), BYTES_PER_S, Clock())
    policer.audio(bytes(BYTES_PER_S * 2))
    assert not policer.flooding  # one second dropped
    policer.audio(bytes(BYTES_PER_S))
    assert policer.flooding


class QuietBridge(StreamBridge):
    """A stream bridge whose wire goes nowhere: only its inbound side is under test."""

    async def write_audio(self, frame: bytes) -> None:
        pass


def test_an_address_gets_its_burst_then_so_many_connections_a_minute() -> None:
    clock = Clock()
    rate = SourceRate(per_minute=30, burst=4, clock=clock)
    assert [rate.take("192.0.2.7") for _ in range(6)] == [True] * 4 + [False] * 2
    assert rate.take("192.0.2.8"), "another address has its own budget"
    clock.now += 2.0  # 30 a minute: one every 2 s
    assert rate.take("192.0.2.7")
    assert not rate.take("192.0.2.7")
    clock.now += 60.0
    assert sum(rate.take("192.0.2.7") for _ in range(10)) == 4, "refills to the burst, no more"


def test_the_table_of_addresses_is_bounded_and_forgets_the_least_recent_first() -> None:
    clock = Clock()
    rate = SourceRate(per_minute=1, burst=1, max_sources=100, clock=clock)
    assert rate.take("flooder")
    assert not rate.take("flooder")
    for index in range(99):  # fills the table; the flooder, heard last, stays in it
        assert rate.take(f"10.0.0.{index}")
        assert not rate.take("flooder")
    assert len(rate) == 100
    assert rate.take("10.0.1.1")
    assert len(rate) == 100
    assert rate.take("10.0.0.0"), "the least recently heard was forgotten: a fresh burst"
    assert not rate.take("flooder")


async def test_the_bridge_drops_the_excess_counts_it_and_closes_a_flood_as_bad_input() -> None:
    bridge = QuietBridge(
        CallInfo(call_id="flood-1", transport="websocket"),
        input_rate=InputRate(audio_burst_s=1.0, flood_close_s=3.0),
    )
    second = b"\x01\x00" * 8000
    for _ in range(3):
        bridge.audio_in(second)
    for _ in range(50):  # the first second, as 20 ms frames; the rest was dropped
        assert isinstance(await bridge.receive(), AudioIn)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(bridge.receive(), 0.1)
    stats = bridge.stats()
    assert bridge.ended is None
    assert 1900 <= stats["rx_audio_dropped_ms"] <= 2000
    bridge.audio_in(second * 2)  # four seconds of excess now: a flood
    assert bridge.ended == Hangup(
        "bad input: the caller sends faster than real time (flood)", failed=True
    )
    assert bridge.stats()["bad_input_closed"] == 1
    for _ in range(20):
        bridge.dtmf_in("1")
    assert "rx_dtmf" not in bridge.stats(), "nothing is taken after the call ended"


async def test_digits_over_the_rate_never_reach_the_session() -> None:
    bridge = QuietBridge(
        CallInfo(call_id="keys-1", transport="audiosocket"),
        input_rate=InputRate(dtmf_per_s=5, flood_close_s=100),
    )
    for digit in "1234567890" * 3:
        bridge.dtmf_in(digit)
    bridge.end("caller hung up")
    digits = ""
    while isinstance(event := await bridge.receive(), DtmfIn):
        digits += event.digit
    assert digits == "12345" and bridge.stats()["rx_dtmf_dropped"] == 25


async def test_the_event_channel_bounds_digits_too_and_always_delivers_the_hangup() -> None:
    channel = EventChannel(limit=4)
    for digit in "123456":
        channel.put(DtmfIn(digit))
    channel.put(AudioIn(FRAME))
    channel.put(Hangup("gone"))
    received = [await channel.get() for _ in range(5)]
    assert received == [*(DtmfIn(d) for d in "1234"), Hangup("gone")]
    assert channel.dropped == 3
