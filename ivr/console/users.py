"""Console users: names, roles and password hashes in ``console_users``; checked at log-in.

A user is never deleted, only disabled (the audit log keeps naming them). Disabling a user or
setting their password ends their sessions in the same transaction, so a stolen session dies
with the password it came from. Every change writes its audit row in that transaction too.
Blocking (scrypt, database): call it off the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ivr.console import audit
from ivr.console.passwords import burn_check_time, check_password, hash_password, verify_password
from ivr.console.roles import ROLES
from ivr.console.schema import READ_BUDGET_S
from ivr.logs import get_logger
from logfields import fields
from storage.db import Database, Row, Tx

log = get_logger(__name__)

NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
"""User names: lower case, 1-64 characters; log-in folds what is typed to lower case."""
NAME_RULE = "1-64 lower-case letters, digits and . _ @ - (starting with a letter or digit)"
_COLUMNS = "name, role, created_at, disabled_at"


class UserError(ValueError):
    """A user cannot be added or changed as asked; the message says why, for the operator."""


@dataclass(frozen=True)
class User:
    """A console user as the pages see it (never the password hash)."""

    name: str
    role: str
    created_at: float
    disabled_at: float | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @classmethod
    def from_row(cls, row: Row) -> User:
        return cls(row["name"], row["role"], row["created_at"], row["disabled_at"])


def check_name(name: str) -> None:
    """UserError unless ``name`` is a valid user name."""
    if not NAME.fullmatch(name):
        raise UserError(f"a user name is {NAME_RULE}")


class UserStore:
    """Adds, lists, disables and authenticates console users."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    def add(self, name: str, role: str, password: str, actor: str) -> User:
        """A new active user; UserError if the name is taken or a field is not allowed."""
        check_name(name)
        if role not in ROLES:
            raise UserError(f"a role is one of {', '.join(ROLES)}")
        _check_password(password, name)
        password_hash = hash_password(password)
        now = self.clock()
        with self.db.transaction() as tx:
            if tx.one("SELECT name FROM console_users WHERE name = ?", (name,)) is not None:
                raise UserError(f"user {name!r} already exists")
            tx.execute(
                "INSERT INTO console_users (name, role, password_hash, created_at,"
                " password_set_at) VALUES (?, ?, ?, ?, ?)",
                (name, role, password_hash, now, now),
            )
            audit.append(tx, now, actor, audit.USER_ADD, name, f"role {role}")
        log.info("console.user_added", extra=fields(user=name, role=role, actor=actor))
        return User(name, role, now, None)

    def all(self) -> list[User]:
        """Every user, active ones first, by name."""
        with self.db.reading(READ_BUDGET_S) as tx:
            rows = tx.all(
                f"SELECT {_COLUMNS} FROM console_users"
                " ORDER BY CASE WHEN disabled_at IS NULL THEN 0 ELSE 1 END, name"
            )
        return [User.from_row(row) for row in rows]

    def disable(self, name: str, actor: str) -> User:
        """Disable an active user and end their sessions; UserError if there is none."""
        now = self.clock()
        with self.db.transaction() as tx:
            row = _row(tx, name)
            if row["disabled_at"] is not None:
                raise UserError(f"user {name!r} is already disabled")
            tx.execute("UPDATE console_users SET disabled_at = ? WHERE name = ?", (now, name))
            _end_sessions(tx, name)
            audit.append(tx, now, actor, audit.USER_DISABLE, name)
        log.info("console.user_disabled", extra=fields(user=name, actor=actor))
        return User(name, row["role"], row["created_at"], now)

    def set_password(self, name: str, password: str, actor: str) -> None:
        """Replace the user's password and end their sessions; UserError if not allowed."""
        _check_password(password, name)
        password_hash = hash_password(password)
        now = self.clock()
        with self.db.transaction() as tx:
            _row(tx, name)
            tx.execute(
                "UPDATE console_users SET password_hash = ?, password_set_at = ? WHERE name = ?",
                (password_hash, now, name),
            )
            _end_sessions(tx, name)
            audit.append(tx, now, actor, audit.USER_PASSWORD, name)
        log.info("console.password_set", extra=fields(user=name, actor=actor))

    def authenticate(self, name: str, password: str, source: str) -> User | None:
        """The active user with this name and password, else None, in about the same time
        whether or not the name exists. A failure is audited (the name only if it exists:
        what was typed may be a password in the wrong field)."""
        with self.db.reading(READ_BUDGET_S) as tx:
            row = tx.one(
                f"SELECT {_COLUMNS}, password_hash FROM console_users WHERE name = ?", (name,)
            )
        if row is None:
            burn_check_time(password)
            self._failed("", f"unknown name, from {source}")
            return None
        try:
            matches = verify_password(password, row["password_hash"])
        except ValueError:
            log.exception("console.password_hash_unreadable", extra=fields(user=name))
            matches = False
        if not matches:
            self._failed(name, f"wrong password, from {source}")
            return None
        if row["disabled_at"] is not None:
            self._failed(name, f"user disabled, from {source}")
            return None
        return User.from_row(row)

    def _failed(self, name: str, detail: str) -> None:
        with self.db.transaction() as tx:
            audit.append(tx, self.clock(), name or "-", audit.LOGIN_FAILED, name, detail)


def _check_password(password: str, name: str) -> None:
    try:
        check_password(password, name)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _row(tx: Tx, name: str) -> Row:
    row = tx.one(f"SELECT {_COLUMNS} FROM console_users WHERE name = ?", (name,))
    if row is None:
        raise UserError(f"no user {name!r}")
    return row


def _end_sessions(tx: Tx, name: str) -> None:
    tx.execute("DELETE FROM console_sessions WHERE user_name = ?", (name,))
