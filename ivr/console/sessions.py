"""Server-side console sessions: an opaque random id in a cookie, stored only as its SHA-256.

A session ends when it has been idle for ``console.idle_timeout_min``, when
``console.absolute_timeout_h`` have passed since its log-in, at log-out, and when its user is
disabled or given a new password. Each log-in makes a new id (a session id planted before
log-in is dropped, never promoted), and a user keeps at most ``MAX_PER_USER`` sessions. The
database copy of the ids is useless to a thief: a cookie must hold the id itself.
Blocking (database): call it off the event loop.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ivr.console import audit, csrf
from ivr.console.schema import READ_BUDGET_S
from ivr.console.users import User
from storage.db import Database, Tx

ID = re.compile(r"[A-Za-z0-9_-]{43}")
"""What ``secrets.token_urlsafe(32)`` makes; any other cookie value is not looked up."""
SEEN_EVERY_S = 60.0
"""``last_seen`` is written at most this often (not on every page): a session may be judged
idle up to this much early, never late."""
MAX_PER_USER = 8
"""A user's sessions beyond this many (the oldest) end at their next log-in."""


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions last (``console.*`` settings, in seconds)."""

    idle_s: float
    absolute_s: float


@dataclass(frozen=True)
class Session:
    """A live session and its user as of this request."""

    id_hash: str
    user: User
    csrf_token: str
    """The synchronizer token every form of this session carries (``csrf``)."""


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


class SessionStore:
    """Starts, finds and ends sessions."""

    def __init__(self, db: Database, policy: SessionPolicy, clock: Callable[[], float]) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock

    def start(self, user: User, replaces: str | None, source: str) -> tuple[str, Session]:
        """A new session for ``user`` (the id for the cookie, and the session). The session
        ``replaces`` names (the browser's previous one) ends; so do expired ones."""
        session_id = secrets.token_urlsafe(32)
        session = Session(id_hash(session_id), user, csrf.new_token())
        now = self.clock()
        with self.db.transaction() as tx:
            if replaces is not None and ID.fullmatch(replaces):
                tx.execute("DELETE FROM console_sessions WHERE id_hash = ?", (id_hash(replaces),))
            self._delete_expired(tx, now)
            tx.execute(
                "INSERT INTO console_sessions (id_hash, user_name, csrf_token, created_at,"
                " last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.id_hash,
                    user.name,
                    session.csrf_token,
                    now,
                    now,
                    now + self.policy.absolute_s,
                ),
            )
            tx.execute(
                "DELETE FROM console_sessions WHERE user_name = ? AND id_hash NOT IN"
                " (SELECT id_hash FROM console_sessions WHERE user_name = ?"
                " ORDER BY created_at DESC LIMIT ?)",
                (user.name, user.name, MAX_PER_USER),
            )
            audit.append(tx, now, user.name, audit.LOGIN, user.name, f"from {source}")
        return session_id, session

    def find(self, session_id: str | None) -> Session | None:
        """The live session with this id, else None (an expired one is deleted on sight)."""
        if session_id is None or not ID.fullmatch(session_id):
            return None
        key = id_hash(session_id)
        with self.db.reading(READ_BUDGET_S) as tx:
            row = tx.one(
                "SELECT s.*, u.role, u.created_at AS user_created_at, u.disabled_at"
                " FROM console_sessions s JOIN console_users u ON u.name = s.user_name"
                " WHERE s.id_hash = ?",
                (key,),
            )
        if row is None:
            return None
        now = self.clock()
        if (
            now >= row["expires_at"]
            or now - row["last_seen"] >= self.policy.idle_s
            or row["disabled_at"] is not None
        ):
            with self.db.transaction() as tx:
                tx.execute("DELETE FROM console_sessions WHERE id_hash = ?", (key,))
            return None
        if now - row["last_seen"] >= SEEN_EVERY_S:
            with self.db.transaction() as tx:
                tx.execute(
                    "UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?", (now, key)
                )
        user = User(row["user_name"], row["role"], row["user_created_at"], None)
        return Session(key, user, row["csrf_token"])

    def end(self, session: Session, source: str) -> None:
        """Log-out: the session is gone from the database, whoever holds its cookie."""
        now = self.clock()
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM console_sessions WHERE id_hash = ?", (session.id_hash,))
            audit.append(
                tx, now, session.user.name, audit.LOGOUT, session.user.name, f"from {source}"
            )

    def purge_expired(self) -> int:
        """Delete every session that is over (housekeeping; log-ins do it too)."""
        with self.db.transaction() as tx:
            return self._delete_expired(tx, self.clock())

    def _delete_expired(self, tx: Tx, now: float) -> int:
        return tx.execute(
            "DELETE FROM console_sessions WHERE expires_at <= ? OR last_seen <= ?",
            (now, now - self.policy.idle_s),
        )
