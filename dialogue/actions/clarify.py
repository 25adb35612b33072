"""Replaying a caller's turn as a clear intent: a confirmed guess, a menu key, a yes/no key.

This is the step Rasa's own two-stage fallback takes once the user affirms its guess: forget
the unclear turn (``UserUtteranceReverted``) and log the message again with the intent at full
confidence, so the rules and forms see what a clearly understood caller would have produced.
Slot mappings do not run on a logged message, so the unconditioned ones that the intent and
its entities fill (``pending_task`` from check_balance, ``city`` from an entity) are applied
here from the domain.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import ActionExecuted, EventType, SlotSet, UserUtteranceReverted, UserUttered
from rasa_sdk.types import DomainDict


def as_if_said(
    intent: str,
    *,
    text: str,
    entities: list[dict[str, Any]],
    domain: DomainDict,
    turns_to_forget: int = 1,
) -> list[EventType]:
    """Events that forget the latest ``turns_to_forget`` caller turns and replay ``intent``.

    The action that returns these must say nothing itself: what follows speaks for the turn.
    """
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": entities,
    }
    return [
        *[UserUtteranceReverted() for _ in range(turns_to_forget)],
        ActionExecuted("action_listen"),
        UserUttered(text, parse_data),
        *slot_events(intent, entities, domain),
    ]


def slot_events(intent: str, entities: list[dict[str, Any]], domain: DomainDict) -> list[EventType]:
    """What the domain's unconditioned from_intent/from_entity mappings fill for this turn."""
    events: list[EventType] = []
    for name, slot in (domain.get("slots") or {}).items():
        for mapping in slot.get("mappings") or []:
            if mapping.get("conditions") or not _intent_allowed(mapping, intent):
                continue
            if mapping.get("type") == "from_intent":
                events.append(SlotSet(name, mapping.get("value")))
                break
            if mapping.get("type") == "from_entity":
                value = next(
                    (e.get("value") for e in entities if e.get("entity") == mapping.get("entity")),
                    None,
                )
                if value is not None:
                    events.append(SlotSet(name, value))
                    break
    return events


def _intent_allowed(mapping: dict[str, Any], intent: str) -> bool:
    wanted = mapping.get("intent")
    if wanted is not None and intent not in ([wanted] if isinstance(wanted, str) else wanted):
        return False
    excluded = mapping.get("not_intent") or []
    return intent not in ([excluded] if isinstance(excluded, str) else excluded)
