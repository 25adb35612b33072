"""Hot topics: what callers said that the bot did not understand, near-duplicates grouped.

Utterances are normalised (lower case, words only, fillers dropped) and grouped greedily, most
frequent first: one joins the first group whose founding utterance shares at least
``SIMILAR_AT`` of their words (token-set Jaccard), else founds a group. Only groups sharing a
word with it are compared (an index from word to group), so the cost stays near linear in the
distinct utterances, which the query bounds. The sentence encoder would group paraphrases too,
but loading it costs 136 MB and a second, too much for a page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

SIMILAR_AT = 0.5
FILLERS = frozenset({"uh", "um", "er", "erm", "ah", "oh", "hmm", "mm", "like", "please", "the"})
"""Words that say nothing about what the caller wanted."""
WORD = re.compile(r"[a-z0-9*']+")
"""Masked digits (``****1234``) stay one word."""


@dataclass
class Topic:
    """Utterances that say nearly the same thing: the most frequent names the group."""

    example: str
    turns: int
    words: frozenset[str]
    variants: list[str] = field(default_factory=list)
    """The other utterances grouped here, most frequent first."""


def words_of(text: str) -> frozenset[str]:
    """The words that carry meaning, lower case, as a set."""
    return frozenset(WORD.findall(text.lower())) - FILLERS


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def cluster(said: Iterable[tuple[str, int]]) -> list[Topic]:
    """Group (utterance, turns) pairs given most frequent first; the groups, largest first."""
    topics: list[Topic] = []
    by_word: dict[str, list[int]] = {}
    for text, turns in said:
        words = words_of(text)
        if not words:
            continue
        candidates = sorted({index for word in words for index in by_word.get(word, ())})
        home = next((i for i in candidates if jaccard(words, topics[i].words) >= SIMILAR_AT), None)
        if home is None:
            for word in words:
                by_word.setdefault(word, []).append(len(topics))
            topics.append(Topic(text, turns, words))
            continue
        topics[home].turns += turns
        topics[home].variants.append(text)
    return sorted(topics, key=lambda topic: -topic.turns)
