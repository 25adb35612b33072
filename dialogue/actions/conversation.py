"""Conversation control: greeting, repeat, silence, low confidence, cancel, keypad, handoff."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import (
    NLU_FALLBACK,
    NO_INPUT,
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
from dialogue.actions.digit_entry import PARTIAL_SLOT, wants_start_again
from dialogue.secrets import is_token

AGENT_KEY = "0"
REPEAT_KEY = "*"


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


class ActionFallback(Action):
    """Low NLU confidence: ask to rephrase, then offer an agent, then hand off with priority."""

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        misses = trailing_count(tracker, NLU_FALLBACK)
        if runtime.get().knowledge.get().is_frustrated(latest_text(tracker)):
            return await handoff_events(dispatcher, tracker, "frustration")
        if misses >= 3:
            return await handoff_events(dispatcher, tracker, "repeated_fallback")
        if misses == 2:
            if _active_loop(tracker):
                dispatcher.utter_message(response="utter_fallback_in_form")
                return [SlotSet("agent_offered", False)]
            dispatcher.utter_message(response="utter_fallback_offer_agent")
            return [SlotSet("agent_offered", True)]
        dispatcher.utter_message(response="utter_fallback_rephrase")
        if tracker.get_intent_of_latest_message() != NLU_FALLBACK:
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


class ActionHandleDtmf(Action):
    """Keypad input outside a prompt that expects digits: 0 is an agent, star repeats."""

    def name(self) -> str:
        return "action_handle_dtmf"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        digits = next(tracker.get_latest_entity_values("digits"), None) or ""
        if is_token(digits):
            runtime.get().vault.redeem(digits)  # a PIN nobody asked for: drop it at once
            digits = ""
        if digits == AGENT_KEY:
            return await handoff_events(dispatcher, tracker, "caller_request")
        if digits == REPEAT_KEY:
            messages = last_bot_turn(tracker)
            if _active_loop(tracker):
                messages = messages[:-1]
            utter_bot_messages(dispatcher, messages)
            return []
        dispatcher.utter_message(response="utter_dtmf_unknown")
        return []
