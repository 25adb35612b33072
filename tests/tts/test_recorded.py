"""Recorded prompts in the speech layer: a message that is a recording's words, spacing aside,
plays the recording in one chunk at the call's rate and asks the voice nothing; any other text
is synthesised as before."""

from __future__ import annotations

import numpy as np

from speech.audio import Audio
from speech.tts.recorded import RecordedPrompts, speak_stream
from tests.tts.test_cache import CountingEspeak

GREETING = "Thanks for calling. How can I help?"


def take() -> Audio:
    """A "recording": one second of a 440 Hz tone at 8 kHz."""
    t = np.arange(8000) / 8000
    return Audio((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16), 8000)


async def test_a_recorded_message_plays_the_recording_and_others_are_synthesised() -> None:
    counting = CountingEspeak()
    recorded = RecordedPrompts({GREETING: take()})
    spaced = "Thanks for  calling.\nHow can I help?"
    said = [chunk async for chunk in speak_stream(counting, recorded, spaced, 8000)]
    assert [(chunk.pcm, chunk.rate, chunk.index) for chunk in said] == [(take().pcm, 8000, 0)]
    assert counting.calls == 0
    wide = [chunk async for chunk in speak_stream(counting, recorded, GREETING, 16000)]
    assert len(wide) == 1 and abs(len(wide[0].pcm) - 2 * len(take().pcm)) <= 4
    other = [chunk async for chunk in speak_stream(counting, recorded, "Goodbye. Take care.", 8000)]
    assert len(other) == 2 and counting.calls == 2
    assert recorded.audio("Thanks for calling.", 8000) is None  # part of it is not it
