"""Split a reply into sentences so the first one can be spoken while the rest is synthesised.

A boundary is sentence-final punctuation (``.``, ``!``, ``?``, ``...``, optionally followed by a
closing quote or bracket) followed by whitespace, or a line break. A period is *not* a boundary
when it is part of a number ("1.5", "$1,200.50"), when the next word starts in lower case or is
a time zone ("9 a.m. tomorrow", "8 p.m. EST"), after a title that precedes a name ("Dr. Smith",
"Mr.", "Mrs.", "St."), after a single capital initial ("J. Smith"), after "e.g." and "i.e.", or
after an abbreviation followed by a number ("No. 5", "approx. 3"). Sentences longer than
``max_chars`` are cut at clause punctuation (comma, semicolon, colon) or, failing that, between
words, so one long sentence cannot delay the first audio. A first sentence longer than
``LONG_FIRST_SENTENCE_CHARS`` spoken starts with a phrase of its own, cut at a comma or before
a word that opens a phrase ("Your checking account | ending 4321 has a balance of $1,200.50."):
the caller hears the bot start once that phrase is synthesised, not the whole sentence, and the
rest is ready before the phrase has been played.
"""

from __future__ import annotations

import itertools
import re

from speech.tts.normalize import TIME_ZONES, normalize_text

MAX_SENTENCE_CHARS = 240
"""Longest piece synthesised in one go; longer sentences are cut at clause boundaries."""
LONG_FIRST_SENTENCE_CHARS = 56
"""A first sentence longer than this in spoken characters (some three and a half seconds of
speech, which piper takes over 200 ms to synthesise on one core) starts with a phrase of its
own ..."""
FIRST_PIECE_CHARS = 40
"""... of at most this many spoken characters (about 150 ms of synthesis) ..."""
MIN_PHRASE_CHARS = 16
"""... when that phrase and what follows it each have at least this many spoken characters (a
"Sorry," or "Thank you" alone is not worth a break in the voice)."""
PHRASE_WORDS = frozenset(
    """
    in on at of for from with by about after before until within between into over under
    since during through but so because if when while unless that which who where
    """.split()  # noqa: SIM905 - a word list reads best as words
)
"""Words a phrase opens with: prepositions, conjunctions, relative words. A first sentence may
be cut before one of them, before a verb of a reply ("... | has a balance of") or before a
participle ("account | ending 4321"). Not "to", "and", "or": they join ranges and lists
("Monday to Friday", "savings and checking")."""
VERBS = frozenset(
    "has have had is are was were will would can could should may might must".split()  # noqa: SIM905
)
PRONOUNS = frozenset("i you we they he she it me us them him her there this that".split())  # noqa: SIM905
"""A pronoun ends no phrase here: "I | can help" and "help you | with" are no place for a pause."""
NOT_PARTICIPLES = frozenset({"morning", "evening", "during", "ceiling", "building"})
"""Words in -ing that open no phrase (nor do "anything", "something" and the like)."""

_NEVER_FINAL = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "st", "mt", "sgt", "capt", "rev", "e.g", "i.e", "vs"}
)
"""Titles that precede a name, and abbreviations that introduce more: never a sentence end."""
_BEFORE_NUMBER = frozenset({"no", "nos", "approx", "vs", "ca", "ext", "ref", "acct", "p", "pp"})
"""Abbreviations that are not a sentence end when a number follows."""

_CANDIDATE = re.compile(r"(?:\.{3}|[.!?])+[\"')\]]*(?=\s|$)")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_CLAUSE = re.compile(r"(?<=[,;:])\s+")


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Split ``text`` into sentences in reading order, each stripped and non-empty."""
    sentences: list[str] = []
    for line in text.splitlines():
        for sentence in _split_line(line):
            sentences.extend(_cut_long(sentence, max_chars))
    if sentences and _spoken_chars(sentences[0]) > LONG_FIRST_SENTENCE_CHARS:
        sentences[:1] = _first_phrase_apart(sentences[0])
    return sentences


def _first_phrase_apart(sentence: str) -> list[str]:
    """The sentence as its first phrase and the rest, each at least ``MIN_PHRASE_CHARS`` spoken:
    cut at the first comma that leaves a phrase of at most ``FIRST_PIECE_CHARS``, else before the
    first word opening such a phrase, else at the first comma; with none of them, whole."""
    word_cut: list[str] | None = None
    for at, after_comma in _phrase_starts(sentence):
        head, tail = sentence[:at].rstrip(), sentence[at:]
        size = _spoken_chars(head)
        if size < MIN_PHRASE_CHARS:
            continue
        if _spoken_chars(tail) < MIN_PHRASE_CHARS:
            break  # the tail only shrinks from here
        short = size <= FIRST_PIECE_CHARS
        if after_comma and (short or word_cut is None):
            return [head, tail]
        if not short and word_cut is not None:
            break  # heads only grow: no short comma is left to prefer
        if short and word_cut is None:
            word_cut = [head, tail]
    return word_cut or [sentence]


def _phrase_starts(sentence: str) -> list[tuple[int, bool]]:
    """Where a phrase may start in ``sentence`` (offsets of words), in order, each marked True
    when a comma, semicolon or colon comes just before it."""
    words = list(re.finditer(r"\S+", sentence))
    starts = []
    for before, word in itertools.pairwise(words):
        previous = before.group(0)
        if previous[-1] in ",;:":
            starts.append((word.start(), True))
        elif _opens_phrase(_bare(word.group(0)), _bare(previous)):
            starts.append((word.start(), False))
    return starts


def _bare(word: str) -> str:
    return word.lower().strip("\"'()[].,;:!?")


def _opens_phrase(word: str, previous: str) -> bool:
    if previous in PHRASE_WORDS or previous in VERBS or previous in PRONOUNS:
        return False  # "is | in", "of | from": the phrase has begun already
    if word in VERBS or word in PHRASE_WORDS:
        return True
    participle = len(word) >= 6 and word.endswith("ing") and not word.endswith("thing")
    return participle and word not in NOT_PARTICIPLES


def _spoken_chars(text: str) -> int:
    """How long ``text`` is once written out as words ("$1,200.50" becomes 48 characters)."""
    return len(normalize_text(text))


def _split_line(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(line):
        if _is_boundary(line, match):
            piece = line[start : match.end()].strip()
            if piece:
                pieces.append(piece)
            start = match.end()
    rest = line[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _is_boundary(line: str, match: re.Match[str]) -> bool:
    following = line[match.end() :].lstrip()
    if not following:
        return True
    mark = match.group(0)
    if "!" in mark or "?" in mark:
        return True
    word_match = _WORD_BEFORE.search(line, 0, match.start())
    word = word_match.group(1) if word_match else ""
    bare = word.rstrip(".").lower()
    if mark.startswith(".") and not mark.startswith("..."):
        if bare in _NEVER_FINAL:
            return False
        if len(word) == 1 and word.isupper():
            return False
        if following[0].isdigit() and bare in _BEFORE_NUMBER:
            return False
    first = following[0]
    if following.split(None, 1)[0].rstrip(",.;:") in TIME_ZONES:  # "until 8 p.m. EST"
        return False
    return first.isupper() or first.isdigit() or first in "\"'([$€£"


def _cut_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for clause in _CLAUSE.split(sentence):
        for part in _cut_words(clause, max_chars):
            if current and len(current) + 1 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _cut_words(clause: str, max_chars: int) -> list[str]:
    if len(clause) <= max_chars:
        return [clause]
    parts: list[str] = []
    current = ""
    for word in clause.split():
        if current and len(current) + 1 + len(word) > max_chars:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts
