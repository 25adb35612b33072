"""An account number given in parts: what was heard is kept and only the rest asked for, with
the trained model and the real action server (and the reading of one answer on its own)."""

from __future__ import annotations

import pytest

from dialogue.actions.digit_entry import DigitEntry, read_entry
from dialogue.client import InProcessClient
from tests.dialogue.conftest import ALICE, BOB
from tests.dialogue.test_client import call

VERIFIED = ("Thank you, Bob. You're verified.", "Thanks, Bob. You're all set.")


@pytest.mark.parametrize(
    ("said", "kept", "entry"),
    [
        ("five five five oh one two", "", DigitEntry(kept="555012")),
        ("three four", "555012", DigitEntry(number="55501234")),
        ("five five five oh won to tree for", "", DigitEntry(number="55501234")),
        ("3 1 4 1 5 9 2 6", "555", DigitEntry(number="31415926")),
        ("no, start again", "555012", DigitEntry(start_again=True)),
        ("um", "555012", DigitEntry(kept="555012")),
        ("three four five six", "555012", DigitEntry()),
        ("I don't know it", "", DigitEntry()),
        # A PIN said at this prompt arrives as a vault token: none of its hex digits is kept.
        ("my password is secret:0123456789abcdef0123456789abcdef", "555", DigitEntry(kept="555")),
    ],
)
def test_an_answer_completes_extends_or_restarts_the_number(
    said: str, kept: str, entry: DigitEntry
) -> None:
    assert read_entry(said, kept, 8) == entry


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_part_of_the_account_number_is_kept_and_only_the_rest_asked_for(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client, conversation, "what's my balance", "five five five oh one two", "three four"
    )
    rest, ask_pin = replies[2], replies[3]
    assert rest.text == "I have 5 5 5 0 1 2. Please say the last 2 digits."
    assert rest.expect_digits is not None and rest.expect_digits.count == 2
    assert not rest.expect_digits.secure and rest.expect_digits.identifier
    assert ask_pin.expect_digits is not None and ask_pin.expect_digits.secure
    verified = await client.send(conversation, "ate oh to for")  # the PIN, spoken
    assert verified.messages[0].text in VERIFIED


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_the_rest_of_the_account_number_can_be_keyed_in(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client, conversation, "balance please", "five five five oh", "#1234", "*" + BOB["pin"]
    )
    assert replies[2].text == "I have 5 5 5 0. Please say the last 4 digits."
    assert replies[4].messages[0].text in VERIFIED


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_start_again_drops_the_kept_digits_and_asks_for_the_whole_number(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client,
        conversation,
        "check my balance",
        "three one four",
        "no, start again",
        "five five five oh one two three four",
        "*" + BOB["pin"],
    )
    again = replies[3]
    assert again.text.startswith("OK, let's start again.")
    assert "8-digit account number" in again.text
    assert again.expect_digits is not None and again.expect_digits.count == 8
    assert replies[4].expect_digits is not None and replies[4].expect_digits.secure
    assert replies[5].messages[0].text in VERIFIED


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_card_digits_and_zip_given_in_parts_are_kept_too(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client, conversation, "i lost my card", "four eight", "two one", "nine four one", "oh seven"
    )
    assert (ALICE["debit"], ALICE["zip"]) == ("4821", "94107")
    assert replies[2].text == "I have 4 8. Please say the last 2 digits."
    assert "ZIP code" in replies[3].text
    assert replies[4].text == "I have 9 4 1. Please say the last 2 digits."
    assert "ending 4 8 2 1. Shall I block it" in replies[5].text
