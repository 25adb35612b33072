"""Answers to frequent questions, read from data/knowledge/*.yml (designers edit those files)."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import latest_text
from dialogue.knowledge import City, Knowledge

BRANCH_HOURS = "utter_branch_hours"
BRANCHES_IN_CITY = "utter_branches_in_city"
INTEREST_RATES = "utter_interest_rates"
FEES = "utter_fees"


def _join(items: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b, and c"``."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def branch_hours_fields(knowledge: Knowledge) -> dict[str, str]:
    return {
        "branch_hours": knowledge.branch_hours,
        "closed": knowledge.closed,
        "phone_banking": knowledge.phone_banking,
    }


def branches_fields(city: City) -> dict[str, str]:
    count = f"{len(city.branches)} branch" + ("" if len(city.branches) == 1 else "es")
    return {"city": city.name, "count": count, "branches": "; ".join(city.branches)}


def published_answers(knowledge: Knowledge) -> list[tuple[str, dict[str, str]]]:
    """Every answer these actions give from the knowledge files, as (response, fields): the
    same for every caller, so ``ivr serve`` can synthesise them before the first call. Fees
    asked two at a time are two of these sentences; the prompt cache keeps each sentence."""
    return [
        (BRANCH_HOURS, branch_hours_fields(knowledge)),
        *((BRANCHES_IN_CITY, branches_fields(city)) for city in knowledge.cities),
        *((INTEREST_RATES, {"rates": rate}) for rate in knowledge.rates.values()),
        (INTEREST_RATES, {"rates": " ".join(knowledge.rates.values())}),
        *((FEES, {"fees": fee.say}) for fee in knowledge.fees),
        (FEES, {"fees": knowledge.fees_summary}),
    ]


class ActionBranchHours(Action):
    def name(self) -> str:
        return "action_branch_hours"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        knowledge = runtime.get().knowledge.get()
        dispatcher.utter_message(response=BRANCH_HOURS, **branch_hours_fields(knowledge))
        return []


class ActionBranchLocations(Action):
    """Branches in the city the caller named; asks for the city when none was named."""

    def name(self) -> str:
        return "action_branch_locations"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        knowledge = runtime.get().knowledge.get()
        spoken = tracker.get_slot("city")
        if not spoken:
            named = [c for c in knowledge.cities if c.name.lower() in latest_text(tracker).lower()]
            spoken = named[0].name if named else None
        if not spoken:
            dispatcher.utter_message(response="utter_ask_city")
            return []
        city = knowledge.city(str(spoken))
        if city is None:
            dispatcher.utter_message(
                response="utter_no_branch_in_city",
                city=str(spoken).title(),
                cities=_join([c.name for c in knowledge.cities]),
            )
            return [SlotSet("city", None)]
        dispatcher.utter_message(response=BRANCHES_IN_CITY, **branches_fields(city))
        return [SlotSet("city", None)]


class ActionInterestRates(Action):
    """The rate for the account type named, or all rates."""

    def name(self) -> str:
        return "action_interest_rates"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rates = runtime.get().knowledge.get().rates
        wanted = tracker.get_slot("account_type")
        chosen = [rates[wanted]] if wanted in rates else list(rates.values())
        dispatcher.utter_message(response=INTEREST_RATES, rates=" ".join(chosen))
        return [SlotSet("account_type", None)]


class ActionFees(Action):
    """The fee the caller asked about (by keyword), or the fees summary."""

    def name(self) -> str:
        return "action_fees"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        knowledge = runtime.get().knowledge.get()
        found = knowledge.fees_for(latest_text(tracker))
        text = " ".join(f.say for f in found[:2]) if found else knowledge.fees_summary
        dispatcher.utter_message(response=FEES, fees=text)
        return []
