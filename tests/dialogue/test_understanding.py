"""Confidence bands and the keypad way out, through the real trained model and a real bank.

Above the act threshold the bot acts; in the confirmation band it asks "You'd like your
balance, is that right?"; below it re-prompts once with examples; after two misunderstandings
in a row it offers the keypad menu, whose keys then work at any prompt that expects no digits.
The sentences in each band are found by asking the model (first of a few candidates), so a
retrained model keeps the tests meaningful; a test fails if no candidate lands in its band.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from dialogue.client import InProcessClient
from dialogue.confidence_bands import ConfidenceBandClassifier
from dialogue.reply import Reply
from tests.dialogue.conftest import ALICE, ROOT
from tests.dialogue.test_client import call, sign_in

CONFIG = yaml.safe_load((ROOT / "dialogue" / "config.yml").read_text())
(BANDS,) = [c for c in CONFIG["pipeline"] if c["name"].endswith("ConfidenceBandClassifier")]

# Candidates, clearest first; the tests use the first the model puts in the band they need.
MIDDLING_BALANCE = [
    "how much is there",
    "what's my money",
    "what do i have",
    "my money",
    "how much do i have in it",
]
MUMBLES = [  # nonsense words, as the recogniser writes them from a noisy line
    "torque wibble frontal",
    "fred north plan",
    "screen nip wapa",
    "blah blah flibber gob",
    "zorp wibble frandle",
]
MENU_HINT = "press 1"


def _classifier(**config: Any) -> ConfidenceBandClassifier:
    return ConfidenceBandClassifier({**ConfidenceBandClassifier.get_default_config(), **config})


def _classified(classifier: ConfidenceBandClassifier, intent: str, confidence: float) -> str:
    ranking = [
        {"name": intent, "confidence": confidence},
        {"name": "out_of_scope", "confidence": (1 - confidence) / 4},
    ]
    message = Message(data={"text": "x", "intent": ranking[0], "intent_ranking": ranking})
    (done,) = classifier.process([message])
    return str(done.data["intent"]["name"])


def test_the_shipped_bands_act_confirm_and_fall_back_at_their_thresholds() -> None:
    low, high = BANDS["threshold"], BANDS["confirm_threshold"]
    assert 0 < low < high <= 1
    classifier = _classifier(**{k: v for k, v in BANDS.items() if k != "name"})
    assert _classified(classifier, "check_balance", high) == "check_balance"
    assert _classified(classifier, "check_balance", (low + high) / 2) == "nlu_confirm"
    assert _classified(classifier, "check_balance", low - 0.01) == "nlu_fallback"


def test_only_costly_intents_are_confirmed_a_short_answer_acts() -> None:
    classifier = _classifier(threshold=0.5, confirm_threshold=0.8, confirm_intents=["fees"])
    assert _classified(classifier, "fees", 0.7) == "nlu_confirm"
    assert _classified(classifier, "affirm", 0.7) == "affirm"
    assert _classified(classifier, "affirm", 0.4) == "nlu_fallback"


def test_moving_the_confirm_threshold_moves_the_band() -> None:
    assert _classified(
        _classifier(confirm_threshold=0.9, confirm_intents=["fees"]), "fees", 0.85
    ) == ("nlu_confirm")
    assert _classified(
        _classifier(confirm_threshold=0.8, confirm_intents=["fees"]), "fees", 0.85
    ) == ("fees")


def test_a_confirm_threshold_below_the_fallback_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="confirm_threshold"):
        ConfidenceBandClassifier.create(
            {
                **ConfidenceBandClassifier.get_default_config(),
                "threshold": 0.6,
                "confirm_threshold": 0.5,
            },
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
        )


async def _first_reply(
    client: InProcessClient, candidates: list[str], wanted: Callable[[Reply], bool], what: str
) -> str:
    """The first candidate whose reply, as the caller's first words, is ``wanted``."""
    seen = {}
    for text in candidates:
        reply = (await call(client, f"probe-{uuid.uuid4().hex[:8]}", text))[1]
        seen[text] = (reply.intent, reply.confidence, reply.text)
        if wanted(reply):
            return text
    raise AssertionError(f"no candidate is {what}: {seen}")


async def _middling_balance(client: InProcessClient) -> str:
    return await _first_reply(
        client,
        MIDDLING_BALANCE,
        lambda r: r.intent == "nlu_confirm" and "your balance" in r.text,
        "a balance request in the confirmation band",
    )


async def _mumbles(client: InProcessClient) -> tuple[str, str]:
    def misunderstood(reply: Reply) -> bool:
        return reply.intent == "nlu_fallback"

    first = await _first_reply(client, MUMBLES, misunderstood, "misunderstood")
    rest = MUMBLES[MUMBLES.index(first) + 1 :]
    return first, await _first_reply(client, rest, misunderstood, "misunderstood")


