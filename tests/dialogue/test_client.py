"""Whole calls through the dialogue client: trained model in-process, action server running,
a real SQLite bank. What the call layer will see, payloads included."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any

import pytest

from dialogue.client import WARM_UP_TURNS, InProcessClient
from dialogue.events import bot_messages_after_last_user, last_parse_data, since_last_user
from dialogue.reply import Reply
from dialogue.secrets import TOKEN_PATTERN
from tests.dialogue.conftest import ALICE, CARMEN, KNOWLEDGE

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]


async def call(client: InProcessClient, conversation: str, *turns: str) -> list[Reply]:
    """Play caller turns: text is speech, `#123` is keypad, `*123` secure keypad, `...` silence."""
    replies = [await client.begin(conversation)]
    for turn in turns:
        replies.append(await play(client, conversation, turn))
    return replies


async def play(client: InProcessClient, conversation: str, turn: str) -> Reply:
    """One caller turn of a conversation under way, written as for :func:`call`."""
    if turn == "...":
        return await client.no_input(conversation)
    if turn.startswith("#"):
        return await client.send_digits(conversation, turn[1:], secure=False)
    if turn.startswith("*"):
        return await client.send_digits(conversation, turn[1:], secure=True)
    return await client.send(conversation, turn)


def sign_in(who: dict[str, str]) -> tuple[str, str]:
    return "#" + who["account"], "*" + who["pin"]


async def test_greeting_mentions_recording_and_cannot_be_barged_in(
    client: InProcessClient, conversation: str
) -> None:
    (greeting,) = await call(client, conversation)
    assert greeting.intent == "greet"
    assert "may be recorded" in greeting.text
    assert greeting.messages[0].interruptible is False
    assert greeting.hints


async def test_balance_after_keypad_sign_in_is_spoken_masked(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "what's my balance please", *sign_in(ALICE))
    ask_account, ask_pin, answer = replies[1], replies[2], replies[3]
    assert ask_account.expect_digits is not None and ask_account.expect_digits.count == 8
    assert not ask_account.expect_digits.secure
    assert ask_pin.expect_digits is not None and ask_pin.expect_digits.secure
    assert client.expects_secure_input(conversation) is False  # reset after the PIN turn
    assert answer.messages[0].text in (
        "Thank you, Alice. You're verified.",
        "Thanks, Alice. You're all set.",
    )
    assert (
        "checking account ending 5 9 2 6 has a balance of 2,450 dollars and 75 cents" in answer.text
    )
    assert "you owe 432 dollars and 10 cents" in answer.text
    assert ALICE["account"] not in json.dumps(answer.as_dict())
    assert not any(m.public for m in answer.messages)  # caller data: never cached
    # Only responses with nothing filled in are the same for every caller and cacheable.
    assert all(m.fixed and m.cacheable for m in ask_account.messages + ask_pin.messages)
    personal = [
        m for m in answer.messages if "Alice" in (m.text or "") or "5 9 2 6" in (m.text or "")
    ]
    assert len(personal) == 2 and not any(m.cacheable for m in personal)
    assert answer.messages[-1].text and "anything else" in answer.messages[-1].text.lower()


async def test_an_ended_call_is_forgotten_and_its_id_starts_afresh(
    client: InProcessClient, conversation: str
) -> None:
    """A conversation id used again (a QA replay, a platform reusing ids) must not inherit the
    last call's verified caller, and a finished call's history must not stay in memory."""
    await call(client, conversation, "what's my balance please", "#" + ALICE["account"])
    assert client.expects_secure_input(conversation)  # the PIN prompt is pending
    events = await client.tracker_events(conversation)
    assert any(e["event"] == "user" for e in events)

    await client.end(conversation)

    assert await client.tracker_events(conversation) == []
    assert not client.expects_secure_input(conversation)
    again = await call(client, conversation, "what's my balance please")
    assert again[1].expect_digits is not None and again[1].expect_digits.count == 8  # asked anew


async def test_the_start_up_warm_up_runs_every_stage_and_leaves_no_conversation_behind(
    client: InProcessClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The throw-away conversation ``start`` runs (so the first caller's turn does not build
    TensorFlow's graphs) reaches the assistant's replies and is forgotten with its secrets."""
    assert client._trackers is not None
    before = set(await client._trackers.keys())
    assert not [key for key in before if key.startswith("warm-up-")], "start's is forgotten"
    vault = len(client.vault)
    replies = []
    exchange = client._exchange

    async def listened(conversation: str, text: str, metadata: dict[str, Any]) -> Any:
        replies.append(await exchange(conversation, text, metadata))
        return replies[-1]

    client._exchange = listened  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.INFO, logger="dialogue.client"):
            await client._warm_up()
    finally:
        del client._exchange
    assert len(replies) == len(WARM_UP_TURNS) and all(bot for bot, _ in replies)
    assert replies[-1][1].get("intent"), "the sentence went through the NLU"
    assert "dialogue.warmed" in caplog.text and "warm_up_failed" not in caplog.text
    assert set(await client._trackers.keys()) == before and len(client.vault) == vault


