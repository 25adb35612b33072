"""The live tracker store: conversations kept as tracker objects, latest session per turn."""

from __future__ import annotations

from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from dialogue.tracker_store import LiveTrackerStore

DOMAIN = Domain.from_dict(
    {"intents": ["greet"], "slots": {"city": {"type": "text", "mappings": []}}}
)


def _session(text: str, city: str) -> list:
    return [
        ActionExecuted(ACTION_SESSION_START_NAME),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered(text, {"name": "greet", "confidence": 1.0}),
        SlotSet("city", city),
    ]


async def test_a_saved_tracker_is_retrieved_as_the_same_object() -> None:
    store = LiveTrackerStore(DOMAIN)
    tracker = DialogueStateTracker.from_events("c1", _session("hi", "Boston"), DOMAIN.slots)
    await store.save(tracker)
    assert await store.retrieve("c1") is tracker
    assert list(await store.keys()) == ["c1"]
    assert await store.retrieve("other") is None


async def test_only_the_latest_session_takes_part_in_a_turn() -> None:
    store = LiveTrackerStore(DOMAIN)
    events = _session("hi", "Boston") + _session("hello again", "Denver")
    await store.save(DialogueStateTracker.from_events("c1", events, DOMAIN.slots))
    latest = await store.retrieve("c1")
    assert latest is not None
    assert latest.latest_message.text == "hello again"
    said = [e.text for e in latest.events if isinstance(e, UserUttered)]
    assert said == ["hello again"]
    full = await store.retrieve_full_tracker("c1")
    assert full is not None and len(full.events) == len(events)


async def test_a_forgotten_conversation_is_gone() -> None:
    store = LiveTrackerStore(DOMAIN)
    await store.save(DialogueStateTracker.from_events("c1", _session("hi", "Boston"), DOMAIN.slots))
    store.forget("c1")
    store.forget("never-seen")
    assert await store.retrieve("c1") is None
    assert list(await store.keys()) == []
