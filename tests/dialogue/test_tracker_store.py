"""The tracker stores: live tracker objects in process (latest session per turn), the SQL store
several Rasa servers share, and forgetting a finished call in either."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from dialogue.tracker_store import LiveTrackerStore, SharedTrackerStore, forget_conversation

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
    await store.forget("c1")
    await store.forget("never-seen")
    assert await store.retrieve("c1") is None
    assert list(await store.keys()) == []


async def test_the_shared_store_forgets_one_finished_call_and_keeps_the_others(
    postgres_url: str,
) -> None:
    """Several Rasa servers share this store: each reads what another saved, and a call's end
    deletes its events (slots such as account numbers) from the database."""
    address = urlsplit(postgres_url)

    def server() -> SharedTrackerStore:
        return SharedTrackerStore(
            DOMAIN,
            dialect="postgresql",
            host=address.hostname,
            port=address.port,
            db=address.path.lstrip("/"),
            username=address.username,
        )

    first, second = server(), server()
    for conversation, city in (("call-a", "Boston"), ("call-b", "Denver")):
        tracker = DialogueStateTracker.from_events(conversation, _session("hi", city), DOMAIN.slots)
        await first.save(tracker)
    seen = await second.retrieve("call-a")
    assert seen is not None and seen.get_slot("city") == "Boston"
    await forget_conversation(second, "call-a")
    assert await first.retrieve("call-a") is None
    kept = await first.retrieve("call-b")
    assert kept is not None and kept.get_slot("city") == "Denver"
    await forget_conversation(first, "call-b")


async def test_forgetting_reaches_through_rasa_wrappers_and_its_memory_store() -> None:
    from rasa.core.tracker_store import AwaitableTrackerStore, InMemoryTrackerStore

    memory = InMemoryTrackerStore(DOMAIN)
    await memory.save(
        DialogueStateTracker.from_events("c1", _session("hi", "Boston"), DOMAIN.slots)
    )
    await forget_conversation(AwaitableTrackerStore(memory), "c1")
    assert await memory.retrieve("c1") is None
    with pytest.raises(TypeError, match="cannot forget"):
        await forget_conversation(object(), "c1")
