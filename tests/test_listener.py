"""The listening side of a call on its own: caller audio in (piper speech over a G.711 line,
or generated noise), the session's input items out, with the real endpointer, the real
recording and a real whisper engine where the test is about recognition."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ivr.config import Config
from ivr.listener import Heard, Listener, Silence, Utterance
from ivr.metrics import Metrics
from ivr.qa.voice import CallerVoice, speak
from ivr.recording import StereoRecorder
from ivr.recording_keys import Keyring
from ivr.sealed import open_recording
from speech.asr.whisper import WhisperEngine
from speech.digits import DigitExpectation, read_digits
from tests.audio.test_echo import PROMPT, _line, _speak
from tests.calls.conftest import RATE, caller_says
from tests.speech.corpus import piper_voice

FRAME = RATE * 2 // 50
"""20 ms of 16-bit caller audio, as a bridge delivers it."""


@pytest.fixture(scope="module")
def voice():
    return piper_voice()


class Emitted:
    """What a listener emitted and how often the caller started speaking."""

    def __init__(self) -> None:
        self.items: list[Heard] = []
        self.speech_starts = 0

    def started(self) -> None:
        self.speech_starts += 1

    @property
    def utterances(self) -> list[Utterance]:
        return [item for item in self.items if isinstance(item, Utterance)]


def listener_for(config: Config, heard: Emitted, metrics: Metrics | None = None) -> Listener:
    return Listener(
        config,
        RATE,
        metrics or Metrics(),
        "listener-test",
        emit=heard.items.append,
        on_speech=heard.started,
    )


async def feed(listener: Listener, pcm: bytes) -> None:
    """The audio in 20 ms frames, as fast as the listener takes it; a guess started in a pause
    is waited for (as a virtual-clock line waits for any engine)."""
    for offset in range(0, len(pcm), FRAME):
        listener.hear(pcm[offset : offset + FRAME])
        while listener.recognising:
            await asyncio.sleep(0.005)


def noise(ms: int, level: float = 30.0, seed: int = 1) -> bytes:
    """Quiet line noise (no speech)."""
    samples = np.random.default_rng(seed).standard_normal(RATE * ms // 1000) * level
    return samples.astype("<i2").tobytes()


def counted(metrics: Metrics, event: str, kind: str) -> float:
    value = metrics.registry.get_sample_value("ivr_events_total", {"event": event, "kind": kind})
    return value or 0.0


async def test_silence_is_emitted_after_the_no_input_wait_and_never_while_disarmed() -> None:
    heard = Emitted()
    listener = listener_for(Config(), heard)
    listener.arm_no_input(600)
    await feed(listener, noise(500))
    assert heard.items == []
    await feed(listener, noise(200))
    assert [type(item) for item in heard.items] == [Silence]
    listener.arm_no_input(600)
    listener.disarm_no_input()
    await feed(listener, noise(2000))
    assert len(heard.items) == 1 and heard.speech_starts == 0


@pytest.mark.slow
async def test_what_the_caller_says_is_one_utterance_recognised_by_the_stream(
    voice, whisper_engine: WhisperEngine
) -> None:
    heard = Emitted()
    listener = listener_for(Config(), heard)
    await listener.start(whisper_engine)
    try:
        await feed(listener, noise(300) + caller_says(voice, "I lost my debit card.") + noise(1000))
        assert heard.speech_starts == 1
        [utterance] = heard.utterances
        assert 500 < utterance.event.end_ms - utterance.event.start_ms < 3000, utterance.event
        transcript = await listener.transcribe(utterance)
    finally:
        await listener.close()
    assert "lost" in transcript.text.lower() and "card" in transcript.text.lower(), transcript


@pytest.mark.slow
async def test_a_finished_sentence_ends_the_turn_early_and_a_fragment_waits_for_the_hangover(
    voice, whisper_engine: WhisperEngine
) -> None:
    config = Config()
    # A 2.5 s hangover makes the early close plain to see.
    vad = dataclasses.replace(config.vad, end_of_speech_ms=2500, early_end_ms=300)
    metrics = Metrics()
    heard = Emitted()
    listener = listener_for(dataclasses.replace(config, vad=vad), heard, metrics)
    await listener.start(whisper_engine)
    try:
        question = caller_says(voice, "What is the interest rate on savings?")
        await feed(listener, question + noise(3000))
        [finished] = heard.utterances
        said = await listener.transcribe(finished)
        await feed(listener, caller_says(voice, "My account number is") + noise(3000))
        _, fragment = heard.utterances
        await listener.transcribe(fragment)
    finally:
        await listener.close()
    assert "savings" in said.text.lower(), said
    assert counted(metrics, "turn_end", "early") == 1
    assert counted(metrics, "asr_speculation", "kept") >= 1  # the early guess is the transcript
    assert vad.early_end_ms <= finished.event.at_ms - finished.event.end_ms < 2000
    assert fragment.event.at_ms - fragment.event.end_ms >= 2000


async def test_each_utterance_is_held_out_of_the_recording_until_released(
    voice, tmp_path: Path
) -> None:
    """One utterance released as a secret is silence in the recording, from a pre-roll before
    the endpointer's (a soft onset is muted with it); one released as ordinary speech is there
    as it was heard."""
    keyring = Keyring(()).with_new_key()
    path = tmp_path / "call.sealed"
    recorder = StereoRecorder(path, RATE, keyring)
    heard = Emitted()
    listener = listener_for(Config(), heard)
    listener.record_to(recorder)  # as the session attaches the call's recording
    secret = caller_says(voice, "My PIN is four three two one.")
    ordinary = caller_says(voice, "I would like my balance.")
    await feed(listener, noise(700) + secret + noise(1000))
    [said_secret] = heard.utterances
    assert said_secret.hold is not None
    listener.release(said_secret, redact=True)
    await feed(listener, ordinary + noise(1000))
    _, said_ordinary = heard.utterances
    listener.release(said_ordinary, redact=False)
    recorder.close()

    _, channels, pcm = open_recording(path, keyring)
    caller = np.frombuffer(pcm, "<i2").reshape(-1, channels)[:, 0]

    def span(utterance: Utterance, lead_ms: int = 0) -> np.ndarray:
        event = utterance.event
        return caller[(event.start_ms - lead_ms) * RATE // 1000 : event.end_ms * RATE // 1000]

    lead_ms = 2 * Config().vad.pre_roll_ms
    assert said_secret.event.start_ms >= lead_ms, "the line noise before it is long enough"
    assert len(span(said_secret)) > RATE and not np.any(span(said_secret, lead_ms))
    assert np.abs(span(said_ordinary)).max() > 1000


@pytest.mark.parametrize("echo_cancel", [True, False])
async def test_echo_cancel_keeps_the_bots_returning_voice_from_the_endpointer(
    echo_cancel: bool, tmp_path: Path
) -> None:
    """The line returns the bot's prompt 60 ms later, 10 dB down: with ``call.echo_cancel`` the
    listener hears no speech in it; without, the echo alone starts an utterance."""
    bot = _speak(PROMPT, "en-us", tmp_path / "bot.wav")
    line = _line(bot, 60, -10, extra=None)
    bot_pcm = np.clip(bot, -32768, 32767).astype("<i2").tobytes()
    config = Config()
    config = dataclasses.replace(
        config, call=dataclasses.replace(config.call, echo_cancel=echo_cancel)
    )
    heard = Emitted()
    listener = listener_for(config, heard)
    for offset in range(0, min(len(bot_pcm), len(line)), FRAME):
        if listener.echo is not None:  # as the session taps the bot's outbound audio
            listener.echo.far(bot_pcm[offset : offset + FRAME])
        listener.hear(line[offset : offset + FRAME])
    assert (heard.speech_starts == 0) is echo_cancel, heard.speech_starts


@pytest.mark.slow
async def test_speculate_after_ms_starts_a_guess_in_the_pause_and_zero_never_does(
    voice, whisper_engine: WhisperEngine
) -> None:
    """With ``asr.speculate_after_ms`` the transcript is the guess made in the hangover; at 0
    no guess is made and the stream's final recognition gives it."""
    question = noise(300) + caller_says(voice, "What is my balance?") + noise(1000)
    kept, said = {}, {}
    for after_ms in (200, 0):
        config = Config()
        asr = dataclasses.replace(config.asr, speculate_after_ms=after_ms)
        metrics = Metrics()
        heard = Emitted()
        listener = listener_for(dataclasses.replace(config, asr=asr), heard, metrics)
        await listener.start(whisper_engine)
        try:
            await feed(listener, question)
            [utterance] = heard.utterances
            said[after_ms] = (await listener.transcribe(utterance)).text.lower()
        finally:
            await listener.close()
        kept[after_ms] = counted(metrics, "asr_speculation", "kept")
    assert kept == {200: 1, 0: 0}, kept
    assert all("balance" in text for text in said.values()), said


