"""The caller's end of a stream call, for QA runs and tests that dial the bot like a phone does.

A ``StreamPeer`` has a real-time mouth (a ``Pacer``: one 20 ms frame every 20 ms, silence when it
has nothing to say, as a phone line sends) and ears that keep everything the bot sent with its
arrival order, so callers can wait for the bot to finish and measure when it stopped. Each wire
format (Twilio media streams, AudioSocket, ...) subclasses it and says how a frame goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from telephony.pacing import Pacer

RATE = 8000


class StreamPeer:
    """A real-time mouth, and ears that keep what the bot sent (16-bit PCM at ``rate``)."""

    def __init__(self, rate: int = RATE) -> None:
        self.rate = rate
        self.heard = bytearray()
        """Bot audio as received, in order."""
        self.events: list[tuple[int, dict[str, Any]]] = []
        """Control messages from the bot, with how many bytes of bot audio came before them."""
        self.ended = asyncio.Event()
        self._last_voice = 0.0
        self._mouth = Pacer(self._mouth_frame, rate=rate, frame_ms=20)
        self._tasks: list[asyncio.Task[None]] = []

    # -- what a wire format provides -------------------------------------------------------

    def send_audio(self, frame: bytes) -> None:
        raise NotImplementedError

    async def press(self, keys: str, gap_s: float = 0.2) -> None:
        raise NotImplementedError

    async def hang_up(self) -> None:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------

    def _mouth_frame(self, frame: bytes) -> None:
        if not self.ended.is_set():
            self.send_audio(frame)

    def hear(self, pcm: bytes) -> None:
        self.heard += pcm
        if any(pcm):
            self._last_voice = asyncio.get_running_loop().time()

    def control(self, message: dict[str, Any]) -> None:
        self.events.append((len(self.heard), message))

    def start_mouth(self) -> None:
        self._mouth.start()

    def stop_mouth(self) -> None:
        self._mouth.stop()

    def background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` until ``close``."""
        self._tasks.append(asyncio.create_task(coroutine))

    async def say(self, pcm: bytes) -> None:
        """Speak ``pcm`` in real time; returns when it is sent."""
        self._mouth.play(pcm)
        await self._mouth.wait_played()

    def say_nowait(self, pcm: bytes) -> None:
        self._mouth.play(pcm)

    async def wait_for_bot_silence(self, quiet_s: float = 1.6, timeout_s: float = 90) -> bytes:
        """Wait until the bot says something new and then stays quiet; returns what it said."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        start = len(self.heard)
        while loop.time() < deadline and not self.ended.is_set():
            said = self.heard[start:]
            if any(said) and loop.time() - self._last_voice >= quiet_s:
                return bytes(said)
            await asyncio.sleep(0.05)
        if not self.ended.is_set():
            raise TimeoutError(f"the bot did not speak and finish within {timeout_s} s")
        return bytes(self.heard[start:])

    async def wait_for_voice(self, timeout_s: float = 30) -> None:
        start = len(self.heard)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not any(self.heard[start:]):
            if loop.time() > deadline:
                raise TimeoutError("the bot never started speaking")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self.stop_mouth()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
