"""The inbound event queue a bridge hands its CallSession: ordered, bounded, final on hang-up."""

from __future__ import annotations

import asyncio
from collections import deque

from telephony.bridge import BridgeEvent, Hangup

EVENT_QUEUE_LIMIT = 1500
"""Caller events buffered for a session that is not reading (30 s of audio); then audio and
digits drop (counted in ``dropped``); the hang-up always gets through."""


class EventChannel:
    """Caller events for the session, in order; after a Hangup it keeps returning that Hangup."""

    def __init__(self, limit: int = EVENT_QUEUE_LIMIT) -> None:
        self._items: deque[BridgeEvent] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._limit = limit
        self.final: Hangup | None = None
        self.dropped = 0

    def put(self, event: BridgeEvent) -> None:
        if self.final is not None:
            return
        if isinstance(event, Hangup):
            self.final = event
        elif len(self._items) >= self._limit:
            self.dropped += 1
            return
        self._items.append(event)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> BridgeEvent:
        while not self._items:
            if self.final is not None:
                return self.final
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return self._items.popleft()
