"""Between speech and data: digits and amounts from what callers say, text that TTS reads right.

Callers say "four eight two one", "double five", "two hundred and fifty dollars" or the ASR
writes "4821", "$250"; these helpers turn either into data. In the other direction,
amounts and dates are written so a speech synthesiser speaks them naturally
("1,234 dollars and 56 cents", "Friday, December 4th") and digit strings are spaced out
so they are read one by one ("4 8 2 1").
"""

from __future__ import annotations

import datetime as dt
import re

from speech.digits import HOMOPHONES, TEENS, TENS, UNITS, read_digits

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+")
_SCORE_WORDS = {
    "excellent": 5, "great": 5, "perfect": 5, "amazing": 5,
    "good": 4, "okay": 3, "ok": 3, "average": 3, "fine": 3,
    "poor": 2, "bad": 2, "terrible": 1, "awful": 1, "horrible": 1,
}  # fmt: skip
LEADING_FILLERS = frozenset({"and", "uh", "um", "er", "ah", "oh", "well", "so"})
"""Words the recogniser or the caller puts before an answer ("And no."): not part of it."""
_ACCOUNT_WORDS = {
    "checking": "checking", "chequing": "checking", "current": "checking",
    "everyday": "checking", "savings": "savings", "saving": "savings", "save": "savings",
    "credit": "credit", "card": "credit", "visa": "credit", "mastercard": "credit",
}  # fmt: skip


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("-", " "))


def extract_digits(text: str) -> str:
    """All digits a caller said or typed, in order (see :func:`speech.digits.read_digits`):
    ``"four eight, double two"`` -> ``"4822"``. Words that only sound like digits ("to",
    "for") are not read here: use :func:`digit_answer` for the answer to a request for digits.
    """
    return read_digits(text)


def digit_answer(text: str) -> str:
    """The digits in the answer to a request for digits, homophones read as digits:
    ``"ate oh to for"`` -> ``"8024"``."""
    return read_digits(text, digit_answer=True)


def _words_to_number(words: list[str]) -> int | None:
    """``["two", "hundred", "and", "fifty"]`` -> 250; ``None`` if no number word is present."""
    total, current, seen = 0, 0, False
    for word in words:
        if word in UNITS and word not in ("o", "oh"):
            current += UNITS[word]
            seen = True
        elif word in TEENS:
            current += TEENS[word]
            seen = True
        elif word in TENS:
            current += TENS[word]
            seen = True
        elif word == "hundred":
            current = (current or 1) * 100
            seen = True
        elif word == "thousand":
            total += (current or 1) * 1000
            current = 0
            seen = True
        elif word[0].isdigit():
            current += int(word.replace(",", "").split(".")[0])
            seen = True
    return total + current if seen else None


_DECIMAL_AMOUNT = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)\.(\d{1,2})(?!\d)")
_DOLLAR_WORDS = {"dollar", "dollars", "bucks", "buck", "usd"}
_CENT_WORDS = {"cent", "cents", "penny", "pennies"}


def parse_amount_cents(text: str) -> int | None:
    """An amount of money in cents from speech or keypad: ``"$1,250.50"`` -> 125050.

    Understands numerals with ``$``, commas and decimals, and number words ("two hundred
    and fifty dollars and twenty five cents", "twelve hundred", "fifty bucks").
    """
    lowered = text.lower()
    words = _tokens(lowered)
    decimal = _DECIMAL_AMOUNT.search(lowered)
    if decimal is not None:
        whole = int(decimal.group(1).replace(",", ""))
        return whole * 100 + int(decimal.group(2).ljust(2, "0"))
    if "point" in words:
        i = words.index("point")
        units = _words_to_number(words[:i])
        decimals = extract_digits(" ".join(words[i + 1 :]))[:2]
        if units is None:
            return None
        return units * 100 + (int(decimals.ljust(2, "0")) if decimals else 0)
    dollar_at = next((i for i, w in enumerate(words) if w in _DOLLAR_WORDS), None)
    if dollar_at is not None:
        dollars = _words_to_number(words[:dollar_at])
        cents_part = _cents_after_dollars(words[dollar_at:])
        if dollars is None:
            return None
        return dollars * 100 + cents_part
    number = _words_to_number(words)
    if number is None:
        return None
    if any(w in _CENT_WORDS for w in words):
        return number
    return number * 100


