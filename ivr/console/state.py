"""What the console's handlers share: its stores and settings on the app, the session on the
request (put there by ``auth`` once the request has proved it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

from aiohttp import web

from ivr.config import ConsoleConfig
from ivr.console.analytics import AnalyticsQueries
from ivr.console.audit import AuditLog
from ivr.console.queries import CallQueries
from ivr.console.sessions import Session, SessionStore
from ivr.console.throttle import LoginThrottle
from ivr.console.users import UserStore

SESSION = "ivr.console.session"
"""The request key of the caller's live session."""


@dataclass(frozen=True)
class ConsoleState:
    """The stores (blocking: handlers call them with ``asyncio.to_thread``) and settings."""

    config: ConsoleConfig
    users: UserStore
    sessions: SessionStore
    audit: AuditLog
    calls: CallQueries
    analytics: AnalyticsQueries
    throttle: LoginThrottle
    password_checks: asyncio.Semaphore
    """scrypt runs (32 MiB each) at once: log-ins and password changes wait their turn."""
    clock: Callable[[], float]

    def today(self) -> date:
        """The current UTC day by the console's clock (the dashboard's default period ends it)."""
        return datetime.fromtimestamp(self.clock(), timezone.utc).date()

    def secure_cookie(self, request: web.Request) -> bool:
        return self.config.secure_cookie or request.secure


STATE = web.AppKey("ivr.console.state", ConsoleState)


def state_of(request: web.Request) -> ConsoleState:
    return request.app[STATE]


def session_of(request: web.Request) -> Session:
    """The live session of a request ``auth`` let through to a page for logged-in users."""
    session = request.get(SESSION)
    if not isinstance(session, Session):
        raise RuntimeError(f"{request.path} is served without a session check")
    return session
