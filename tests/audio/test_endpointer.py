"""Endpointer on generated telephone speech with known speech/silence boundaries."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

from speech.audio import Audio, iter_frames, load_audio
from speech.channel import telephone_channel
from speech.endpointer import Endpointer, NoInput, SpeechStarted, UtteranceEnded
from speech.resample import resample
from speech.settings import VadConfig

RATE = 8000
TOLERANCE_MS = 60
PHRASES = [
    "I would like to check my savings balance please.",
    "My card was stolen yesterday.",
    "Transfer two hundred dollars to checking.",
    "Yes.",
    "Four five six seven.",
    "Could you tell me when my credit card payment is due?",
]
VOICES = ["en-us", "en-gb+f2", "en-us+m3", "en-us", "en-gb-scotland", "en-us+f3"]


def _espeak(text: str, path: Path, voice: str = "en-us") -> Audio:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True)
    return load_audio(path)


def _speech_bounds_ms(
    samples: np.ndarray, rate: int, below_peak_db: float = 40.0
) -> tuple[int, int]:
    """First and last 10 ms window within ``below_peak_db`` of the loudest: the true speech span.

    On a noisy line the truth is the audible speech: the part of the clean signal that stands above
    the noise, about (SNR + 5) dB below the loudest window since active speech sits ~5 dB under it.
    """
    window = rate // 100
    usable = len(samples) // window * window
    frames = samples[:usable].astype(np.float64).reshape(-1, window)
    level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-9)
    active = np.flatnonzero(level > level.max() - below_peak_db)
    return int(active[0] * 10), int((active[-1] + 1) * 10)


@pytest.fixture(scope="module")
def utterances(tmp_path_factory: pytest.TempPathFactory) -> list[Audio]:
    folder = tmp_path_factory.mktemp("endpointer")
    return [
        _espeak(text, folder / f"u{i}.wav", voice)
        for i, (text, voice) in enumerate(zip(PHRASES, VOICES, strict=True))
    ]


def _call_audio(speech: Audio, lead_ms: int, trail_ms: int) -> tuple[Audio, tuple[int, int]]:
    """Speech placed in digital silence at 8 kHz; returns the clip and the true bounds in ms."""
    narrow = resample(speech.samples, speech.rate, RATE)
    start, end = _speech_bounds_ms(narrow, RATE)
    body = narrow[start * RATE // 1000 : end * RATE // 1000]
    lead = np.zeros(lead_ms * RATE // 1000, np.int16)
    trail = np.zeros(trail_ms * RATE // 1000, np.int16)
    return Audio(np.concatenate([lead, body, trail]), RATE), (lead_ms, lead_ms + (end - start))


def _run(endpointer: Endpointer, audio: Audio, chunk_ms: int = 20) -> list:
    events = []
    for frame in iter_frames(audio.pcm, audio.rate, chunk_ms):
        events.extend(endpointer.feed(frame))
    return events


def _utterances(events: list) -> list[UtteranceEnded]:
    return [e for e in events if isinstance(e, UtteranceEnded)]


def _without_audio(events: list) -> list:
    return [
        dataclasses.replace(e, audio=b"") if isinstance(e, UtteranceEnded) else e for e in events
    ]


@pytest.mark.parametrize("snr_db", [None, 20.0, 15.0], ids=["clean", "noise-20dB", "noise-15dB"])
def test_boundaries_found_within_60ms(utterances: list[Audio], snr_db: float | None) -> None:
    for index, speech in enumerate(utterances):
        clip, (true_start, true_end) = _call_audio(speech, lead_ms=700, trail_ms=1500)
        if snr_db is not None:
            audible = _speech_bounds_ms(clip.samples, RATE, below_peak_db=min(40.0, snr_db + 5))
            true_start, true_end = audible
        line = telephone_channel(clip, snr_db=snr_db, seed=index)
        events = _run(Endpointer(VadConfig(), RATE), line)
        started = [e for e in events if isinstance(e, SpeechStarted)]
        ended = _utterances(events)
        assert len(started) == 1 and len(ended) == 1, (PHRASES[index], events)
        assert abs(started[0].start_ms - true_start) <= TOLERANCE_MS, (
            PHRASES[index],
            started,
            true_start,
        )
        assert abs(ended[0].end_ms - true_end) <= TOLERANCE_MS, (
            PHRASES[index],
            ended[0].end_ms,
            true_end,
        )
        assert ended[0].reason == "silence"
        assert ended[0].at_ms >= ended[0].end_ms + VadConfig().end_of_speech_ms - TOLERANCE_MS


def test_utterance_audio_keeps_pre_roll_and_a_short_tail(utterances: list[Audio]) -> None:
    clip, (true_start, true_end) = _call_audio(utterances[0], lead_ms=1000, trail_ms=1500)
    config = VadConfig(pre_roll_ms=300)
    ended = _utterances(_run(Endpointer(config, RATE), clip))[0]
    duration_ms = len(ended.audio) // 2 * 1000 // RATE
    assert duration_ms >= (true_end - true_start) + 250
    assert duration_ms <= (true_end - true_start) + config.pre_roll_ms + 400


def test_chunk_size_does_not_change_events(utterances: list[Audio]) -> None:
    clip, _ = _call_audio(utterances[1], lead_ms=500, trail_ms=1200)
    by_frame = _run(Endpointer(VadConfig(), RATE), clip, chunk_ms=20)
    by_odd_chunks = []
    endpointer = Endpointer(VadConfig(), RATE)
    pcm = clip.pcm
    for offset in range(0, len(pcm), 374):
        by_odd_chunks.extend(endpointer.feed(pcm[offset : offset + 374]))
    assert _without_audio(by_frame) == _without_audio(by_odd_chunks)


def test_two_utterances_in_one_stream_have_increasing_times(utterances: list[Audio]) -> None:
    first, _ = _call_audio(utterances[0], lead_ms=400, trail_ms=1000)
    second, _ = _call_audio(utterances[3], lead_ms=0, trail_ms=1000)
    stream = Audio(np.concatenate([first.samples, second.samples]), RATE)
    ended = _utterances(_run(Endpointer(VadConfig(), RATE), stream))
    assert len(ended) == 2
    assert ended[1].start_ms > ended[0].end_ms + 900


def test_no_input_fires_once_after_timeout() -> None:
    config = VadConfig(no_input_ms=2000)
    hiss = telephone_channel(Audio(np.zeros(RATE * 5, np.int16), RATE), snr_db=None)
    events = _run(Endpointer(config, RATE), hiss)
    assert events == [NoInput(at_ms=2000)]


def test_long_speech_is_cut_at_max_utterance_length(utterances: list[Audio]) -> None:
    config = VadConfig(max_utterance_ms=1500, end_of_speech_ms=800)
    body = resample(utterances[0].samples, utterances[0].rate, RATE)
    long_talk = Audio(np.tile(body, 3), RATE)
    ended = _utterances(_run(Endpointer(config, RATE), long_talk))
    assert ended and ended[0].reason == "max_length"
    assert ended[0].end_ms - ended[0].start_ms == pytest.approx(1500, abs=20)


def test_faint_line_hiss_is_not_speech() -> None:
    rng = np.random.default_rng(1)
    hiss = Audio((rng.standard_normal(RATE * 3) * 20).astype(np.int16), RATE)
    events = _run(Endpointer(VadConfig(no_input_ms=10_000), RATE), hiss)
    assert events == []


def test_unsupported_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="8, 16, 32 or 48 kHz"):
        Endpointer(VadConfig(), 22050)


def test_close_early_ends_the_utterance_as_the_hangover_would_only_sooner(
    utterances: list[Audio],
) -> None:
    clip, _ = _call_audio(utterances[0], lead_ms=500, trail_ms=1500)
    config = VadConfig()
    full = _utterances(_run(Endpointer(config, RATE), clip))[0]
    endpointer = Endpointer(config, RATE)
    assert endpointer.close_early() is None  # nothing to close before speech
    early = None
    for frame in iter_frames(clip.pcm, RATE, 20):
        assert not _utterances(endpointer.feed(frame))
        if endpointer.in_speech and endpointer.trailing_silence_ms >= 300:
            early = endpointer.close_early()
            break
    assert early is not None and early.reason == "silence"
    assert (early.start_ms, early.end_ms, early.audio) == (full.start_ms, full.end_ms, full.audio)
    assert early.at_ms == early.end_ms + 300 < full.at_ms
    assert not endpointer.in_speech and endpointer.close_early() is None


def _single_utterance(config: VadConfig, clip: Audio) -> tuple[SpeechStarted, UtteranceEnded]:
    events = _run(Endpointer(config, RATE), clip)
    started = [e for e in events if isinstance(e, SpeechStarted)]
    ended = _utterances(events)
    assert len(started) == 1 and len(ended) == 1, events
    return started[0], ended[0]


def test_end_of_speech_ms_is_the_silence_that_closes_the_utterance(
    utterances: list[Audio],
) -> None:
    clip, _ = _call_audio(utterances[0], lead_ms=700, trail_ms=1500)
    closed = {}
    for hangover_ms in (300, 900):
        _, ended = _single_utterance(VadConfig(end_of_speech_ms=hangover_ms), clip)
        # The window may hold a few voiced frames of the word's tail, so it closes a little sooner.
        assert hangover_ms - 100 <= ended.at_ms - ended.end_ms <= hangover_ms, ended
        closed[hangover_ms] = ended.at_ms
    assert closed[900] - closed[300] >= 500


def test_speech_start_ms_is_the_voiced_run_that_confirms_speech(utterances: list[Audio]) -> None:
    clip, _ = _call_audio(utterances[0], lead_ms=700, trail_ms=1500)
    quick, _ = _single_utterance(VadConfig(speech_start_ms=60), clip)
    patient, _ = _single_utterance(VadConfig(speech_start_ms=300), clip)
    assert quick.start_ms == patient.start_ms
    assert quick.at_ms - quick.start_ms == pytest.approx(60, abs=TOLERANCE_MS)
    assert patient.at_ms - patient.start_ms == pytest.approx(300, abs=TOLERANCE_MS)


def test_pre_roll_ms_is_the_audio_kept_from_before_the_start(utterances: list[Audio]) -> None:
    clip, _ = _call_audio(utterances[0], lead_ms=1000, trail_ms=1500)
    _, bare = _single_utterance(VadConfig(pre_roll_ms=0), clip)
    _, padded = _single_utterance(VadConfig(pre_roll_ms=600), clip)
    assert (len(padded.audio) - len(bare.audio)) // 2 * 1000 // RATE == 600


def test_frame_ms_sets_the_grid_every_decision_falls_on(utterances: list[Audio]) -> None:
    clip, _ = _call_audio(utterances[0], lead_ms=700, trail_ms=1500)
    fine = _single_utterance(VadConfig(frame_ms=10), clip)
    coarse = _single_utterance(VadConfig(frame_ms=30), clip)
    coarse_times = [coarse[0].start_ms, coarse[0].at_ms, coarse[1].end_ms, coarse[1].at_ms]
    assert all(t % 30 == 0 for t in coarse_times), coarse_times
    assert fine[0].start_ms % 30 != 0, "the 10 ms run should find a start between 30 ms frames"


def test_aggressiveness_decides_whether_loud_hiss_is_speech() -> None:
    """Hiss at -30 dBFS after silence: webrtcvad's least aggressive mode calls it speech
    throughout, its most aggressive mode rejects it within the first 100 ms."""
    hiss = np.random.default_rng(0).standard_normal(RATE * 2) * 1000
    clip = Audio(np.concatenate([np.zeros(RATE // 2), hiss, np.zeros(RATE)]).astype(np.int16), RATE)

    def spans(aggressiveness: int) -> list[int]:
        config = VadConfig(aggressiveness=aggressiveness, no_input_ms=10_000)
        return [e.end_ms - e.start_ms for e in _utterances(_run(Endpointer(config, RATE), clip))]

    assert spans(0) == [pytest.approx(2000, abs=TOLERANCE_MS)]
    assert all(span <= 200 for span in spans(3)), spans(3)
