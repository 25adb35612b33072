"""An in-process call on a virtual clock: the line runs as fast as the bot can take it.

The real-time loopback line (``telephony.loopback``) spends a second of wall time on every
second of call. For QA runs that is wasted: this line keeps the same frame-by-frame semantics
(each tick carries one 20 ms caller frame in and one 20 ms bot frame out, silence when a side has
nothing to send, so the endpointer's sample clock and the stereo recording stay aligned) but ticks
without waiting for the wall clock. Line time only moves while someone has audio to send: bot
playout completes at once, caller audio is fed as fast as the session consumes it, and while the
bot is thinking (``hold()`` returns True with no bot audio queued) the line stands still, as if
the engines were infinitely fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from telephony.bridge import AudioIn, BridgeEvent, CallBridge, CallInfo, DtmfIn, Hangup
from telephony.events import EventChannel

_ids = itertools.count(1)
KEY_GAP_MS = 100
"""Line time between two keypad presses."""


class FastBridge(CallBridge):
    """The bot's side of a virtual-clock call."""

    def __init__(self, line: FastLine, info: CallInfo) -> None:
        super().__init__(info)
        self._line = line
        self.events = EventChannel()
        self._out = bytearray()
        self._drained: list[asyncio.Future[None]] = []

    async def receive(self) -> BridgeEvent:
        return await self.events.get()

    async def play(self, pcm: bytes) -> None:
        self._out += pcm
        self._line.wake()

    async def wait_played(self) -> None:
        if not self._out or self._line.ended.is_set():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drained.append(future)
        await future

    def clear_audio(self) -> None:
        self._out.clear()
        self._release()

    @property
    def playing(self) -> bool:
        return bool(self._out)

    async def send_dtmf(self, digits: str) -> None:
        self._line.dtmf_received += digits

    async def transfer(self, target: str, context: Mapping[str, Any]) -> bool:
        self._line.transfers.append((target, dict(context)))
        self._line.end("transferred", by_bot=True)
        return True

    async def hangup(self, reason: str = "bot") -> None:
        self._line.end(reason, by_bot=True)

    def _next_frame(self, size: int) -> bytes:
        frame = bytes(self._out[:size])
        del self._out[:size]
        if not self._out:
            self._release()
        return frame + bytes(size - len(frame))

    def _release(self) -> None:
        drained, self._drained = self._drained, []
        for future in drained:
            if not future.done():
                future.set_result(None)


class FastLine:
    """The caller's side: queue speech, keys and silence; the line plays them out on its clock."""

    def __init__(
        self,
        hold: Callable[[], bool] = lambda: False,
        caller: str = "sip:+15550001234@qa",
        rate: int = 8000,
        frame_ms: int = 20,
    ) -> None:
        info = CallInfo(call_id=f"fast-{next(_ids):04d}", transport="local", caller=caller)
        self.bridge = FastBridge(self, info)
        self.rate = rate
        self.frame_bytes = rate * frame_ms // 1000 * 2
        self.hold = hold
        """True while the bot owes a reply: with no bot audio queued, the line stands still."""
        self.heard = bytearray()
        """Every frame the bot sent, silence included."""
        self.said = bytearray()
        """Every frame the caller sent, silence included (time-aligned with ``heard``)."""
        self.transfers: list[tuple[str, dict[str, Any]]] = []
        self.dtmf_received = ""
        self.ended = asyncio.Event()
        self.ended_by_bot = False
        self.end_reason = ""
        self._mouth: deque[bytes | str] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def elapsed_s(self) -> float:
        """Seconds of line time so far."""
        return len(self.heard) / 2 / self.rate

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"line-{self.bridge.info.call_id}")

    async def say(self, pcm: bytes) -> None:
        """Speak ``pcm`` (16-bit mono at the line rate); returns when the line has carried it."""
        for offset in range(0, len(pcm), self.frame_bytes):
            frame = pcm[offset : offset + self.frame_bytes]
            self._mouth.append(frame + bytes(self.frame_bytes - len(frame)))
        await self._carried()

    async def pause(self, seconds: float) -> None:
        """Stay silent for ``seconds`` of line time."""
        await self.say(bytes(int(seconds * self.rate) * 2))

    async def press(self, keys: str) -> None:
        """Press keypad keys with a short gap of line time between them."""
        gap = bytes(self.rate * KEY_GAP_MS // 1000 * 2)
        for key in keys:
            self._mouth.append(key)
            await self.say(gap)

    def hang_up(self) -> None:
        self.end("caller", by_bot=False)

    def end(self, reason: str, by_bot: bool) -> None:
        if self.ended.is_set():
            return
        self.ended_by_bot, self.end_reason = by_bot, reason
        self.ended.set()
        self._mouth.clear()
        self.bridge.events.put(Hangup(reason))
        self.bridge._release()
        self._idle.set()
        self.wake()

    def wake(self) -> None:
        self._wakeup.set()

    async def close(self) -> None:
        self.hang_up()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _carried(self) -> None:
        self._idle.clear()
        self.wake()
        if self._mouth and not self.ended.is_set():
            await self._idle.wait()

    async def _run(self) -> None:
        while not self.ended.is_set():
            frozen = self.hold() and not self.bridge.playing
            if frozen or not (self._mouth or self.bridge.playing):
                if not self._mouth:
                    self._idle.set()
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), 0.01 if frozen else None)
                continue
            self._tick()
            if not self._mouth:
                self._idle.set()
            await asyncio.sleep(0)  # let the session take the frame before the next one

    def _tick(self) -> None:
        while self._mouth and isinstance(self._mouth[0], str):
            key = self._mouth.popleft()
            assert isinstance(key, str)
            self.bridge.events.put(DtmfIn(key))
        item = self._mouth.popleft() if self._mouth else bytes(self.frame_bytes)
        assert isinstance(item, bytes)
        self.said += item
        self.bridge.events.put(AudioIn(item))
        out = self.bridge._next_frame(self.frame_bytes)
        self.heard += out
        self.bridge.frame_sent(out)
