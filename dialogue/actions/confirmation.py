"""The confirmation band: "You'd like your balance, is that right?" before acting on a guess.

NLU marks a message ``nlu_confirm`` when a costly intent was guessed with middling confidence
(:mod:`dialogue.confidence_bands`); the guess is second in its intent ranking. Each such intent
has its question in the domain as ``utter_confirm_<intent>``. Yes replays the turn as that
intent said clearly (:func:`~dialogue.actions.clarify.as_if_said`); no is a misunderstanding
and goes to ``action_fallback``, which asks what the caller wants.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from dialogue.actions.clarify import as_if_said
from dialogue.actions.common import NLU_CONFIRM

ASK_CONFIRMATION = "action_confirm_intent"


def confirmation_response(intent: str) -> str:
    return f"utter_confirm_{intent}"


def guessed_intent(parse_data: dict[str, Any]) -> str | None:
    """The intent NLU guessed for an ``nlu_confirm`` message (next in its ranking)."""
    ranking = [r for r in parse_data.get("intent_ranking") or [] if r.get("name")]
    guesses = [str(r["name"]) for r in ranking if r["name"] != NLU_CONFIRM]
    return guesses[0] if guesses else None


def _confirmed_message(tracker: Tracker) -> dict[str, Any]:
    """The caller's latest ``nlu_confirm`` message, as logged."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        parse_data = event.get("parse_data") or {}
        if (parse_data.get("intent") or {}).get("name") == NLU_CONFIRM:
            return dict(event)
    return {}


class ActionConfirmIntent(Action):
    """Asks whether the guessed intent is what the caller wants (hints yes/no)."""

    def name(self) -> str:
        return ASK_CONFIRMATION

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        intent = guessed_intent(latest)
        if intent is None or confirmation_response(intent) not in (domain.get("responses") or {}):
            # config.yml confirms an intent the domain has no question for: act on the guess.
            return as_if_said(
                intent or "nlu_fallback",
                text=str(latest.get("text") or ""),
                entities=list(latest.get("entities") or []),
                domain=domain,
            )
        dispatcher.utter_message(response=confirmation_response(intent))
        return []


class ActionProceedConfirmed(Action):
    """Yes to the confirmation: carry on as if the caller had said the intent clearly."""

    def name(self) -> str:
        return "action_proceed_confirmed"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = _confirmed_message(tracker)
        parse_data = message.get("parse_data") or {}
        intent = guessed_intent(parse_data)
        if intent is None:
            dispatcher.utter_message(response="utter_what_else")
            return []
        # Forget the "yes" and the unclear turn before it.
        return as_if_said(
            intent,
            text=str(message.get("text") or ""),
            entities=list(parse_data.get("entities") or []),
            domain=domain,
            turns_to_forget=2,
        )
