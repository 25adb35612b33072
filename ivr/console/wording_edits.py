"""A designer's change to an intent's examples, written into the draft.

Every change is one :meth:`ivr.versions.draft.Draft.edit` of the file holding the example (two
for a move between files), made with the text edits of :mod:`ivr.console.nlu_files`, so the
rest of the file keeps every byte. The example to edit, move or delete is named as the designer
saw it (its file, intent and text); the edit looks for it in the file as it is now, under the
draft's lock, and raises :class:`DraftConflict` when it is no longer there: someone else changed
or removed it meanwhile. A change to another example of the same file lands.

Words already written under another intent are refused, naming that intent: the same words
under two intents teach the model a contradiction (the NLU inbox refuses them too), and what a
designer who finds them elsewhere wants is to move that example, which this page offers. Words
already under the same intent are a no-op with a note. Both compare the hand-written examples
only: the generated ``asr`` ones are made from them.

Blocking (files): call it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from ivr.console.example_text import LabelledExample
from ivr.console.nlu_files import (
    NLU_DIR,
    ExampleMissing,
    NluFileError,
    add_examples,
    check_examples,
    examples_of,
    file_of,
    hand_written_files,
    with_example,
    with_example_replaced,
    without_example,
)
from ivr.console.wording import Wording, read_wording, same_words
from ivr.versions.draft import Draft, DraftConflict, DraftError

T = TypeVar("T")
Change = Callable[[str], str]
"""A file's text in, its new text out (``Draft.edit``'s change)."""


class WordingRefused(Exception):
    """The change is refused as asked; the message says why. Nothing was written."""


@dataclass(frozen=True)
class Done:
    """What a change did: what the audit row says ("" when nothing was written), and sentences
    for the page beyond "done" (what was not done, and why)."""

    audit: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Seen:
    """An example as the designer saw it on the page."""

    intent: str
    file: str
    """Relative to the NLU folder."""
    text: str


class WordingEditor:
    """Changes to the examples of the draft's hand-written NLU files."""

    def __init__(self, draft: Draft, domain_intents: Collection[str]) -> None:
        self.draft = draft
        self.folder = draft.root / NLU_DIR
        self.domain_intents = domain_intents

    def wording(self) -> Wording:
        return read_wording(self.folder, self.domain_intents)

    def editable_files(self) -> list[str]:
        """The files an example may be named in (relative to the NLU folder)."""
        return [
            path.relative_to(self.folder).as_posix() for path in hand_written_files(self.folder)
        ]

    def add(self, intent: str, examples: list[LabelledExample], author: str) -> Done:
        """Add ``examples`` (in order) to ``intent``; those it has already are skipped with a
        note, words of another intent refuse them all."""
        wording = self.wording()
        notes: list[str] = []
        new: dict[str, str] = {}  # the words of each example to add -> its line
        for example in examples:
            holders = wording.intents_saying(example.plain)
            if intent in holders or example.plain in new:
                notes.append(f"'{example.annotated}' is already an example of {intent}: not added.")
                continue
            _refuse_others(example, holders, intent)
            new[example.plain] = example.annotated
        lines = list(new.values())
        if not new:
            return Done(notes=tuple(notes))
        name = _written(lambda: add_examples(self.draft, intent, lines, author=author))
        return Done(f"add to {name}: " + "; ".join(lines), tuple(notes))

    def edit(self, seen: Seen, new: LabelledExample, author: str) -> Done:
        """Replace the example ``seen`` with ``new``."""
        if new.annotated == seen.text:
            return Done(notes=("The example is unchanged.",))
        holders = self.wording().intents_saying(new.plain)
        if seen.intent in holders and new.plain != same_words(seen.text):
            raise WordingRefused(
                f"'{new.annotated}' is already an example of {seen.intent}: delete this one"
                " instead."
            )
        _refuse_others(new, holders, seen.intent)

        def change(old: str) -> str:
            text = with_example_replaced(old, seen.intent, seen.text, new.annotated)
            examples = examples_of(old, seen.intent)
            examples[examples.index(seen.text)] = new.annotated
            check_examples(old, text, {seen.intent: examples}, "the edit would change others")
            return text

        self._edit(seen, change, author)
        return Done(f"edit in {seen.file}: '{seen.text}' -> '{new.annotated}'")

    def delete(self, seen: Seen, author: str) -> Done:
        """Remove the example ``seen``."""
        self._edit(seen, self._removal(seen), author)
        return Done(f"delete from {seen.file}: '{seen.text}'")

    def move(self, seen: Seen, target: str, author: str) -> Done:
        """Move the example ``seen`` to the intent ``target`` (into the file holding it). When
        ``target`` says those words already, the example only leaves ``seen.intent``."""
        if target == seen.intent:
            raise WordingRefused(f"'{seen.text}' is an example of {target} already.")
        where = f"move from {seen.file} to {target}"
        if target in self.wording().intents_saying(same_words(seen.text)):
            self._edit(seen, self._removal(seen), author)
            note = f"{target} already has '{seen.text}': it was only taken out of {seen.intent}."
            return Done(f"{where} (already there): '{seen.text}'", (note,))
        target_file = _written(lambda: file_of(self.folder, target).relative_to(self.folder))
        if target_file.as_posix() == seen.file:
            self._edit(seen, self._move_within(seen, target), author)
        else:
            self._edit(seen, self._removal(seen), author)
            try:
                _written(lambda: add_examples(self.draft, target, [seen.text], author=author))
            except WordingRefused as exc:
                self._put_back(seen, author)
                raise WordingRefused(f"Not moved: {exc}") from exc
        return Done(f"{where}: '{seen.text}'")

    def _removal(self, seen: Seen) -> Change:
        def change(old: str) -> str:
            text = without_example(old, seen.intent, seen.text)
            examples = examples_of(old, seen.intent)
            examples.remove(seen.text)
            check_examples(old, text, {seen.intent: examples}, "the removal would change others")
            return text

        return change

    def _move_within(self, seen: Seen, target: str) -> Change:
        def change(old: str) -> str:
            text = with_example(without_example(old, seen.intent, seen.text), target, seen.text)
            source = examples_of(old, seen.intent)
            source.remove(seen.text)
            expected = {seen.intent: source, target: [*examples_of(old, target), seen.text]}
            check_examples(old, text, expected, "the move would change others")
            return text

        return change

    def _put_back(self, seen: Seen, author: str) -> None:
        """Undo the first half of a move between files: the example back under its intent
        (last of the block: its old place may have changed meanwhile)."""
        self.draft.edit(
            f"{NLU_DIR}/{seen.file}",
            lambda old: with_example(old, seen.intent, seen.text),
            author=author,
        )

    def _edit(self, seen: Seen, change: Change, author: str) -> None:
        path = f"{NLU_DIR}/{seen.file}"

        def checked(old: str) -> str:
            try:
                return change(old)
            except ExampleMissing as exc:
                raise DraftConflict(path, str(exc)) from exc

        _written(lambda: self.draft.edit(path, checked, author=author))


def _refuse_others(example: LabelledExample, holders: Collection[str], intent: str) -> None:
    others = [name for name in holders if name != intent]
    if others:
        raise WordingRefused(
            f"'{example.annotated}' is already an example of {', '.join(others)}: the same"
            f" words under {intent} too would teach the model a contradiction. Move that example"
            " here if it belongs here, or word this one differently."
        )


def _written(write: Callable[[], T]) -> T:
    """``write()``, its refusals as sentences for the page."""
    try:
        return write()
    except (NluFileError, DraftError) as exc:
        raise WordingRefused(f"Nothing was written: {exc}.") from exc