@pytest.mark.slow
async def test_an_expected_digit_string_reaches_the_recogniser_through_the_listener(
    whisper_engine: WhisperEngine,
) -> None:
    festival = CallerVoice(engine="festival", voice="ked_diphone", snr_db=20.0)
    said = speak(festival, "eight six three five two eight six four", seed=3).pcm
    heard = Emitted()
    listener = listener_for(Config(), heard)
    await listener.start(whisper_engine)
    try:
        listener.expect_digits(DigitExpectation(count=8, max=8))
        await feed(listener, noise(300) + said + noise(1000))
        [utterance] = heard.utterances
        transcript = await listener.transcribe(utterance)
    finally:
        await listener.close()
    assert read_digits(transcript.text, digit_answer=True) == "86352864", transcript


@pytest.mark.slow
async def test_a_digit_answer_with_every_digit_ends_early_and_a_lone_yes_waits(
    voice, whisper_engine: WhisperEngine
) -> None:
    """An account number read out whole is the evidence that the turn is over, whatever the
    punctuation whisper gives it; a lone "yes" is not (callers go on: "Yes, please.")."""
    config = Config()
    # A 2.5 s hangover makes the early close plain to see.
    vad = dataclasses.replace(config.vad, end_of_speech_ms=2500)
    metrics = Metrics()
    heard = Emitted()
    listener = listener_for(dataclasses.replace(config, vad=vad), heard, metrics)
    await listener.start(whisper_engine)
    try:
        listener.expect_digits(DigitExpectation(count=8, max=8))
        number = caller_says(voice, "five five five oh, one two three four")
        await feed(listener, noise(300) + number + noise(3000))
        [digits] = heard.utterances
        heard_digits = await listener.transcribe(digits)
        listener.expect_digits(None)
        await feed(listener, caller_says(voice, "Yes.") + noise(3000))
        _, yes = heard.utterances
        heard_yes = await listener.transcribe(yes)
    finally:
        await listener.close()
    assert read_digits(heard_digits.text, digit_answer=True) == "55501234", heard_digits
    assert vad.early_end_ms <= digits.event.at_ms - digits.event.end_ms < 2000
    assert "yes" in heard_yes.text.lower(), heard_yes
    assert yes.event.at_ms - yes.event.end_ms >= 2000
    assert counted(metrics, "turn_end", "early") == 1
