"""What callers say, per intent, as the draft's NLU files hold it: the Caller wording page's data.

Examples are read from every ``data/nlu`` file of the draft: the hand-written ones, which the
page edits, and the generated ``asr`` ones (``ivr nlu variants``), which it only counts and
lists, since the next run of that command would overwrite any edit. The warnings are about the
hand-written examples, the ones designers own (the generated ones are made from them):

- an intent with fewer than ``FEW_EXAMPLES`` examples is learned from too few ways of saying it;
- the same words (compared as examples are written: case, spaces and punctuation aside,
  entity marks removed) under two intents teach the model a contradiction.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ivr.asr_variants import normalise
from ivr.console.nlu_files import GENERATED_FOLDER
from ivr.vocabulary import example_lines, strip_annotations

FEW_EXAMPLES = 25
"""Rasa's DIET learns an intent from its examples: under this many it guesses from too few."""
MAX_DUPLICATES_SHOWN = 50


@dataclass(frozen=True)
class Example:
    """One example line as a file holds it."""

    text: str
    """As written, entity marks included."""
    file: str
    """Relative to the NLU folder (``cards.yml``, ``asr/cards.yml``)."""

    @functools.cached_property
    def words(self) -> str:
        """What the example says, as examples are compared (marks removed, normalised): worked
        out once, as the warnings and every check of a change compare them all."""
        return same_words(self.text)


@dataclass
class IntentWording:
    """An intent's examples: the hand-written (editable) and the generated (read-only)."""

    name: str
    in_domain: bool
    written: list[Example] = field(default_factory=list)
    generated: list[Example] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return list(dict.fromkeys(example.file for example in self.written))

    @property
    def too_few(self) -> bool:
        """An intent of the domain with fewer hand-written examples than ``FEW_EXAMPLES``."""
        return self.in_domain and len(self.written) < FEW_EXAMPLES


@dataclass(frozen=True)
class Duplicate:
    """Words that are an example of more than one intent."""

    words: str
    examples: tuple[tuple[str, Example], ...]
    """(intent, example) for each place they are written."""

    @property
    def intents(self) -> list[str]:
        return list(dict.fromkeys(intent for intent, _ in self.examples))


@dataclass(frozen=True)
class Wording:
    """Every intent's examples and what to warn about."""

    intents: dict[str, IntentWording]
    """In the domain's order, then intents only the files name."""
    unreadable: list[str]
    """Files that are not valid NLU YAML (the page says so instead of failing)."""

    def few(self) -> list[IntentWording]:
        """Intents with fewer hand-written examples than ``FEW_EXAMPLES``."""
        return [intent for intent in self.intents.values() if intent.too_few]

    def duplicates(self) -> list[Duplicate]:
        """Words written under two or more intents, in file order."""
        places: dict[str, list[tuple[str, Example]]] = defaultdict(list)
        for intent in self.intents.values():
            for example in intent.written:
                places[example.words].append((intent.name, example))
        return [
            Duplicate(words, tuple(found))
            for words, found in places.items()
            if len({intent for intent, _ in found}) > 1
        ]

    def intents_saying(self, words: str) -> dict[str, Example]:
        """The intents with a hand-written example saying ``words`` (normalised), and that
        example."""
        found: dict[str, Example] = {}
        for intent in self.intents.values():
            for example in intent.written:
                if example.words == words:
                    found.setdefault(intent.name, example)
        return found


def same_words(line: str) -> str:
    """An example line as examples are compared (marks removed, normalised)."""
    return normalise(strip_annotations(line))


def read_wording(folder: Path, domain_intents: Iterable[str]) -> Wording:
    """The examples of every NLU file under ``folder`` by intent (blocking)."""
    intents = {name: IntentWording(name, True) for name in domain_intents}
    unreadable: list[str] = []
    generated = folder / GENERATED_FOLDER
    for path in sorted(folder.rglob("*.yml")):
        name = path.relative_to(folder).as_posix()
        items = _items(path)
        if items is None:
            unreadable.append(name)
            continue
        for item in items:
            intent = item.get("intent")
            if not isinstance(intent, str):
                continue
            wording = intents.setdefault(intent, IntentWording(intent, False))
            shelf = wording.generated if path.is_relative_to(generated) else wording.written
            shelf.extend(Example(line, name) for line in example_lines(item.get("examples")))
    return Wording(intents, unreadable)


def _items(path: Path) -> list[dict[str, object]] | None:
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    items = data.get("nlu") if isinstance(data, dict) else None
    if items is None:
        return []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else None
