"""The client's contract without a model: payload accessors, masking, PIN redaction."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dialogue import payloads
from dialogue.client import (
    dtmf_message,
    mask_entities,
    redact_pin_mentions,
)
from dialogue.events import bot_messages_after_last_user
from dialogue.reply import BotMessage, Reply
from dialogue.secrets import SecretVault, is_token


def test_bot_message_exposes_the_voice_payload() -> None:
    message = BotMessage(
        "Please enter your PIN.",
        {
            **payloads.expect_digits(4, secure=True, timeout_s=10),
            "hints": ["one", "two"],
            "interruptible": False,
        },
    )
    assert message.expect_digits is not None
    assert (message.expect_digits.count, message.expect_digits.max) == (4, 4)
    assert message.expect_digits.secure and message.expect_digits.terminator == "#"
    assert message.hints == ["one", "two"]
    assert message.interruptible is False
    assert message.handoff is None and message.hangup is None
    assert BotMessage("hi").interruptible is True


def test_reply_collects_handoff_hangup_and_the_last_keypad_request() -> None:
    handoff = payloads.handoff("fraud", "high", {"summary": "Caller not verified."})
    reply = Reply(
        messages=[
            BotMessage("Enter 8 digits.", payloads.expect_digits(8)),
            BotMessage("Connecting you.", handoff),
            BotMessage("Bye.", payloads.hangup("caller_done")),
        ],
        intent="report_fraud",
        confidence=0.99,
        entities=[],
    )
    assert reply.handoff is not None and reply.handoff.priority == "high"
    assert reply.handoff.context["summary"] == "Caller not verified."
    assert reply.hangup is not None and reply.hangup.reason == "caller_done"
    assert reply.expect_digits is not None and reply.expect_digits.count == 8
    assert json.loads(json.dumps(reply.as_dict()))["intent"] == "report_fraud"


def test_the_next_turn_follows_the_last_message_that_asks_for_it() -> None:
    reply = Reply(
        messages=[
            BotMessage(
                "Key in your account number.", {**payloads.expect_digits(8), "hints": ["a"]}
            ),
            BotMessage("Sorry.", {}),
            BotMessage("Now your PIN.", {**payloads.expect_digits(4, secure=True), "hints": ["b"]}),
            BotMessage("Take your time.", {}),
        ],
        intent=None,
        confidence=None,
        entities=[],
    )
    assert reply.expect_digits is not None and reply.expect_digits.count == 4
    assert reply.secure_entry and reply.hints == ["b"]
    assert not Reply(reply.messages[:2], None, None, []).secure_entry


def test_malformed_payloads_are_rejected_with_a_reason() -> None:
    with pytest.raises(ValueError, match="count"):
        _ = BotMessage("x", {"expect_digits": {"secure": True}}).expect_digits
    with pytest.raises(ValueError, match="priority"):
        _ = BotMessage("x", {"handoff": {"reason": "x", "priority": "urgent"}}).handoff


def test_pin_said_out_of_turn_is_replaced_by_a_token() -> None:
    vault = SecretVault()
    text = redact_pin_mentions("yes my PIN is two four six eight and my account is checking", vault)
    assert "two four six eight" not in text and "2468" not in text
    token = text.split("PIN is ")[1].split()[0]
    assert is_token(token) and vault.redeem(token) == "2468"
    assert text.endswith("and my account is checking")
    assert redact_pin_mentions("what is a pin number for", vault) == "what is a pin number for"
    assert redact_pin_mentions("pin: 1234", vault).startswith("pin: secret:")


def test_entities_are_masked_before_they_leave_the_client() -> None:
    entities: list[dict[str, Any]] = [
        {"entity": "account_number", "value": "31415926", "start": 0, "end": 8},
        {"entity": "account_number", "value": "314159"},  # a part: no digit of it shown
        {"entity": "digits", "value": "secret:" + "a" * 32},
        {"entity": "pin", "value": "anything"},
        {"entity": "digits", "value": "4821"},
        {"entity": "city", "value": "chicago"},
    ]
    values = [e["value"] for e in mask_entities(entities)]
    assert values == ["****5926", "******", "[secret]", "[secret]", "4821", "chicago"]


def test_keypad_message_and_bot_messages_from_events() -> None:
    assert dtmf_message("1234") == '/dtmf{"digits": "1234"}'
    events: list[dict[str, Any]] = [
        {"event": "bot", "text": "old"},
        {"event": "user", "text": "hi"},
        {"event": "action", "name": "utter_greet"},
        {"event": "bot", "text": "Hello.", "data": {"custom": {"interruptible": False}}},
        {"event": "bot", "text": "How can I help?", "data": {}},
    ]
    assert bot_messages_after_last_user(events) == [
        {"text": "Hello.", "custom": {"interruptible": False}},
        {"text": "How can I help?", "custom": None},
    ]
