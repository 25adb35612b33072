"""Sentence splitting: where the first audio can be cut off from the rest."""

from __future__ import annotations

import pytest

from speech.tts.base import plan_speech
from speech.tts.sentences import split_sentences

CASES = [
    ("Hello. How are you? Fine!", ["Hello.", "How are you?", "Fine!"]),
    ("Dr. Smith is in. Mr. Jones is out.", ["Dr. Smith is in.", "Mr. Jones is out."]),
    ("The rate is 1.5 percent. Anything else?", ["The rate is 1.5 percent.", "Anything else?"]),
    ("Your balance is $1,200.50. Anything else?", ["Your balance is $1,200.50.", "Anything else?"]),
    ("Call at 9 a.m. tomorrow. Thanks.", ["Call at 9 a.m. tomorrow.", "Thanks."]),
    ("We close at 5 p.m. Goodbye.", ["We close at 5 p.m.", "Goodbye."]),
    ("Open until 8 p.m. EST, Monday to Friday.", ["Open until 8 p.m. EST, Monday to Friday."]),
    ("Ref No. 5 is ready.", ["Ref No. 5 is ready."]),
    ("J. Smith signed it.", ["J. Smith signed it."]),
    ("We take cards, e.g. Visa. Bye.", ["We take cards, e.g. Visa.", "Bye."]),
    ('He said "Hi." Then he left.', ['He said "Hi."', "Then he left."]),
    ("Please wait... Thank you.", ["Please wait...", "Thank you."]),
    ("First line\nSecond line", ["First line", "Second line"]),
    ("No punctuation at all", ["No punctuation at all"]),
    ("  ", []),
]


@pytest.mark.parametrize(("text", "sentences"), CASES)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_long_sentence_is_cut_at_clauses_within_the_limit() -> None:
    sentence = ", ".join(f"item number {i}" for i in range(60)) + "."
    pieces = split_sentences(sentence, max_chars=100)
    assert len(pieces) > 1
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces) == sentence
    assert all(p.endswith((",", ".")) for p in pieces)


def test_long_run_without_punctuation_is_cut_between_words() -> None:
    sentence = " ".join(["word"] * 100)
    pieces = split_sentences(sentence, max_chars=50)
    assert all(len(p) <= 50 for p in pieces)
    assert " ".join(pieces) == sentence


def test_a_long_first_sentence_starts_with_its_first_clause_alone() -> None:
    """The first audio waits for one clause, not the whole sentence; later sentences, short
    first sentences and a clause too short to stand alone are left whole."""
    hours = (
        "Our branches are open Monday to Friday from 9 AM to 5 PM, and on Saturday from 9 AM "
        "to noon. They're closed on Sundays, and on public holidays too."
    )
    assert split_sentences(hours) == [
        "Our branches are open Monday to Friday from 9 AM to 5 PM,",
        "and on Saturday from 9 AM to noon.",
        "They're closed on Sundays, and on public holidays too.",
    ]
    short = "Sorry, account numbers have 8 digits. Say agent, or try again."
    assert split_sentences(short) == [
        "Sorry, account numbers have 8 digits.",
        "Say agent, or try again.",
    ]
    sorry = "Sorry, we could not find a card with those last four digits and that ZIP code."
    assert split_sentences(sorry) == [sorry]
    money = "Your checking account has a balance of $2,550.75 and your savings account $10,100."
    assert split_sentences(money) == [money]


def test_plan_keeps_written_text_and_normalises_each_sentence() -> None:
    plan = plan_speech("Your balance is $5.\n...\nGoodbye!")
    assert [s.text for s in plan] == ["Your balance is $5.", "Goodbye!"]
    assert [s.spoken for s in plan] == ["Your balance is five dollars.", "Goodbye!"]


def test_plan_rejects_absurdly_long_text() -> None:
    with pytest.raises(ValueError, match="longer than"):
        plan_speech("a" * 100_000)
