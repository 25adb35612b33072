"""Persistent attempt counters that stop PIN and card guessing across calls and transports.

One ``verification_guards`` row per subject: a customer (or an account number nobody has),
or a caller identity. The subject is an HMAC keyed with the PIN pepper, so the table names
no account, customer or phone number. Two kinds of guard use the same row shape:

- an account guard counts consecutive PIN failures; reaching the limit inside the window
  locks telephone self-service until ``ivr bank unlock`` or ``lockout_minutes`` pass;
- a caller guard counts every verification attempt (PIN or card) in a fixed one-hour window.

An attempt is taken *before* the PIN is checked, by one conditional UPDATE (``attempts <
limit``) in the caller's transaction, and handed back on success. So parallel calls cannot
share a free attempt: SQLite serialises the transactions (BEGIN IMMEDIATE), PostgreSQL
row-locks the counter and re-checks the condition after a concurrent update commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage.db import Tx

CALLER_WINDOW = dt.timedelta(hours=1)
# A window starts with the first attempt it counts (not when the count was last cleared).
_WINDOW_FROM_FIRST = "window_started_at = CASE WHEN attempts = 0 THEN ? ELSE window_started_at END"


@dataclass(frozen=True)
class GuardPolicy:
    """The limits, as plain values (``bank.*`` settings)."""

    max_pin_failures: int = 5
    """Consecutive PIN failures (across calls) that lock an account's self-service."""
    lockout_window_h: float = 24.0
    """Failures older than this (counted from the first) are forgotten."""
    lockout_minutes: int = 0
    """How long a lock lasts; 0: until ``ivr bank unlock``."""
    max_verifications_per_hour: int = 10
    """Verification attempts (PIN or card) one caller identity may make per hour."""


@dataclass(frozen=True)
class Attempt:
    """The outcome of asking a guard for one attempt."""

    allowed: bool
    last: bool = False
    """This attempt used the last one: if it fails, the subject is locked."""


def take_pin_attempt(tx: Tx, subject: str, policy: GuardPolicy, now: dt.datetime) -> Attempt:
    """Count one PIN attempt against an account guard, unless it is locked."""
    lock_ends = (
        now - dt.timedelta(minutes=policy.lockout_minutes) if policy.lockout_minutes else None
    )
    _open_row(tx, subject, now, now - dt.timedelta(hours=policy.lockout_window_h), lock_ends)
    taken = tx.execute(
        "UPDATE verification_guards SET attempts = attempts + 1, " + _WINDOW_FROM_FIRST + ", "
        "locked_at = CASE WHEN attempts + 1 >= ? THEN ? ELSE NULL END "
        "WHERE subject = ? AND locked_at IS NULL AND attempts < ?",
        (_iso(now), policy.max_pin_failures, _iso(now), subject, policy.max_pin_failures),
    )
    return Attempt(taken == 1, taken == 1 and _attempts(tx, subject) >= policy.max_pin_failures)


def take_caller_attempt(tx: Tx, subject: str, policy: GuardPolicy, now: dt.datetime) -> bool:
    """Count one verification attempt against a caller guard; False over the hourly limit."""
    _open_row(tx, subject, now, now - CALLER_WINDOW, None)
    taken = tx.execute(
        "UPDATE verification_guards SET attempts = attempts + 1, " + _WINDOW_FROM_FIRST + " "
        "WHERE subject = ? AND attempts < ?",
        (_iso(now), subject, policy.max_verifications_per_hour),
    )
    return taken == 1


def clear(tx: Tx, subject: str, now: dt.datetime) -> bool:
    """Forget the subject's failures and lift its lock (a success, an unlock); True if locked."""
    row = tx.one("SELECT locked_at FROM verification_guards WHERE subject = ?", (subject,))
    tx.execute(
        "UPDATE verification_guards SET attempts = 0, locked_at = NULL, window_started_at = ? "
        "WHERE subject = ?",
        (_iso(now), subject),
    )
    return row is not None and row["locked_at"] is not None


def _open_row(
    tx: Tx,
    subject: str,
    now: dt.datetime,
    window_starts: dt.datetime,
    lock_ends: dt.datetime | None,
) -> None:
    """Make sure the subject has a row, restarting its count when its window or lock ended."""
    tx.execute(
        "INSERT INTO verification_guards (subject, attempts, window_started_at) VALUES (?, 0, ?) "
        "ON CONFLICT (subject) DO NOTHING",
        (subject, _iso(now)),
    )
    tx.execute(
        "UPDATE verification_guards SET attempts = 0, locked_at = NULL, window_started_at = ? "
        "WHERE subject = ? AND ((locked_at IS NULL AND window_started_at <= ?) "
        "OR locked_at <= ?)",
        (_iso(now), subject, _iso(window_starts), _iso(lock_ends) if lock_ends else None),
    )


def _attempts(tx: Tx, subject: str) -> int:
    row = tx.one("SELECT attempts FROM verification_guards WHERE subject = ?", (subject,))
    return int(row["attempts"]) if row else 0


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")
