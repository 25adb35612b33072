"""Conversation control: greeting, repeat, silence, low confidence, cancel, keypad, handoff."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.clarify import as_if_said
from dialogue.actions.common import (
    NLU_CONFIRM,
    NLU_FALLBACK,
    NO_INPUT,
    NO_KEY,
    QUIET_ACTIONS,
    YES_KEY,
    bank,
    conversation_id,
    customer_id,
    handoff_events,
    last_bot_turn,
    latest_text,
    reset_task_slots,
    trailing_count,
    utter_bot_messages,
)
from dialogue.actions.confirmation import ASK_CONFIRMATION
from dialogue.actions.digit_entry import PARTIAL_SLOT, wants_start_again
from dialogue.secrets import is_token

AGENT_KEY = "0"
REPEAT_KEY = "*"
KEYPAD_MENU = {
    "1": "check_balance",
    "2": "recent_transactions",
    "3": "report_lost_card",
    "4": "card_payment_due",
    "5": "branch_hours",
}
"""Menu keys once the keypad menu was offered (the wording is utter_keypad_menu)."""
DENY = "deny"


def _active_loop(tracker: Tracker) -> str | None:
    name = (tracker.active_loop or {}).get("name")
    return str(name) if name else None


class ActionGreet(Action):
    """The opening greeting (with the recording notice) once; a short hello after that."""

    def name(self) -> str:
        return "action_greet"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("greeted"):
            dispatcher.utter_message(response="utter_greet_again")
            return []
        dispatcher.utter_message(response="utter_greet")
        return [SlotSet("greeted", True)]


class ActionRepeat(Action):
    """Says the previous bot turn again, payloads included.

    Inside a form the form asks its question again right after this action, so the
    question itself is left out here to avoid hearing it twice. A caller who says "start
    again" while part of a number is kept wants the whole number asked afresh: the kept
    digits are dropped instead.
    """

    def name(self) -> str:
        return "action_repeat"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        messages = last_bot_turn(tracker)
        if not messages:
            dispatcher.utter_message(response="utter_nothing_to_repeat")
            return []
        if _active_loop(tracker):
            text = str(tracker.latest_message.get("text") or "")
            if tracker.get_slot(PARTIAL_SLOT) and wants_start_again(text):
                dispatcher.utter_message(response="utter_digits_start_again")
                return [SlotSet(PARTIAL_SLOT, None)]
            messages = messages[:-1]
        utter_bot_messages(dispatcher, messages)
        return []


class ActionNoInput(Action):
    """Caller silence: reprompt, then offer an agent, then say goodbye and hang up."""

    def name(self) -> str:
        return "action_no_input"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        silent = trailing_count(tracker, NO_INPUT)
        loop = _active_loop(tracker)
        if silent >= 3:
            dispatcher.utter_message(response="utter_no_input_goodbye")
            events: list[EventType] = [SlotSet("agent_offered", False)]
            if loop:
                events += [ActiveLoop(None), SlotSet("requested_slot", None)]
            return events
        if silent == 2:
            if loop:  # the form asks its own question again next
                dispatcher.utter_message(response="utter_no_input_in_form")
                return [SlotSet("agent_offered", False)]
            dispatcher.utter_message(response="utter_no_input_offer_agent")
            return [SlotSet("agent_offered", True)]
        dispatcher.utter_message(response="utter_no_input_reprompt")
        if not loop:
            utter_bot_messages(dispatcher, _question_to_repeat(tracker))
        return [SlotSet("agent_offered", False)]


def _question_to_repeat(tracker: Tracker) -> list[dict[str, object]]:
    """The last thing the bot said before the silence began (skipping earlier reprompts)."""
    turn = last_bot_turn(tracker)
    return turn[-1:] if turn else []


def _applied_turns(tracker: Tracker) -> list[tuple[str, str | None]]:
    """(intent, the bot's action before it) of each caller turn still in the conversation.

    A turn replayed as a clear intent (a confirmed guess, a key read as yes) was forgotten
    (``rewind``): Rasa's applied events leave it out and keep its replacement.
    """
    turns: list[tuple[str, str | None]] = []
    before: str | None = None
    for event in tracker.applied_events():
        if event.get("event") == "action" and event.get("name") not in QUIET_ACTIONS:
            before = str(event.get("name"))
        elif event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            turns.append((str(intent or ""), before))
    return turns


def misunderstandings(tracker: Tracker) -> int:
    """Caller turns in a row the bot did not understand: low confidence, or a "no" to its
    confirmation question. A turn it asked to confirm neither counts nor breaks the run."""
    count = 0
    for intent, before in reversed(_applied_turns(tracker)):
        if intent == NLU_FALLBACK or (intent == DENY and before == ASK_CONFIRMATION):
            count += 1
        elif intent != NLU_CONFIRM:
            break
    return count


class ActionFallback(Action):
    """Misunderstood: re-prompt with examples (or, after a wrong guess, ask what the caller
    wants), then offer the keypad menu, then hand off with priority."""

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        misses = misunderstandings(tracker)
        latest = tracker.get_intent_of_latest_message()
        if runtime.get().knowledge.get().is_frustrated(latest_text(tracker)):
            return await handoff_events(dispatcher, tracker, "frustration")
        if misses >= 3:
            return await handoff_events(dispatcher, tracker, "repeated_fallback")
        if misses == 2:
            if _active_loop(tracker):
                dispatcher.utter_message(response="utter_fallback_in_form")
                return [SlotSet("agent_offered", False)]
            dispatcher.utter_message(response="utter_keypad_menu")
            return [SlotSet("keypad_mode", True), SlotSet("agent_offered", False)]
        if misses == 1 and latest == DENY:
            dispatcher.utter_message(response="utter_confirm_denied")
            return [SlotSet("agent_offered", False)]
        if misses == 1 and not _active_loop(tracker):
            dispatcher.utter_message(response="utter_fallback_examples")
            return [SlotSet("agent_offered", False)]
        dispatcher.utter_message(response="utter_fallback_rephrase")
        if latest != NLU_FALLBACK:
            # Core fallback: the words were understood but no next step fits here. Like Rasa's
            # own default fallback, forget the caller's turn so the bot listens again instead
            # of predicting this action over and over. (A revert undoes every event since the
            # caller's message, so the slot is set after it.)
            return [UserUtteranceReverted(), SlotSet("agent_offered", False)]
        return [SlotSet("agent_offered", False)]


class ActionHandoff(Action):
    """Transfers the caller to an agent, with the reason and a context summary in the payload."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return await handoff_events(dispatcher, tracker)


class ActionCancel(Action):
    """Stops whatever is in progress; a transfer stopped before execution moves nothing."""

    def name(self) -> str:
        return "action_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        loop = _active_loop(tracker)
        if loop == "transfer_form" or tracker.get_slot("pending_task") == "transfer_money":
            dispatcher.utter_message(response="utter_transfer_cancelled")
            await bank(
                runtime.get().repository.audit,
                conversation_id(tracker),
                customer_id(tracker),
                "transfer",
                "cancelled",
            )
        else:
            dispatcher.utter_message(response="utter_cancelled")
        events: list[EventType] = [*reset_task_slots(), SlotSet("agent_offered", False)]
        if loop:
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return events


def _asked_yes_no(tracker: Tracker) -> bool:
    """Whether the bot's turn before the caller's latest one ended in a yes/no question."""
    hints: list[str] = []
    for message in last_bot_turn(tracker):
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("hints"):
            hints = list(custom["hints"])
    return "yes" in hints and "no" in hints


class ActionHandleDtmf(Action):
    """Keypad input outside a prompt that expects digits: 0 is an agent, star repeats, 1 and
    2 answer a yes/no question, and once the keypad menu was offered its keys start a task
    (as if the caller had asked for it in words)."""

    def name(self) -> str:
        return "action_handle_dtmf"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        digits = next(tracker.get_latest_entity_values("digits"), None) or ""
        if is_token(digits):
            runtime.get().vault.redeem(digits)  # a PIN nobody asked for: drop it at once
            digits = ""
        if digits == AGENT_KEY:  # the reason as for "agent" said (after misunderstandings: high)
            return await handoff_events(dispatcher, tracker)
        if digits == REPEAT_KEY:
            messages = last_bot_turn(tracker)
            if _active_loop(tracker):
                messages = messages[:-1]
            utter_bot_messages(dispatcher, messages)
            return []
        answer = {YES_KEY: "affirm", NO_KEY: DENY}.get(digits) if _asked_yes_no(tracker) else None
        if answer is None and tracker.get_slot("keypad_mode"):
            answer = KEYPAD_MENU.get(digits)
        if answer is not None:
            return as_if_said(answer, text=latest_text(tracker), entities=[], domain=domain)
        dispatcher.utter_message(response="utter_dtmf_unknown")
        return []
