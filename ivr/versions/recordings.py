"""Prompts recorded by a voice talent, kept with the design in ``dialogue/recordings/``.

The folder holds the WAV files (8 kHz mono 16-bit, as the console stores them) and
``index.yml``, which says which response variation each recording is and the exact words it
says::

    recordings:
      - response: utter_greet
        variation: 0
        file: utter_greet-0-1a2b3c4d5e6f.wav
        text: "Thanks for calling City Bank. How can I help you today?"

A recording is named by its response, variation and content digest, so an upload never
overwrites another. The running bot plays a recording when it is about to say exactly its text
(``ivr.recorded_prompts``): a prompt edited since it was recorded is synthesised again until it
is recorded anew, and the console says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.versions.files import RECORDINGS_DIR, RECORDINGS_INDEX, is_recording

HEADER = (
    "# Recorded prompts: which response variation each WAV of this folder is, and the exact\n"
    "# words it says (the bot plays it when it says these words). Written by the console.\n"
)
MAX_RESPONSE_IN_NAME = 60
RECORDING_RATE = 8000
"""Recordings are kept as the phone line carries them: 8 kHz mono 16-bit."""
MAX_RECORDING_S = 30.0
MAX_RECORDINGS = 300
"""A design's index lists at most this many (the shipped domain has about 100 variations)."""


@dataclass(frozen=True)
class Recording:
    """One recorded variation of a response."""

    response: str
    variation: int
    file: str
    """The WAV's name in ``RECORDINGS_DIR``."""
    text: str

    @property
    def path(self) -> str:
        """The WAV as a design path."""
        return f"{RECORDINGS_DIR}/{self.file}"


def recording_file(response: str, variation: int, wav: bytes) -> str:
    """The file name a new recording of ``response``'s ``variation`` is stored under."""
    digest = hashlib.sha256(wav).hexdigest()[:12]
    return f"{response[:MAX_RESPONSE_IN_NAME]}-{variation}-{digest}.wav"


def parse_index(text: str) -> list[Recording]:
    """The recordings an index lists; entries that are not well formed are left out."""
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return []
    entries = data.get("recordings") if isinstance(data, dict) else None
    found = [entry for raw in entries or () if (entry := _entry(raw)) is not None]
    return found[:MAX_RECORDINGS]


def index_text(recordings: list[Recording]) -> str:
    """The index file listing ``recordings``, in response and variation order."""
    ordered = sorted(recordings, key=lambda r: (r.response, r.variation))
    body = yaml.safe_dump(
        {"recordings": [asdict(r) for r in ordered]},
        sort_keys=False,
        allow_unicode=True,
        width=4096,
    )
    return HEADER + body


def replaced(recordings: list[Recording], response: str, variation: int) -> list[Recording]:
    """``recordings`` without the one of ``response``'s ``variation``."""
    return [r for r in recordings if (r.response, r.variation) != (response, variation)]


def read_recordings(root: Path) -> list[Recording]:
    """The recordings of the design folder ``root`` (none when it has no index)."""
    try:
        return parse_index((root / RECORDINGS_INDEX).read_text("utf-8"))
    except FileNotFoundError:
        return []


def _entry(raw: Any) -> Recording | None:
    if not isinstance(raw, dict):
        return None
    response, variation = raw.get("response"), raw.get("variation")
    file, text = raw.get("file"), raw.get("text")
    if not (isinstance(response, str) and isinstance(variation, int)):
        return None
    if not (isinstance(file, str) and isinstance(text, str) and text.strip()):
        return None
    recording = Recording(response, variation, file, text)
    return recording if is_recording(recording.path) else None
