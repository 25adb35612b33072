"""Where a call's recording is and how the console opens it: only the file the call record
names, only inside the configured recordings folder, only with the bot's recording keys.

A request never names a file: the handlers look the call up by its id (checked by the route's
pattern) and take the path from its record. That path is still checked to resolve inside
``call.recordings_dir`` (a record written by another node, or edited, must not make the console
read an arbitrary file). Every way a recording can be unavailable (none kept, expired, no keys
configured, damaged) is a :class:`RecordingUnavailable` with a sentence for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.recording_keys import Keyring
from ivr.sealed import RecordingError, SealedReader


class RecordingUnavailable(Exception):
    """The call's recording cannot be played; the message says why, for the page."""


@dataclass(frozen=True)
class RecordingShelf:
    """The recordings folder and the keys that open what is in it."""

    folder: Path
    keyring: Keyring | None

    def locate(self, stored: str) -> Path:
        """The recording a call record names, if it is a file inside the folder."""
        if not stored:
            raise RecordingUnavailable("This call was not recorded.")
        root = self.folder.resolve()
        resolved = Path(stored).resolve()  # as the bot wrote it: relative to its own folder
        if not resolved.is_relative_to(root):
            raise RecordingUnavailable("The recording is not in the recordings folder.")
        if not resolved.is_file():
            raise RecordingUnavailable(
                "The recording is no longer there (deleted after the retention period, or"
                " never written)."
            )
        return resolved

    def open(self, stored: str) -> SealedReader:
        """The recording a call record names, ready to read (blocking: off the event loop)."""
        path = self.locate(stored)
        if self.keyring is None:
            raise RecordingUnavailable(
                "No recording keys are configured (call.recording_key_file): it cannot be opened."
            )
        try:
            return SealedReader(path, self.keyring)
        except RecordingError as exc:
            raise RecordingUnavailable(f"The recording cannot be opened: {_reason(exc)}") from exc


def _reason(error: RecordingError) -> str:
    """The error without the file's path (the page need not show the server's folders)."""
    return str(error).split(": ", 1)[-1]
