"""Replays of recorded calls through the current bot, started from a call's page and run in the
background: at most ``AT_ONCE`` server-wide (a replay is one more call on the engines the live
callers use), each stopped after ``TIMEOUT_S``, the latest result per call kept for its page.

The replay itself (``ivr.qa.console_replay``) is handed in by whoever starts the server
(``ivr serve``): the QA tools dial the bot's own server, so the console cannot import them.
The operator's keys and test PIN live only in the order while it runs: never in a job, a log
line or the audit log.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.console.background import Background
from ivr.logs import get_logger
from ivr.qa.report import scrub
from ivr.qa.results import CallResult
from ivr.services import Services
from logfields import fields

log = get_logger(__name__)

AT_ONCE = 1
TIMEOUT_S = 600.0
KEPT = 100
"""Finished replays remembered (the newest per call), for their pages."""


class ReplayBusy(Exception):
    """No replay can start now; the message says why, for the page."""


@dataclass(frozen=True)
class ReplayOrder:
    """One call to replay: its recording, its record, and what the operator keys for it."""

    call_id: str
    recording: Path
    call: dict[str, Any]
    turns: list[dict[str, Any]]
    keys: tuple[str, ...] = field(repr=False)
    pin: str | None = field(repr=False)


Replayer = Callable[[Services, ReplayOrder], Awaitable[CallResult]]


@dataclass
class ReplayJob:
    """A replay as its call's page shows it."""

    call_id: str
    requested_by: str
    started_at: float
    finished_at: float | None = None
    result: CallResult | None = None
    error: str = ""

    @property
    def running(self) -> bool:
        return self.finished_at is None


class ReplayDesk:
    """Starts replays within the limits and keeps their outcome."""

    def __init__(
        self,
        services: Services,
        replayer: Replayer,
        *,
        at_once: int = AT_ONCE,
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.replayer = replayer
        self.at_once = at_once
        self.timeout_s = timeout_s
        self.clock = clock
        self._jobs: OrderedDict[str, ReplayJob] = OrderedDict()
        self._tasks = Background()

    def latest(self, call_id: str) -> ReplayJob | None:
        return self._jobs.get(call_id)

    def start(self, order: ReplayOrder, user: str) -> ReplayJob:
        """Start replaying ``order`` in the background; ReplayBusy when over the limit."""
        running = self.latest(order.call_id)
        if running is not None and running.running:
            raise ReplayBusy("This call is being replayed already; its result will show here.")
        if len(self._tasks) >= self.at_once:
            raise ReplayBusy(
                f"{len(self._tasks)} replay(s) running, the most at once: try again when done."
            )
        job = ReplayJob(order.call_id, user, self.clock())
        self._jobs.pop(order.call_id, None)
        self._jobs[order.call_id] = job
        while len(self._jobs) > KEPT:
            self._jobs.popitem(last=False)
        self._tasks.spawn(self._run(job, order), f"replay-{order.call_id}")
        return job

    async def close(self) -> None:
        """Stop replays still running (the server is stopping)."""
        await self._tasks.close()

    async def _run(self, job: ReplayJob, order: ReplayOrder) -> None:
        try:
            job.result = await asyncio.wait_for(self.replayer(self.services, order), self.timeout_s)
            job.error = scrub(job.result.error, (order.pin or "",))
        except asyncio.TimeoutError:
            job.error = f"stopped after {self.timeout_s:.0f} s"
        except Exception as exc:
            log.exception("console.replay_failed", extra=fields(call_id=job.call_id))
            job.error = scrub(f"{type(exc).__name__}: {exc}", (order.pin or "",))
        finally:
            job.finished_at = self.clock()
        log.info(
            "console.replay",
            extra=fields(
                call_id=job.call_id,
                user=job.requested_by,
                passed=job.result is not None and job.result.passed,
                error=job.error,
            ),
        )
