"""Who is on each conversation, as the transport saw it: the key for per-caller limits.

The dialogue client registers the identity the call layer gives it in ``begin()`` (metadata
key :data:`IDENTITY_KEY`, taken out before anything reaches Rasa) and forgets it in
``end()``; the custom actions look it up by conversation id. It never comes from a tracker,
which anyone who can post to the action server controls. Like the PIN vault, the registry
lives in this process's memory: the action server runs in the same process as the client.

A conversation nobody registered gets :data:`UNKNOWN_CALLER`, one bucket shared by all such
conversations, so a missing identity is throttled, not exempt.
"""

from __future__ import annotations

import threading

IDENTITY_KEY = "caller_identity"
UNKNOWN_CALLER = "unknown"


class CallerRegistry:
    """Conversation id -> caller identity; thread-safe."""

    def __init__(self) -> None:
        self._identities: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, conversation_id: str, identity: str) -> None:
        with self._lock:
            self._identities[conversation_id] = identity or UNKNOWN_CALLER

    def identity(self, conversation_id: str) -> str:
        """The registered identity, else :data:`UNKNOWN_CALLER`."""
        with self._lock:
            return self._identities.get(conversation_id, UNKNOWN_CALLER)

    def forget(self, conversation_id: str) -> None:
        with self._lock:
            self._identities.pop(conversation_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._identities)

    def __repr__(self) -> str:  # identities are personal data (phone numbers)
        return f"<CallerRegistry {len(self)} conversation(s)>"


default_callers = CallerRegistry()
"""The process-wide registry shared by the dialogue client and the in-process action server."""
