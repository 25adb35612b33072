"""Where the in-process assistant keeps each call's conversation: live tracker objects in memory.

Rasa's ``InMemoryTrackerStore`` keeps every conversation as JSON and rebuilds the tracker from it
on each retrieval: every turn deserialises and serialises the whole call so far, so a turn costs
more the longer the call (README, Performance). This store
keeps the tracker object itself, so a turn's storage cost no longer grows with the call, and
lets the call layer forget a conversation when its call ends (a finished call's history would
otherwise stay in memory for the life of the process, and a reused conversation id would carry
over its slots).

The trade: Rasa mutates the tracker it retrieved before saving it, so a turn that fails halfway
leaves its earlier events in place instead of being rolled back. The call layer handles such a
failure by handing the caller to an agent, so nothing reads that conversation again.
"""

from __future__ import annotations

from collections.abc import Iterable

from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import (
    DialogueStateTracker,
    get_trackers_for_conversation_sessions,
)


class LiveTrackerStore(InMemoryTrackerStore):
    """Conversations as live ``DialogueStateTracker`` objects, one per conversation id."""

    def __init__(self, domain: Domain | None = None) -> None:
        super().__init__(domain or Domain.empty())
        self.trackers: dict[str, DialogueStateTracker] = {}

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        self.trackers[tracker.sender_id] = tracker

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

    def forget(self, sender_id: str) -> None:
        """Drop a conversation (its call has ended)."""
        self.trackers.pop(sender_id, None)


def _sessions(tracker: DialogueStateTracker) -> int:
    """How many conversation sessions the tracker holds (counted without rebuilding them)."""
    return sum(
        1
        for event in tracker.events
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME
    )
