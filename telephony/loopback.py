"""An in-process call: code plays the caller, the CallSession sees an ordinary ``CallBridge``.

Used by the demo, the simulator and the tests to run real conversations without a phone. Both
directions are paced in real time by ``Pacer``s, exactly like a phone line: the caller side sends
a 20 ms frame every 20 ms (silence when it has nothing to say), and the bot side does the same.
An optional echo path feeds an attenuated, delayed copy of the bot's audio back into the caller
channel, as a telephone hybrid would.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from telephony.bridge import AudioIn, BridgeEvent, CallBridge, CallInfo, DtmfIn, Hangup
from telephony.events import EventChannel
from telephony.pacing import Pacer

_ids = itertools.count(1)


@dataclass(frozen=True)
class EchoPath:
    """The line returns the bot's audio ``delay_ms`` later, ``gain_db`` quieter."""

    delay_ms: int = 60
    gain_db: float = -12.0


class LoopbackBridge(CallBridge):
    """The bot's side of an in-process call."""

    def __init__(self, call: LoopbackCall, info: CallInfo) -> None:
        super().__init__(info)
        self._call = call
        self.events = EventChannel()
        self._pacer = Pacer(self._sent, rate=self.rate, frame_ms=self.frame_ms)

    def _sent(self, frame: bytes) -> None:
        self.frame_sent(frame)
        self._call._bot_frame(frame)

    async def receive(self) -> BridgeEvent:
        return await self.events.get()

    async def play(self, pcm: bytes) -> None:
        self._pacer.play(pcm)

    async def wait_played(self) -> None:
        await self._pacer.wait_played()

    def clear_audio(self) -> None:
        self._pacer.clear()

    @property
    def playing(self) -> bool:
        return self._pacer.playing

    async def send_dtmf(self, digits: str) -> None:
        self._call.dtmf_received += digits

    async def transfer(self, target: str, context: Mapping[str, Any]) -> bool:
        self._call.transfers.append((target, dict(context)))
        accepted = self._call.accept_transfer
        if accepted:
            self._call._end("transferred", by_bot=True)
        return accepted

    async def hangup(self, reason: str = "bot") -> None:
        self._call._end(reason, by_bot=True)

    @property
    def underruns(self) -> int:
        return self._pacer.underruns


class LoopbackCall:
    """The caller's side: speak PCM, press keys, hang up; hear everything the bot sent."""

    def __init__(
        self,
        caller: str = "sip:+15550001234@loopback",
        echo: EchoPath | None = None,
        accept_transfer: bool = True,
        rate: int = 8000,
    ) -> None:
        info = CallInfo(call_id=f"loop-{next(_ids):04d}", transport="local", caller=caller)
        self.bridge = LoopbackBridge(self, info)
        self.rate = rate
        self.echo = echo
        self.accept_transfer = accept_transfer
        self.transfers: list[tuple[str, dict[str, Any]]] = []
        self.dtmf_received = ""
        self.heard = bytearray()
        """Every frame the bot sent, silence included: a time-aligned record of the bot side."""
        self.said = bytearray()
        """Every frame the caller sent, silence included."""
        self.ended = asyncio.Event()
        self.ended_by_bot = False
        self.end_reason = ""
        self._mouth = Pacer(self._caller_frame, rate=rate, frame_ms=20)
        self._echo_line = bytearray()

    def start(self) -> None:
        """Open the line in both directions (the bot's session is started separately)."""
        self._mouth.start()
        self.bridge._pacer.start()

    @property
    def elapsed_s(self) -> float:
        """Seconds of line time so far (the bot side's frame count)."""
        return len(self.heard) / 2 / self.rate

    async def say(self, pcm: bytes) -> None:
        """Speak ``pcm`` (16-bit mono at the call rate) in real time; returns when it is sent."""
        self._mouth.play(pcm)
        await self._mouth.wait_played()

    def say_nowait(self, pcm: bytes) -> None:
        """Start speaking without waiting (to talk over the bot)."""
        self._mouth.play(pcm)

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def press(self, keys: str, gap_s: float = 0.15) -> None:
        """Press keypad keys one by one."""
        for key in keys:
            self.bridge.events.put(DtmfIn(key))
            await asyncio.sleep(gap_s)

    def hang_up(self) -> None:
        self._end("caller", by_bot=False)

    async def wait_for_bot_silence(self, quiet_s: float = 1.0, timeout_s: float = 60.0) -> bytes:
        """Wait until the bot says something new and then stays quiet for ``quiet_s``.

        Returns what it said (from the moment of the call, trailing silence included).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        start = len(self.heard)
        quiet_bytes = int(quiet_s * self.rate) * 2
        while loop.time() < deadline and not self.ended.is_set():
            said = self.heard[start:]
            if any(said) and len(said) >= quiet_bytes and not any(said[-quiet_bytes:]):
                return bytes(said)
            await asyncio.sleep(0.05)
        if not self.ended.is_set():
            raise TimeoutError(f"the bot did not speak and finish within {timeout_s} s")
        return bytes(self.heard[start:])

    def _caller_frame(self, frame: bytes) -> None:
        if self.ended.is_set():
            return
        if self.echo is not None:
            frame = self._with_echo(frame)
        self.said += frame
        self.bridge.events.put(AudioIn(frame))

    def _bot_frame(self, frame: bytes) -> None:
        if self.ended.is_set():
            return
        self.heard += frame
        if self.echo is not None:
            self._echo_line += frame

    def _with_echo(self, frame: bytes) -> bytes:
        assert self.echo is not None
        delay = self.echo.delay_ms * self.rate // 1000 * 2
        start = len(self._echo_line) - delay - len(frame)
        if start < 0:
            return frame
        echo = np.frombuffer(bytes(self._echo_line[start : start + len(frame)]), dtype="<i2")
        mixed = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        mixed += echo.astype(np.float64) * 10 ** (self.echo.gain_db / 20)
        if len(self._echo_line) > 4 * self.rate * 2:
            del self._echo_line[: len(self._echo_line) - 2 * self.rate * 2]
        return np.clip(np.round(mixed), -32768, 32767).astype("<i2").tobytes()

    def _end(self, reason: str, by_bot: bool) -> None:
        if self.ended.is_set():
            return
        self.ended_by_bot = by_bot
        self.end_reason = reason
        self.ended.set()
        self._mouth.stop()
        self.bridge._pacer.stop()
        self.bridge.events.put(Hangup(reason))
