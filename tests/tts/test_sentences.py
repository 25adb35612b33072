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


FIRST_PHRASES = [
    (
        "Our branches are open Monday to Friday from 9 AM to 5 PM, and on Saturday from 9 AM "
        "to noon. They're closed on Sundays, and on public holidays too.",
        [
            "Our branches are open Monday to Friday",
            "from 9 AM to 5 PM, and on Saturday from 9 AM to noon.",
            "They're closed on Sundays, and on public holidays too.",
        ],
    ),
    (
        "Please listen carefully, as our menu options have changed.",
        ["Please listen carefully,", "as our menu options have changed."],
    ),
    (
        "Sorry, account numbers have 8 digits. Say agent, or try again.",
        ["Sorry, account numbers have 8 digits.", "Say agent, or try again."],
    ),
    # Amounts are long once spoken: the balance starts once its first three words are ready.
    (
        "Your checking account ending 4321 has a balance of $1,200.50.",
        ["Your checking account", "ending 4321 has a balance of $1,200.50."],
    ),
    (
        "Your checking account has a balance of $2,550.75 and your savings account $10,100.",
        ["Your checking account", "has a balance of $2,550.75 and your savings account $10,100."],
    ),
    (
        "Is there anything else I can help you with today, or shall I end the call?",
        ["Is there anything else I can help you with today,", "or shall I end the call?"],
    ),
    ("Thank you for calling First Bank today.", ["Thank you for calling First Bank today."]),
    (
        "Sorry, I did not catch the account number you said.",
        ["Sorry, I did not catch the account number you said."],
    ),
    (
        "I can transfer money between your own accounts for you.",
        ["I can transfer money between your own accounts for you."],
    ),
]


@pytest.mark.parametrize(("text", "pieces"), FIRST_PHRASES)
def test_a_long_first_sentence_starts_with_a_phrase_alone(text: str, pieces: list[str]) -> None:
    """The first audio waits for one phrase, not the whole sentence: a comma where one leaves a
    short enough phrase, else the word a phrase opens with (a preposition, a verb, a participle;
    never inside "Monday to Friday" or right after a pronoun). Later sentences, short first
    sentences and phrases too short to stand alone are left whole."""
    assert split_sentences(text) == pieces


def test_plan_keeps_written_text_and_normalises_each_sentence() -> None:
    plan = plan_speech("Your balance is $5.\n...\nGoodbye!")
    assert [s.text for s in plan] == ["Your balance is $5.", "Goodbye!"]
    assert [s.spoken for s in plan] == ["Your balance is five dollars.", "Goodbye!"]


def test_plan_rejects_absurdly_long_text() -> None:
    with pytest.raises(ValueError, match="longer than"):
        plan_speech("a" * 100_000)
