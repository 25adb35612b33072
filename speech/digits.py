"""Digit strings read from what a caller said, and what a recogniser is told when digits are due.

Callers read numbers out as digits ("five five five oh"), in spoken forms ("double five",
"triple zero", "ninety nine", "eight hundred") or as the recogniser writes them ("555-0", "5
5 5 0"). :func:`read_digits` turns any of these into the digit string. When the bot has asked
for digits (:class:`DigitExpectation`) a caller's answer is a digit string, so words that sound
like digits are read as the digits ("to" 2, "for" 4, "ate" 8, "won" 1, "tree" 3): only there,
never in general text, where "I'd like to transfer for my son" holds no number.

Pure Python with no model behind it: the recognisers (choosing among their hypotheses) and the
dialogue (validating a form's digit slots) read digits the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

UNITS = {
    "zero": 0, "oh": 0, "o": 0, "nought": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
REPEATS = {"double": 2, "triple": 3}
""""double five" is 55, "triple zero" 000."""
HOMOPHONES = {
    "to": 2, "too": 2, "tu": 2, "for": 4, "fore": 4, "ate": 8, "won": 1, "tree": 3,
    "free": 3, "naught": 0, "niner": 9, "fife": 5, "sex": 6, "sax": 6, "nein": 9,
}  # fmt: skip
"""Words a recogniser writes for a spoken digit, read as that digit only in a digit answer."""
SCALES = {"hundred": 100, "thousand": 1000}
"""A caller reads "eight hundred" as 800 and "two thousand" as 2000 in a digit string."""
DIGIT_VOCABULARY = (
    *UNITS, *TEENS, *TENS, *REPEATS, *SCALES,
)  # fmt: skip
"""Every word of a digit answer (what a grammar-constrained recogniser may write)."""
ANSWER_WORDS = (
    "my", "account", "number", "card", "pin", "zip", "code", "is", "it", "it's", "the", "um",
    "uh", "er", "and", "yes", "yeah", "sure", "okay", "ok", "so", "that's",
)  # fmt: skip
"""Words callers wrap a number in ("my account number is ..."). A decode that may write only
digit words must be able to write these, or it writes them as digits."""
DIGIT_ANSWER_WORDS = (*UNITS, *TEENS, *TENS, *REPEATS, *ANSWER_WORDS)
"""What a decode held to digit answers may write: digits read out and the words around them,
but not "hundred" or "thousand", which would add zeros to whatever it mishears."""

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+")


@dataclass(frozen=True)
class DigitExpectation:
    """The next utterance should answer with a digit string (an account number, a PIN)."""

    count: int
    """Digits a complete answer has."""
    max: int
    """Most digits an answer may have (``max == count`` for fixed lengths)."""

    def __post_init__(self) -> None:
        if self.count < 1 or self.max < self.count:
            raise ValueError(f"expected digits need 1 <= count <= max, got {self.count}/{self.max}")

    def fits(self, digits: str) -> bool:
        """Whether ``digits`` is a whole answer of the expected length."""
        return self.count <= len(digits) <= self.max

    def complete(self, digits: str) -> bool:
        """Whether ``digits`` is an answer that cannot go on: as many digits as it may have."""
        return len(digits) == self.max


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("-", " "))


def read_digits(text: str, *, digit_answer: bool = False) -> str:
    """All digits a caller said or typed, in order: ``"four eight, double two"`` -> ``"4822"``.

    Numerals pass through; "oh" is zero; "double"/"triple" repeat the next digit; tens and
    teens are spoken pairs ("forty one" -> ``41``, "ninety" -> ``90``); "hundred" and
    "thousand" add zeros ("eight hundred" -> ``800``, "two thousand and five" -> ``2005``).
    Other words (fillers) are ignored. ``digit_answer``: the text answers a request for digits,
    so words that sound like digits count as them ("ate oh to for" -> ``8024``).
    """
    units = {**UNITS, **HOMOPHONES} if digit_answer else UNITS
    words = _tokens(text)
    out: list[str] = []
    repeat = 1
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word[0].isdigit():
            out.append(re.sub(r"\D", "", word) * repeat)
            repeat = 1
        elif word in REPEATS:
            repeat = REPEATS[word]
        elif word == "o" and len(words) == 1 and not digit_answer:
            pass  # a lone "o" in general text is a letter (or a sigh), not a zero
        elif word in units and nxt in SCALES:
            value, used = _scaled(words, i, units)
            out.append(value)
            i += used - 1
        elif word in units:
            out.append(str(units[word]) * repeat)
            repeat = 1
        elif word in TEENS:
            out.append(str(TEENS[word]))
            repeat = 1
        elif word in TENS:
            if nxt in units and units[nxt] > 0:
                out.append(str(TENS[word] + units[nxt]))
                i += 1
            else:
                out.append(str(TENS[word]))
            repeat = 1
        i += 1
    return "".join(out)


def _scaled(words: list[str], at: int, units: dict[str, int]) -> tuple[str, int]:
    """ "N hundred/thousand" and what fills its zeros ("eight hundred" -> 800, "five hundred
    fifty five" -> 555, "two thousand and five" -> 2005); returns the digits and the words
    used."""
    scale = SCALES[words[at + 1]]
    value = units[words[at]] * scale
    used = 2
    if at + used < len(words) and words[at + used] == "and":
        used += 1
    rest, taken = _below_hundred(words[at + used : at + used + 2], units)
    if taken and rest < scale:
        return str(value + rest), used + taken
    return str(value), 2


def _below_hundred(words: list[str], units: dict[str, int]) -> tuple[int, int]:
    """A number under a hundred at the start of ``words`` and how many words it took."""
    first = words[0] if words else ""
    second = words[1] if len(words) > 1 else ""
    if first in TENS:
        if second in units and units[second] > 0:
            return TENS[first] + units[second], 2
        return TENS[first], 1
    if first in TEENS:
        return TEENS[first], 1
    if first in units:
        return units[first], 1
    return 0, 0


def choose_hypothesis(texts: Sequence[str], expected: DigitExpectation) -> int:
    """Index of the hypothesis to keep, best first in ``texts``: the best one whose digits make
    a whole answer of the expected length, else the best one (a caller who says "agent" or
    "start again" at a digit prompt is heard as saying that)."""
    for index, text in enumerate(texts):
        if expected.fits(read_digits(text, digit_answer=True)):
            return index
    return 0
