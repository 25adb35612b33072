"""Where the assistant keeps each call's conversation, and how it forgets it when the call ends.

In process, conversations are live tracker objects in memory (:class:`LiveTrackerStore`).
Several Rasa servers share one SQL store (:class:`SharedTrackerStore`), and a stand-alone
``rasa run`` without one keeps Rasa's ``InMemoryTrackerStore``: :func:`forget_conversation`
drops a finished call from whichever the server has.

Rasa's ``InMemoryTrackerStore`` keeps every conversation as JSON and rebuilds the tracker from it
on each retrieval: every turn deserialises and serialises the whole call so far, so a turn costs
more the longer the call (README, Performance). This store
keeps the tracker object itself, so a turn's storage cost no longer grows with the call (nor,
with :mod:`dialogue.past_states` following it, the policies' replay of its history), and
lets the call layer forget a conversation when its call ends (a finished call's history would
otherwise stay in memory for the life of the process, and a reused conversation id would carry
over its slots).

The trade: Rasa mutates the tracker it retrieved before saving it, so a turn that fails halfway
leaves its earlier events in place instead of being rolled back. The call layer handles such a
failure by handing the caller to an agent, so nothing reads that conversation again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import (
    DialogueStateTracker,
    get_trackers_for_conversation_sessions,
)

from dialogue import past_states


class LiveTrackerStore(InMemoryTrackerStore):
    """Conversations as live ``DialogueStateTracker`` objects, one per conversation id."""

    def __init__(self, domain: Domain | None = None) -> None:
        super().__init__(domain or Domain.empty())
        self.trackers: dict[str, DialogueStateTracker] = {}

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        self.trackers[tracker.sender_id] = tracker
        past_states.follow(tracker)

    async def keys(self) -> Iterable[str]:
        return self.trackers.keys()

    async def _retrieve(
        self, sender_id: str, fetch_all_sessions: bool
    ) -> DialogueStateTracker | None:
        tracker = self.trackers.get(sender_id)
        if tracker is None or fetch_all_sessions or _sessions(tracker) <= 1:
            return tracker
        # Like Rasa's stores: only the latest conversation session takes part in a turn.
        return get_trackers_for_conversation_sessions(tracker)[-1]

    async def forget(self, sender_id: str) -> None:
        """Drop a conversation (its call has ended)."""
        tracker = self.trackers.pop(sender_id, None)
        if tracker is not None:
            past_states.forget(tracker)


class SharedTrackerStore(SQLTrackerStore):
    """Rasa's SQL store (PostgreSQL for several servers), able to forget a finished call.

    Every server reads and writes each conversation here, so any of them can take its next
    turn. Rasa keeps a conversation for ever; a bank's hotline must not keep a finished call's
    slots (account numbers, amounts), so the call's end deletes its events. Configured in a
    Rasa server's endpoints file as ``tracker_store: {type:
    dialogue.tracker_store.SharedTrackerStore, dialect: postgresql, ...}``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watched: dict[str, DialogueStateTracker | None] = {}

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        if tracker.sender_id in self._watched:
            self._watched[tracker.sender_id] = tracker

    @contextlib.contextmanager
    def watching(self, sender_id: str) -> Iterator[Callable[[], DialogueStateTracker | None]]:
        """What the turn under way saves for ``sender_id``, kept so that it need not be read
        back from the database (a tracker is rebuilt from every event of the call). Used under
        the conversation's lock: one turn per conversation at a time, so a bounded table."""
        self._watched[sender_id] = None
        try:
            yield lambda: self._watched.get(sender_id)
        finally:
            self._watched.pop(sender_id, None)

    async def forget(self, sender_id: str) -> None:
        with self.session_scope() as session:
            session.query(self.SQLEvent).filter(self.SQLEvent.sender_id == sender_id).delete()
            session.commit()


def unwrapped(store: Any) -> Any:
    """The tracker store inside Rasa's wrappers (``AwaitableTrackerStore`` and the like)."""
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    return store


async def forget_conversation(store: Any, sender_id: str) -> None:
    """Drop ``sender_id`` from a Rasa server's tracker store (possibly wrapped by Rasa)."""
    store = unwrapped(store)
    if isinstance(store, (LiveTrackerStore, SharedTrackerStore)):
        await store.forget(sender_id)
    elif isinstance(store, InMemoryTrackerStore):
        store.store.pop(sender_id, None)
    else:
        raise TypeError(f"{type(store).__name__} cannot forget a conversation")


def _sessions(tracker: DialogueStateTracker) -> int:
    """How many conversation sessions the tracker holds (counted without rebuilding them)."""
    return sum(
        1
        for event in tracker.events
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME
    )
