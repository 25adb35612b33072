"""Which transcripts read as finished turns (the session may then end the turn early)."""

from __future__ import annotations

import pytest

from speech.digits import DigitExpectation
from speech.turn_end import sounds_finished


@pytest.mark.parametrize(
    "text",
    [
        "What's the balance on my checking account?",
        "I lost my debit card.",
        "Yes, please.",
        "No, that's everything.",
        "No thanks.",
        "Thank you.",
        "Freeze my card, please.",
        "Can I speak to an agent?",
        "Goodbye!",
    ],
)
def test_complete_sentences_sound_finished(text: str) -> None:
    assert sounds_finished(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "I want to check my.",  # whisper puts a period on a cut-off sentence too
        "I'd like to transfer money to the.",
        "My account number is.",
        "My account number is 4419.",  # digits come in groups with pauses
        "Transfer two hundred.",
        "one two three four.",
        "I want to...",
        "I want to\u2026",
        "I lost my card",  # no closing punctuation: whisper thinks it goes on
        "Um.",
        "And.",
        "Yes.",  # alone, "yes" and "no" often lead on: "Yes, please.", "No, that's everything."
        "No.",
        "Okay.",
        "?!",
    ],
)
def test_fragments_numbers_and_fillers_do_not(text: str) -> None:
    assert not sounds_finished(text)


def test_a_digit_answer_is_finished_once_it_holds_every_digit_it_may_have() -> None:
    pin = DigitExpectation(count=4, max=4)
    account = DigitExpectation(count=8, max=8)
    assert sounds_finished("Eight oh two four.", pin)
    assert sounds_finished("5 5 5 0 1 2 3 4", account)  # no closing punctuation needed
    assert sounds_finished("Triple five, oh, one two three four", account)
    assert not sounds_finished("Five five five oh.", account)  # the first group of two
    assert not sounds_finished("Eight oh two four.", DigitExpectation(count=4, max=6))
    assert not sounds_finished("Eight oh two four.")  # no digits asked for: a number leads on
    assert sounds_finished("I don't know it.", account)  # words answer as words do
