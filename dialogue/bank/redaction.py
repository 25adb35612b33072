"""Finding secrets in what a caller said, so they are redacted wherever the words are kept.

A caller may say a PIN or read out a card number at any prompt, not only the secure one:
"my PIN is 4321", "my pin number is four three two one", "card number 4111 1111 1111 1111".
:func:`redact_secrets` is the one place that recognises them, in numerals or words ("double
five", "oh") with any spacing, and says whether it found one, so the call layer can also mute
the recording over that utterance. The same pass masks other long numbers (account numbers,
eight digits or more, written or spelled out) to their last four, as everything outside the
bank backend must.

What counts as what:

- digits right after a secret word (PIN, passcode, password, security code, CVV; the PIN also
  as recognisers mishear it: "PDIN", "pen", "bin") with only
  filler words between ("my PIN, uh, is 4 3 2 1"), or right before "is my PIN" (fewer than
  eight digits: an account number is never a PIN): a **secret**, however many digits (a
  misheard PIN is still mostly the PIN);
- a run of 13 or more digits: a **card number**, also a secret. No Luhn check: a card number
  misheard by one digit fails Luhn but is still fifteen right digits of a card, and a bank
  line has no other 13-digit numbers worth keeping whole (they are masked to the last four);
- any other run of eight or more digits: an account-like number, masked but not a secret.

Amounts ("500 dollars", "one thousand two hundred"), times ("9 to 5"), short numbers and
digits glued to letters (tokens, "4th") are left alone.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from dialogue.spoken import TEENS, TENS, UNITS, digit_answer, extract_digits
from masking import WHOLE_NUMBER_DIGITS, mask_identifier, mask_number
from speech.digits import HOMOPHONES

PIN_PLACEHOLDER = "[PIN]"
"""What a secret said after a PIN word becomes in transcripts, logs and records."""
CARD_MIN_DIGITS = 13
"""Shortest card number (ISO/IEC 7812 numbers are 13 to 19 digits)."""
MIN_SECRET_DIGITS = 2
"""Fewer digits after a PIN word are a pronoun ("my PIN is the one I chose"), not a PIN."""

_MISHEARD_PIN = r"p[a-z]?[iey]n|pim|bin"
"""What a recogniser writes for a caller's "PIN" on a phone line: "PDIN", "pen", "pim", "bin".
A secret must not depend on the word being heard right; a number said after "pen" being
redacted costs nothing."""
_SECRET_WORD = re.compile(
    r"\b(?:(?:p[\s.-]{0,2}i[\s.-]{0,2}n|" + _MISHEARD_PIN + r")(?:[\s-]?code)?"
    r"|personal identification number|pass[\s-]?code|password|security code|cvv2?|cvc2?|cv2)\b",
    re.IGNORECASE,
)
"""A PIN ("PIN", "P-I-N", "pin code", or as misheard) or another code that must never be kept."""
_TOKEN = re.compile(r"(?<![A-Za-z0-9])\d+(?![A-Za-z0-9])|[A-Za-z]+(?:'[A-Za-z]+)?|[^\sA-Za-z0-9]")
_GLUE = {",", "-"}
"""Punctuation that may sit between the digits of one number ("4-3-2-1", "4, 3, 2, 1")."""
_REPEATS = {"double", "triple"}
_DIGIT_WORDS = set(UNITS) | set(TEENS) | set(TENS)
_FILLERS_AFTER = {
    "is", "it's", "its", "it", "was", "be", "should", "number", "code", "my", "the", "uh",
    "um", "er", "erm", "so", "like", "okay", "ok", "well", "that's", "i", "think", ":", ",",
    ".", "-",
}  # fmt: skip
"""Words that may come between a secret word and its digits: "PIN number is, um, ..."."""
_SOUNDS_LIKE_A_DIGIT = set(HOMOPHONES)
"""Before a secret's digits these are its first digits as a recogniser spells them: "my PIN is
for three two one" (told that digits were due, whisper writes "for" for "four")."""
_FILLERS_BEFORE = {"is", "was", "my", "the", "that's", "it's", ",", "-"}
"""Words that may come between digits and a secret word after them: "4321 is my PIN"."""


@dataclass(frozen=True)
class Redaction:
    """Text with its secrets replaced, and whether there were any."""

    text: str
    secret: bool
    """A PIN-like code or a card number was found (mute the audio it was said in)."""


@dataclass(frozen=True)
class _Run:
    start: int
    end: int
    first: int
    """Index of the run's first token."""
    last: int
    """Index of the run's last token."""
    digits: str


