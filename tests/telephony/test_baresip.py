"""Real calls from baresip (Debian 1.0.0): audio both ways, DTMF, BYE both ways, REFER, TCP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from telephony.bridge import AudioIn, CallBridge, DtmfIn, Hangup
from telephony.sip.server import SipServer

from .peers import BARESIP, Baresip, read_wav, tone, tone_level, wait_for, write_wav
from .rawsip import RawSip

pytestmark = pytest.mark.skipif(BARESIP is None, reason="baresip is not installed")

CALLER_HZ = 600
BOT_HZ = 1000


class Bot:
    """A stand-in CallSession: plays a tone, records what the caller sends."""

    def __init__(self, tone_hz: float = BOT_HZ, play_seconds: float = 2.0) -> None:
        self.tone_hz = tone_hz
        self.play_seconds = play_seconds
        self.bridges: list[CallBridge] = []
        self.audio: dict[int, list[bytes]] = {}
        self.digits: dict[int, list[str]] = {}
        self.hangups: dict[int, Hangup] = {}
        self.hang_up_after_playing = False

    async def on_call(self, bridge: CallBridge) -> None:
        index = len(self.bridges)
        self.bridges.append(bridge)
        self.audio[index] = []
        self.digits[index] = []
        await bridge.play(tone(self.tone_hz, self.play_seconds))
        if self.hang_up_after_playing:
            await bridge.wait_played()
            await bridge.hangup("bot done")
        while True:
            event = await bridge.receive()
            if isinstance(event, AudioIn):
                self.audio[index].append(event.pcm)
            elif isinstance(event, DtmfIn):
                self.digits[index].append(event.digit)
            else:
                self.hangups[index] = event
                return

    def received(self, index: int = 0) -> np.ndarray:
        return np.frombuffer(b"".join(self.audio.get(index, [])), dtype="<i2").astype(np.float64)

    def voiced_frames(self, index: int = 0) -> int:
        return sum(
            1 for f in self.audio.get(index, []) if np.abs(np.frombuffer(f, "<i2")).max() > 1000
        )


@pytest.fixture
def caller_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / f"caller-{CALLER_HZ}.wav", tone(CALLER_HZ, 40))


async def start_server(bot: Bot, **kwargs) -> SipServer:
    base = random.randrange(43000, 46000, 1000)
    server = SipServer(
        "127.0.0.1", 0, bot.on_call, rtp_port_range=(base, base + 998), timer_t1=0.1, **kwargs
    )
    await server.start()
    return server


@pytest.fixture
async def cleanup() -> AsyncIterator[list[object]]:
    things: list[object] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, (Baresip, SipServer)):
            await thing.stop()


async def test_baresip_call_audio_both_ways_dtmf_and_caller_bye(
    tmp_path: Path, caller_wav: Path, cleanup: list[object]
) -> None:
    bot = Bot()
    server = await start_server(bot)
    cleanup.append(server)
    caller = Baresip(tmp_path, "caller", source_wav=caller_wav)
    cleanup.append(caller)
    await caller.start()
    await caller.command("dial", f"sip:bot@127.0.0.1:{server.port}")
    assert await caller.wait_event("CALL_ESTABLISHED", 10), caller.log()
    assert await wait_for(lambda: bot.voiced_frames() >= 50, 5), "no caller audio arrived"
    for digit in "15#":
        await caller.command("sndcode", digit)
        assert await wait_for(lambda d=digit: d in bot.digits[0], 3), bot.digits
    assert await wait_for(lambda: not bot.bridges[0].playing, 5)
    await asyncio.sleep(0.3)  # let the tail of our tone reach baresip's recorder
    await caller.command("hangup")
    assert await wait_for(lambda: 0 in bot.hangups, 5)
    assert bot.hangups[0] == Hangup("caller hung up")
    assert bot.digits[0] == ["1", "5", "#"]
    assert tone_level(bot.received()[-8000 * 2 :], CALLER_HZ) > 0.8
    await caller.stop()
    recordings = caller.recordings("dec")
    assert recordings, caller.log()
    heard = read_wav(recordings[-1])
    assert tone_level(heard, BOT_HZ) > 0.8, "baresip did not hear our tone"
    assert np.abs(heard).max() > 5000
    stats = server.stats()
    assert stats["calls_answered"] == 1 and stats["active_calls"] == 0
    assert stats["rtp_rx_dtmf"] == 3
    assert stats["rtp_underruns"] == 0


async def test_our_hangup_ends_the_baresip_call_over_tcp(
    tmp_path: Path, caller_wav: Path, cleanup: list[object]
) -> None:
    bot = Bot(play_seconds=1.0)
    bot.hang_up_after_playing = True
    server = await start_server(bot)
    cleanup.append(server)
    caller = Baresip(tmp_path, "tcpcaller", source_wav=caller_wav, transport="tcp")
    cleanup.append(caller)
    await caller.start()
    await caller.command("dial", f"sip:bot@127.0.0.1:{server.port};transport=tcp")
    assert await caller.wait_event("CALL_ESTABLISHED", 10), caller.log()
    assert await caller.wait_event("CALL_CLOSED", 10), caller.log()
    assert await wait_for(lambda: 0 in bot.hangups, 3)
    assert bot.hangups[0] == Hangup("bot done")
    assert bot.bridges[0].info.extra["sip_transport"] == "TCP"
    stats = server.stats()
    assert stats["messages_received"] >= 3  # INVITE, ACK, 200 to our BYE: all over TCP
    assert stats.get("tcp_connections_closed_on_garbage", 0) == 0


async def test_transfer_by_refer_to_an_agent(
    tmp_path: Path, caller_wav: Path, cleanup: list[object]
) -> None:
    agent_wav = write_wav(tmp_path / "agent.wav", tone(800, 40))
    outcome: dict[str, object] = {}

    class Transferring(Bot):
        async def on_call(self, bridge: CallBridge) -> None:
            self.bridges.append(bridge)
            await asyncio.sleep(0.5)
            outcome["ok"] = await bridge.transfer(agent.uri, {"intent": "card_lost", "n": 1})
            while not isinstance(event := await bridge.receive(), Hangup):
                pass
            outcome["after"] = event

    bot = Transferring()
    server = await start_server(bot)
    cleanup.append(server)
    agent = Baresip(tmp_path, "agent", source_wav=agent_wav)
    caller = Baresip(tmp_path, "caller", source_wav=caller_wav)
    cleanup.extend([agent, caller])
    await agent.start()
    await caller.start()
    await caller.command("dial", f"sip:bot@127.0.0.1:{server.port}")
    assert await wait_for(lambda: "ok" in outcome, 15), caller.log()
    assert outcome["ok"] is True, caller.log()
    assert await agent.wait_event("CALL_ESTABLISHED", 5), agent.log()
    assert caller.has_event("TRANSFER")
    assert await caller.wait_event("CALL_CLOSED", 5)  # its call with the bot is over
    assert caller.count_events("CALL_ESTABLISHED") == 2  # the bot, then the agent
    assert await wait_for(lambda: "after" in outcome, 2)
    assert outcome["after"] == Hangup("transferred")
    stats = server.stats()
    assert stats["transfers_completed"] == 1 and stats["active_calls"] == 0


async def test_two_simultaneous_calls_after_garbage_are_served_independently(
    tmp_path: Path, cleanup: list[object]
) -> None:
    tones = {"alice": 600, "bob": 850}
    bot_tones = {"alice": 1000, "bob": 1400}

    class PerCaller(Bot):
        async def on_call(self, bridge: CallBridge) -> None:
            self.tone_hz = 1000 if "alice" in bridge.info.caller else 1400
            await super().on_call(bridge)

    bot = PerCaller(play_seconds=2.5)
    server = await start_server(bot)
    cleanup.append(server)

    # Garbage first, on both transports: the server must shrug it off.
    udp = await RawSip(server.port).open()
    tcp = await RawSip(server.port, "TCP").open()
    udp.send(bytes(random.Random(3).getrandbits(8) for _ in range(900)))
    udp.send(b"INVITE sip:bot@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\n")
    tcp.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(300))  # a TLS hello
    assert await tcp.recv_raw(2.0) is None  # closed
    udp.close()
    tcp.close()

    callers = {
        name: Baresip(tmp_path, name, source_wav=write_wav(tmp_path / f"{name}.wav", tone(hz, 40)))
        for name, hz in tones.items()
    }
    cleanup.extend(callers.values())
    await asyncio.gather(*(c.start() for c in callers.values()))
    await asyncio.gather(
        *(c.command("dial", f"sip:bot@127.0.0.1:{server.port}") for c in callers.values())
    )
    assert await wait_for(lambda: len(bot.bridges) == 2, 10)
    assert server.stats()["active_calls"] == 2
    assert await wait_for(lambda: all(bot.voiced_frames(i) >= 75 for i in (0, 1)), 8)
    assert await wait_for(lambda: not any(b.playing for b in bot.bridges), 6)
    await asyncio.sleep(0.3)
    for caller in callers.values():
        await caller.command("hangup")
    assert await wait_for(lambda: len(bot.hangups) == 2, 5)
    for index, bridge in enumerate(bot.bridges):
        name = "alice" if "alice" in bridge.info.caller else "bob"
        assert tone_level(bot.received(index), tones[name]) > 0.8, name
    for name, caller in callers.items():
        await caller.stop()
        heard = read_wav(caller.recordings("dec")[-1])
        assert tone_level(heard, bot_tones[name]) > 0.8, name
    stats = server.stats()
    assert stats["malformed_dropped"] >= 2
    assert stats["calls_answered"] == 2
    assert len({b.info.extra["local_rtp_port"] for b in bot.bridges}) == 2
