"""Keyset (seek) pagination: a page ends at its last row's (time, key); the next starts after it.

Pages of 100,000 calls cost the same at the end as at the start: the database seeks in an index
on (time, key) instead of counting past an offset, and rows added meanwhile shift nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Row keys a cursor may carry (bot call ids, audit ids)."""
SEPARATOR = "~"


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: rows older than (at, key) come next (newest first)."""

    at: float
    key: str

    def __str__(self) -> str:
        return f"{self.at!r}{SEPARATOR}{self.key}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor ``str`` made; ValueError for anything else."""
        at_text, sep, key = text.partition(SEPARATOR)
        if not sep or not KEY.fullmatch(key) or len(at_text) > 32:
            raise ValueError("not a page cursor")
        at = float(at_text)
        if not math.isfinite(at) or not 0 <= at < 1e11:
            raise ValueError("not a page cursor")
        return cls(at, key)

    def seek(self, at_column: str, key_column: str) -> tuple[str, tuple[float, str]]:
        """The WHERE condition (and its parameters) for rows after this cursor."""
        return f"({at_column}, {key_column}) < (?, ?)", (self.at, self.key)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, newest first, and where the next one starts (None: no more)."""

    rows: list[T]
    next: Cursor | None


def page_of(rows: Sequence[T], limit: int, cursor_of: Callable[[T], Cursor]) -> Page[T]:
    """A page from up to ``limit + 1`` rows: the extra row only says that more follow."""
    shown = list(rows[:limit])
    more = len(rows) > limit and bool(shown)
    return Page(shown, cursor_of(shown[-1]) if more else None)