def _cents_after_dollars(words: list[str]) -> int:
    cent_at = next((i for i, w in enumerate(words) if w in _CENT_WORDS), None)
    if cent_at is None:
        return 0
    start = next((i + 1 for i, w in enumerate(words[:cent_at]) if w in _DOLLAR_WORDS), 0)
    value = _words_to_number([w for w in words[start:cent_at] if w != "and"])
    return value if value is not None and value < 100 else 0


def _score_number(words: list[str], answering: bool) -> int | None:
    """The first number named; answering the score question, also a leading sound-alike."""
    for word in words:
        if word.isdigit():
            return int(word)
        if word in UNITS and word not in ("o", "oh", "zero"):
            return UNITS[word]
    while words[1:] and words[0] in LEADING_FILLERS:
        words = words[1:]
    if answering and words and words[0] in HOMOPHONES:
        return HOMOPHONES[words[0]]
    return None


def score_said(text: str, *, answering: bool = False) -> int | None:
    """A 1 to 5 score named by its number: ``"really good, five"`` -> 5; None without one.

    ``answering``: the text answers "from 1 to 5?", so a first word that sounds like a number
    is that number (``"Free, it was okay."`` -> 3, ``"For."`` -> 4): how the recogniser writes a
    short "three" or "four" on a phone line. Only the first word: in "I want to go" the "to"
    is no score.
    """
    value = _score_number(_tokens(text), answering)
    return value if value is not None and 1 <= value <= 5 else None


def parse_score(text: str, *, answering: bool = False) -> int | None:
    """A 1 to 5 satisfaction score: ``"I'd give it a four"`` -> 4, ``"excellent"`` -> 5; a
    number out of range (``"nine"``) is no score. ``answering``: see :func:`score_said`."""
    words = _tokens(text)
    value = _score_number(words, answering)
    if value is not None:
        return value if 1 <= value <= 5 else None
    return next((_SCORE_WORDS[word] for word in words if word in _SCORE_WORDS), None)


def parse_account_type(text: str) -> str | None:
    """``"from my savings please"`` -> ``"savings"``; ``None`` if no account type is named."""
    for word in _tokens(text):
        if word in _ACCOUNT_WORDS:
            return _ACCOUNT_WORDS[word]
    return None


_FROM_ACCOUNT = re.compile(r"\b(?:from|out of)\s+(?:my\s+|the\s+|your\s+)?([a-z]+)")
_TO_ACCOUNT = re.compile(r"\b(?:to|into|onto|in)\s+(?:my\s+|the\s+|your\s+)?([a-z]+)")


def transfer_accounts(text: str) -> tuple[str | None, str | None]:
    """Source and destination named in a transfer request.

    ``"move 200 from savings into my checking"`` -> ``("savings", "checking")``.
    """
    lowered = text.lower()
    source = next(
        (t for m in _FROM_ACCOUNT.finditer(lowered) if (t := parse_account_type(m.group(1)))), None
    )
    target = next(
        (t for m in _TO_ACCOUNT.finditer(lowered) if (t := parse_account_type(m.group(1)))), None
    )
    return source, target


def say_money(cents: int) -> str:
    """Cents as TTS-friendly words: 123456 -> ``"1,234 dollars and 56 cents"``."""
    cents = abs(int(cents))
    dollars, rest = divmod(cents, 100)
    dollar_part = f"{dollars:,} dollar" + ("" if dollars == 1 else "s")
    cent_part = f"{rest} cent" + ("" if rest == 1 else "s")
    if rest == 0:
        return dollar_part
    if dollars == 0:
        return cent_part
    return f"{dollar_part} and {cent_part}"


def ordinal(n: int) -> str:
    """4 -> ``"4th"``, 22 -> ``"22nd"``."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def say_date(day: dt.date, today: dt.date | None = None, *, weekday: bool = False) -> str:
    """A date as people say it: ``"today"``, ``"yesterday"``, ``"Friday, December 4th"``."""
    today = today or dt.date.today()
    delta = (day - today).days
    named = {0: "today", -1: "yesterday", 1: "tomorrow"}
    if delta in named:
        return named[delta]
    text = f"{day.strftime('%B')} {ordinal(day.day)}"
    return f"{day.strftime('%A')}, {text}" if weekday else text


def say_digits(digits: str) -> str:
    """``"4821"`` -> ``"4 8 2 1"`` so each digit is read on its own."""
    return " ".join(re.sub(r"\D", "", digits))
