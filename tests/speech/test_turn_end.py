"""Which transcripts read as finished turns (the session may then end the turn early)."""

from __future__ import annotations

import pytest

from speech.turn_end import sounds_finished


@pytest.mark.parametrize(
    "text",
    [
        "What's the balance on my checking account?",
        "I lost my debit card.",
        "Yes.",
        "No.",
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
        "?!",
    ],
)
def test_fragments_numbers_and_fillers_do_not(text: str) -> None:
    assert not sounds_finished(text)
