"""Lost, stolen or compromised cards: identify the card, confirm, block it, give a reference.

Card-blocking policy: blocking only protects the customer and is reversible, so a caller
who has not verified with a PIN may still block a card after light verification: the
card's last four digits plus the billing ZIP code. A verified caller only names the card
(or, with a single active card, just confirms it). Three failed identifications pass the
caller to an agent with priority, because a lost card is urgent.

Each light verification takes an attempt from the caller identity's hourly budget, kept by
the bank across calls (``bank.max_verifications_per_hour``, shared with PIN checks). Over
the budget the card is not looked up and the caller gets exactly what the third failed try
gets (the agent), so the refusal tells nothing about the digits tried.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import bank, conversation_id, customer_id, handoff_events, yes_no
from dialogue.actions.digit_entry import AskForDigits, incomplete, keep, kept_digits, read_entry
from dialogue.bank import Card, VerificationRefused, mask_free_text
from dialogue.bank.security import spoken_reference
from dialogue.spoken import say_digits
from masking import mask_last4

MAX_CARD_FAILURES = 3
LAST4_LENGTH = 4
ZIP_LENGTH = 5
CARD_SLOTS = ("card_last4", "card_zip", "block_confirmed", "card_failures")


async def identified_card(tracker: Tracker, *, verifying: bool = False) -> Card | None:
    """The active card the caller named, verified by PIN login or by billing ZIP code.

    ``verifying``: this is the caller's try at the ZIP code, counted against their budget
    (raises :class:`VerificationRefused` over it); later look-ups of the same card are not.
    """
    rt = runtime.get()
    last4 = tracker.get_slot("card_last4")
    if not last4:
        return None
    cid = customer_id(tracker)
    if cid is not None:
        return await bank(rt.repository.find_card, str(last4), customer_id=cid)
    zip_code = tracker.get_slot("card_zip")
    if not zip_code:
        return None
    if verifying:
        conversation = conversation_id(tracker)
        return await bank(
            rt.repository.identify_card,
            str(last4),
            str(zip_code),
            conversation,
            caller=rt.callers.identity(conversation),
        )
    return await bank(rt.repository.find_card, str(last4), str(zip_code))


class ValidateLostCardForm(FormValidationAction):
    """Validates ``lost_card_form`` under the card-blocking policy above."""

    def name(self) -> str:
        return "validate_lost_card_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if int(tracker.get_slot("card_failures") or 0) >= MAX_CARD_FAILURES:
            return []
        cid = customer_id(tracker)
        if cid is None:
            return domain_slots
        cards = await bank(runtime.get().repository.cards, cid)
        if not cards:
            return []
        return [s for s in domain_slots if s != "card_zip"]

    async def extract_card_last4(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A verified caller with a single active card does not have to name it."""
        cid = customer_id(tracker)
        if tracker.get_slot("card_last4") or cid is None or tracker.get_slot("card_failures"):
            return {}
        cards = await bank(runtime.get().repository.cards, cid)
        return {"card_last4": cards[0].last4} if len(cards) == 1 else {}

    async def _failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        failures = int(tracker.get_slot("card_failures") or 0) + 1
        await bank(
            runtime.get().repository.audit,
            conversation_id(tracker),
            customer_id(tracker),
            "identify_card",
            "failure",
            attempt=failures,
        )
        if failures < MAX_CARD_FAILURES:
            dispatcher.utter_message(response="utter_card_not_found")
        return {"card_last4": None, "card_zip": None, "card_failures": float(failures)}

    async def validate_card_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        entry = read_entry(value, kept_digits(tracker, "card_last4"), LAST4_LENGTH)
        if entry.number is None:
            return incomplete(dispatcher, "card_last4", entry, "utter_invalid_card_digits")
        done = keep("card_last4", "")
        if customer_id(tracker) is not None:
            tracker.slots["card_last4"] = entry.number
            if await identified_card(tracker) is None:
                return {**await self._failed(dispatcher, tracker), **done}
        return {"card_last4": entry.number, **done}

    async def validate_card_zip(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        entry = read_entry(value, kept_digits(tracker, "card_zip"), ZIP_LENGTH)
        if entry.number is None:
            return incomplete(dispatcher, "card_zip", entry, "utter_invalid_zip")
        tracker.slots["card_zip"] = entry.number
        done = keep("card_zip", "")
        try:
            card = await identified_card(tracker, verifying=True)
        except VerificationRefused:
            # What the last failed try gets: the form ends and the card goes to an agent.
            return {
                "card_last4": None,
                "card_zip": None,
                "card_failures": float(MAX_CARD_FAILURES),
                **done,
            }
        if card is None:
            return {**await self._failed(dispatcher, tracker), **done}
        return {"card_zip": entry.number, **done}

    def validate_block_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"block_confirmed": yes_no(value)}


class ActionAskCardLast4(AskForDigits):
    """Asks for the card's last four digits, or only the missing ones when part was heard."""

    slot = "card_last4"
    length = LAST4_LENGTH


class ActionAskCardZip(AskForDigits):
    """Asks for the billing ZIP code, or only its missing digits when part was heard."""

    slot = "card_zip"
    length = ZIP_LENGTH


class ActionAskBlockConfirmed(Action):
    """Reads the card's last four digits back and asks before blocking."""

    def name(self) -> str:
        return "action_ask_block_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_ask_block_confirmed",
            last4=say_digits(str(tracker.get_slot("card_last4"))),
        )
        return []


class ActionBlockCard(Action):
    """Blocks the identified card after a yes; hands off when the card was not identified."""

    def name(self) -> str:
        return "action_block_card"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime.get()
        clear: list[EventType] = [SlotSet(name, None) for name in CARD_SLOTS]
        cid = customer_id(tracker)
        card = await identified_card(tracker)
        if card is None:
            if cid is not None and not await bank(rt.repository.cards, cid):
                dispatcher.utter_message(response="utter_no_active_cards")
                return clear
            dispatcher.utter_message(response="utter_card_not_verified")
            # The call leaves the assistant: nothing more is said after the handoff.
            return [
                *clear,
                *await handoff_events(dispatcher, tracker, "card_unverified"),
                FollowupAction("action_listen"),
            ]
        if tracker.get_slot("block_confirmed") is not True:
            dispatcher.utter_message(response="utter_card_not_blocked")
            await bank(
                rt.repository.audit,
                conversation_id(tracker),
                cid,
                "block_card",
                "declined",
                card=mask_last4(card.last4),
            )
            return clear
        reason = str(tracker.get_slot("block_reason") or "lost")
        reference = await bank(
            rt.repository.block_card, card.id, reason, conversation_id(tracker), card.customer_id
        )
        dispatcher.utter_message(
            response="utter_card_blocked",
            last4=say_digits(card.last4),
            reference=spoken_reference(reference),
        )
        return [*clear, SlotSet("block_reference", reference), SlotSet("served", True)]


class ValidateFraudForm(FormValidationAction):
    """Keeps the disputed transaction's description, with any long numbers masked."""

    def name(self) -> str:
        return "validate_fraud_form"

    def validate_disputed_transaction(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if not text or text.startswith("/"):
            return {"disputed_transaction": None}
        return {"disputed_transaction": mask_free_text(text)[:300]}
