"""Calls the bot handed back to their platform for an agent, kept for the platform to ask about.

AudioSocket and media streams carry no transfer request. When a caller asks for an agent on
one of them, the bot leaves the stream and the platform decides what happens next: Asterisk's
dialplan asks ``GET /calls/{id}/next`` (with ``CURL()``), Twilio requests the ``<Connect
action=...>`` URL. Both read this board.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

KEEP_S = 600.0
"""How long a handoff stays answerable: the platform asks within seconds of the stream ending."""
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class PlatformHandoff:
    """One caller the bot wants taken to an agent."""

    call_id: str
    target: str
    """``call.agent_uri``: where the platform should send the caller."""
    reason: str
    """Why (caller_request, pin_locked, frustration, ...); no secrets, no account numbers."""
    at: float


class HandoffBoard:
    """Recent handoffs by call id; old entries fall off after ``keep_s``."""

    def __init__(self, keep_s: float = KEEP_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._keep_s = keep_s
        self._clock = clock
        self._entries: OrderedDict[str, PlatformHandoff] = OrderedDict()

    def post(self, call_id: str, target: str, reason: str) -> None:
        self._prune()
        self._entries[call_id] = PlatformHandoff(call_id, target, reason, self._clock())
        self._entries.move_to_end(call_id)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def get(self, call_id: str) -> PlatformHandoff | None:
        """The handoff of ``call_id``, or None when the bot did not hand it off (or long ago)."""
        self._prune()
        return self._entries.get(call_id)

    def _prune(self) -> None:
        oldest = self._clock() - self._keep_s
        while self._entries:
            first = next(iter(self._entries.values()))
            if first.at >= oldest:
                break
            self._entries.popitem(last=False)
