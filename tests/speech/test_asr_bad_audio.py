"""Bad input to the ASR engines: a clear error or a bounded result, quickly, never a hang."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np
import pytest

from speech.asr.base import Transcript
from speech.asr.vosk import VoskEngine
from speech.asr.whisper import WhisperEngine
from speech.audio import Audio, AudioError, float_to_samples, load_audio
from speech.channel import telephone_channel
from tests.speech.corpus import Sample

pytestmark = pytest.mark.slow

TWO_HOURS = 2 * 3600


def _square_wave(seconds: float, rate: int = 8000, hz: float = 440.0) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio(np.where(np.sin(2 * np.pi * hz * t) >= 0, 32767, -32768).astype(np.int16), rate)


def _engines(whisper_engine: WhisperEngine, vosk_ko_engine: VoskEngine) -> list:  # type: ignore[type-arg]
    return [whisper_engine, vosk_ko_engine]


@pytest.mark.timeout(60)
def test_empty_pcm_gives_an_empty_final_at_once(
    whisper_engine: WhisperEngine, vosk_ko_engine: VoskEngine
) -> None:
    for engine in _engines(whisper_engine, vosk_ko_engine):
        started = time.perf_counter()
        result = engine.transcribe(Audio.from_pcm(b"", 8000))
        assert result == Transcript("", 0.0, True, duration=0.0), engine.name
        stream = engine.open_stream(8000)
        assert stream.accept(b"") is None
        assert stream.finish().text == ""
        assert time.perf_counter() - started < 5


@pytest.mark.timeout(60)
def test_odd_length_pcm_and_bad_rates_are_refused(
    whisper_engine: WhisperEngine, vosk_ko_engine: VoskEngine
) -> None:
    for engine in _engines(whisper_engine, vosk_ko_engine):
        stream = engine.open_stream(8000)
        with pytest.raises(AudioError, match="16-bit"):
            stream.accept(b"\x00\x01\x02")
        with pytest.raises(AudioError, match="sample rate"):
            engine.open_stream(0)


@pytest.mark.timeout(60)
def test_full_scale_square_wave_gives_a_bounded_result(
    whisper_engine: WhisperEngine, vosk_ko_engine: VoskEngine
) -> None:
    tone = _square_wave(15.0)
    for engine in _engines(whisper_engine, vosk_ko_engine):
        started = time.perf_counter()
        result = engine.transcribe(tone)
        elapsed = time.perf_counter() - started
        assert result.is_final
        assert len(result.text.split()) < 30  # no runaway hallucinated text
        assert 0.0 <= result.confidence <= 1.0
        assert elapsed < 20, f"{engine.name} took {elapsed:.1f} s on 15 s of square wave"


@pytest.mark.timeout(60)
def test_whisper_finds_nothing_in_noise_or_silence(whisper_engine: WhisperEngine) -> None:
    rng = np.random.default_rng(7)
    noise = Audio(float_to_samples(rng.standard_normal(8000 * 4) * 0.1), 8000)
    silence = Audio(np.zeros(8000 * 3, dtype=np.int16), 8000)
    for audio in (noise, silence):
        result = whisper_engine.transcribe(audio)
        assert result.text == "" or result.confidence < 0.3


@pytest.mark.timeout(120)
def test_clipped_loud_speech_is_still_transcribed(
    whisper_engine: WhisperEngine, piper_samples: list[Sample]
) -> None:
    sample = next(s for s in piper_samples if s.text == "i lost my debit card")
    hot = telephone_channel(sample.audio, gain_db=18.0)  # a shouting caller, hard-clipped
    assert np.mean(np.abs(hot.samples.astype(np.int32)) >= 32000) > 0.05
    result = whisper_engine.transcribe(hot)
    assert "card" in result.text.lower()


@pytest.mark.timeout(60)
def test_a_non_audio_file_is_an_audio_error(tmp_path: Path) -> None:
    bogus = tmp_path / "statement.wav"
    bogus.write_text("this is a bank statement, not audio\n" * 50)
    with pytest.raises(AudioError, match=r"not a readable audio file|corrupt|no audio"):
        load_audio(bogus)
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(empty)


@pytest.mark.timeout(60)
def test_two_hours_of_audio_is_refused_in_seconds(
    whisper_engine: WhisperEngine, vosk_ko_engine: VoskEngine
) -> None:
    long_audio = Audio(np.zeros(TWO_HOURS * 8000, dtype=np.int16), 8000)
    for engine in _engines(whisper_engine, vosk_ko_engine):
        started = time.perf_counter()
        with pytest.raises(AudioError, match="at most 300 s"):
            engine.transcribe(long_audio)
        assert time.perf_counter() - started < 2


@pytest.mark.timeout(120)
def test_a_stream_fed_two_hours_is_capped_and_marked_truncated(
    whisper_engine: WhisperEngine, vosk_ko_dir: Path, piper_samples: list[Sample]
) -> None:
    """A stuck endpointer feeding audio forever: recognition work stays bounded."""
    speech = next(s for s in piper_samples if s.text == "cancel the transfer").audio
    hour_chunk = np.zeros(3600 * 8000, dtype=np.int16).tobytes()
    engines = [
        WhisperEngine(max_seconds=6.0),
        VoskEngine(vosk_ko_dir, max_seconds=6.0),
    ]
    assert engines[0].model is whisper_engine.model  # same shared model, tighter limit
    for engine in engines:
        started = time.perf_counter()
        stream = engine.open_stream(8000)
        stream.accept(speech.pcm)
        stream.accept(hour_chunk)
        stream.accept(hour_chunk)
        result = stream.finish()
        elapsed = time.perf_counter() - started
        assert result.truncated and result.duration == pytest.approx(6.0)
        assert elapsed < 20, f"{engine.name} took {elapsed:.1f} s"
        if engine.name == "whisper":
            assert "transfer" in result.text.lower()
        # The next utterance starts fresh.
        stream.accept(speech.pcm[:1600])
        assert not stream.finish().truncated