@pytest.mark.parametrize("heard", ["", "...", "?"])
async def test_a_transcript_with_no_words_gets_an_answer(
    client: InProcessClient, conversation: str, heard: str
) -> None:
    """A cough or a click can come out of the recogniser as nothing or as punctuation: the
    assistant answers it like any unclear turn (every NLU feature is there for it)."""
    (greeting, reply) = await call(client, conversation, heard)
    assert greeting.messages and reply.messages and reply.intent


async def test_a_turn_reads_only_its_own_events(client: InProcessClient, conversation: str) -> None:
    """Replies come from the events after the caller's message, not from the whole call."""
    first = await call(client, conversation, "how much is the overdraft fee")
    later = await client.send(conversation, "how much is the overdraft fee")
    assert later.intent == first[1].intent == "fees"  # the parse of this turn's message
    # The earlier answer is not repeated in this reply.
    assert len(later.messages) == len(first[1].messages)
    assert later.text.lower().count("overdraft") == first[1].text.lower().count("overdraft") > 0


def test_since_last_user_starts_at_the_latest_caller_message() -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    events = [
        ActionExecuted("action_listen"),
        UserUttered("hello", {"name": "greet", "confidence": 1.0}),
        BotUttered("Hi."),
        ActionExecuted("action_listen"),
        UserUttered("fees please", {"name": "fees", "confidence": 0.9}),
        BotUttered("The fee is 25 dollars."),
        ActionExecuted("action_listen"),
    ]
    tail = since_last_user(events)
    assert [e["event"] for e in tail] == ["user", "bot", "action"]
    assert tail[0]["text"] == "fees please"
    assert last_parse_data(tail)["intent"]["name"] == "fees"
    assert [m["text"] for m in bot_messages_after_last_user(tail)] == ["The fee is 25 dollars."]


def _sanitised(text: str) -> str:
    """Remove what legitimately contains digit runs: tokens, hex ids, timestamps, scores."""
    text = TOKEN_PATTERN.sub("<token>", text)
    text = re.sub(r"[0-9a-f]{16,}", "<hex>", text)
    return re.sub(r"\d+\.\d+", "<number>", text)


def _leaks(pin: str, text: str) -> list[str]:
    spoken = " ".join(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][int(d)]
        for d in pin
    )
    clean = _sanitised(text)
    found = re.findall(rf"(?<!\d){pin}(?!\d)", clean)
    found += re.findall(re.escape(spoken), clean, flags=re.IGNORECASE)
    return found


async def _all_bank_rows(client: InProcessClient) -> str:
    from dialogue.actions import runtime

    repository = runtime.get().repository
    dump = []
    with repository.transaction() as tx:
        for table in (
            "customers",
            "accounts",
            "cards",
            "transactions",
            "transfers",
            "complaints",
            "survey_answers",
            "audit_log",
        ):
            dump.append(json.dumps(tx.all(f"SELECT * FROM {table}"), default=str))
    return "\n".join(dump)


