"""A designer's example as a Rasa example line: the text checked and written the way the files
write examples, with the marked entities annotated.

Two ways in. The inbox's label (:func:`labelled_example`) is a transcript and entity rows;
the wording page's example (:func:`written_example`) is typed with its marks inline
(``my [savings](account_type)``, or Rasa's ``[text]{"entity": ..., "value": ...}``), every mark
naming an entity of the domain and no bracket left over that marks nothing.

The text is the transcript as the form sent it (the designer may correct the recogniser). It
is refused while it holds what the records masked: ``*`` digits (an account or card number) or
the ``[PIN]`` placeholder. Stars are not words a caller says and would teach the model to
expect them; the designer edits the text (a made-up number, said as words) or dismisses the
item. The text is then normalised as the examples are (``ivr.asr_variants.normalise``: lower
case, no punctuation). Each marked entity is a span of that text, whole words, that overlaps no
other, and an entity of the domain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from dialogue.secrets import is_token
from ivr.asr_variants import normalise
from ivr.console.params import BadRequest
from ivr.vocabulary import strip_annotations

PIN_PLACEHOLDER = "[pin]"
MAX_EXAMPLE_CHARS = 200
"""The longest example line a designer may write (the longest shipped one is under 100)."""
MARK = re.compile(r"\[([^\[\]]+)\](?:\(([^()]*)\)|(\{[^{}]*\}))")
"""One entity mark: ``[words](entity)``, ``[words](entity:value)`` or ``[words]{json}``."""
BRACKETS = frozenset("[](){}")
PIN_ENTITY = "pin"
"""A ``pin`` mark may only cover the vault's opaque token (``dialogue.secrets.is_token``), never
PIN digits."""


@dataclass(frozen=True)
class EntityMark:
    """An entity the designer marked: its name and the words it covers."""

    entity: str
    span: str


@dataclass(frozen=True)
class LabelledExample:
    """The example as compared with the others (plain) and as written (annotated)."""

    plain: str
    annotated: str


def labelled_example(
    text: str, marks: Sequence[EntityMark], entities: Collection[str]
) -> LabelledExample:
    """The example line for ``text`` with ``marks``; BadRequest saying what to fix."""
    if "*" in text:
        raise BadRequest(
            "The text holds masked digits (*): an example must be words a caller says. Edit it"
            " (a made-up number, said as words) or dismiss the item."
        )
    if PIN_PLACEHOLDER in text.lower():
        raise BadRequest("The text holds the PIN placeholder: edit it or dismiss the item.")
    plain = normalise(text)
    if not plain:
        raise BadRequest("The text has no words to learn.")
    found: list[tuple[int, int, str]] = []
    for mark in marks:
        if mark.entity not in entities:
            raise BadRequest(f"{mark.entity} is not an entity an example may mark")
        span = normalise(mark.span)
        where = re.search(rf"(?<![\w']){re.escape(span)}(?![\w'])", plain) if span else None
        if where is None:
            raise BadRequest(f"'{mark.span}' is not words of the text")
        if any(where.start() < end and start < where.end() for start, end, _ in found):
            raise BadRequest(f"'{mark.span}' overlaps another marked entity")
        found.append((where.start(), where.end(), mark.entity))
    annotated = plain
    for start, end, entity in sorted(found, reverse=True):
        annotated = f"{annotated[:start]}[{annotated[start:end]}]({entity}){annotated[end:]}"
    return LabelledExample(plain, annotated)


@dataclass(frozen=True)
class Part:
    """A stretch of an example line: plain words, or words marked as an entity."""

    text: str
    marked: bool = False
    entity: str = ""
    value: str = ""
    """The value the words stand for, when the mark gives one (a synonym)."""
    mark: str = ""
    """The mark's tail as written: ``(account_type)`` or ``{"entity": ...}``."""


def example_parts(line: str) -> list[Part]:
    """``line`` cut into plain stretches and entity marks (a mark it cannot read names no
    entity)."""
    parts: list[Part] = []
    at = 0
    for found in MARK.finditer(line):
        if found.start() > at:
            parts.append(Part(line[at : found.start()]))
        words, paren, braces = found.groups()
        if paren is not None:
            entity, _, value = paren.partition(":")
            parts.append(Part(words, True, entity.strip(), value.strip(), f"({paren})"))
        else:
            spec = _json_mark(braces)
            entity, value = str(spec.get("entity") or ""), str(spec.get("value") or "")
            parts.append(Part(words, True, entity, value, braces))
        at = found.end()
    if at < len(line):
        parts.append(Part(line[at:]))
    return parts


def written_example(text: str, entities: Collection[str]) -> LabelledExample:
    """A typed example line, checked and written as the files write examples (words lower
    case, no punctuation; marks kept); BadRequest saying what to fix."""
    text = text.strip()
    if not text:
        raise BadRequest("An example needs words.")
    if len(text) > MAX_EXAMPLE_CHARS:
        raise BadRequest(f"An example is at most {MAX_EXAMPLE_CHARS} characters: '{text[:40]}...'")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise BadRequest("An example is one line of text.")
    pieces: list[str] = []
    for part in example_parts(text):
        if not part.marked:
            if BRACKETS & set(part.text):
                raise BadRequest(
                    f"'{text}' has brackets that mark no entity: mark one as [words](entity)."
                )
            pieces.append(normalise(part.text))
            continue
        pieces.append(_checked_mark(part, entities))
    annotated = " ".join(piece for piece in pieces if piece)
    plain = normalise(strip_annotations(annotated))
    if not plain:
        raise BadRequest("The text has no words to learn.")
    return LabelledExample(plain, annotated)


def _checked_mark(part: Part, entities: Collection[str]) -> str:
    if not part.entity:
        raise BadRequest(f"The mark on '{part.text}' names no entity.")
    if part.entity not in entities:
        raise BadRequest(
            f"{part.entity} is not an entity of the domain (they are: {', '.join(entities)})."
        )
    if part.entity == PIN_ENTITY:
        if not is_token(part.text):
            raise BadRequest(
                "A pin mark only ever covers a vault token (secret: and 32 hex digits), never"
                " PIN digits."
            )
        return f"[{part.text}]{part.mark}"
    words = normalise(part.text)
    if not words:
        raise BadRequest(f"The {part.entity} mark covers no words.")
    return f"[{words}]{part.mark}"


def _json_mark(braces: str) -> dict[str, object]:
    try:
        spec = json.loads(braces)
    except json.JSONDecodeError:
        return {}
    return spec if isinstance(spec, dict) else {}
