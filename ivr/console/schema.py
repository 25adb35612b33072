"""The console's tables in the records database, created when it is opened, as the records' are.

Users, sessions, the audit log and the NLU inbox's decisions (a turn labelled or dismissed
leaves the inbox) sit next to ``calls`` and ``turns`` (one database to back up,
SQLite or PostgreSQL with the same SQL). Session ids are stored only as their SHA-256; audit
rows have a random id so that two at the same instant both keep their place in the order.
"""

from __future__ import annotations

from ivr.console.analytics_cache import SCHEMA as ANALYTICS_WEEKS
from ivr.console.roles import ROLES
from ivr.console.word_index import create_word_index
from ivr.records import create_records_schema
from storage.db import Database

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS console_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ({", ".join(f"'{role}'" for role in ROLES)})),
    password_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    password_set_at DOUBLE PRECISION NOT NULL,
    disabled_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES console_users (name),
    csrf_token TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_user ON console_sessions (user_name);
CREATE TABLE IF NOT EXISTS console_audit (
    id TEXT PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS console_audit_at ON console_audit (at, id);
CREATE TABLE IF NOT EXISTS console_inbox_labels (
    call_id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('labelled', 'dismissed')),
    intent TEXT NOT NULL DEFAULT '',
    example TEXT NOT NULL DEFAULT '',
    data_file TEXT NOT NULL DEFAULT '',
    decided_by TEXT NOT NULL,
    decided_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (call_id, turn)
);
CREATE INDEX IF NOT EXISTS console_inbox_labels_at ON console_inbox_labels (decided_at)
"""
READ_BUDGET_S = 0.8
"""The longest one console read may take. On SQLite a reader holds up a committing writer, and
a call record write waits 1 s (``ivr.records.BUSY_TIMEOUT_S``) before it queues: a read stopped
sooner never pushes a call's record into the backlog."""


def open_console_db(url: str) -> Database:
    """The records database at ``url`` with the console's tables, and the records' own ones they
    index (a console or ``ivr users``/``ivr versions`` may come before the first call), blocking:
    off the loop."""
    db = Database(url)
    with db.transaction() as tx:
        create_records_schema(tx)
        tx.script(SCHEMA)
        tx.script(ANALYTICS_WEEKS)
        create_word_index(db, tx)
    return db
