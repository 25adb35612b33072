"""Cutting a recording at its pauses: one piece per stretch of speech, no audio dropped."""

from __future__ import annotations

import itertools

import numpy as np

from ivr.qa.voice import CallerVoice, speak
from speech.asr.pauses import pause_cuts, pieces

RATE = 8000


def _said(*lines: str) -> list[np.ndarray]:
    return [
        speak(CallerVoice(engine="espeak"), line, seed=i).samples for i, line in enumerate(lines)
    ]


def _gap(seconds: float) -> np.ndarray:
    return np.random.default_rng(5).normal(0, 20, int(seconds * RATE)).astype(np.int16)


def test_a_recording_is_cut_inside_each_long_pause_and_nowhere_else() -> None:
    first, second, third = _said("my card was stolen", "yes", "thank you goodbye")
    clip = np.concatenate([first, _gap(2.5), second, _gap(0.3), third])
    cuts = pause_cuts(clip, RATE)
    assert len(cuts) == 1
    assert len(first) < cuts[0] < len(first) + int(2.5 * RATE)
    spans = pieces(clip, RATE)
    assert spans[0][0] == 0 and spans[-1][1] == len(clip)
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(spans))


def test_an_utterance_with_only_short_pauses_is_one_piece() -> None:
    words = _said("five five five", "zero one two", "three four")
    clip = np.concatenate([words[0], _gap(0.5), words[1], _gap(0.5), words[2]])
    assert pieces(clip, RATE) == [(0, len(clip))]


def test_silence_or_noise_alone_is_one_piece() -> None:
    assert pieces(_gap(5.0), RATE) == [(0, 5 * RATE)]
