"""Recorded prompts: a human voice for a message the bot says word for word.

A designer may record a fixed prompt (the greeting, the menu) rather than let the voice
synthesise it. ``RecordedPrompts`` holds those clips keyed by the exact text they say;
``speak_stream`` plays the clip when a whole message is one of them and synthesises it
otherwise, so the call path asks one place for a message's audio. Where the clips come from
(which design, which version) is the application's business: this module only plays them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Mapping

from speech.audio import Audio
from speech.resample import resample
from speech.tts.base import SpeechChunk, TtsEngine, synthesize_stream


def prompt_key(text: str) -> str:
    """What two texts must share to be the same prompt: their words, spacing aside."""
    return " ".join(text.split())


class RecordedPrompts:
    """Clips keyed by the text they say; each resampled once per output rate (thread-safe)."""

    def __init__(self, clips: Mapping[str, Audio]) -> None:
        self._clips = {prompt_key(text): clip for text, clip in clips.items()}
        self._at_rate: dict[tuple[str, int], Audio] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._clips)

    def audio(self, text: str, rate: int) -> Audio | None:
        """The recording of ``text`` at ``rate``, None when ``text`` is not recorded."""
        key = prompt_key(text)
        clip = self._clips.get(key)
        if clip is None:
            return None
        if clip.rate == rate:
            return clip
        with self._lock:
            done = self._at_rate.get((key, rate))
            if done is None:
                done = Audio(resample(clip.samples, clip.rate, rate), rate)
                self._at_rate[(key, rate)] = done
            return done


NO_RECORDINGS = RecordedPrompts({})


async def speak_stream(
    engine: TtsEngine,
    recorded: RecordedPrompts,
    text: str,
    rate: int,
    *,
    cache: bool = False,
    public: bool = False,
) -> AsyncGenerator[SpeechChunk, None]:
    """``text`` as speech at ``rate``: its recording in one chunk when it has one, else
    synthesised sentence by sentence (``synthesize_stream``, same ``cache`` and ``public``)."""
    clip = recorded.audio(text, rate)
    if clip is not None:
        yield SpeechChunk(clip.pcm, rate, text, 0)
        return
    async for chunk in synthesize_stream(engine, text, rate, cache=cache, public=public):
        yield chunk
