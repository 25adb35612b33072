"""The one masking rule: numbers shown outside the bank keep their last four digits."""

from __future__ import annotations

import pytest

from masking import last4, mask_caller, mask_identifier, mask_last4, mask_number


@pytest.mark.parametrize(
    ("caller", "masked"),
    [
        ("sip:+15551234567@10.0.0.1", "sip:*******4567@10.0.0.1"),
        ("5551234567", "******4567"),
        ("sip:alice@example.org", "sip:alice@example.org"),
        ("anonymous", "anonymous"),
    ],
)
def test_caller_ids_keep_only_their_last_four_digits(caller: str, masked: str) -> None:
    assert mask_caller(caller) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [("31415926", "****5926"), ("4111 1111 1111 1234", "************1234"), ("2468", "****")],
)
def test_account_and_card_numbers_keep_their_last_four_and_short_numbers_none(
    number: str, masked: str
) -> None:
    assert mask_number(number) == masked


@pytest.mark.parametrize(
    ("number", "masked"), [("31415926", "****5926"), ("314159", "******"), ("3 1", "**")]
)
def test_a_part_of_an_account_number_keeps_no_digit(number: str, masked: str) -> None:
    assert mask_identifier(number) == masked


def test_a_card_known_by_its_last_four_is_shown_like_a_masked_number() -> None:
    assert mask_last4("1234") == "****1234"
    assert mask_last4("4111111111111234") == "****1234"
    assert last4("3141-5926") == "5926"
