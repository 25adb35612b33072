"""Speech <-> data helpers: digits and amounts from what callers say, text TTS reads right."""

from __future__ import annotations

import datetime as dt

import pytest

from dialogue.spoken import (
    extract_digits,
    ordinal,
    parse_account_type,
    parse_amount_cents,
    parse_score,
    say_date,
    say_digits,
    say_money,
    score_said,
)


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("four eight two one", "4821"),
        ("uh it's three one four one five nine two six", "31415926"),
        ("3141 5926", "31415926"),
        ("double five oh one two three four", "5501234"),
        ("thirty one forty one fifty nine twenty six", "31415926"),
        ("nineteen", "19"),
        ("my pin is", ""),
    ],
)
def test_digits_from_words_and_numerals(said: str, digits: str) -> None:
    assert extract_digits(said) == digits


@pytest.mark.parametrize(
    ("said", "cents"),
    [
        ("$1,250.50", 125_050),
        ("200 dollars", 20_000),
        ("two hundred and fifty dollars", 25_000),
        ("fifty bucks", 5_000),
        ("twelve hundred", 120_000),
        ("a hundred dollars", 10_000),
        ("seventy five dollars and 20 cents", 7_520),
        ("two hundred dollars and fifty cents", 20_050),
        ("50 cents", 50),
        ("three point five", 350),
        ("one thousand two hundred thirty four dollars", 123_400),
        ("no idea", None),
    ],
)
def test_amounts_as_callers_say_them(said: str, cents: int | None) -> None:
    assert parse_amount_cents(said) == cents


def test_amounts_dates_and_digits_are_written_for_speech() -> None:
    assert say_money(123_456) == "1,234 dollars and 56 cents"
    assert say_money(100) == "1 dollar"
    assert say_money(5) == "5 cents"
    assert say_money(-4_510) == "45 dollars and 10 cents"
    today = dt.date(2026, 11, 22)
    assert say_date(dt.date(2026, 12, 4), today, weekday=True) == "Friday, December 4th"
    assert say_date(today - dt.timedelta(days=1), today) == "yesterday"
    assert [ordinal(n) for n in (1, 2, 3, 11, 12, 13, 22)] == [
        "1st",
        "2nd",
        "3rd",
        "11th",
        "12th",
        "13th",
        "22nd",
    ]
    assert say_digits("4821") == "4 8 2 1"


def test_scores_and_account_types_from_speech() -> None:
    assert parse_score("I'd give it a four out of five") == 4
    assert parse_score("excellent") == 5
    assert parse_score("nine") is None
    assert parse_score("nine, excellent") is None


@pytest.mark.parametrize(
    ("answer", "score"),
    [("Free, it was okay.", 3), ("For.", 4), ("Uh, won.", 1), ("Tree", 3), ("five", 5)],
)
def test_answering_the_score_question_a_leading_sound_alike_is_the_number(
    answer: str, score: int
) -> None:
    assert parse_score(answer, answering=True) == score
    assert score_said(answer, answering=True) == score


def test_a_sound_alike_is_no_score_out_of_the_question_or_inside_a_sentence() -> None:
    assert score_said("For.") is None
    assert parse_score("I want to go", answering=True) is None
    assert score_said("good bye", answering=True) is None
    assert parse_score("good bye", answering=True) == 4
    assert score_said("eight", answering=True) is None
    assert parse_account_type("from my savings please") == "savings"
    assert parse_account_type("the chequing one") == "checking"
    assert parse_account_type("whichever") is None
