"""Stereo call recordings: caller on the left channel, bot on the right, written as the call goes.

Each side is appended as its frames pass (caller frames as they arrive, bot frames as they are
sent, silence included), so the channels stay time-aligned by sample count. While a PIN is being
entered the caller channel is written as silence: the secret is never audible in a recording.

A secret can also be said where none was asked for ("my PIN is 4321"), and only the transcript
tells. So each utterance's caller audio is held back (:meth:`StereoRecorder.hold_caller`) from
its pre-roll on until the session knows what was said, then written as it was or as silence
(:meth:`StereoRecorder.release_caller`). The last moments of caller audio are always kept
unwritten, so a hold can reach back to the pre-roll the endpointer reports with its start.

The recorder is fed from the call's own path (the caller's audio as it is heard, the bot's as
the pacer sends it), so a disk that fails (full, gone, read-only) must not raise there: the
recording stops for the rest of the call, what was written stays readable up to there (it reads
as truncated), and ``on_failure`` tells the session, which notes it in the call's record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.recording_keys import Keyring
from ivr.sealed import SealedWriter
from speech.audio import SAMPLE_WIDTH

FLUSH_BYTES = 32_000
"""Write to disk about once a second of 8 kHz stereo audio, not per 20 ms frame."""
DEFAULT_LOOKBACK_MS = 1000
"""Caller audio kept unwritten so a hold can reach back to an utterance's pre-roll."""
DEFAULT_MAX_HOLD_MS = 30_000
"""Longest stretch held for a transcript; beyond it the held audio is muted as it goes."""


@dataclass
class CallerHold:
    """A stretch of the caller channel kept back until its transcript is known."""

    start: int
    """Byte offset in the caller channel where the stretch begins."""
    end: int | None = None
    """Byte offset where it ends (None: the utterance is still going on)."""


class StereoRecorder:
    """Streams two-channel 16-bit audio to ``path``, encrypted as it is written (``ivr.sealed``:
    no plain recording ever reaches disk); the recording is complete on ``close()``."""

    def __init__(
        self,
        path: str | Path,
        rate: int,
        keyring: Keyring,
        on_failure: Callable[[OSError], None] | None = None,
    ) -> None:
        """Raises OSError if the recording cannot be created; ``on_failure`` is called once
        if writing it fails later (recording is then off for the rest of the call)."""
        self.path = Path(path)
        self.rate = rate
        self._sink = SealedWriter(self.path, keyring, rate, channels=2, sample_width=SAMPLE_WIDTH)
        self._on_failure = on_failure
        self.failure: OSError | None = None
        """Why writing stopped (None: recording)."""
        self._left = bytearray()
        self._right = bytearray()
        self._out = bytearray()
        self._caller_muted = False
        self._closed = False
        self.frames_written = 0
        self._left_base = 0
        """Caller-channel bytes already interleaved (the offset of ``_left[0]``)."""
        self._holds: list[CallerHold] = []
        self._lookback = self._bytes(DEFAULT_LOOKBACK_MS)
        self._max_hold = self._bytes(DEFAULT_MAX_HOLD_MS)

    def mute_caller(self, muted: bool) -> None:
        """Silence the caller channel from now on (True) or resume it (False)."""
        self._caller_muted = muted

    def reserve_caller(self, lookback_ms: int, max_hold_ms: int) -> None:
        """Keep the newest ``lookback_ms`` of caller audio unwritten (how far back a hold may
        start) and hold at most ``max_hold_ms`` for a transcript (memory stays bounded)."""
        self._lookback = self._bytes(lookback_ms)
        self._max_hold = self._bytes(max(max_hold_ms, lookback_ms))

    def hold_caller(self, back_ms: int) -> CallerHold:
        """Hold the caller channel from ``back_ms`` before its newest audio until
        :meth:`release_caller`: an utterance began (``back_ms`` covers its pre-roll)."""
        received = self._left_base + len(self._left)
        hold = CallerHold(max(self._left_base, received - self._bytes(back_ms)))
        self._holds.append(hold)
        return hold

    def end_hold(self, hold: CallerHold) -> None:
        """The held utterance ended here: audio after it is not part of it."""
        if hold.end is None:
            hold.end = self._left_base + len(self._left)

    def release_caller(self, hold: CallerHold, *, redact: bool) -> None:
        """Write the held stretch as it was, or as silence when ``redact`` (it held a secret)."""
        if hold not in self._holds:
            return  # already released, or muted when the call closed
        if redact:
            self._silence(hold)
        self._holds.remove(hold)
        self._interleave()

    def caller(self, pcm: bytes) -> None:
        if self.failure is not None or self._closed:
            return
        self._left += bytes(len(pcm)) if self._caller_muted else pcm
        received = self._left_base + len(self._left)
        for hold in [h for h in self._holds if received - h.start > self._max_hold]:
            # No transcript in time: mute what is held so far (memory stays bounded); an
            # utterance still going on stays held from here.
            self._silence(hold)
            if hold.end is None:
                hold.start = received
            else:
                self._holds.remove(hold)
        self._interleave()

    def bot(self, pcm: bytes) -> None:
        if self.failure is not None or self._closed:
            return
        self._right += pcm
        self._interleave()

    def _bytes(self, ms: int) -> int:
        return self.rate * SAMPLE_WIDTH * ms // 1000

    def _silence(self, hold: CallerHold) -> None:
        end = self._left_base + len(self._left) if hold.end is None else hold.end
        first, last = max(0, hold.start - self._left_base), max(0, end - self._left_base)
        self._left[first:last] = bytes(max(0, last - first))

    def _interleave(self) -> None:
        writable = len(self._left) - self._lookback
        if self._holds:
            writable = min(writable, min(h.start for h in self._holds) - self._left_base)
        usable = min(writable, len(self._right))
        if usable >= 2 * SAMPLE_WIDTH * 160:
            self._emit(usable - usable % SAMPLE_WIDTH)

    def _emit(self, nbytes: int) -> None:
        left = np.frombuffer(bytes(self._left[:nbytes]), dtype="<i2")
        right = np.frombuffer(bytes(self._right[:nbytes]), dtype="<i2")
        del self._left[:nbytes], self._right[:nbytes]
        self._left_base += nbytes
        self._out += np.column_stack([left, right]).astype("<i2").tobytes()
        if len(self._out) >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._out and self.failure is None:
            try:
                self._sink.write(bytes(self._out))
            except OSError as exc:
                self._fail(exc)
                return
            self.frames_written += len(self._out) // (2 * SAMPLE_WIDTH)
            self._out.clear()

    def _fail(self, exc: OSError) -> None:
        """The disk refused the recording: stop it, free what is buffered, tell the owner."""
        self.failure = exc
        self._sink.abandon()
        self._left.clear()
        self._right.clear()
        self._out.clear()
        self._holds.clear()
        if self._on_failure is not None:
            self._on_failure(exc)

    def close(self) -> None:
        """Pad the shorter channel with silence, write everything and complete the recording.

        Caller audio still held is written as silence: its transcript never came (the caller
        hung up mid-utterance, recognition failed), so nothing says it held no secret.
        """
        if self._closed:
            return
        self._closed = True
        self._mute_held()
        longer = max(len(self._left), len(self._right))
        self._left += bytes(longer - len(self._left))
        self._right += bytes(longer - len(self._right))
        if longer:
            self._emit(longer)
        self._flush()
        if self.failure is not None:
            return
        try:
            self._sink.close()
        except OSError as exc:
            self._fail(exc)

    def _mute_held(self) -> None:
        for hold in self._holds:
            self._silence(hold)
        self._holds.clear()