async def test_pin_never_appears_in_tracker_events_logs_or_records(
    client: InProcessClient, conversation: str, caplog: pytest.LogCaptureFixture
) -> None:
    pin = ALICE["pin"]
    assert _leaks(pin, f"PIN {pin} and two four six eight")  # the detector itself works
    with contextlib.ExitStack() as stack:
        for name in (None, "rasa", "rasa_sdk", "dialogue", "sanic"):
            stack.enter_context(caplog.at_level(logging.DEBUG, logger=name))
        replies = await call(
            client,
            conversation,
            "hi my pin is two four six eight and i want my balance",  # said out of turn
            "#" + ALICE["account"],
            "two four six eight",  # spoken at the PIN prompt: goes the secure way
            "what are my recent transactions",
            "no thanks",
        )
        events = await client.tracker_events(conversation)
    assert any(r.intent == "check_balance" for r in replies)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["authenticated"] is True, "the call must really have been verified"
    assert TOKEN_PATTERN.search(json.dumps(events)), "the PIN travelled as a token"
    evidence = {
        "tracker events": json.dumps(events),
        "logs": caplog.text,
        "bank records": await _all_bank_rows(client),
        "replies": json.dumps([r.as_dict() for r in replies]),
    }
    assert len(caplog.records) > 20, "debug logging must have been captured"
    for where, text in evidence.items():
        assert not _leaks(pin, text), f"PIN found in {where}"
    assert ALICE["account"] not in caplog.text  # account numbers are masked in logs too


async def test_three_wrong_pins_lock_self_service_and_offer_an_agent(
    client: InProcessClient, conversation: str
) -> None:
    account = "#" + ALICE["account"]
    replies = await call(
        client,
        conversation,
        "balance",
        account,
        "*1111",
        account,
        "*2222",
        account,
        "*3333",
        "yes please",
    )
    assert "don't match" in replies[3].text
    locked = replies[7]
    assert "locked" in locked.text and "agent" in locked.text
    handoff = replies[8].handoff
    assert handoff is not None and handoff.reason == "auth_locked"
    assert handoff.context["authenticated"] is False
    again = await client.send(conversation, "what's my balance")
    assert "locked" in again.text  # still locked for the rest of the call


async def test_transfer_moves_money_once_confirmed(
    client: InProcessClient, conversation: str
) -> None:
    from dialogue.actions import runtime

    bank = runtime.get().repository
    replies = await call(
        client,
        conversation,
        "i'd like to transfer money",
        *sign_in(ALICE),
        "two hundred and fifty dollars",
        "from savings",
        "to checking",
        "yes go ahead",
    )
    readback = replies[6]
    assert "move 250 dollars from your savings account to your checking account" in readback.text
    done = replies[7]
    assert "I've moved 250 dollars" in done.text
    reference = re.search(r"reference number is T, (\d) (\d) (\d), (\d) (\d) (\d)", done.text)
    assert reference is not None
    with bank.transaction() as tx:
        row = tx.one(
            "SELECT reference, amount_cents FROM transfers WHERE conversation_id = ?",
            (conversation,),
        )
    assert row == {"reference": "T" + "".join(reference.groups()), "amount_cents": 25_000}
    alice = bank.authenticate(ALICE["account"], ALICE["pin"], "check")
    assert alice is not None
    assert {a.type: a.balance_cents for a in bank.accounts(alice.id)}[
        "checking"
    ] == 245_075 + 25_000


@pytest.mark.parametrize("cancel", ["no that's wrong", "stop"])
async def test_cancel_at_confirmation_moves_nothing(
    client: InProcessClient, conversation: str, cancel: str
) -> None:
    from dialogue.actions import runtime

    replies = await call(
        client,
        conversation,
        "transfer funds",
        *sign_in(ALICE),
        "100 dollars",
        "savings",
        "checking",
        cancel,
    )
    assert "No money was moved" in replies[-1].text
    assert runtime.get().repository.transferred_in_call(conversation) == 0


async def test_insufficient_funds_asks_for_a_smaller_amount(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client, conversation, "i want to make a transfer", *sign_in(CARMEN), "#100", "from checking"
    )
    refused = replies[-1]
    assert "only has 45 dollars and 10 cents" in refused.text
    assert refused.expect_digits is not None  # the amount question again, keypad allowed
    assert "How much" in refused.text


