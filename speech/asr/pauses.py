"""Cut a long recording at its pauses, so a recogniser that decodes one utterance hears it all.

Whisper decoding without timestamps ends at the first end-of-text it predicts; in a recording
with pauses (the bot's greeting, a silence, an answer) that can come at the first pause, and the
rest of the file is lost without a word. Cutting the clip in the middle of each pause of at least
``MIN_PAUSE_S`` gives pieces of one stretch of speech each, decoded the way a call decodes an
utterance; no audio is dropped, and a clip without such a pause is one piece, itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import webrtcvad

from speech.asr.base import Transcript, Word
from speech.audio import Samples
from speech.resample import resample

MIN_PAUSE_S = 1.0
"""A silence this long ends an utterance in any call (the endpointer's hangover is 0.6 s)."""
VAD_RATE = 16000
FRAME_S = 0.03
VAD_MODE = 2
FLOOR_DBFS = -50.0
"""Frames quieter than this are pause whatever webrtcvad says (it can flag faint hiss)."""


def pause_cuts(samples: Samples, rate: int, min_pause_s: float = MIN_PAUSE_S) -> list[int]:
    """Sample indices in the middle of every pause of at least ``min_pause_s`` between speech."""
    voiced = _voiced_frames(samples, rate)
    frame = FRAME_S * rate
    cuts: list[int] = []
    spoken = False
    run = 0
    for index, is_voiced in enumerate(voiced):
        if not is_voiced:
            run += 1
            continue
        if spoken and run * FRAME_S >= min_pause_s:
            cuts.append(round((index - run / 2) * frame))
        spoken, run = True, 0
    return cuts


def pieces(samples: Samples, rate: int) -> list[tuple[int, int]]:
    """(start, end) sample spans covering the clip, cut at its pauses."""
    bounds = [0, *pause_cuts(samples, rate), len(samples)]
    return list(itertools.pairwise(bounds))


def _voiced_frames(samples: Samples, rate: int) -> list[bool]:
    audio = samples if rate == VAD_RATE else resample(samples, rate, VAD_RATE)
    size = round(FRAME_S * VAD_RATE)
    vad = webrtcvad.Vad(VAD_MODE)
    decisions = []
    for start in range(0, len(audio) - size + 1, size):
        chunk = audio[start : start + size].astype(np.int16)
        level = float(np.sqrt(np.mean(chunk.astype(np.float64) ** 2))) / 32768.0
        loud = level > 0 and 20 * np.log10(level) > FLOOR_DBFS
        decisions.append(loud and vad.is_speech(chunk.tobytes(), VAD_RATE))
    return decisions


def joined(parts: Sequence[tuple[float, Transcript]], duration: float) -> Transcript:
    """One transcript of consecutive pieces, given each piece's start in seconds: texts in
    order, word times from the start of the clip, confidence weighted by words; the other
    readings of a clip heard in one piece."""
    heard = [(offset, part) for offset, part in parts if part.text]
    words = tuple(
        Word(w.text, round(w.start + offset, 3), round(w.end + offset, 3), w.confidence)
        for offset, part in heard
        for w in part.words
    )
    counts = [max(1, len(part.text.split())) for _, part in heard]
    confidence = sum(p.confidence * n for (_, p), n in zip(heard, counts, strict=True))
    return Transcript(
        text=" ".join(part.text for _, part in heard),
        confidence=round(confidence / sum(counts), 3) if heard else 0.0,
        is_final=True,
        words=words,
        duration=duration,
        alternatives=heard[0][1].alternatives if len(heard) == 1 else (),
    )
