"""A design folder's recordings as the call path loads them: keyed by their words, read again
when the index changes, a file that cannot be read left to the voice (logged) rather than
failing the call."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ivr.recorded_prompts import RecordedPromptShelf
from ivr.versions.files import RECORDINGS_INDEX
from ivr.versions.recordings import Recording, index_text, read_recordings, recording_file
from speech.audio import Audio, wav_bytes

TEXT = "Thanks for calling City Bank."


def record(root: Path, wav: bytes, text: str = TEXT) -> Recording:
    recording = Recording("utter_greet", 0, recording_file("utter_greet", 0, wav), text)
    (root / recording.path).parent.mkdir(parents=True, exist_ok=True)
    (root / recording.path).write_bytes(wav)
    (root / RECORDINGS_INDEX).write_text(index_text([recording]))
    return recording


def test_the_shelf_follows_the_index_and_skips_an_unreadable_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shelf = RecordedPromptShelf()
    assert len(shelf.of(tmp_path)) == 0
    clip = Audio(np.full(4000, 3000, dtype=np.int16), 8000)
    recording = record(tmp_path, wav_bytes(clip))
    assert read_recordings(tmp_path) == [recording]
    prompts = shelf.of(tmp_path)
    assert shelf.of(tmp_path) is prompts  # unchanged index: not read again
    heard = prompts.audio(TEXT, 8000)
    assert heard is not None and heard.pcm == clip.pcm
    caplog.set_level(logging.WARNING)
    record(tmp_path, b"RIFF\0\0\0\0WAVEnot really", "Hello again.")
    assert len(shelf.of(tmp_path)) == 0
    assert "prompts.recording_unreadable" in caplog.text
