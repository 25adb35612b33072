"""The one-question satisfaction survey at the end of a self-served call."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import bank, conversation_id, customer_id, latest_intent
from dialogue.spoken import parse_score


def score_of(value: Any, *, answering: bool = False) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if 1 <= value <= 5 else None
    return parse_score(str(value or ""), answering=answering)


class ValidateSurveyForm(FormValidationAction):
    """Accepts 1 to 5 from the keypad or from speech ("four", "I'd say five", "excellent")."""

    def name(self) -> str:
        return "validate_survey_form"

    def validate_survey_score(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        score = score_of(value, answering=True)
        if score is None:
            dispatcher.utter_message(response="utter_invalid_survey_score")
        return {"survey_score": score}


class ActionStoreSurvey(Action):
    """Stores the score with the call; also takes a score given unprompted (rate_service)."""

    def name(self) -> str:
        return "action_store_survey"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        score = score_of(tracker.get_slot("survey_score"))
        if score is None and latest_intent(tracker) == "rate_service":
            score = score_of((tracker.latest_message or {}).get("text"))
        if score is not None:
            await bank(
                runtime.get().repository.record_survey,
                conversation_id(tracker),
                customer_id(tracker),
                score,
            )
        dispatcher.utter_message(response="utter_survey_thanks")
        return [SlotSet("survey_score", None), SlotSet("served", False)]