async def test_per_call_limit_is_enforced(client: InProcessClient, conversation: str) -> None:
    replies = await call(client, conversation, "transfer money", *sign_in(ALICE), "#3000")
    assert "limited to 2,500 dollars per call" in replies[-1].text


async def test_agent_request_mid_transfer_hands_off_with_context(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client, conversation, "transfer money", *sign_in(ALICE), "#200", "can i speak to an agent"
    )
    handoff = replies[-1].handoff
    assert handoff is not None and handoff.reason == "caller_request"
    assert handoff.context["authenticated"] is True
    assert handoff.context["in_progress"] == "transferring money"
    assert handoff.context["details"]["transfer_amount"] == "200 dollars"
    assert handoff.context["intent"] == "talk_to_agent"


async def test_lost_card_is_blocked_without_a_pin_after_light_verification(
    client: InProcessClient, conversation: str
) -> None:
    from dialogue.actions import runtime

    replies = await call(
        client, conversation, "i lost my card", "#" + ALICE["debit"], "#" + ALICE["zip"], "yes"
    )
    assert "ending 4 8 2 1. Shall I block it" in replies[3].text
    blocked = replies[4]
    assert "is blocked" in blocked.text
    reference = re.search(r"reference number is B, (\d) (\d) (\d), (\d) (\d) (\d)", blocked.text)
    assert reference is not None
    with runtime.get().repository.transaction() as tx:
        row = tx.one("SELECT status, block_reference FROM cards WHERE last4 = ?", (ALICE["debit"],))
    assert row == {"status": "blocked", "block_reference": "B" + "".join(reference.groups())}


async def test_card_not_identified_three_times_goes_to_an_agent(
    client: InProcessClient, conversation: str
) -> None:
    wrong = ("#" + ALICE["debit"], "#00000")
    replies = await call(client, conversation, "my card was stolen", *wrong, *wrong, *wrong)
    last = replies[-1]
    assert last.handoff is not None and last.handoff.reason == "card_unverified"
    assert last.handoff.priority == "high"
    assert "anything else" not in last.text.lower()  # nothing said after the handoff


async def test_fraud_blocks_the_card_then_hands_off_with_the_disputed_charge(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client,
        conversation,
        "there's a transaction on my card i didn't make",
        "yes",
        "#" + ALICE["credit"],
        "#" + ALICE["zip"],
        "yes",
        "a charge at an electronics shop in another city",
    )
    assert "urgent" in replies[1].text
    assert "is blocked" in replies[5].text
    handoff = replies[6].handoff
    assert handoff is not None and handoff.reason == "fraud" and handoff.priority == "high"
    details = handoff.context["details"]
    assert details["disputed_transaction"] == "a charge at an electronics shop in another city"
    assert details["block_reference"].startswith("B")


async def test_complaint_is_stored_with_a_reference_and_an_agent_offered(
    client: InProcessClient, conversation: str
) -> None:
    from dialogue.actions import runtime

    replies = await call(
        client,
        conversation,
        "i want to make a complaint",
        "the fees",
        "i was charged an overdraft fee even though i had money in the account",
        "yes",
    )
    logged = replies[3]
    assert "complaint about fees or charges" in logged.text and "agent" in logged.text
    with runtime.get().repository.transaction() as tx:
        row = tx.one(
            "SELECT reference, category, description FROM complaints WHERE conversation_id = ?",
            (conversation,),
        )
    assert row is not None and row["category"] == "fees"
    assert row["description"].startswith("i was charged an overdraft fee")
    assert (
        ", ".join(
            [row["reference"][0], " ".join(row["reference"][1:4]), " ".join(row["reference"][4:])]
        )
        in logged.text
    )
    handoff = replies[4].handoff
    assert handoff is not None and handoff.reason == "complaint"


async def test_survey_score_is_stored_with_the_call(
    client: InProcessClient, conversation: str
) -> None:
    from dialogue.actions import runtime

    replies = await call(
        client, conversation, "what's my balance", *sign_in(ALICE), "no that's all", "#4"
    )
    survey = replies[4]
    assert "from 1 to 5" in survey.text and survey.expect_digits is not None
    bye = replies[5]
    assert bye.hangup is not None and bye.hangup.reason == "caller_done"
    with runtime.get().repository.transaction() as tx:
        row = tx.one(
            "SELECT score, customer_id FROM survey_answers WHERE conversation_id = ?",
            (conversation,),
        )
    assert row is not None and row["score"] == 4 and row["customer_id"] is not None


