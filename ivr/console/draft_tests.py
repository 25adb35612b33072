"""The test of the designers' draft that the Versions page starts and shows: one at a time per
server (a second click while one runs shows the running one), run in the background, its
progress read by the page while it runs.

The test itself (``ivr.qa.draft_testing``) is handed in by whoever starts the server, as the
call page's replays are (``ivr.console.replays``): it dials the bot's own engines, so the console
cannot import it. It bounds itself by ``design.test_timeout_s``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ivr.console.background import Background
from ivr.logs import get_logger
from ivr.services import Services
from ivr.versions.draft import Draft
from ivr.versions.testing import DraftTest

log = get_logger(__name__)

DraftTester = Callable[[Services, Draft, DraftTest], Awaitable[DraftTest]]
"""How a server tests the draft on its engines (``ivr.qa.draft_testing``)."""
TestDraft = Callable[[Draft, DraftTest], Awaitable[DraftTest]]
"""Runs one test of the draft into the given record."""


class DraftTestDesk:
    """Starts the draft's test and keeps the latest one for the page."""

    def __init__(
        self, draft: Draft, tester: TestDraft, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.draft = draft
        self.tester = tester
        self.clock = clock
        self.latest: DraftTest | None = None
        """The running test, else the last one this server ran (its report is on the draft)."""
        self._tasks = Background()

    def start(self, user: str) -> bool:
        """Start a test by ``user`` unless one is running (``latest``); whether it started one."""
        if self.latest is not None and self.latest.running:
            return False
        test = DraftTest.start(user, self.clock())
        self.latest = test
        self._tasks.spawn(self._run(test), "draft-test")
        return True

    async def close(self) -> None:
        """Stop a test still running (the server is stopping)."""
        await self._tasks.close()

    async def _run(self, test: DraftTest) -> None:
        try:
            await self.tester(self.draft, test)
        except Exception as exc:  # the tester reports failures itself; this is a bug in it
            log.exception("console.draft_test_failed")
            test.error = f"{type(exc).__name__}: {exc}"
            test.passed = False
            test.finished_at = self.clock()
