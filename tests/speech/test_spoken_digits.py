"""Digit strings read from speech: spoken forms, homophones only in a digit answer, groups,
and the choice among a recogniser's hypotheses when digits are expected."""

from __future__ import annotations

import pytest

from speech.digits import DigitExpectation, choose_hypothesis, read_digits


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("five five five zero one two three four", "55501234"),
        ("oh four oh seven", "0407"),
        ("double five triple zero", "55000"),
        ("ninety nine", "99"),
        ("forty one", "41"),
        ("eight hundred", "800"),
        ("five hundred fifty five", "555"),
        ("two thousand and five", "2005"),
        ("three fourteen, fifteen ninety two", "3141592"),
        ("555-0123", "5550123"),
        ("3 1 4, 1 5 9 2 6.", "31415926"),
        ("it's um seven three oh six", "7306"),
    ],
)
def test_spoken_forms_and_groups_are_read_as_digits(said: str, digits: str) -> None:
    assert read_digits(said) == digits
    assert read_digits(said, digit_answer=True) == digits


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("ate oh to for", "8024"),
        ("Take 0 to 4", "024"),
        ("won too tree fore", "1234"),
        ("nine niner", "99"),
        ("sex free", "63"),
    ],
)
def test_homophones_are_digits_in_a_digit_answer(said: str, digits: str) -> None:
    assert read_digits(said, digit_answer=True) == digits


@pytest.mark.parametrize(
    "said",
    [
        "I'd like to transfer money for my son",
        "I ate too much, I won't call for free",
        "o",
    ],
)
def test_homophones_are_words_in_general_text(said: str) -> None:
    assert read_digits(said) == ""


def test_a_lone_o_is_zero_only_in_a_digit_answer() -> None:
    assert read_digits("o") == ""
    assert read_digits("o", digit_answer=True) == "0"


def test_the_best_hypothesis_of_the_expected_length_is_chosen() -> None:
    pin = DigitExpectation(count=4, max=4)
    beam = ["Hey, zero two four.", "Take 0 to 4.", "8 0 2 4.", "8 0 2 4 4."]
    assert choose_hypothesis(beam, pin) == 2  # the first two hold three digits, the last five


def test_a_hypothesis_with_homophones_counts_as_its_digits() -> None:
    account = DigitExpectation(count=8, max=8)
    beam = ["Side side side, zero, one, two, three, four.", "5 5 5 0 won to 3 for."]
    assert choose_hypothesis(beam, account) == 1


def test_without_a_valid_hypothesis_the_best_one_is_kept() -> None:
    account = DigitExpectation(count=8, max=8)
    assert choose_hypothesis(["I'd like an agent.", "I'd like a agent 2."], account) == 0
    assert choose_hypothesis([], account) == 0


def test_a_range_of_lengths_accepts_any_length_within_it() -> None:
    amount = DigitExpectation(count=2, max=6)
    assert choose_hypothesis(["Five.", "Fifty.", "500 dollars."], amount) == 1
    assert amount.fits("123456") and not amount.fits("1234567") and not amount.fits("1")


def test_an_expectation_needs_a_sensible_length() -> None:
    with pytest.raises(ValueError, match="count"):
        DigitExpectation(count=0, max=4)
    with pytest.raises(ValueError, match="count"):
        DigitExpectation(count=5, max=4)
