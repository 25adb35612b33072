"""Complaints: a category and a one-sentence description become a ticket with a reference."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import bank, conversation_id, customer_id, latest_intent, latest_text
from dialogue.bank import mask_free_text
from dialogue.bank.security import spoken_reference

MAX_DESCRIPTION = 500


class ValidateComplaintForm(FormValidationAction):
    """Maps the caller's words to a category from data/knowledge/complaints.yml."""

    def name(self) -> str:
        return "validate_complaint_form"

    def extract_complaint_category(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """ "I want to complain about your fees" already names the category."""
        if tracker.get_slot("complaint_category") or latest_intent(tracker) != "complaint":
            return {}
        category = runtime.get().knowledge.get().complaint_category(latest_text(tracker))
        return {} if category.key == "other" else {"complaint_category": category.key}

    def validate_complaint_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        knowledge = runtime.get().knowledge.get()
        text = str(value or "")
        known = knowledge.category(text)
        category = known or knowledge.complaint_category(text)
        return {"complaint_category": category.key}

    def validate_complaint_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if not text or text.startswith("/"):
            return {"complaint_description": None}
        return {"complaint_description": mask_free_text(text)[:MAX_DESCRIPTION]}


class ActionSubmitComplaint(Action):
    """Stores the complaint ticket and reads its reference number."""

    def name(self) -> str:
        return "action_submit_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime.get()
        key = str(tracker.get_slot("complaint_category") or "other")
        category = rt.knowledge.get().category(key)
        reference = await bank(
            rt.repository.create_complaint,
            conversation_id(tracker),
            customer_id(tracker),
            key,
            str(tracker.get_slot("complaint_description") or ""),
        )
        dispatcher.utter_message(
            response="utter_complaint_logged",
            category=category.say if category else key,
            reference=spoken_reference(reference),
        )
        return [
            SlotSet("complaint_reference", reference),
            SlotSet("complaint_category", None),
            SlotSet("complaint_description", None),
        ]
