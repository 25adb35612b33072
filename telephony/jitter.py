"""A small RTP reorder buffer: in-order delivery, duplicates dropped, bounded wait for losses.

Pure logic, no I/O or clocks: packets come in by sequence number and leave in order as soon as
they are next; a missing packet is waited for only while at most ``window`` later packets are
held, then counted lost and skipped. With no loss or reordering nothing is held at all, so the
buffer adds no delay to a clean stream (the bot's turn-taking depends on low latency).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from telephony.rtp import seq_diff

T = TypeVar("T")

RESET_DISTANCE = 200
"""A sequence jump this large (either way) is a restarted stream, not reordering."""


class ReorderBuffer(Generic[T]):
    """Orders items by 16-bit RTP sequence number (RFC 3550 appendix A.1 arithmetic)."""

    def __init__(self, window: int = 3) -> None:
        self.window = max(0, window)
        self._next: int | None = None
        self._pending: dict[int, T] = {}
        self._recent: deque[int] = deque(maxlen=64)
        self.duplicates = 0
        self.late = 0
        self.lost = 0
        self.reordered = 0
        self.resets = 0

    def reset(self) -> None:
        """Forget the stream (new SSRC); anything held is discarded."""
        self._next = None
        self._pending.clear()
        self._recent.clear()

    def push(self, seq: int, item: T) -> list[T]:
        """Add one packet; return the items now deliverable, in order."""
        if self._next is None:
            self._next = seq
        distance = seq_diff(seq, self._next)
        out: list[T] = []
        if distance < 0 or distance > RESET_DISTANCE:
            if abs(distance) <= RESET_DISTANCE:
                if seq in self._recent or seq in self._pending:
                    self.duplicates += 1
                else:
                    self.late += 1
                return out
            # The peer restarted its sequence: deliver what is held, then follow the new one.
            self.resets += 1
            out.extend(self._pending[s] for s in sorted(self._pending, key=self._order))
            self._pending.clear()
            self._next = seq
            distance = 0
        if seq in self._pending:
            self.duplicates += 1
            return out
        if distance == 0 and self._pending:
            self.reordered += 1  # it fills a gap that later packets had opened
        self._pending[seq] = item
        self._drain(out)
        while len(self._pending) > self.window:
            first = min(self._pending, key=self._order)
            self.lost += seq_diff(first, self._next)
            self._next = first
            self._drain(out)
        return out

    def _order(self, seq: int) -> int:
        assert self._next is not None
        return seq_diff(seq, self._next)

    def _drain(self, out: list[T]) -> None:
        assert self._next is not None
        while self._next in self._pending:
            out.append(self._pending.pop(self._next))
            self._recent.append(self._next)
            self._next = (self._next + 1) & 0xFFFF

    @property
    def held(self) -> int:
        return len(self._pending)
