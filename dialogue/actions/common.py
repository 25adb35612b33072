"""Helpers shared by the custom actions: tracker queries, bank calls off the event loop, handoff."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from dialogue import payloads
from dialogue.actions import runtime
from dialogue.spoken import extract_digits, say_money
from masking import mask_last4

T = TypeVar("T")

YES_KEY, NO_KEY = "1", "2"
"""Keys that confirm and decline a read-back (transfer, card block)."""
NO_INPUT = "no_input"
NLU_FALLBACK = "nlu_fallback"
NLU_CONFIRM = "nlu_confirm"
"""A costly intent guessed with middling confidence: confirmed before acting (config.yml)."""
TALK_TO_AGENT = "talk_to_agent"

ACCOUNT_LABELS = {
    "checking": "checking account",
    "savings": "savings account",
    "credit": "credit card account",
}

# Slots that belong to one task; cleared when the task ends or is cancelled.
TASK_SLOTS = (
    "pending_task",
    "account_type",
    "transfer_amount",
    "transfer_from",
    "transfer_to",
    "transfer_confirmed",
    "card_last4",
    "card_zip",
    "block_confirmed",
    "card_failures",
    "disputed_transaction",
    "complaint_category",
    "complaint_description",
    "survey_score",
    "city",
)

TASK_NAMES = {
    "auth_form": "signing in",
    "transfer_form": "transferring money",
    "lost_card_form": "blocking a card",
    "fraud_form": "reporting fraud",
    "complaint_form": "making a complaint",
    "survey_form": "the satisfaction survey",
    "check_balance": "checking a balance",
    "recent_transactions": "hearing recent transactions",
    "card_payment_due": "checking a credit card payment",
    "transfer_money": "transferring money",
}


async def bank(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (blocking) repository call in a worker thread, keeping the event loop free."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def customer_id(tracker: Tracker) -> int | None:
    value = tracker.get_slot("customer_id")
    return int(value) if value is not None and tracker.get_slot("authenticated") else None


def conversation_id(tracker: Tracker) -> str:
    return str(tracker.sender_id)


def latest_intent(tracker: Tracker) -> str | None:
    intent = (tracker.latest_message or {}).get("intent") or {}
    name = intent.get("name")
    return str(name) if name else None


def latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def user_intents(tracker: Tracker) -> list[str]:
    """Intents of every user message in the conversation, oldest first."""
    return [
        str(((e.get("parse_data") or {}).get("intent") or {}).get("name") or "")
        for e in tracker.events
        if e.get("event") == "user"
    ]


def trailing_count(tracker: Tracker, intent: str) -> int:
    """How many of the latest user messages in a row had ``intent``."""
    count = 0
    for name in reversed(user_intents(tracker)):
        if name != intent:
            break
        count += 1
    return count


def last_bot_turn(tracker: Tracker) -> list[dict[str, Any]]:
    """The bot messages of the turn before the latest user message (text and custom payload)."""
    events = list(tracker.events)
    # Skip back over the latest user message, then collect bot messages until the user
    # message before it.
    seen_user = 0
    collected: list[dict[str, Any]] = []
    for event in reversed(events):
        kind = event.get("event")
        if kind == "user":
            seen_user += 1
            if seen_user == 2:
                break
            continue
        if kind == "bot" and seen_user == 1:
            data = event.get("data") or {}
            collected.append({"text": event.get("text"), "custom": data.get("custom")})
    return list(reversed(collected))


def utter_bot_messages(dispatcher: CollectingDispatcher, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        dispatcher.utter_message(text=message.get("text"), json_message=message.get("custom"))


def reset_task_slots() -> list[EventType]:
    return [SlotSet(name, None) for name in TASK_SLOTS]


def in_progress(tracker: Tracker) -> str | None:
    """What the caller was in the middle of, in words an agent reads at a glance."""
    loop = (tracker.active_loop or {}).get("name")
    if loop and loop in TASK_NAMES:
        return TASK_NAMES[loop]
    pending = tracker.get_slot("pending_task")
    return TASK_NAMES.get(str(pending)) if pending else None


def handoff_context(tracker: Tracker, reason: str) -> dict[str, Any]:
    """The short summary an agent sees when the call arrives: no PIN, numbers masked."""
    authenticated = bool(tracker.get_slot("authenticated"))
    doing = in_progress(tracker)
    details: dict[str, Any] = {}
    amount = tracker.get_slot("transfer_amount")
    if isinstance(amount, (int, float)) and not isinstance(amount, bool):
        details["transfer_amount"] = say_money(int(amount))
    for slot in ("transfer_from", "transfer_to", "block_reference", "complaint_reference"):
        if tracker.get_slot(slot):
            details[slot] = tracker.get_slot(slot)
    if tracker.get_slot("card_last4"):
        details["card"] = mask_last4(str(tracker.get_slot("card_last4")))
    if tracker.get_slot("disputed_transaction"):
        details["disputed_transaction"] = tracker.get_slot("disputed_transaction")
    who = tracker.get_slot("customer_name") if authenticated else None
    summary = " ".join(
        part
        for part in (
            f"Verified caller {who}." if who else "Caller not verified.",
            "Self-service locked after failed PIN attempts."
            if tracker.get_slot("auth_locked")
            else "",
            f"Was {doing}." if doing else "",
            f"Reason: {reason.replace('_', ' ')}.",
        )
        if part
    )
    context: dict[str, Any] = {
        "intent": latest_intent(tracker),
        "authenticated": authenticated,
        "customer_id": customer_id(tracker),
        "in_progress": doing,
        "summary": summary,
    }
    if details:
        context["details"] = details
    return context


HIGH_PRIORITY_REASONS = frozenset(
    {
        "frustration",
        "repeated_request",
        "repeated_fallback",
        "repeated_no_input",
        "fraud",
        "card_unverified",
    }
)


def handoff_priority(reason: str) -> payloads.Priority:
    """``high`` for frustration, repeated requests or failures, fraud, an unblocked card."""
    return "high" if reason in HIGH_PRIORITY_REASONS else "normal"


def handoff_reason(tracker: Tracker) -> str:
    """Why the caller is being handed off, from the conversation so far."""
    text = latest_text(tracker)
    knowledge = runtime.get().knowledge.get()
    intents = user_intents(tracker)
    if knowledge.is_frustrated(text):
        return "frustration"
    if tracker.get_slot("block_reason") == "fraud" and tracker.get_slot("disputed_transaction"):
        return "fraud"
    if text.lower().count("agent") + text.lower().count("representative") >= 2:
        return "repeated_request"
    if latest_intent(tracker) == TALK_TO_AGENT and intents[:-1].count(TALK_TO_AGENT) >= 1:
        return "repeated_request"
    # An agent offered after repeated misunderstanding or silence, or asked for right after.
    offered = bool(tracker.get_slot("agent_offered"))
    previous = _previous_action(tracker)
    if (offered and previous == "action_fallback") or trailing_count_before_latest(
        tracker, NLU_FALLBACK
    ) >= 2:
        return "repeated_fallback"
    if (offered and previous == "action_no_input") or trailing_count_before_latest(
        tracker, NO_INPUT
    ) >= 2:
        return "repeated_no_input"
    if tracker.get_slot("auth_locked"):
        return "auth_locked"
    if tracker.get_slot("complaint_reference"):
        return "complaint"
    return "caller_request"


def trailing_count_before_latest(tracker: Tracker, intent: str) -> int:
    """Like :func:`trailing_count`, but for the messages before the latest one."""
    count = 0
    for name in reversed(user_intents(tracker)[:-1]):
        if name != intent:
            break
        count += 1
    return count


QUIET_ACTIONS = {"action_listen", "action_extract_slots"}
"""Actions that are not the bot doing something (listening, filling slots)."""


def _previous_action(tracker: Tracker) -> str | None:
    """The last action before the latest user message (other than listening)."""
    seen_user = False
    for event in reversed(list(tracker.events)):
        kind = event.get("event")
        if kind == "user":
            if seen_user:
                return None
            seen_user = True
        elif kind == "action" and seen_user and event.get("name") not in QUIET_ACTIONS:
            return str(event.get("name"))
    return None


async def handoff_events(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str | None = None
) -> list[EventType]:
    """Say the handoff message with its payload, record it, and stop any form."""
    reason = reason or handoff_reason(tracker)
    priority = handoff_priority(reason)
    context = handoff_context(tracker, reason)
    dispatcher.utter_message(
        response="utter_handoff_priority" if priority == "high" else "utter_handoff",
        json_message=payloads.handoff(reason, priority, context),
    )
    await bank(
        runtime.get().repository.audit,
        conversation_id(tracker),
        customer_id(tracker),
        "handoff",
        priority,
        reason=reason,
    )
    events: list[EventType] = [SlotSet("handed_off", True), SlotSet("agent_offered", False)]
    if tracker.active_loop and tracker.active_loop.get("name"):
        events += [ActiveLoop(None), SlotSet("requested_slot", None)]
    return events


def yes_no(value: Any) -> bool | None:
    """A confirmation from affirm/deny (bool) or keypad (1 yes, 2 no)."""
    if isinstance(value, bool):
        return value
    digits = extract_digits(str(value or ""))
    if digits == YES_KEY:
        return True
    if digits == NO_KEY:
        return False
    return None
