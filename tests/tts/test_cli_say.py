"""``ivr say``: preview a prompt as a WAV file at the caller's sample rate."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ivr.cli import main
from speech.audio import rms_dbfs


def say(tmp_path: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    # Run outside the repository so a developer's ./ivr.yaml cannot change the outcome.
    with runner.isolated_filesystem(temp_dir=tmp_path):
        result = runner.invoke(
            main,
            ["--set", f"tts.cache_dir={tmp_path / 'cache'}", "say", *args],
            env={"IVR_CONFIG": None},
            catch_exceptions=False,
        )
    return result.exit_code, result.output


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        pcm = wav.readframes(wav.getnframes())
        return wav.getframerate(), np.frombuffer(pcm, dtype="<i2")


@pytest.mark.slow
@pytest.mark.parametrize(("engine", "rate"), [("piper", "8000"), ("pyttsx3", "48000")])
def test_say_writes_a_wav_at_the_requested_rate(
    engine: str, rate: str, tmp_path: Path, piper_engine, espeak_engine
) -> None:
    out = tmp_path / "prompts" / "welcome.wav"
    code, output = say(
        tmp_path,
        "Welcome to First Bank. Your balance is $1,200.50.",
        "-o",
        str(out),
        "--engine",
        engine,
        "--rate",
        rate,
    )
    assert code == 0, output
    got_rate, samples = read_wav(out)
    assert got_rate == int(rate)
    assert 2.0 < len(samples) / got_rate < 10.0
    assert rms_dbfs(samples.tobytes()) > -35.0
    assert f"at {rate} Hz, 2 sentence(s)" in output


def test_say_defaults_to_the_voice_native_rate(tmp_path: Path, espeak_engine) -> None:
    out = tmp_path / "hello.wav"
    code, output = say(tmp_path, "Hello.", "-o", str(out), "--engine", "pyttsx3")
    assert code == 0, output
    assert read_wav(out)[0] == 22050


def test_say_speaking_rate_and_no_cache(tmp_path: Path, espeak_engine) -> None:
    slow, fast = tmp_path / "slow.wav", tmp_path / "fast.wav"
    text = "Please listen carefully, as our menu options have changed."
    args = ["--engine", "pyttsx3", "--rate", "16000", "--no-cache"]
    assert say(tmp_path, text, "-o", str(slow), *args, "--speaking-rate", "0.8")[0] == 0
    assert say(tmp_path, text, "-o", str(fast), *args, "--speaking-rate", "1.6")[0] == 0
    assert len(read_wav(fast)[1]) < 0.7 * len(read_wav(slow)[1])
    assert not (tmp_path / "cache").exists(), "--no-cache wrote to the prompt cache"


def test_say_fills_the_prompt_cache(tmp_path: Path, espeak_engine) -> None:
    out = tmp_path / "a.wav"
    assert say(tmp_path, "Goodbye.", "-o", str(out), "--engine", "pyttsx3")[0] == 0
    assert len(list((tmp_path / "cache").rglob("*.wav"))) == 1


@pytest.mark.parametrize("rate", ["11025", "44100", "abc"])
def test_say_rejects_an_unsupported_rate(rate: str, tmp_path: Path) -> None:
    code, output = say(tmp_path, "Hello.", "-o", str(tmp_path / "x.wav"), "--rate", rate)
    assert code == 2
    assert "--rate" in output and "8000" in output
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("text", ["", "   ", "..."])
def test_say_rejects_text_with_nothing_to_say(text: str, tmp_path: Path, espeak_engine) -> None:
    code, output = say(tmp_path, text, "-o", str(tmp_path / "x.wav"), "--engine", "pyttsx3")
    assert code == 2
    assert "nothing to say" in output


def test_say_rejects_an_unwritable_output(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, output = say(tmp_path, "Hello.", "-o", str(blocker / "x.wav"))
    assert code == 2
    assert "--output" in output

    code, output = say(tmp_path, "Hello.", "-o", str(tmp_path))
    assert code == 2
    assert "directory" in output


def test_say_rejects_a_speaking_rate_out_of_range(tmp_path: Path) -> None:
    code, output = say(tmp_path, "Hello.", "-o", str(tmp_path / "x.wav"), "--speaking-rate", "9")
    assert code == 2
    assert "--speaking-rate" in output
