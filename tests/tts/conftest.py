"""Fixtures for the TTS tests: real engines, loaded once per test session."""

from __future__ import annotations

import pytest

from speech.tts.base import TtsEngine
from speech.tts.espeak import Pyttsx3Tts
from speech.tts.piper import PiperTts

ENGINES = ("piper", "pyttsx3")


@pytest.fixture(scope="session")
def piper_engine() -> PiperTts:
    engine = PiperTts()
    engine.warm_up()
    return engine


@pytest.fixture(scope="session")
def espeak_engine() -> Pyttsx3Tts:
    return Pyttsx3Tts("en-us")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> TtsEngine:
    """Each real engine in turn."""
    name = "piper_engine" if request.param == "piper" else "espeak_engine"
    return request.getfixturevalue(name)
