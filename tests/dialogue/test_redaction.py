"""Secrets said anywhere in a call are found in the transcript, in numerals or words, and
redacted; numbers that are not secrets keep their meaning."""

from __future__ import annotations

import pytest

from dialogue.bank.redaction import Redaction, redact_secrets
from dialogue.client import redact_pin_mentions
from dialogue.secrets import SecretVault, is_token
from ivr.logs import mask_digits


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("my PIN is 4321", "my PIN is [PIN]"),
        ("My PIN is 4321.", "My PIN is [PIN]."),
        ("my pin number is four three two one", "my pin number is [PIN]"),
        ("My PIN is 4, 3, 2, 1.", "My PIN is [PIN]."),
        ("my pin is 4-3-2-1", "my pin is [PIN]"),
        ("my pin is 4 3 2 1 thanks", "my pin is [PIN] thanks"),
        ("my pin is double five oh one", "my pin is [PIN]"),
        ("my pin code is forty three twenty one", "my pin code is [PIN]"),
        ("pin: 1234", "pin: [PIN]"),
        ("the PIN, um, it's 9 9 0 7", "the PIN, um, it's [PIN]"),
        ("4321 is my PIN", "[PIN] is my PIN"),
        ("P-I-N 1234", "P-I-N [PIN]"),
        ("p i n one two three four", "p i n [PIN]"),
        (
            "my personal identification number is 5 5 6 6",
            "my personal identification number is [PIN]",
        ),
        ("the security code is 123", "the security code is [PIN]"),
        ("my PIN is 2468 and I want my balance", "my PIN is [PIN] and I want my balance"),
        ("My PDIN is 4321.", "My PDIN is [PIN]."),
        ("My password is for three two one.", "My password is [PIN]."),
        ("my pin is to to four eight", "my pin is [PIN]"),
        ("my pen number is four three two one", "my pen number is [PIN]"),
        ("my bin is 2 4 6 8", "my bin is [PIN]"),
        ("pim code 9907", "pim code [PIN]"),
        ("card number 4111 1111 1111 1111", "card number ************1111"),
        ("it's 4111-1111-1111-1111", "it's ************1111"),
        ("my card is 4111111111111111 please", "my card is ************1111 please"),
        (
            "four one one one one one one one one one one one one one one one",
            "************1111",
        ),
        ("card 4111 1111 1111 1112", "card ************1112"),  # fails Luhn: still a card
    ],
)
def test_a_pin_or_card_number_said_anywhere_is_redacted(said: str, kept: str) -> None:
    redaction = redact_secrets(said)
    assert redaction.text == kept and redaction.secret


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("my account number is 3 1 4 1 5 9 2 6", "my account number is ****5926"),
        ("account five five five zero one two three four", "account ****1234"),
        ("it's 31415926", "it's ****5926"),
        ("call me on 555 123 4567", "call me on ******4567"),
    ],
)
def test_account_numbers_are_masked_to_their_last_four_but_are_no_secret(
    said: str, kept: str
) -> None:
    assert redact_secrets(said) == Redaction(kept, False)


@pytest.mark.parametrize(
    "said",
    [
        "I want to transfer 500 dollars",
        "move $1,234.56 to savings",
        "one thousand two hundred and fifty dollars",
        "are you open 9 to 5",
        "branch number 42",
        "the one on 5th street",
        "what is a pin number for",
        "my PIN is the one I chose",
        "I forgot my PIN",
        "I've been 42 minutes on hold",
        "my pin is lost, what is the spending limit of 500 dollars",
        "Now please enter your 4-digit PIN on your keypad.",
        "I was born in nineteen eighty four",
        "the last four are 1 2 3 4",
        "secret:0123456789abcdef0123456789abcdef",
    ],
)
def test_amounts_times_and_short_numbers_are_left_alone(said: str) -> None:
    assert redact_secrets(said) == Redaction(said, False)


def test_the_assistant_gets_a_token_for_the_pin_and_the_account_number_as_said() -> None:
    vault = SecretVault()
    text = redact_pin_mentions("account 3 1 4 1 5 9 2 6 and my PIN is two four six eight", vault)
    assert text.startswith("account 3 1 4 1 5 9 2 6 and my PIN is secret:")
    assert is_token(text.split()[-1]) and vault.redeem(text.split()[-1]) == "2468"
    card = redact_pin_mentions("block card 4111 1111 1111 1111", vault)
    assert card == "block card ************1111" and len(vault) == 0
    # Told that digits were due, whisper spells a spoken "four" as "for": still all the PIN.
    heard = redact_pin_mentions("My password is for three two one.", vault)
    assert heard.startswith("My password is secret:") and "for" not in heard
    assert vault.redeem(heard.split()[-1].rstrip(".")) == "4321"


def test_log_and_record_masking_uses_the_same_detection() -> None:
    assert mask_digits("asr.final text=my pin is four three two one") == (
        "asr.final text=my pin is [PIN]"
    )
    assert mask_digits('{"value": "5550 1234", "count": 8}') == '{"value": "****1234", "count": 8}'


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("five five five oh one two", "******"),
        (
            "I have 5 5 5 0 1 2. Please say the last 2 digits.",
            "I have ******. Please say the last 2 digits.",
        ),
        ("it's 5550", "it's ****"),
        ("3 4", "**"),
        ("5550 1234", "****1234"),  # a whole number keeps its last four, as anywhere
        ("my 8-digit account number", "my 8-digit account number"),
        ("my PIN is 4 3 2 1", "my PIN is [PIN]"),
    ],
)
def test_an_answer_for_an_account_number_keeps_no_digit_of_a_part(text: str, masked: str) -> None:
    redaction = redact_secrets(text, identifier=True)
    assert redaction.text == masked
    assert redaction.secret == ("PIN" in text)


def test_outside_an_account_number_answer_short_numbers_are_left_alone() -> None:
    assert redact_secrets("I have 5 5 5 0 1 2.").text == "I have 5 5 5 0 1 2."
