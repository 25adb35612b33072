"""Split a reply into sentences so the first one can be spoken while the rest is synthesised.

A boundary is sentence-final punctuation (``.``, ``!``, ``?``, ``...``, optionally followed by a
closing quote or bracket) followed by whitespace, or a line break. A period is *not* a boundary
when it is part of a number ("1.5", "$1,200.50"), when the next word starts in lower case or is
a time zone ("9 a.m. tomorrow", "8 p.m. EST"), after a title that precedes a name ("Dr. Smith",
"Mr.", "Mrs.", "St."), after a single capital initial ("J. Smith"), after "e.g." and "i.e.", or
after an abbreviation followed by a number ("No. 5", "approx. 3"). Sentences longer than
``max_chars`` are cut at clause punctuation (comma, semicolon, colon) or, failing that, between
words, so one long sentence cannot delay the first audio. The first sentence is cut at its
first clause break once it is longer than ``FIRST_PIECE_CHARS``: the caller hears the bot start
after one clause is synthesised, not a whole long sentence.
"""

from __future__ import annotations

import re

from speech.tts.normalize import TIME_ZONES

MAX_SENTENCE_CHARS = 240
"""Longest piece synthesised in one go; longer sentences are cut at clause boundaries."""
FIRST_PIECE_CHARS = 60
"""A first sentence longer than this (about four seconds of speech) starts with its first
clause on its own ..."""
MIN_CLAUSE_CHARS = 20
"""... when that clause and what follows it each have at least this many characters (a
"Sorry," or "Yes," alone is not worth a break in the voice)."""

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
    if sentences and len(sentences[0]) > FIRST_PIECE_CHARS:
        sentences[:1] = _first_clause_apart(sentences[0])
    return sentences


def _first_clause_apart(sentence: str) -> list[str]:
    for match in _CLAUSE.finditer(sentence):
        head, tail = sentence[: match.start()], sentence[match.end() :]
        if len(head) >= MIN_CLAUSE_CHARS and len(tail) >= MIN_CLAUSE_CHARS:
            return [head, tail]
    return [sentence]


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
