"""A prompt as a caller hears it: placeholders filled with made-up sample values, synthesised
with the running bot's voice, sent through 8 kHz G.711 mu-law and back, as a WAV.

Sample values are chosen by the slot's type in the domain and by the placeholder's name (an
amount, a date, a city, last four digits): never a customer's data. Synthesis is blocking (the
page calls it in a thread); the WAVs of recent texts are kept in memory, at most
``MAX_CACHED``, so replaying a prompt does not synthesise it again.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ivr.console.ear_check import PLACEHOLDER
from speech.audio import wav_bytes
from speech.channel import telephone_channel
from speech.tts import TtsEngine
from speech.tts.base import join_chunks, synthesize_text

MAX_CACHED = 64
SAMPLES_BY_NAME = (
    (re.compile(r"amount|balance|minimum|limit|remaining|fee"), "$250.40"),
    (re.compile(r"date"), "December fifth"),
    (re.compile(r"city|cities|branch"), "Springfield"),
    (re.compile(r"last4|reference|so_far"), "4 3 2 1"),
    (re.compile(r"account"), "checking account ending in 4 3 2 1"),
    (re.compile(r"name"), "Alex"),
    (re.compile(r"count|score"), "3"),
)
"""Placeholder name pattern -> the sample said for it (the first that matches)."""
SAMPLES_BY_TYPE = {"float": "3", "bool": "yes"}


def sample_value(name: str, slots: Mapping[str, Any]) -> str:
    """A made-up value for placeholder ``name``: a categorical slot's first value, else one
    that fits its name or type, else the name in words."""
    slot = slots.get(name) or {}
    if slot.get("type") == "categorical" and slot.get("values"):
        return str(slot["values"][0])
    for pattern, sample in SAMPLES_BY_NAME:
        if pattern.search(name):
            return sample
    return SAMPLES_BY_TYPE.get(str(slot.get("type")), name.replace("_", " "))


def with_samples(text: str, slots: Mapping[str, Any]) -> str:
    """``text`` with each ``{placeholder}`` replaced by its sample value."""
    return PLACEHOLDER.sub(lambda match: sample_value(match.group(1), slots), text)


class PromptVoice:
    """The bot's voice over the phone line, with the WAVs of recent texts kept."""

    def __init__(self, tts: TtsEngine, max_cached: int = MAX_CACHED) -> None:
        self.tts = tts
        self.max_cached = max_cached
        self._lock = threading.Lock()
        self._wavs: OrderedDict[str, bytes] = OrderedDict()

    def wav(self, text: str) -> bytes:
        """``text`` as an 8 kHz mono WAV of what a caller hears (blocking)."""
        with self._lock:
            if text in self._wavs:
                self._wavs.move_to_end(text)
                return self._wavs[text]
        rate = self.tts.native_rate
        spoken = join_chunks(list(synthesize_text(self.tts, text, rate, cache=False)), rate)
        wav = wav_bytes(telephone_channel(spoken, codec="ulaw"))
        with self._lock:
            self._wavs[text] = wav
            while len(self._wavs) > self.max_cached:
                self._wavs.popitem(last=False)
        return wav
