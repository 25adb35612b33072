"""What the draft changes, file by file, as unified diffs a designer reads before publishing,
with who last edited each file.

Bounded: a file larger than ``MAX_DIFF_BYTES`` on either side is named but not compared
(difflib's matching is slow on big inputs), a diff is cut after ``MAX_DIFF_LINES`` lines and at
most ``MAX_FILES_SHOWN`` files are compared; the page says what was left out.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from ivr.console.html import Markup, element, join, when
from ivr.versions.draft import Draft
from ivr.versions.files import check_path

MAX_DIFF_BYTES = 256 * 1024
MAX_DIFF_LINES = 400
MAX_FILES_SHOWN = 40
CONTEXT_LINES = 3


@dataclass(frozen=True)
class FileDiff:
    """One changed file: its unified diff (or why there is none) and its last editor."""

    path: str
    status: str
    lines: list[str]
    cut: int = 0
    """Diff lines left out past ``MAX_DIFF_LINES``."""
    too_large: bool = False
    edited_by: str = ""
    edited_at: float | None = None


def draft_diffs(draft: Draft) -> tuple[list[FileDiff], int]:
    """The draft's changed files against its base version, and how many more were not compared
    (blocking: reads the files)."""
    base = draft.base
    before_root = draft.store.get(base).path if base is not None else None
    edits = draft.state().get("edits") or {}
    changes = draft.changes()
    shown = []
    for change in changes[:MAX_FILES_SHOWN]:
        name = check_path(change.path)
        before = _text(before_root / name) if before_root is not None else ""
        after = _text(draft.root / name)
        edit = edits.get(name) or {}
        who, at = str(edit.get("by", "")), edit.get("at")
        if before is None or after is None:
            shown.append(FileDiff(name, change.status, [], 0, True, who, at))
            continue
        lines = list(
            difflib.unified_diff(
                before.splitlines(),
                after.splitlines(),
                f"version {base}/{name}" if base is not None else "(none)",
                f"draft/{name}",
                n=CONTEXT_LINES,
                lineterm="",
            )
        )
        cut = max(0, len(lines) - MAX_DIFF_LINES)
        shown.append(FileDiff(name, change.status, lines[:MAX_DIFF_LINES], cut, False, who, at))
    return shown, max(0, len(changes) - MAX_FILES_SHOWN)


def _text(path: Path) -> str | None:
    """The file's text ("" when absent); None when too large to compare."""
    try:
        if path.stat().st_size > MAX_DIFF_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def diff_block(diff: FileDiff) -> Markup:
    """One file's change: a summary line (path, status, last editor) that opens its diff."""
    edited = (
        f", last edited by {diff.edited_by} at {when(diff.edited_at)} UTC" if diff.edited_by else ""
    )
    summary = element("summary", f"{diff.path} ({diff.status}{edited})")
    if diff.too_large:
        body = element(
            "p", f"Larger than {MAX_DIFF_BYTES // 1024} kB: not compared here.", class_="note"
        )
    else:
        rows = [element("span", line, class_=_line_class(line)) for line in diff.lines]
        body = element("pre", join(rows, "\n"), class_="diff")
        if diff.cut:
            body = join([body, element("p", f"{diff.cut} more lines not shown.", class_="note")])
    return element("details", join([summary, body]), class_="file-diff")


def _line_class(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "added"
    if line.startswith("-"):
        return "removed"
    return "same"
