"""An ear check of a prompt: what a caller may not follow or the voice may misread.

Warns about sentences too long to hold in mind (over ``MAX_WORDS``), more than one question in
one message (the caller answers only the last), numbers the voice reads in a way the writer may
not mean (shown with the reading ``speech.tts.normalize`` gives them, the one the voice uses:
digit runs, amounts with cents, clock times without a.m. or p.m., abbreviations) and
placeholders that neither a slot of the domain nor an action saying the response fills (a typo,
or a value nothing gives: ``action_fills``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from ivr.console.action_fills import filled
from speech.tts.normalize import normalize_text

MAX_WORDS = 25
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
NUMBER_CHECKS = (
    (re.compile(r"\b\d{5,}\b"), "digits run together"),
    (re.compile(r"[$€£]\s?\d[\d,]*\.\d{2}\b"), "an amount with cents"),
    (re.compile(r"\b\d{1,2}:\d{2}\b(?!\s*(?:[ap]\.?m\b|[AP]\.?M\b))"), "a time without a.m./p.m."),
    (re.compile(r"(?<![.\w])[A-Za-z]{1,6}\.(?=\s+[a-z0-9])"), "an abbreviation"),
)
"""What to look for in a prompt's numbers and words, and what to call it."""


@dataclass(frozen=True)
class EarWarning:
    kind: str
    text: str


def ear_check(text: str, known: Collection[str]) -> list[EarWarning]:
    """The warnings for ``text``, a response's variation; ``known``: the placeholders something
    fills, the domain's slots and what the actions saying the response give (``ANY``: all)."""
    warnings = [
        EarWarning("long sentence", f"{count} words: “{sentence}”")
        for sentence in SENTENCE_END.split(text.strip())
        if (count := len(sentence.split())) > MAX_WORDS
    ]
    if (questions := text.count("?")) > 1:
        warnings.append(
            EarWarning("questions", f"{questions} questions in one message: callers answer one")
        )
    warnings.extend(_misreadings(PLACEHOLDER.sub(" ", text)))
    warnings.extend(
        EarWarning("placeholder", f"{{{name}}}: no slot has this name and no action fills it")
        for name in dict.fromkeys(PLACEHOLDER.findall(text))
        if not filled(name, known)
    )
    return warnings


def _misreadings(text: str) -> list[EarWarning]:
    found = []
    for pattern, what in NUMBER_CHECKS:
        for match in pattern.finditer(text):
            written = match.group(0)
            found.append(
                EarWarning(
                    "reading", f"“{written}” is {what}: the voice says “{_reading(written)}”"
                )
            )
    return found


def _reading(written: str) -> str:
    return normalize_text(written).strip() or written
