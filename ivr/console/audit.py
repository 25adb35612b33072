"""The audit log: who logged in, viewed a call, heard a recording or an inbox snippet, replayed
a call, saved a QA script, labelled or dismissed an inbox item, called or chatted with the bot,
changed a user, edited, tested, discarded, published or rolled back the assistant's design,
and when; append-only.

Rows are only ever added (``append``, inside the transaction of the change they describe, so
a change and its row land together) and deleted once older than ``console.audit_retention_days``
(``delete_before``, the console's daily housekeeping). Nothing updates a row. A row names its
actor (a console user, or ``cli:<login>`` for ``ivr users``), never a password or what someone
typed into the log-in form.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ivr.console.paging import Cursor, Page, page_of
from ivr.console.schema import READ_BUDGET_S
from storage.db import Database, Row, Tx

LOGIN = "login"
LOGIN_FAILED = "login.failed"
LOGOUT = "logout"
CALL_VIEW = "call.view"
ANALYTICS_EXPORT = "analytics.export"
RECORDING_PLAY = "recording.play"
CALL_REPLAY = "call.replay"
QA_SCRIPT_SAVE = "qa_script.save"
INBOX_SNIPPET = "inbox.snippet"
INBOX_LABEL = "inbox.label"
INBOX_DISMISS = "inbox.dismiss"
INBOX_ACTIONS = frozenset({INBOX_SNIPPET, INBOX_LABEL, INBOX_DISMISS})
TALK_VOICE = "talk.voice"
"""A browser call placed (target: the peer id the console gave it, which its record keeps)."""
TALK_VOICE_END = "talk.voice_end"
TALK_TEXT = "talk.text"
DESIGN_EDIT = "design.edit"
"""A change to the draft (target: the file; detail: what was changed)."""
DESIGN_TEST = "design.test"
"""A test of the draft started (target: "draft")."""
DESIGN_DISCARD = "design.discard"
"""The draft's edits thrown away (target: "draft"; detail: the version it starts again from)."""
VERSION_PUBLISH = "version.publish"
VERSION_ROLLBACK = "version.rollback"
VERSION_OVERRIDE = "version.override"
"""A version published although its tests had not passed (admins only)."""
CALL_ACTIONS = (
    frozenset({CALL_VIEW, RECORDING_PLAY, CALL_REPLAY, QA_SCRIPT_SAVE, TALK_VOICE_END, TALK_TEXT})
    | INBOX_ACTIONS
)
"""Actions whose target is a call id (the audit page links it)."""
USER_ADD = "user.add"
USER_DISABLE = "user.disable"
USER_PASSWORD = "user.set_password"
MAX_TEXT = 500
"""Target and detail are cut to this many characters."""


@dataclass(frozen=True)
class AuditEntry:
    """One audit row."""

    id: str
    at: float
    actor: str
    action: str
    target: str
    detail: str

    @classmethod
    def from_row(cls, row: Row) -> AuditEntry:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def append(tx: Tx, at: float, actor: str, action: str, target: str = "", detail: str = "") -> None:
    """Add one row inside the caller's transaction."""
    tx.execute(
        "INSERT INTO console_audit (id, at, actor, action, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (secrets.token_hex(8), at, actor, action, target[:MAX_TEXT], detail[:MAX_TEXT]),
    )


class AuditLog:
    """Reads and adds audit rows (blocking: call it off the event loop)."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    def record(self, actor: str, action: str, target: str = "", detail: str = "") -> None:
        """Add one row in a transaction of its own (an event that changes nothing else)."""
        with self.db.transaction() as tx:
            append(tx, self.clock(), actor, action, target, detail)

    def page(self, before: Cursor | None, limit: int) -> Page[AuditEntry]:
        """Rows newest first, after ``before``."""
        where, params = ("", ()) if before is None else before.seek("at", "id")
        with self.db.reading(READ_BUDGET_S) as tx:
            rows = tx.all(
                "SELECT * FROM console_audit"
                + (f" WHERE {where}" if where else "")
                + " ORDER BY at DESC, id DESC LIMIT ?",
                (*params, limit + 1),
            )
        entries = [AuditEntry.from_row(row) for row in rows]
        return page_of(entries, limit, lambda entry: Cursor(entry.at, entry.id))

    def delete_before(self, cutoff: float) -> int:
        """Delete rows older than ``cutoff`` (epoch seconds): retention, the only deletion."""
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM console_audit WHERE at < ?", (cutoff,))
