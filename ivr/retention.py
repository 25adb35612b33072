"""Retention: call data is kept ``call.retention_days`` and then deleted, recordings and records.

Recordings go by the file's last write (the end of its call), so a recording whose record was
lost still expires; records go by the call's start, and a call's turns (the transcripts) go with
it. The server runs this daily (``ivr.server``); ``ivr recordings purge`` runs it on demand.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from ivr.config import CallConfig
from ivr.records import CallRecordStore
from ivr.sealed import SUFFIX

DAY_S = 86_400
RECORDING_ENDINGS = (SUFFIX, ".wav")
"""Sealed recordings, and plain ones made before recordings were sealed."""


@dataclass(frozen=True)
class Purged:
    """What one purge deleted."""

    calls: int
    recordings: int


def purge_expired(
    call: CallConfig, records: CallRecordStore, now: float | None = None
) -> Purged | None:
    """Delete what is older than ``call.retention_days``; None when retention is off (0).

    Blocking (disk and database): run it off the event loop.
    """
    if call.retention_days <= 0:
        return None
    cutoff = (time.time() if now is None else now) - call.retention_days * DAY_S
    deleted = _delete_recordings(Path(call.recordings_dir), cutoff) if call.recordings_dir else 0
    return Purged(records.delete_calls_before(cutoff), deleted)


def _delete_recordings(folder: Path, cutoff: float) -> int:
    if not folder.is_dir():
        return 0
    deleted = 0
    for path in sorted(folder.rglob("*")):
        if path.suffix in RECORDING_ENDINGS and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink()
            deleted += 1
    for day in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):  # only empty folders go
            day.rmdir()
    return deleted
