"""The recorded prompts of the design a call runs on, for the call path's ``speak_stream``.

Each design folder (the project, or a published version's folder) may hold recordings
(``ivr.versions.recordings``). They are read once per folder and index revision, at most
``MAX_FOLDERS`` folders kept (a call in progress on the previous version and new calls on the
current one). A recording that cannot be read is logged and synthesised instead: a broken file
never silences the bot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from ivr.logs import get_logger
from ivr.versions.files import RECORDINGS_INDEX, Stamp, file_stamp
from ivr.versions.recordings import MAX_RECORDING_S, read_recordings
from logfields import fields
from speech.audio import Audio, AudioError, read_wav_bytes
from speech.tts.recorded import NO_RECORDINGS, RecordedPrompts

log = get_logger(__name__)

MAX_FOLDERS = 4


def load_recorded(root: Path) -> RecordedPrompts:
    """The recordings of design folder ``root``, keyed by the text each says (blocking)."""
    clips: dict[str, Audio] = {}
    for recording in read_recordings(root):
        try:
            clips[recording.text] = read_wav_bytes(
                (root / recording.path).read_bytes(), MAX_RECORDING_S
            )
        except (OSError, AudioError) as exc:
            log.warning(
                "prompts.recording_unreadable",
                extra=fields(file=recording.path, root=str(root), error=str(exc)),
            )
    return RecordedPrompts(clips) if clips else NO_RECORDINGS


class RecordedPromptShelf:
    """Recorded prompts per design folder, read again when the folder's index changes."""

    def __init__(self, max_folders: int = MAX_FOLDERS) -> None:
        self.max_folders = max_folders
        self._lock = threading.Lock()
        self._folders: OrderedDict[Path, tuple[Stamp, RecordedPrompts]] = OrderedDict()

    def of(self, root: Path) -> RecordedPrompts:
        """The recordings of ``root`` as its index is now (blocking: a stat, a read on change)."""
        stamp = file_stamp(root / RECORDINGS_INDEX)
        with self._lock:
            held = self._folders.get(root)
            if held is not None and held[0] == stamp:
                self._folders.move_to_end(root)
                return held[1]
        prompts = NO_RECORDINGS if stamp is None else load_recorded(root)
        with self._lock:
            self._folders[root] = (stamp, prompts)
            self._folders.move_to_end(root)
            while len(self._folders) > self.max_folders:
                self._folders.popitem(last=False)
        return prompts
