"""The examples of Rasa NLU files changed as text: one added, replaced or removed, the rest of
the file kept byte for byte.

Designers keep ``data/nlu/*.yml`` by hand: comments, the order of intents, ``examples: |``
blocks of ``- `` lines. A YAML round trip (``yaml.dump``) would drop the comments and restyle
the blocks, so an example is inserted (one line after the intent's last example, with that
line's indentation), replaced or removed as a line of text. The result is parsed again
(``yaml.safe_load``) and must hold exactly the old data with that one change to that intent's
examples, or nothing is written. Files are written through the designers' draft
(:meth:`ivr.versions.draft.Draft.edit`: locked, atomic, its test report dropped), never the
project's own. ``data/nlu/asr`` is made by ``ivr nlu variants`` and never written here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.versions.draft import Draft
from ivr.vocabulary import GENERATED_NLU_DIR, example_lines

NLU_DIR = "data/nlu"
"""The NLU folder inside a project or the draft."""
GENERATED_FOLDER = Path(GENERATED_NLU_DIR).name
"""The subfolder of the NLU folder that ``ivr nlu variants`` owns."""


class NluFileError(Exception):
    """The example cannot be changed as asked; the message says why, for the page."""


class ExampleMissing(NluFileError):
    """The example is not (or no longer) under the intent in this file."""


@dataclass(frozen=True)
class _Block:
    """An intent's ``examples: |`` block: its key line and its example lines (index, text)."""

    key: int
    examples: list[tuple[int, str]]


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
    block = _block(lines, intent)
    last, indent = block.key, " " * (_indent(lines[block.key]) + 2)
    if block.examples:
        last = block.examples[-1][0]
        indent = lines[last][: _indent(lines[last])]
    ending = "\n" if lines[last].endswith("\n") else ""
    if not ending:
        lines[last] += "\n"
    lines.insert(last + 1, f"{indent}- {example}\n" if ending else f"{indent}- {example}")
    return "".join(lines)


def with_example_replaced(text: str, intent: str, old: str, new: str) -> str:
    """``text`` with the first ``- old`` line of ``intent`` saying ``new`` instead, its
    indentation and line ending kept. Raises ExampleMissing."""
    lines = text.splitlines(keepends=True)
    index = _line_of(lines, intent, old)
    line = lines[index]
    ending = line[len(line.rstrip("\r\n")) :]
    lines[index] = f"{line[: _indent(line)]}- {new}{ending}"
    return "".join(lines)


def without_example(text: str, intent: str, example: str) -> str:
    """``text`` without the first ``- example`` line of ``intent``. Raises ExampleMissing, or
    NluFileError when it is the block's only example (an empty block leaves the intent without
    examples)."""
    lines = text.splitlines(keepends=True)
    if len(_block(lines, intent).examples) == 1:
        raise NluFileError(
            f"'{example}' is the last example of {intent} in its file: add another first"
        )
    del lines[_line_of(lines, intent, example)]
    return "".join(lines)


def examples_of(text: str, intent: str) -> list[str]:
    """The examples of ``intent`` in one file's text, as written (annotations kept)."""
    for item in _nlu_items(_parse(text)):
        if item.get("intent") == intent:
            return list(example_lines(item.get("examples")))
    return []


def check_added(old: str, new: str, intent: str, *examples: str) -> None:
    """Raise NluFileError unless ``new`` parses to ``old``'s data plus ``examples`` (in order)
    as the last examples of ``intent``."""
    expected = {intent: [*examples_of(old, intent), *examples]}
    check_examples(old, new, expected, f"the example would not land as the last one of {intent}")


def check_examples(old: str, new: str, expected: Mapping[str, list[str]], wrong: str) -> None:
    """Raise NluFileError (``wrong`` when an intent's examples differ) unless ``new`` parses to
    ``old``'s data with the examples of each intent of ``expected`` being what it says."""
    before, after = _nlu_items(_parse(old)), _nlu_items(_parse(new))
    if len(before) != len(after):
        raise NluFileError("the file would no longer parse to the same items")
    restored: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(after):
        intent = item.get("intent")
        if isinstance(intent, str) and intent in expected and intent not in seen:
            seen.add(intent)
            if list(example_lines(item.get("examples"))) != expected[intent]:
                raise NluFileError(wrong)
            item = dict(item, examples=before[index].get("examples"))
        restored.append(item)
    if seen != set(expected):
        raise NluFileError("the file would no longer parse to the same items")
    if restored != before:
        raise NluFileError("the file would change beyond the one example")


def add_example(draft: Draft, intent: str, example: str, *, author: str) -> str:
    """Write ``example`` into the draft's file holding ``intent``; that file's path relative to
    the NLU folder (blocking)."""
    return add_examples(draft, intent, [example], author=author)


def add_examples(draft: Draft, intent: str, examples: list[str], *, author: str) -> str:
    """Write ``examples`` (in order, after the intent's last one) into the draft's file holding
    ``intent``, in one edit; that file's path relative to the NLU folder (blocking)."""
    folder = draft.root / NLU_DIR
    name = file_of(folder, intent).relative_to(folder).as_posix()

    def change(old: str) -> str:
        new = old
        for example in examples:
            new = with_example(new, intent, example)
        check_added(old, new, intent, *examples)
        return new

    draft.edit(f"{NLU_DIR}/{name}", change, author=author)
    return name


def _block(lines: list[str], intent: str) -> _Block:
    key = _examples_key(lines, _intent_line(lines, intent))
    key_indent = _indent(lines[key])
    examples: list[tuple[int, str]] = []
    for index in range(key + 1, len(lines)):
        line = lines[index]
        if line.strip() and _indent(line) <= key_indent:
            break
        if line.lstrip().startswith("- "):
            examples.append((index, line.strip()[2:].strip()))
    return _Block(key, examples)


def _line_of(lines: list[str], intent: str, example: str) -> int:
    for index, text in _block(lines, intent).examples:
        if text == example:
            return index
    raise ExampleMissing(f"'{example}' is no longer an example of {intent}")


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
