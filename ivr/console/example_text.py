"""A designer's label as a Rasa example line: the text checked and written the way the files
write examples, with the marked entities annotated.

The text is the transcript as the form sent it (the designer may correct the recogniser). It
is refused while it holds what the records masked: ``*`` digits (an account or card number) or
the ``[PIN]`` placeholder. Stars are not words a caller says and would teach the model to
expect them; the designer edits the text (a made-up number, said as words) or dismisses the
item. The text is then normalised as the examples are (``ivr.asr_variants.normalise``: lower
case, no punctuation). Each marked entity is a span of that text, whole words, that overlaps no
other, and an entity of the domain.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ivr.asr_variants import normalise
from ivr.console.params import BadRequest

PIN_PLACEHOLDER = "[pin]"


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
