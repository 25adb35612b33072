"""Resampling between telephone and engine rates, and decoding audio files of any shape."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from speech.audio import Audio, AudioError, iter_frames, load_audio, write_wav, write_wav_channels
from speech.resample import StreamResampler, resample

RATES = [8000, 16000, 22050, 48000]


def _tone(rate: int, freq: float = 440.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 10000).astype(np.int16)


def _dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("in_rate", RATES)
@pytest.mark.parametrize("out_rate", RATES)
def test_resample_keeps_pitch_and_duration(in_rate: int, out_rate: int) -> None:
    out = resample(_tone(in_rate), in_rate, out_rate)
    assert abs(len(out) - out_rate) <= 2
    assert _dominant_frequency(out, out_rate) == pytest.approx(440, abs=3)


def test_resampling_removes_content_above_the_new_nyquist() -> None:
    high = _tone(16000, freq=6000)
    narrow = resample(high, 16000, 8000)
    assert np.sqrt(np.mean(narrow.astype(float) ** 2)) < 100


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (16000, 8000), (22050, 8000)])
def test_streaming_in_20ms_frames_matches_whole_clip(in_rate: int, out_rate: int) -> None:
    tone = _tone(in_rate)
    stream = StreamResampler(in_rate, out_rate)
    pieces = [stream.process(frame) for frame in iter_frames(tone.tobytes(), in_rate, 20)]
    pieces.append(stream.flush())
    streamed = np.frombuffer(b"".join(pieces), dtype="<i2")
    whole = resample(tone, in_rate, out_rate)
    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    assert np.max(np.abs(streamed[:n].astype(int) - whole[:n].astype(int))) <= 2


def test_stereo_44k_file_is_mixed_to_mono(tmp_path: Path) -> None:
    left, right = _tone(44100, 300), _tone(44100, 300)
    path = tmp_path / "stereo.wav"
    write_wav_channels(path, [left, right], 44100)
    audio = load_audio(path)
    assert audio.rate == 44100 and audio.samples.ndim == 1
    assert audio.duration == pytest.approx(1.0, abs=0.01)
    assert _dominant_frequency(audio.samples, 44100) == pytest.approx(300, abs=3)


def test_mu_law_wav_from_sox_is_decoded(tmp_path: Path) -> None:
    source = tmp_path / "tone.wav"
    write_wav(source, Audio(_tone(8000), 8000))
    ulaw = tmp_path / "ulaw.wav"
    subprocess.run(["sox", str(source), "-e", "mu-law", str(ulaw)], check=True)
    audio = load_audio(ulaw)
    assert audio.rate == 8000 and abs(len(audio.samples) - 8000) <= 1


def test_written_wav_has_the_declared_format(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, Audio(_tone(16000), 16000))
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)


def test_non_audio_file_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.wav"
    junk.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(AudioError, match=r"not a readable audio file|no audio"):
        load_audio(junk)


def test_missing_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    write_wav(empty, Audio(np.zeros(0, np.int16), 8000))
    with pytest.raises(AudioError):
        load_audio(empty)


@pytest.mark.timeout(60)
def test_overlong_file_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-b", "16", str(path), "synth", "30", "sine", "300"], check=True
    )
    with pytest.raises(AudioError, match="longer than"):
        load_audio(path, max_seconds=10)
