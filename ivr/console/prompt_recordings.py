"""A variation's recording kept in the draft: stored, replaced or removed (blocking).

The WAV goes in first under its content-named file (``Draft.put_audio``), then the index is
edited under the draft's lock to point at it, checking there that the variation still says
what the designer heard it say (else :class:`PromptConflict`, and the new file is removed
again); the file it replaces is removed last. The index records the words the recording says,
so the call path plays it only while the prompt says them.
"""

from __future__ import annotations

from dialogue.training import DOMAIN
from ivr.console.prompt_edit import PromptConflict, text_digest, variation_text
from ivr.versions.draft import Draft, DraftError
from ivr.versions.files import RECORDINGS_INDEX
from ivr.versions.recordings import (
    MAX_RECORDINGS,
    Recording,
    index_text,
    parse_index,
    recording_file,
    replaced,
)


def store_recording(
    draft: Draft, response: str, index: int, seen: str, wav: bytes, *, author: str
) -> Recording:
    """Make ``wav`` the recording of ``response``'s variation ``index``, which the designer
    saw saying the text whose digest is ``seen``."""
    file = recording_file(response, index, wav)
    held: list[Recording] = []

    def point_at_it(current: str) -> str:
        text = variation_text(draft.read(DOMAIN), response, index)
        if text is None or text_digest(text) != seen:
            raise PromptConflict(response, index, text)
        recordings = parse_index(current)
        held.extend(r for r in recordings if (r.response, r.variation) == (response, index))
        kept = replaced(recordings, response, index)
        if len(kept) >= MAX_RECORDINGS:
            raise DraftError(f"the draft holds {MAX_RECORDINGS} recordings already")
        held.append(Recording(response, index, file, text))
        return index_text([*kept, held[-1]])

    path = Recording(response, index, file, "").path
    draft.put_audio(path, wav, author=author)
    try:
        draft.edit(RECORDINGS_INDEX, point_at_it, author=author)
    except BaseException:
        if not any(r.file == file for r in parse_index(draft.read(RECORDINGS_INDEX))):
            _remove_file(draft, path, author)
        raise
    *replaced_ones, stored = held
    for old in replaced_ones:
        if old.file != file:
            _remove_file(draft, old.path, author)
    return stored


def remove_recording(draft: Draft, response: str, index: int, *, author: str) -> bool:
    """Take the recording of ``response``'s variation ``index`` out of the draft (False: it
    had none)."""
    removed: list[Recording] = []

    def drop_it(current: str) -> str:
        recordings = parse_index(current)
        kept = replaced(recordings, response, index)
        removed.extend(r for r in recordings if r not in kept)
        return index_text(kept) if removed else current

    draft.edit(RECORDINGS_INDEX, drop_it, author=author)
    for old in removed:
        _remove_file(draft, old.path, author)
    return bool(removed)


def _remove_file(draft: Draft, path: str, author: str) -> None:
    draft.delete(path, revision=draft.revision(path), author=author)
