"""A turn's audio snippet: the caller's channel of the stretch before the turn, cut from the
call's sealed recording, as a small mono WAV.

A turn is recorded when the caller's utterance closed (``turns.started_at``), so what they said
lies just before it: the snippet is the caller channel from the previous turn's record (the bot
spoke its reply there) up to this one's, at most ``MAX_SECONDS``. Offsets are counted from the
call's start, as the call page's "play from here" does. Only the caller's side: the bot's reply
is not what is being labelled. The recorder already wrote PIN entries and utterances holding a
secret as silence. At most ``MAX_SECONDS`` of 16-bit mono is built in memory (320 KB at 16 kHz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivr.console.listen import wav_header
from ivr.sealed import SAMPLE_BYTES, SealedReader

MAX_SECONDS = 10.0


@dataclass(frozen=True)
class Stretch:
    """Seconds from the call's start: ``[start, end)``."""

    start: float
    end: float


def turn_stretch(call_start: float, previous_turn: float | None, turn_start: float) -> Stretch:
    """Where the caller said what a turn recorded, in seconds from the call's start."""
    end = max(0.0, turn_start - call_start)
    after_previous = 0.0 if previous_turn is None else max(0.0, previous_turn - call_start)
    return Stretch(max(after_previous, end - MAX_SECONDS), end)


def caller_wav(reader: SealedReader, stretch: Stretch) -> bytes:
    """The caller channel (the first) of ``stretch`` as a mono WAV (blocking: decrypts)."""
    frame = SAMPLE_BYTES * reader.channels
    first = int(stretch.start * reader.rate)
    count = max(0, int(stretch.end * reader.rate) - first)
    pcm = reader.read(first * frame, count * frame)
    samples = np.frombuffer(pcm[: len(pcm) // frame * frame], "<i2").reshape(-1, reader.channels)
    caller = samples[:, 0].astype("<i2").tobytes()
    return wav_header(reader.rate, 1, len(caller)) + caller
