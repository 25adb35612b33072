"""Who may open the talk page's media WebSocket: one-time tickets, one call per session.

The page asks for a ticket with a CSRF-protected POST and opens the socket with it at once. A
ticket is random, bound to the console session that asked, good for ``TICKET_TTL_S`` and for one
connection; the upgrade must also carry that session's cookie, so neither a leaked ticket nor a
cookie alone opens a call. Only the ticket's SHA-256 is kept (looked up, never compared), and
only in this process's memory: a ticket is worth seconds, and the server that issued it is the
one that takes its call. A session holds at most one ticket and one live call; it keeps the peer
id of its latest call so the page can follow that call's turns.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TICKET_TTL_S = 30.0
MAX_SESSIONS = 1000
"""Tickets outstanding and latest calls remembered (one of each per session); beyond it the
oldest is forgotten."""


@dataclass(frozen=True)
class _Ticket:
    session: str
    expires_at: float


class BrowserCalls:
    """Tickets for browser calls and each session's live and latest call."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._tickets: dict[str, _Ticket] = {}
        self._live: set[str] = set()
        self._latest: dict[str, str] = {}
        """Session -> peer id of its latest browser call."""

    def issue(self, session: str) -> str | None:
        """A new ticket for ``session`` (an id hash), replacing any it held; None while the
        session has a call."""
        if session in self._live:
            return None
        now = self.clock()
        self._tickets = {
            key: ticket
            for key, ticket in self._tickets.items()
            if ticket.session != session and ticket.expires_at > now
        }
        _forget_oldest(self._tickets)
        ticket = secrets.token_urlsafe(32)
        self._tickets[_key(ticket)] = _Ticket(session, now + TICKET_TTL_S)
        return ticket

    def redeem(self, ticket: str | None, session: str, peer_call_id: str) -> bool:
        """Spend ``ticket`` for a call of ``session``: True if it is this session's, unused and
        unexpired, and the session has no call yet; the call is then live until ``hung_up``."""
        if not ticket or len(ticket) > 100:
            return False
        held = self._tickets.pop(_key(ticket), None)
        if held is None or held.session != session or held.expires_at <= self.clock():
            return False
        if session in self._live:
            return False
        self._live.add(session)
        self._latest.pop(session, None)
        _forget_oldest(self._latest)
        self._latest[session] = peer_call_id
        return True

    def hung_up(self, session: str) -> None:
        self._live.discard(session)

    def live(self, session: str) -> bool:
        return session in self._live

    def latest(self, session: str) -> str | None:
        """The peer id of the session's latest browser call, if it placed one."""
        return self._latest.get(session)


def _forget_oldest(entries: dict[str, Any]) -> None:
    """Make room for one more entry within ``MAX_SESSIONS`` (dicts keep insertion order)."""
    while len(entries) >= MAX_SESSIONS:
        del entries[next(iter(entries))]


def _key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()