def _asks_account_number(reply: Reply) -> bool:
    return reply.expect_digits is not None and reply.expect_digits.count == 8


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_a_clear_request_is_acted_on_at_once(
    client: InProcessClient, conversation: str
) -> None:
    reply = (await call(client, conversation, "i'd like to check my balance please"))[1]
    assert reply.intent == "check_balance"
    assert _asks_account_number(reply), reply.text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_a_middling_guess_is_confirmed_and_yes_carries_on_as_if_said_clearly(
    client: InProcessClient, conversation: str
) -> None:
    said = await _middling_balance(client)
    replies = await call(client, conversation, said, "yes", *sign_in(ALICE))
    confirm, after_yes, balance = replies[1], replies[2], replies[4]
    assert confirm.text == "You'd like your balance, is that right?"
    assert confirm.hints == ["yes", "no"] and confirm.expect_digits is None
    assert after_yes.intent == "check_balance"  # the turn now reads as a clear request
    assert _asks_account_number(after_yes), after_yes.text
    assert "balance of" in balance.text  # pending_task came with the confirmed intent


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_no_to_the_confirmation_asks_what_the_caller_wants(
    client: InProcessClient, conversation: str
) -> None:
    said = await _middling_balance(client)
    replies = await call(client, conversation, said, "no", "what are your fees")
    assert "What would you like to do?" in replies[2].text
    assert MENU_HINT not in replies[2].text.lower()
    assert replies[3].intent == "fees" and "fee" in replies[3].text.lower()


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_below_the_band_the_caller_is_reprompted_once_with_examples(
    client: InProcessClient, conversation: str
) -> None:
    first, _ = await _mumbles(client)
    reply = (await call(client, conversation, first))[1]
    assert reply.intent == "nlu_fallback"
    assert "You can say things like 'check my balance' or 'report a lost card'." in reply.text
    assert reply.handoff is None


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_two_misunderstandings_in_a_row_offer_the_keypad_menu(
    client: InProcessClient, conversation: str
) -> None:
    first, second = await _mumbles(client)
    menu = (await call(client, conversation, first, second))[2]
    assert (
        "For balances press 1" in menu.text and "to speak to someone press 0" in menu.text.lower()
    )
    assert menu.text.count("press") <= 7  # at most six tasks and the agent
    assert menu.handoff is None


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_a_wrong_guess_then_a_mumble_offer_the_keypad_menu(
    client: InProcessClient, conversation: str
) -> None:
    said = await _middling_balance(client)
    first, _ = await _mumbles(client)
    replies = await call(client, conversation, said, "no", first)
    assert "For balances press 1" in replies[3].text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_a_balance_check_by_keypad_alone(client: InProcessClient, conversation: str) -> None:
    first, second = await _mumbles(client)
    replies = await call(client, conversation, first, second, "#1", *sign_in(ALICE), "#2", "#5")
    ask_account, balance, survey, thanks = replies[3], replies[5], replies[6], replies[7]
    assert ask_account.intent == "check_balance" and _asks_account_number(ask_account)
    assert "balance of" in balance.text
    assert "Press 1 for yes, 2 for no." in balance.text  # "anything else?" in keypad mode
    assert "1 to 5" in survey.text  # 2 was "no": nothing else, so the survey
    assert "Thank you for your feedback" in thanks.text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "heard"),
    [
        ("2", "account number"),  # recent transactions: verify first
        ("3", "last 4 digits of the card"),
        ("4", "account number"),  # credit card payment: verify first
        ("5", "branches are open"),
    ],
)
async def test_each_menu_key_starts_its_task(
    client: InProcessClient, conversation: str, key: str, heard: str
) -> None:
    first, second = await _mumbles(client)
    reply = (await call(client, conversation, first, second, f"#{key}"))[3]
    assert heard in reply.text, reply.text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_keypad_menu_zero_hands_off_with_priority(
    client: InProcessClient, conversation: str
) -> None:
    first, second = await _mumbles(client)
    handoff = (await call(client, conversation, first, second, "#0"))[3].handoff
    assert handoff is not None and handoff.reason == "repeated_fallback"
    assert handoff.priority == "high"


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_yes_and_no_keys_answer_a_question_that_expects_no_digits(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "thank you", "#1", "thanks", "#2")
    assert "anything else" in replies[1].text.lower()
    assert MENU_HINT not in replies[1].text.lower()  # not in keypad mode: no key instructions
    assert replies[2].intent == "affirm" and "What" in replies[2].text
    assert replies[4].intent == "deny" and replies[4].hangup is not None


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_in_keypad_mode_yes_to_anything_else_names_the_keys_again(
    client: InProcessClient, conversation: str
) -> None:
    first, second = await _mumbles(client)
    replies = await call(client, conversation, first, second, "#5", "#1", "#3")
    assert "branches are open" in replies[3].text and "Press 1 for yes" in replies[3].text
    assert "Press 1 for balances" in replies[4].text
    assert "last 4 digits of the card" in replies[5].text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_menu_keys_do_nothing_before_the_menu_was_offered(
    client: InProcessClient, conversation: str
) -> None:
    reply = (await call(client, conversation, "#3"))[1]
    assert "that key doesn't do anything here" in reply.text


def test_the_menu_wording_names_every_key_it_accepts() -> None:
    from dialogue.actions.conversation import KEYPAD_MENU

    domain = yaml.safe_load(Path(ROOT / "dialogue" / "domain.yml").read_text())
    (menu,) = domain["responses"]["utter_keypad_menu"]
    (again,) = [v for v in domain["responses"]["utter_what_else"] if v.get("condition")]
    assert len(KEYPAD_MENU) <= 6
    for text in (menu["text"], again["text"]):
        for key in (*KEYPAD_MENU, "0"):
            assert f"{key} " in text or f"{key}," in text or f"{key}." in text, (key, text)


def test_a_replayed_turn_fills_the_slots_its_intent_and_entities_would() -> None:
    from dialogue.actions.clarify import slot_events

    domain = yaml.safe_load(Path(ROOT / "dialogue" / "domain.yml").read_text())
    filled = {e["name"]: e["value"] for e in slot_events("check_balance", [], domain)}
    assert filled == {"pending_task": "check_balance"}
    lost = {e["name"]: e["value"] for e in slot_events("report_lost_card", [], domain)}
    assert lost == {"block_reason": "lost"}
    city = [{"entity": "city", "value": "Chicago"}, {"entity": "digits", "value": "1"}]
    assert {e["name"]: e["value"] for e in slot_events("branch_locations", city, domain)} == {
        "city": "Chicago"
    }
