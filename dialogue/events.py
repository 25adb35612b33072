"""Reading a turn out of Rasa's tracker events (as JSON): what the bot said, what NLU made of it.

Both clients read a turn this way: the in-process one from its live tracker, the HTTP one from
the events the Rasa server's ``/webhooks/rest/turn`` returns (:mod:`dialogue.rest_channel`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def bot_messages_after_last_user(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bot utterances (text and custom payload together) since the last user message."""
    out: list[dict[str, Any]] = []
    for event in reversed(events):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            data = event.get("data") or {}
            out.append({"text": event.get("text"), "custom": data.get("custom")})
    return list(reversed(out))


def since_last_user(events: Sequence[Any]) -> list[dict[str, Any]]:
    """The latest user message's event and every event after it, as JSON.

    Walks back from the end only: a turn's cost does not grow with the length of the call.
    """
    tail = []
    for event in reversed(events):
        tail.append(event.as_dict())
        if event.type_name == "user":
            break
    return list(reversed(tail))


def last_parse_data(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What NLU made of the latest user message (intent, confidence, entities)."""
    for event in reversed(events):
        if event.get("event") == "user":
            return dict(event.get("parse_data") or {})
    return {}
