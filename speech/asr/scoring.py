"""Word error rate of transcripts against references, after one shared text normalisation.

Both sides are lower-cased, stripped of punctuation, and every number (written with digits such as
"$200" or "1,500", or spoken as words such as "fifteen hundred" or "one two three four") is spelled
digit by digit ("two zero zero"), so "$200" and "two hundred dollars" score as the same words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_DIGIT_WORDS = {str(v): k for k, v in _UNITS.items()}
DIGIT_WORDS = frozenset(_UNITS)
"""The words ``normalise_text`` spells every number with ("two hundred" -> "two zero zero")."""
_SPELLING = {"ok": "okay", "alright": "all right", "e-mail": "email", "pin's": "pins"}
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "#": " number "}


def _spell_digits(number: str) -> list[str]:
    return [_DIGIT_WORDS[ch] for ch in number if ch.isdigit()]


def _numbers_to_digits(words: list[str]) -> list[str]:
    """Parse runs of number words into digit strings ("fifteen hundred" -> "1500")."""
    out: list[str] = []
    total = current = 0
    last = ""  # kind of the previous number word: unit, teen, tens, hundred, scale
    active = False

    def flush() -> None:
        nonlocal total, current, last, active
        if active:
            out.append(str(total + current))
        total = current = 0
        last = ""
        active = False

    for word in words:
        if word in _UNITS:
            if last in ("unit", "teen"):
                flush()
            if last == "tens" and _UNITS[word] == 0:
                flush()
            current += _UNITS[word]
            last, active = "unit", True
        elif word in _TEENS:
            if last in ("unit", "teen", "tens"):
                flush()
            current += _TEENS[word]
            last, active = "teen", True
        elif word in _TENS:
            if last in ("unit", "teen", "tens"):
                flush()
            current += _TENS[word]
            last, active = "tens", True
        elif word == "hundred" and active and last in ("unit", "teen", "tens"):
            current *= 100
            last = "hundred"
        elif word in ("thousand", "million") and active and last != "scale":
            total += current * _SCALES[word]
            current = 0
            last = "scale"
        elif word == "and" and active and last in ("hundred", "scale"):
            continue
        else:
            flush()
            out.append(word)
    flush()
    return out


def normalise_text(text: str) -> str:
    """Lower-case words with numbers spelled digit by digit and no punctuation."""
    text = text.lower().replace("\u2019", "'")
    # Money and grouped digits: "$1,500.00" -> "1500 dollars"; "$20" -> "20 dollars".
    text = re.sub(
        r"\$\s?(\d[\d,]*)(?:\.(\d\d))?",
        lambda m: f" {m.group(1)} dollars" + (f" {m.group(2)} cents" if m.group(2) else ""),
        text,
    )
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    for symbol, spoken in _SYMBOLS.items():
        text = text.replace(symbol, spoken)
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text.replace("-", " "))
    words = [w.strip("'") for w in text.split()]
    words = [_SPELLING.get(w, w) for w in words if w]
    words = " ".join(words).split()
    spelled: list[str] = []
    for word in _numbers_to_digits(words):
        if word.isdigit():
            spelled.extend(_spell_digits(word))
        else:
            spelled.append(word)
    return " ".join(spelled)


@dataclass(frozen=True)
class WerResult:
    """Word error rate of a set of transcripts."""

    wer: float
    """(substitutions + deletions + insertions) / reference words."""
    words: int
    """Reference words after normalisation."""
    substitutions: int
    deletions: int
    insertions: int


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> WerResult:
    """Corpus WER over normalised pairs (an empty hypothesis counts as all deletions)."""
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in length")
    refs = [normalise_text(r) for r in references]
    hyps = [normalise_text(h) for h in hypotheses]
    if not any(refs):
        raise ValueError("the references contain no words")
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    words = sum(len(r.split()) for r, _ in pairs)
    return WerResult(
        wer=(out.substitutions + out.deletions + out.insertions) / words,
        words=words,
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
    )