def redact_secrets(
    text: str,
    *,
    conceal: Callable[[str], str] | None = None,
    keep_numbers: bool = False,
    identifier: bool = False,
) -> Redaction:
    """``text`` with spoken secrets replaced and long numbers masked to their last four.

    ``conceal`` turns the digits of a PIN-like secret into their replacement (default:
    ``[PIN]``; the dialogue client passes its vault's ``deposit`` so the action can still
    check them). Card numbers become ``************1111``. Other numbers of eight digits or
    more are masked too unless ``keep_numbers`` (the text goes to the assistant, which needs
    the account number the caller gave). With ``identifier`` the text is an answer to (or a
    read-back of) a request for an account number, so shorter numbers are parts of one and
    lose every digit; a count ("the last 2 digits") is left alone.
    """
    matches = list(_TOKEN.finditer(text))
    words = [m.group().lower() for m in matches]
    starts = [m.start() for m in matches]
    secret_at = {bisect.bisect_left(starts, m.end()) - 1 for m in _SECRET_WORD.finditer(text)}
    pieces: list[str] = []
    cursor = 0
    found = False
    for run in _digit_runs(text, matches, words):
        kind = _kind(run, words, secret_at, keep_numbers)
        if kind is None and identifier and not _counts_digits(words, run.last):
            kind = "part"
        if kind is None:
            continue
        found = found or kind in ("pin", "card")
        if kind == "pin":
            run = _with_leading_homophones(text, matches, words, run)
            replacement = conceal(run.digits) if conceal is not None else PIN_PLACEHOLDER
        elif kind == "part":
            replacement = mask_identifier(run.digits)
        else:
            replacement = mask_number(run.digits)
        pieces += [text[cursor : run.start], replacement]
        cursor = run.end
    if not pieces:
        return Redaction(text, False)
    pieces.append(text[cursor:])
    return Redaction("".join(pieces), found)


def _kind(run: _Run, words: list[str], secret_at: set[int], keep_numbers: bool) -> str | None:
    """``pin``, ``card``, ``number`` (long, to mask) or None (leave it) for one digit run."""
    said_as_pin = _follows_secret_word(words, run.first, secret_at) or (
        len(run.digits) < WHOLE_NUMBER_DIGITS and _precedes_secret_word(words, run.last, secret_at)
    )
    if said_as_pin:
        return "pin" if len(run.digits) >= MIN_SECRET_DIGITS else None
    if len(run.digits) >= CARD_MIN_DIGITS:
        return "card"
    if len(run.digits) >= WHOLE_NUMBER_DIGITS and not keep_numbers:
        return "number"
    return None


def _is_digit_token(words: list[str], i: int) -> bool:
    word = words[i]
    if word[0].isdigit() or word in _DIGIT_WORDS:
        return True
    return word in _REPEATS and i + 1 < len(words) and _is_digit_token(words, i + 1)


def _digit_runs(text: str, matches: list[re.Match[str]], words: list[str]) -> list[_Run]:
    """Maximal runs of digit tokens, joined by spaces and glue punctuation."""
    runs: list[_Run] = []
    i = 0
    while i < len(words):
        if not _is_digit_token(words, i):
            i += 1
            continue
        first = last = i
        j = i + 1
        while j < len(words):
            if _is_digit_token(words, j):
                last = j
            elif words[j] not in _GLUE:
                break
            j += 1
        start, end = matches[first].start(), matches[last].end()
        runs.append(_Run(start, end, first, last, extract_digits(text[start:end])))
        i = last + 1
    return runs


def _follows_secret_word(words: list[str], first: int, secret_at: set[int]) -> bool:
    i = first - 1
    while (
        i >= 0
        and i not in secret_at
        and (words[i] in _FILLERS_AFTER or words[i] in _SOUNDS_LIKE_A_DIGIT)
    ):
        i -= 1
    return i in secret_at


def _with_leading_homophones(
    text: str, matches: list[re.Match[str]], words: list[str], run: _Run
) -> _Run:
    """A secret's run grown back over the digit-sounding words right before it ("for three two
    one" is 4321), so none of its digits is left in the text."""
    first = run.first
    while first > 0 and words[first - 1] in _SOUNDS_LIKE_A_DIGIT:
        first -= 1
    if first == run.first:
        return run
    start = matches[first].start()
    return _Run(start, run.end, first, run.last, digit_answer(text[start : run.end]))


def _counts_digits(words: list[str], last: int) -> bool:
    """The run is a count of digits ("8-digit", "the last 2 digits"), not digits of a number."""
    i = last + 1
    while i < len(words) and words[i] in _GLUE:
        i += 1
    return i < len(words) and words[i] in {"digit", "digits"}


def _precedes_secret_word(words: list[str], last: int, secret_at: set[int]) -> bool:
    i = last + 1
    while i < len(words) and words[i] in _FILLERS_BEFORE:
        i += 1
    return i in secret_at


def mask_free_text(text: str) -> str:
    """Free text a caller dictated (a complaint, a disputed charge) with long numbers masked.

    The same rule as the log filter (:func:`redact_secrets`): runs of eight or more digits
    keep only their last four, so a card number read out is not stored, and digits said
    after a PIN word are replaced.
    """
    return redact_secrets(text).text
