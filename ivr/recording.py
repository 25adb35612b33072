"""Stereo call recordings: caller on the left channel, bot on the right, written as the call goes.

Each side is appended as its frames pass (caller frames as they arrive, bot frames as they are
sent, silence included), so the channels stay time-aligned by sample count. While a PIN is being
entered the caller channel is written as silence: the secret is never audible in a recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ivr.recording_keys import Keyring
from ivr.sealed import SealedWriter
from speech.audio import SAMPLE_WIDTH

FLUSH_BYTES = 32_000
"""Write to disk about once a second of 8 kHz stereo audio, not per 20 ms frame."""


class StereoRecorder:
    """Streams two-channel 16-bit audio to ``path``, encrypted as it is written (``ivr.sealed``:
    no plain recording ever reaches disk); the recording is complete on ``close()``."""

    def __init__(self, path: str | Path, rate: int, keyring: Keyring) -> None:
        self.path = Path(path)
        self.rate = rate
        self._sink = SealedWriter(self.path, keyring, rate, channels=2, sample_width=SAMPLE_WIDTH)
        self._left = bytearray()
        self._right = bytearray()
        self._out = bytearray()
        self._caller_muted = False
        self._closed = False
        self.frames_written = 0

    @property
    def caller_muted(self) -> bool:
        return self._caller_muted

    def mute_caller(self, muted: bool) -> None:
        """Silence the caller channel from now on (True) or resume it (False)."""
        self._caller_muted = muted

    def caller(self, pcm: bytes) -> None:
        self._left += bytes(len(pcm)) if self._caller_muted else pcm
        self._interleave()

    def bot(self, pcm: bytes) -> None:
        self._right += pcm
        self._interleave()

    def _interleave(self) -> None:
        usable = min(len(self._left), len(self._right))
        if usable >= 2 * SAMPLE_WIDTH * 160:
            self._emit(usable - usable % SAMPLE_WIDTH)

    def _emit(self, nbytes: int) -> None:
        left = np.frombuffer(bytes(self._left[:nbytes]), dtype="<i2")
        right = np.frombuffer(bytes(self._right[:nbytes]), dtype="<i2")
        del self._left[:nbytes], self._right[:nbytes]
        self._out += np.column_stack([left, right]).astype("<i2").tobytes()
        if len(self._out) >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._out:
            self._sink.write(bytes(self._out))
            self.frames_written += len(self._out) // (2 * SAMPLE_WIDTH)
            self._out.clear()

    def close(self) -> None:
        """Pad the shorter channel with silence, write everything and complete the recording."""
        if self._closed:
            return
        self._closed = True
        longer = max(len(self._left), len(self._right))
        self._left += bytes(longer - len(self._left))
        self._right += bytes(longer - len(self._right))
        if longer:
            self._emit(longer)
        self._flush()
        self._sink.close()
