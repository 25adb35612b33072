"""The examples the NLU already has, to flag an utterance that repeats one.

Every ``data/nlu`` file counts, the generated ``asr`` ones too (the model learns from them).
Texts are compared as the examples are written (``ivr.asr_variants.normalise``: lower case, no
punctuation, annotations removed):

- *duplicate*: the same text is already an example of the intent;
- *conflict*: the same text is an example of another intent (labelling it would teach the
  model a contradiction);
- *near*: at least ``NEAR_WORDS`` of their meaningful words shared (token-set Jaccard, fillers
  dropped) or ``NEAR_CHARACTERS`` of their character trigrams (a recogniser's spelling of the
  same words). The sentence encoder would also catch paraphrases, but costs 136 MB and a
  second to load: too much for a page.

The index is rebuilt when a file changes (its size or time), so a label shows at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from ivr.asr_variants import normalise
from ivr.console.topics import jaccard, words_of
from ivr.vocabulary import example_lines, strip_annotations

NEAR_WORDS = 0.6
NEAR_CHARACTERS = 0.7
MAX_NEAR = 3
"""Near examples shown per utterance, most similar first."""
FlagKind = Literal["duplicate", "conflict", "near"]


@dataclass(frozen=True)
class KnownExample:
    """One example as a file holds it (annotations removed)."""

    text: str
    intent: str
    file: str
    """Relative to the NLU folder."""


@dataclass(frozen=True)
class Flag:
    """What an utterance has in common with a known example."""

    kind: FlagKind
    example: KnownExample
    similarity: float


def trigrams(text: str) -> frozenset[str]:
    padded = f" {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


@dataclass(frozen=True)
class _Entry:
    example: KnownExample
    words: frozenset[str]
    grams: frozenset[str]


class ExampleIndex:
    """Known examples by normalised text and by word."""

    def __init__(self, examples: Iterable[KnownExample]) -> None:
        self.exact: dict[str, list[KnownExample]] = defaultdict(list)
        self._entries: list[_Entry] = []
        self._by_word: dict[str, list[int]] = defaultdict(list)
        for example in examples:
            self.exact[example.text].append(example)
            entry = _Entry(example, words_of(example.text), trigrams(example.text))
            for word in entry.words:
                self._by_word[word].append(len(self._entries))
            self._entries.append(entry)

    def flags(self, said: str, intent: str | None) -> list[Flag]:
        """How ``said`` repeats known examples, for a label of ``intent`` (None: not chosen
        yet, so an exact match is a duplicate of whatever intent holds it)."""
        text = normalise(said)
        exact = [
            Flag("duplicate" if intent in (None, known.intent) else "conflict", known, 1.0)
            for known in self.exact.get(text, ())
        ]
        return exact + self._near(text)

    def _near(self, text: str) -> list[Flag]:
        words, grams = words_of(text), trigrams(text)
        candidates = {index for word in words for index in self._by_word.get(word, ())}
        near: list[Flag] = []
        for index in candidates:
            entry = self._entries[index]
            if entry.example.text == text:
                continue
            shared_words, shared_grams = jaccard(words, entry.words), jaccard(grams, entry.grams)
            if shared_words >= NEAR_WORDS or shared_grams >= NEAR_CHARACTERS:
                near.append(Flag("near", entry.example, max(shared_words, shared_grams)))
        near.sort(key=lambda flag: (-flag.similarity, flag.example.text))
        return near[:MAX_NEAR]


def read_examples(folder: Path) -> list[KnownExample]:
    """Every intent example of every NLU file under ``folder`` (blocking)."""
    examples: list[KnownExample] = []
    for path in sorted(folder.rglob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        items = data.get("nlu") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and isinstance(item.get("intent"), str):
                examples.extend(
                    KnownExample(
                        normalise(strip_annotations(line)),
                        item["intent"],
                        str(path.relative_to(folder)),
                    )
                    for line in example_lines(item.get("examples"))
                )
    return examples


class ExampleShelf:
    """The index of a folder, rebuilt when one of its files changes (thread-safe)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._index = ExampleIndex(())

    def index(self) -> ExampleIndex:
        """The current index (blocking: reads the files when they changed)."""
        signature = tuple(
            (str(path), stat.st_size, stat.st_mtime_ns)
            for path in sorted(self.folder.rglob("*.yml"))
            if (stat := path.stat())
        )
        with self._lock:
            if signature != self._signature:
                self._index = ExampleIndex(read_examples(self.folder))
                self._signature = signature
            return self._index
