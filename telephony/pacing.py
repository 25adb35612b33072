"""Real-time pacing of outbound call audio: one 20 ms frame per tick on an absolute schedule.

Every transport sends bot audio through a ``Pacer``: the session queues PCM of any length with
``play``; the pacer cuts it into frames and calls ``send_frame`` every ``frame_ms`` on a schedule
anchored to ``loop.time()`` at start, so timing errors never accumulate. When nothing is queued
it sends filler (digital silence, or low-level comfort noise) so media keeps flowing while the
bot is silent. If the event loop was late it catches up by sending at most ``max_catch_up`` frames
per tick until it is back on schedule, so the frame count never drifts; beyond ``max_backlog``
frames of lateness the oldest slots are skipped (``slot`` still advances with wall-clock time, so
RTP timestamps stay true).

Underruns: a gap in which the pacer had to send filler although a playback was in progress,
because the producer (TTS) did not deliver the next audio in time. A playback is in progress
from ``play`` until the queue drains while someone awaits ``wait_played`` (the producer said it
is done), or until ``clear``. A gap is counted when more audio arrives to end it; gaps longer
than ``max_underrun_gap`` are taken as the start of a new playback, not as an underrun.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Literal

import numpy as np

FillerKind = Literal["silence", "comfort_noise"]

COMFORT_NOISE_DBFS = -65.0
"""Level of the generated comfort noise: audible as "line open", far below speech."""
_NOISE_FRAMES = 8
_PARTIAL_HOLD_TICKS = 2
"""Ticks a trailing partial frame waits for more audio before it is padded and sent."""


def _comfort_noise_frames(samples: int, dbfs: float, count: int) -> list[bytes]:
    rng = np.random.default_rng(0x5EED)
    sigma = 32768.0 * 10.0 ** (dbfs / 20.0)
    noise = np.clip(np.round(rng.normal(0.0, sigma, size=(count, samples))), -32768, 32767)
    return [row.astype("<i2").tobytes() for row in noise]


class Pacer:
    """Sends queued PCM one frame per ``frame_ms`` through ``send_frame``, filler when idle.

    During a ``send_frame`` call, ``slot`` is the index of the frame's time slot since start,
    ``frame_is_filler`` tells filler from queued audio, and ``talkspurt_start`` is True on the
    first audio frame after filler (where RTP sets the marker bit, RFC 3551 section 4.1).
    """

    def __init__(
        self,
        send_frame: Callable[[bytes], None],
        *,
        rate: int = 8000,
        frame_ms: int = 20,
        filler: FillerKind = "silence",
        comfort_noise_dbfs: float = COMFORT_NOISE_DBFS,
        max_catch_up: int = 2,
        max_backlog: int = 10,
        max_underrun_gap: float = 3.0,
    ) -> None:
        if filler not in ("silence", "comfort_noise"):
            raise ValueError(f"filler must be 'silence' or 'comfort_noise', not {filler!r}")
        self._send_frame = send_frame
        self.rate = rate
        self.frame_ms = frame_ms
        self.frame_bytes = rate * frame_ms // 1000 * 2
        self.interval = frame_ms / 1000.0
        self.max_catch_up = max(1, max_catch_up)
        self.max_backlog = max(self.max_catch_up, max_backlog)
        self._max_gap_frames = max(1, math.ceil(max_underrun_gap / self.interval))
        self.silence_frame = bytes(self.frame_bytes)
        self._fillers = (
            [self.silence_frame]
            if filler == "silence"
            else _comfort_noise_frames(self.frame_bytes // 2, comfort_noise_dbfs, _NOISE_FRAMES)
        )
        self._filler_index = 0

        self._buf = bytearray()
        self._pos = 0
        self._open = False
        """A playback is in progress (audio was queued and the producer has not said it is done)."""
        self._gap = 0
        """Filler frames sent since the queue ran dry during an open playback."""
        self._waiters: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._stopped = False
        self._t0 = 0.0
        self._next_slot = 0
        self._last_was_filler = True
        self._partial_ticks = 0

        self.slot = 0
        self.frame_is_filler = True
        self.talkspurt_start = False
        self.frames_sent = 0
        self.audio_frames = 0
        self.filler_frames = 0
        self.underruns = 0
        """Gaps in a playback where filler went out because audio was not produced in time."""
        self.underrun_frames = 0
        """Filler frames sent inside those gaps."""
        self.late_ticks = 0
        """Ticks that found the loop more than one frame late."""
        self.skipped_slots = 0
        """Slots given up because the loop was more than ``max_backlog`` frames late."""
        self.cleared_frames = 0

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start ticking on the running loop; the first frame goes out at once.

        Never after :meth:`stop`: a call can end before its owner gets to start the clock (bad
        input right after a stream's start message, an RTP session closed while answering), and
        a clock started then would tick for the life of the process with nothing to stop it.
        """
        if self._handle is not None or self._stopped:
            return
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._next_slot = 0
        self._handle = self._loop.call_at(self._t0, self._tick)

    def stop(self) -> None:
        """Stop ticking for good; pending ``wait_played`` calls return."""
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._release_waiters()

    @property
    def running(self) -> bool:
        return self._handle is not None

    # -- the bridge-facing API -------------------------------------------------------------

    def play(self, pcm: bytes) -> None:
        """Queue PCM (any length, whole 16-bit samples) for playout after what is queued."""
        if not pcm:
            return
        if len(pcm) % 2:
            raise ValueError(f"PCM length {len(pcm)} is not a whole number of 16-bit samples")
        if self._pos and self._pos * 2 >= len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += pcm
        if self._open and self._gap and self._gap <= self._max_gap_frames:
            self.underruns += 1
            self.underrun_frames += self._gap
        self._gap = 0
        self._open = True

    def clear(self) -> None:
        """Drop everything queued at once (barge-in); playout continues with filler."""
        remaining = len(self._buf) - self._pos
        self.cleared_frames += -(-remaining // self.frame_bytes)
        self._buf = bytearray()
        self._pos = 0
        self._open = False
        self._gap = 0
        self._release_waiters()

    async def wait_played(self) -> None:
        """Wait until everything queued so far has been sent (or cleared, or the pacer stopped)."""
        if not self.playing or self._handle is None:
            self._open = False
            self._gap = 0
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        await future

    @property
    def playing(self) -> bool:
        """True while queued audio remains to be sent."""
        return len(self._buf) > self._pos

    # -- the clock -------------------------------------------------------------------------

    def _release_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        due = int((now - self._t0) / self.interval) + 1  # slots whose time has come
        behind = due - self._next_slot
        if behind > 1:
            self.late_ticks += 1
            if behind > self.max_backlog:
                # Too far behind to catch up unnoticed: drop the oldest slots (time moves on).
                self.skipped_slots += behind - self.max_backlog
                self._next_slot = due - self.max_backlog
                behind = self.max_backlog
        for _ in range(min(max(behind, 1), self.max_catch_up)):
            self.slot = self._next_slot
            self._next_slot += 1
            self._send_one()
            if self._handle is None:  # send_frame stopped us
                return
        when = self._t0 + self._next_slot * self.interval
        if when <= now:
            # Still behind: catch up at most max_catch_up frames per tick, on the tick grid.
            when = self._t0 + due * self.interval
        self._handle = loop.call_at(when, self._tick)

    def _send_one(self) -> None:
        size = self.frame_bytes
        available = len(self._buf) - self._pos
        frame: bytes | None = None
        if available >= size:
            frame = bytes(self._buf[self._pos : self._pos + size])
            self._pos += size
        elif available:
            # A partial frame waits for the rest of its audio, unless the producer is done
            # (someone awaits wait_played) or it has waited long enough: then pad it.
            self._partial_ticks += 1
            if self._waiters or self._partial_ticks > _PARTIAL_HOLD_TICKS:
                frame = bytes(self._buf[self._pos :]) + bytes(size - available)
                self._pos += available
        if frame is not None:
            self._partial_ticks = 0
            self.frame_is_filler = False
            self.talkspurt_start = self._last_was_filler
            self._last_was_filler = False
            self.audio_frames += 1
            if self._pos >= len(self._buf):
                self._buf = bytearray()
                self._pos = 0
                if self._waiters:
                    self._open = False
                    self._release_waiters()
        else:
            frame = self._fillers[self._filler_index]
            self._filler_index = (self._filler_index + 1) % len(self._fillers)
            self.frame_is_filler = True
            self.talkspurt_start = False
            self._last_was_filler = True
            self.filler_frames += 1
            if self._open:
                self._gap += 1
        self.frames_sent += 1
        self._send_frame(frame)

    def stats(self) -> dict[str, int]:
        return {
            "frames_sent": self.frames_sent,
            "audio_frames": self.audio_frames,
            "filler_frames": self.filler_frames,
            "underruns": self.underruns,
            "underrun_frames": self.underrun_frames,
            "late_ticks": self.late_ticks,
            "skipped_slots": self.skipped_slots,
            "cleared_frames": self.cleared_frames,
        }
