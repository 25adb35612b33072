"""A table keyed by peer address that holds at most a fixed number of entries.

Per-source limits (connection rates, SIP message density) keep state for every address that
sends anything, and a flood from many addresses must not grow that state without bound: when
the table is full, the address seen least recently is forgotten to make room.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class LruTable(Generic[V]):
    """At most ``max_entries`` values by key; :meth:`touch` makes a key the most recent."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, max_entries)
        self.forgotten = 0
        """Entries dropped to make room, so far."""
        self._entries: OrderedDict[str, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        """The value of ``key`` without making it more recent (None when not held)."""
        return self._entries.get(key)

    def values(self) -> Iterator[V]:
        return iter(self._entries.values())

    def touch(self, key: str, make: Callable[[], V]) -> V:
        """The value of ``key`` (``make()`` when not held, forgetting the least recent key
        if the table is full), now the most recent."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
            return value
        if len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
            self.forgotten += 1
        value = self._entries[key] = make()
        return value
