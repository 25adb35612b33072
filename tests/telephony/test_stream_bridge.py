"""The StreamBridge every connection transport shares: reframing, pacing, flow control, backlog
(and that no call's clock outlives it: the RTP session's, which is the same kind, included)."""

from __future__ import annotations

import asyncio

import numpy as np

from telephony.bridge import AudioIn, CallInfo, Hangup
from telephony.media import RtpSession
from telephony.stream import StreamBridge


class WireBridge(StreamBridge):
    """A bridge whose wire is a list; ``stalled`` makes the peer stop reading."""

    def __init__(self, send_filler: bool = True) -> None:
        super().__init__(CallInfo(call_id="wire-1", transport="websocket"))
        self.send_filler = send_filler
        self.wire: list[bytes | str] = []
        self.stalled = asyncio.Event()
        self.stalled.set()

    async def write_audio(self, frame: bytes) -> None:
        await self.stalled.wait()
        self.wire.append(frame)

    async def write_clear(self) -> None:
        self.wire.append("clear")

    async def write_hangup(self, reason: str) -> None:
        self.wire.append(f"hangup:{reason}")


async def test_inbound_chunks_of_any_size_become_20ms_frames_in_order() -> None:
    bridge = WireBridge()
    pcm = np.arange(4000, dtype="<i2").tobytes()
    for size in (7 * 2, 333 * 2, 1000 * 2, 2 * 2):
        chunk, pcm = pcm[:size], pcm[size:]
        bridge.audio_in(chunk)
    bridge.audio_in(pcm)
    frames = []
    while len(frames) < 25:
        event = await bridge.receive()
        assert isinstance(event, AudioIn) and len(event.pcm) == 320
        frames.append(event.pcm)
    assert b"".join(frames) == np.arange(4000, dtype="<i2").tobytes()


async def test_bot_audio_is_paced_cleared_at_once_and_flushed_before_a_hangup() -> None:
    bridge = WireBridge(send_filler=False)
    bridge.start()
    await bridge.play(b"\x01\x00" * 8000)  # one second
    await asyncio.sleep(0.2)
    sent = [item for item in bridge.wire if isinstance(item, bytes)]
    assert 5 <= len(sent) <= 25, f"{len(sent)} of 50 frames after 200 ms: not real-time pacing"
    bridge.clear_audio()
    await asyncio.sleep(0.1)
    assert "clear" in bridge.wire and not bridge.playing
    after_clear = bridge.wire[bridge.wire.index("clear") + 1 :]
    assert after_clear == [], "audio went out after the clear"
    await bridge.play(b"\x02\x00" * 800)  # 100 ms, then the bot hangs up
    await bridge.wait_played()
    await bridge.hangup("goodbye")
    assert bridge.wire[-1] == "hangup:goodbye"
    assert sum(1 for item in bridge.wire[-6:-1] if item == b"\x02\x00" * 160) == 5


async def test_flow_control_holds_audio_and_a_stalled_peer_fails_the_call() -> None:
    bridge = WireBridge()
    bridge.start()
    bridge.pause_sending(True)
    await asyncio.sleep(0.3)
    assert bridge.wire == []
    bridge.pause_sending(False)
    await asyncio.sleep(0.05)
    assert len(bridge.wire) >= 10, "held frames go out once the peer has room"
    bridge.stalled.clear()  # the peer stops reading: the writer waits, frames pile up
    hangup = await asyncio.wait_for(_hangup(bridge), 5)
    assert hangup.failed and "stopped reading" in hangup.reason
    assert bridge.stats()["calls_failed"] == 1


async def _hangup(bridge: StreamBridge) -> Hangup:
    while True:
        event = await bridge.receive()
        if isinstance(event, Hangup):
            return event


async def test_transfer_hands_the_call_back_to_the_platform_once() -> None:
    bridge = WireBridge()
    bridge.start()
    assert await bridge.transfer("sip:agents@bank.example", {"reason": "caller_request"})
    assert bridge.wire[-1] == "hangup:handoff"
    assert bridge.ended == Hangup("handoff")
    assert not await bridge.transfer("sip:agents@bank.example", {}), "the call is already over"


async def test_a_call_that_ended_before_its_session_started_never_starts_its_clock() -> None:
    bridge = WireBridge()
    bridge.bad_input("garbage right after the start message")
    tapped: list[bytes] = []
    bridge.add_outbound_tap(tapped.append)
    bridge.start()  # the session's task runs after the reader already ended the call
    await asyncio.sleep(0.2)
    assert not bridge.pacer.running and tapped == [] and bridge.wire == []
    await asyncio.wait_for(bridge.hangup("bot finished"), 1.0)


async def test_an_rtp_session_closed_before_it_was_started_never_starts_its_clock() -> None:
    rtp = RtpSession(lambda pcm: None, lambda digit: None)
    await rtp.open("127.0.0.1", (40000, 60000))
    rtp.close()  # the call was torn down while it was being answered
    rtp.start()
    assert not rtp.pacer.running
