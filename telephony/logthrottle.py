"""Warnings a hostile peer can trigger at will, logged a bounded number of times.

A refused connection or a dropped datagram is worth one log line, but a flood of them would
bury the log (and cost a write each). ``LogThrottle`` logs the first event of each kind at
once, then at most one line per ``interval_s`` for that kind, saying how many like it were
left out since the last line. The counters beside it still count every event; the log only
says that it is happening. A kind is a small fixed key such as (transport, reason), never a
peer's address, so the table of kinds stays small.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

INTERVAL_S = 10.0
"""At most one line per kind of event in this long."""


@dataclass
class _Kind:
    logged_at: float
    suppressed: int = 0


class LogThrottle:
    """Per-kind rate limit on warnings (see the module docstring)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._clock = clock
        self._kinds: dict[Hashable, _Kind] = {}

    def warning(self, kind: Hashable, msg: str, *args: Any) -> None:
        """Log ``msg % args`` unless a line of this ``kind`` went out less than
        ``interval_s`` ago; a line after a quiet stretch says how many were left out."""
        now = self._clock()
        seen = self._kinds.get(kind)
        if seen is None:
            self._kinds[kind] = _Kind(now)
            self.logger.warning(msg, *args)
            return
        if now - seen.logged_at < self.interval_s:
            seen.suppressed += 1
            return
        suppressed, seen.suppressed, seen.logged_at = seen.suppressed, 0, now
        if suppressed:
            self.logger.warning(
                msg + " (and %d more like it since the last such line, not logged)",
                *args,
                suppressed,
                extra={"suppressed": suppressed},
            )
        else:
            self.logger.warning(msg, *args)
