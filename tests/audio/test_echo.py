"""The bot's own voice returning on the line must not look like the caller barging in."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

from speech import g711
from speech.audio import Audio, iter_frames, load_audio
from speech.echo import EchoCanceller
from speech.endpointer import Endpointer, SpeechStarted
from speech.resample import resample
from speech.settings import VadConfig

RATE = 8000
PROMPT = (
    "Welcome to the bank. This call may be recorded for quality purposes. "
    "You can check a balance, report a lost card, or transfer money. How can I help?"
)


def _speak(text: str, voice: str, path: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    audio = load_audio(path)
    return resample(audio.samples, audio.rate, RATE).astype(np.float64)


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    folder = tmp_path_factory.mktemp("echo")
    bot = _speak(PROMPT, "en-us", folder / "bot.wav")
    caller = _speak("No, I want to report a stolen card.", "en-gb+f2", folder / "caller.wav")
    return bot, caller


def _line(bot: np.ndarray, delay_ms: int, gain_db: float, extra: np.ndarray | None) -> bytes:
    """What the caller's side sends back: hybrid echo (delayed, attenuated, dulled), plus speech."""
    echo = np.concatenate([np.zeros(delay_ms * RATE // 1000), bot])[: len(bot)]
    echo = lfilter([0.85], [1.0, -0.15], echo) * 10 ** (gain_db / 20)
    signal = echo + np.random.default_rng(7).standard_normal(len(echo)) * 10
    if extra is not None:
        signal += extra
    pcm = np.clip(signal, -32768, 32767).astype("<i2").tobytes()
    return g711.ulaw_decode(g711.ulaw_encode(pcm))


def _through(
    canceller: EchoCanceller, bot: np.ndarray, line: bytes
) -> Iterator[tuple[bytes, bytes]]:
    """Each 20 ms frame of ``line`` as it came and as the canceller leaves it, with the bot's
    audio played to the canceller frame by frame alongside."""
    bot_pcm = np.clip(bot, -32768, 32767).astype("<i2").tobytes()
    for far, near in zip(iter_frames(bot_pcm, RATE, 20), iter_frames(line, RATE, 20), strict=False):
        canceller.far(far)
        yield near, canceller.near(near)


def _listen(bot: np.ndarray, line: bytes, cancel: bool) -> list[SpeechStarted]:
    endpointer = Endpointer(VadConfig(), RATE)
    started = []
    for near, residual in _through(EchoCanceller(RATE), bot, line):
        heard = residual if cancel else near
        started += [e for e in endpointer.feed(heard) if isinstance(e, SpeechStarted)]
    return started


@pytest.mark.parametrize(("delay_ms", "gain_db"), [(0, -6), (60, -10), (180, -15), (320, -20)])
def test_echo_of_the_prompt_is_not_a_barge_in(voices, delay_ms: int, gain_db: float) -> None:
    bot, _ = voices
    line = _line(bot, delay_ms, gain_db, extra=None)
    assert _listen(bot, line, cancel=False), "echo alone should fool a bare VAD (test sanity)"
    assert _listen(bot, line, cancel=True) == []


@pytest.mark.parametrize(("delay_ms", "gain_db"), [(60, -10), (180, -6)])
def test_caller_talking_over_the_echo_still_barges_in(voices, delay_ms: int, gain_db: float):
    bot, caller = voices
    onset_ms = 2500
    talk = np.zeros(len(bot))
    begin = onset_ms * RATE // 1000
    talk[begin : begin + len(caller)] = caller[: len(bot) - begin]
    line = _line(bot, delay_ms, gain_db, extra=talk)
    started = _listen(bot, line, cancel=True)
    assert started, "caller speech over the prompt was not detected"
    first = started[0]
    assert onset_ms - 20 <= first.start_ms <= onset_ms + 100
    assert first.at_ms - onset_ms <= 200


def test_canceller_learns_the_echo_path(voices) -> None:
    bot, _ = voices
    line = _line(bot, 120, -12, extra=None)
    canceller = EchoCanceller(RATE)
    residual = [cleaned for _, cleaned in _through(canceller, bot, line)]
    assert canceller.delay is not None and abs(canceller.delay - 120 * RATE // 1000) <= 8
    tail = slice(len(line) // 2, None)
    before = Audio.from_pcm(line[tail], RATE).samples.astype(float)
    after = Audio.from_pcm(b"".join(residual)[tail], RATE).samples.astype(float)
    reduction_db = 10 * np.log10(np.mean(before**2) / np.mean(after**2))
    assert reduction_db >= 10, reduction_db


def test_an_echo_path_that_appears_late_is_still_learned_soon(voices) -> None:
    """On a line without echo the search backs off; an echo that starts 4 s into the prompt
    (a caller switching to a speakerphone) is still learned within a second."""
    bot, _ = voices
    echo_from = 4 * RATE
    line = bytearray(_line(bot, 120, -12, extra=None))
    noise = np.random.default_rng(3).standard_normal(echo_from) * 10
    line[: 2 * echo_from] = np.clip(noise, -32768, 32767).astype("<i2").tobytes()
    canceller = EchoCanceller(RATE)
    learned_at = None
    for index, _ in enumerate(_through(canceller, bot, bytes(line))):
        if learned_at is None and canceller.delay is not None:
            learned_at = index * 20
    assert learned_at is not None and learned_at >= 4000, learned_at
    assert learned_at - 4000 <= 1000, learned_at
    assert canceller.delay is not None and abs(canceller.delay - 120 * RATE // 1000) <= 8
