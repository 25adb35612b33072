"""One labelled example added to the Rasa NLU file that holds its intent, the rest of the file
kept byte for byte.

Designers keep ``data/nlu/*.yml`` by hand: comments, the order of intents, ``examples: |``
blocks of ``- `` lines. A YAML round trip (``yaml.dump``) would drop the comments and restyle
the blocks, so the example is inserted as text, one line after the intent's last example with
that line's indentation. The result is parsed again (``yaml.safe_load``) and must hold exactly
the old data plus that example under that intent, or nothing is written. Writes are atomic (a
temporary file in the same folder, then a rename) and one at a time. ``data/nlu/asr`` is made by
``ivr nlu variants`` and never written here.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from ivr.vocabulary import GENERATED_NLU_DIR, example_lines

GENERATED_FOLDER = Path(GENERATED_NLU_DIR).name
"""The subfolder of the NLU folder that ``ivr nlu variants`` owns."""
_WRITING = threading.Lock()
"""One example written at a time in this process (two designers labelling at once)."""


class NluFileError(Exception):
    """The example cannot be added as asked; the message says why, for the page."""


def hand_written_files(folder: Path) -> list[Path]:
    """The NLU files designers keep, in a stable order (not the generated ``asr`` ones)."""
    generated = folder / GENERATED_FOLDER
    return [path for path in sorted(folder.rglob("*.yml")) if not path.is_relative_to(generated)]


def file_of(folder: Path, intent: str) -> Path:
    """The first hand-written NLU file that holds ``intent``'s examples."""
    for path in hand_written_files(folder):
        if any(
            item.get("intent") == intent for item in _nlu_items(_parse(path.read_text("utf-8")))
        ):
            return path
    raise NluFileError(
        f"No file in {folder.name}/ holds examples of {intent} yet: add the intent to one by hand"
        " first."
    )


def with_example(text: str, intent: str, example: str) -> str:
    """``text`` with ``- example`` after the last example of ``intent`` (its block must be a
    ``|`` literal), every other byte unchanged."""
    lines = text.splitlines(keepends=True)
    start = _intent_line(lines, intent)
    key = _examples_key(lines, start)
    key_indent = _indent(lines[key])
    last, indent = key, " " * (key_indent + 2)
    for index in range(key + 1, len(lines)):
        line = lines[index]
        if line.strip() and _indent(line) <= key_indent:
            break
        if line.lstrip().startswith("- "):
            last, indent = index, line[: _indent(line)]
    ending = "\n" if lines[last].endswith("\n") else ""
    if not ending:
        lines[last] += "\n"
    lines.insert(last + 1, f"{indent}- {example}\n" if ending else f"{indent}- {example}")
    return "".join(lines)


def check_added(old: str, new: str, intent: str, example: str) -> None:
    """Raise NluFileError unless ``new`` parses to ``old``'s data plus ``example`` as the last
    example of ``intent``."""
    before, after = _nlu_items(_parse(old)), _nlu_items(_parse(new))
    changed = [i for i, item in enumerate(after) if item.get("intent") == intent]
    if len(before) != len(after) or not changed:
        raise NluFileError("the file would no longer parse to the same items")
    index = changed[0]
    gained = list(example_lines(after[index].get("examples")))
    if gained != [*example_lines(before[index].get("examples")), example]:
        raise NluFileError(f"the example would not land as the last one of {intent}")
    restored = dict(after[index], examples=before[index].get("examples"))
    if [*after[:index], restored, *after[index + 1 :]] != before:
        raise NluFileError("the file would change beyond the one example")


def add_example(folder: Path, intent: str, example: str) -> Path:
    """Write ``example`` into the file holding ``intent``; that file's path (blocking)."""
    with _WRITING:
        path = file_of(folder, intent)
        old = path.read_text("utf-8")
        new = with_example(old, intent, example)
        check_added(old, new, intent, example)
        _replace(path, new)
    return path


def _intent_line(lines: list[str], intent: str) -> int:
    pattern = re.compile(rf"\s*- intent:\s*[\"']?{re.escape(intent)}[\"']?\s*(#.*)?")
    for index, line in enumerate(lines):
        if pattern.fullmatch(line.rstrip("\r\n")):
            return index
    raise NluFileError(f"no '- intent: {intent}' item line")


def _examples_key(lines: list[str], item: int) -> int:
    """The ``examples: |`` line of the item starting at ``item``."""
    item_indent = _indent(lines[item])
    for index in range(item + 1, len(lines)):
        line = lines[index]
        if line.strip() and not line.lstrip().startswith("#") and _indent(line) <= item_indent:
            break
        key = line.strip()
        if key.startswith("examples:"):
            if re.fullmatch(r"examples:\s*\|[-+]?\s*(#.*)?", key):
                return index
            raise NluFileError("the intent's examples are not a '|' block")
    raise NluFileError("the intent has no examples block")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _parse(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NluFileError(f"the file is not valid YAML: {exc}") from exc


def _nlu_items(data: Any) -> list[dict[str, Any]]:
    items = data.get("nlu") if isinstance(data, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` (not ``.yml``: a crash leaves nothing
    for training to read), keep ``path``'s mode, and rename it over ``path``."""
    mode = path.stat().st_mode & 0o777
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