async def test_survey_is_skipped_when_declined(client: InProcessClient, conversation: str) -> None:
    from dialogue.actions import runtime

    replies = await call(
        client, conversation, "what's my balance", *sign_in(ALICE), "no", "no thanks"
    )
    assert replies[-1].hangup is not None
    with runtime.get().repository.transaction() as tx:
        assert (
            tx.one("SELECT 1 AS x FROM survey_answers WHERE conversation_id = ?", (conversation,))
            is None
        )


async def test_repeat_says_the_pin_prompt_again_with_its_payload(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(
        client, conversation, "balance please", "#" + ALICE["account"], "sorry say that again"
    )
    again = replies[-1]
    assert again.intent == "repeat"
    assert again.expect_digits is not None and again.expect_digits.secure
    assert client.expects_secure_input(conversation)


async def test_silence_reprompts_then_offers_an_agent_then_hangs_up(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "...", "...", "...")
    first, second, third = replies[1:]
    assert "didn't" in first.text and "How can I help" in first.text
    assert "agent" in second.text
    assert third.hangup is not None and third.hangup.reason == "no_input"


async def test_two_fallbacks_offer_the_keypad_menu_and_a_third_hands_off_with_priority(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "/nlu_fallback", "/nlu_fallback", "/nlu_fallback")
    assert "You can say things like" in replies[1].text
    assert "to speak to someone press 0" in replies[2].text.lower() and replies[2].handoff is None
    handoff = replies[3].handoff
    assert (
        handoff is not None and handoff.reason == "repeated_fallback" and handoff.priority == "high"
    )


async def test_frustration_hands_off_with_priority(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "this is ridiculous let me talk to someone")
    handoff = replies[-1].handoff
    assert handoff is not None and handoff.priority == "high" and handoff.reason == "frustration"


async def test_faq_answers_come_from_the_knowledge_files(
    client: InProcessClient, conversation: str, tmp_path: Any
) -> None:
    import shutil

    from dialogue.actions import runtime
    from dialogue.knowledge import KnowledgeBase

    edited = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, edited)
    hours = edited / "hours.yml"
    hours.write_text(hours.read_text().replace("from 9 AM to 5 PM", "from 8 AM to 6 PM"))
    rt = runtime.get()
    original = rt.knowledge
    rt.knowledge = KnowledgeBase(edited)
    try:
        replies = await call(
            client, conversation, "when are you open", "is there a branch in chicago"
        )
    finally:
        rt.knowledge = original
    assert "Monday to Friday from 8 AM to 6 PM" in replies[1].text
    assert "In Chicago, we have 2 branches" in replies[2].text
    # Published answers: their audio may be cached although they have figures in them.
    for reply, said in ((replies[1], "8 AM"), (replies[2], "Chicago")):
        assert next(m for m in reply.messages if said in (m.text or "")).public


async def test_keypad_zero_reaches_an_agent(client: InProcessClient, conversation: str) -> None:
    replies = await call(client, conversation, "#0")
    assert replies[-1].handoff is not None


async def test_agent_accepted_after_repeated_silence_has_priority(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "...", "...", "yes")
    handoff = replies[-1].handoff
    assert handoff is not None and handoff.reason == "repeated_no_input"
    assert handoff.priority == "high"


async def test_asking_for_an_agent_twice_in_one_breath_has_priority(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "agent agent")
    handoff = replies[-1].handoff
    assert handoff is not None and handoff.reason == "repeated_request"
    assert handoff.priority == "high"


async def test_keypad_star_repeats_the_last_prompt(
    client: InProcessClient, conversation: str
) -> None:
    replies = await call(client, conversation, "where are your branches", "#*")
    assert replies[1].text == "Which city are you looking for?"
    assert replies[2].text == replies[1].text and replies[2].hints == replies[1].hints
