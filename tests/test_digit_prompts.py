"""Which keypad prompts put the recogniser in digit mode: digit strings, not one-key choices."""

from __future__ import annotations

from dialogue.payloads import ExpectDigits
from ivr.digits import spoken_digits
from speech.digits import DigitExpectation


def test_a_prompt_for_a_digit_string_expects_that_many_spoken_digits() -> None:
    account = ExpectDigits(count=8, max=8)
    assert spoken_digits(account) == DigitExpectation(count=8, max=8)
    assert spoken_digits(ExpectDigits(count=4, max=6, secure=True)) == DigitExpectation(4, 6)


def test_a_one_key_choice_or_no_prompt_leaves_speech_free() -> None:
    assert spoken_digits(ExpectDigits(count=1, max=1)) is None  # "press 1 for yes": say "yes"
    assert spoken_digits(None) is None
