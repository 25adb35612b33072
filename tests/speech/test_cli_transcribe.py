"""``ivr transcribe`` on generated telephone audio."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ivr.cli import main
from speech.asr.scoring import normalise_text, word_error_rate
from speech.audio import Audio, write_wav, write_wav_channels
from speech.resample import resample
from tests.speech.corpus import Sample
from tests.speech.rasa_fixture import write_rasa_project

pytestmark = pytest.mark.slow


@pytest.fixture
def call_wav(tmp_path: Path, piper_samples: list[Sample]) -> tuple[Path, str]:
    sample = next(s for s in piper_samples if s.text == "i'd like to check my savings balance")
    path = tmp_path / "caller.wav"
    write_wav(path, sample.audio)
    return path, sample.text


def _run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_transcribe_prints_the_text_of_a_telephone_wav(call_wav: tuple[Path, str]) -> None:
    path, text = call_wav
    result = _run("transcribe", str(path), "--engine", "whisper", "--no-vocabulary")
    assert result.exit_code == 0, result.output
    assert normalise_text(result.stdout) == normalise_text(text)


def test_transcribe_json_has_confidence_words_and_timing(
    call_wav: tuple[Path, str], tmp_path: Path
) -> None:
    path, text = call_wav
    project = write_rasa_project(tmp_path / "assistant")
    result = _run("--set", f"dialogue.project_dir={project}", "transcribe", str(path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["engine"] == "whisper"
    assert normalise_text(report["text"]) == normalise_text(text)
    assert 0.5 < report["confidence"] <= 1.0
    assert [normalise_text(w["text"]) for w in report["words"]] == normalise_text(text).split()
    assert report["input_rate"] == 8000
    assert report["transcribe_ms"] > 0 and report["real_time_factor"] < 5
    assert report["vocabulary_terms"] > 10  # biased by the project's Rasa data


def test_transcribe_accepts_any_rate_and_channel_count(
    tmp_path: Path, piper_samples: list[Sample]
) -> None:
    sample = next(s for s in piper_samples if s.text == "cancel the transfer")
    wide = resample(sample.audio.samples, 8000, 44100)
    path = tmp_path / "stereo.wav"
    write_wav_channels(path, [wide, wide], 44100)
    result = _run("transcribe", str(path), "--no-vocabulary")
    assert result.exit_code == 0, result.output
    # The point is the conversion, not whisper's tense on three words: one slip is allowed.
    assert word_error_rate([sample.text], [result.stdout]).wer <= 1 / 3, result.stdout


BOT_SAYS = (
    "Thanks for calling City Bank. This call may be recorded. How can I help you today?",
    "Our branches are open from nine to five on weekdays and nine to one on Saturdays.",
    "A replacement debit card costs ten dollars and arrives within a week.",
    "Is there anything else I can help you with?",
)


def test_a_long_recording_with_pauses_is_transcribed_to_its_last_sentence(
    tmp_path: Path,
) -> None:
    """A recording of a call (prompts, seconds of quiet line between them, more prompts) is
    heard in full, not only up to its first pause."""
    from ivr.qa.voice import CallerVoice, speak

    quiet = np.random.default_rng(21).normal(0, 20, int(3.5 * 8000)).astype(np.int16)
    parts: list[np.ndarray] = []
    for index, sentence in enumerate(BOT_SAYS):
        parts += [speak(CallerVoice(engine="piper"), sentence, seed=index).samples, quiet]
    recording = Audio(np.concatenate(parts), 8000)
    assert recording.duration > 15
    path = tmp_path / "call.wav"
    write_wav(path, recording)

    result = _run("transcribe", str(path), "--engine", "whisper", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The last sentence is there (up to a misheard word: "can I help with" for "can I help you
    # with" in one run), not cut off at a pause.
    last = normalise_text(BOT_SAYS[-1]).split()
    tail = " ".join(normalise_text(report["text"]).split()[-len(last) :])
    assert word_error_rate([" ".join(last)], [tail]).wer <= 0.25, report["text"]
    assert word_error_rate([" ".join(BOT_SAYS)], [report["text"]]).wer < 0.2, report["text"]
    # Word times count from the start of the file, not of the piece each word was heard in.
    assert report["words"][-1]["end"] > recording.duration - 3.5 - 3.0


def test_transcribe_with_vosk_engine(tmp_path: Path, vosk_ko_dir: Path) -> None:
    silence = tmp_path / "quiet.wav"
    write_wav(silence, Audio(np.zeros(8000, dtype=np.int16), 8000))
    result = _run("--set", f"asr.vosk_model={vosk_ko_dir}", "transcribe", str(silence), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["engine"] == "vosk" and report["text"] == ""


def test_unreadable_empty_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really a wave file" * 10)
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
    cases = {
        str(junk): "not a readable audio file",
        str(empty): "no audio samples",
        str(tmp_path / "missing.wav"): "no such file",
    }
    for path, message in cases.items():
        result = CliRunner().invoke(main, ["transcribe", path])
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "Traceback" not in result.output


def test_vosk_without_a_model_is_a_usage_error(call_wav: tuple[Path, str]) -> None:
    result = CliRunner().invoke(main, ["transcribe", str(call_wav[0]), "--engine", "vosk"])
    assert result.exit_code == 2
    assert "asr.vosk_model" in result.output


@pytest.mark.timeout(120)
def test_a_two_hour_file_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "two-hours.wav"
    minute = np.zeros(60 * 8000, dtype="<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        for _ in range(120):
            out.writeframes(minute)
    result = CliRunner().invoke(main, ["transcribe", str(path)])
    assert result.exit_code == 1
    assert "longer than the 300 s" in result.output
