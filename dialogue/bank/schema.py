"""The bank's tables, one DDL text for SQLite and PostgreSQL (only the key type differs).

Money is integer cents (BIGINT). Dates are ISO ``YYYY-MM-DD`` text, timestamps ISO 8601 UTC
text, so both engines store and compare them the same way. PINs exist only as salted,
peppered hashes. ``verification_guards`` counts PIN and card attempts per subject, an HMAC
of the customer, account number or caller (see :mod:`dialogue.bank.guards`).
"""

from __future__ import annotations

from storage.db import Dialect

TABLES = (
    "verification_guards",
    "audit_log",
    "survey_answers",
    "complaints",
    "transfers",
    "transactions",
    "cards",
    "accounts",
    "customers",
)

_DDL = """
CREATE TABLE IF NOT EXISTS customers (
    id {pk},
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    billing_zip TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id {pk},
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    number TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL CHECK (type IN ('checking', 'savings', 'credit')),
    balance_cents BIGINT NOT NULL,
    credit_limit_cents BIGINT,
    statement_balance_cents BIGINT,
    minimum_payment_cents BIGINT,
    payment_due_on TEXT,
    status TEXT NOT NULL DEFAULT 'open'
);
CREATE TABLE IF NOT EXISTS cards (
    id {pk},
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    last4 TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('debit', 'credit')),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
    blocked_at TEXT,
    block_reason TEXT,
    block_reference TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS transactions (
    id {pk},
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    posted_on TEXT NOT NULL,
    description TEXT NOT NULL,
    amount_cents BIGINT NOT NULL,
    transfer_reference TEXT
);
CREATE TABLE IF NOT EXISTS transfers (
    id {pk},
    reference TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    from_account_id BIGINT NOT NULL REFERENCES accounts(id),
    to_account_id BIGINT NOT NULL REFERENCES accounts(id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS complaints (
    id {pk},
    reference TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS survey_answers (
    id {pk},
    conversation_id TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id {pk},
    at TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    customer_id BIGINT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verification_guards (
    subject TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    window_started_at TEXT NOT NULL,
    locked_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_accounts_customer ON accounts(customer_id);
CREATE INDEX IF NOT EXISTS ix_cards_account ON cards(account_id);
CREATE INDEX IF NOT EXISTS ix_transactions_account ON transactions(account_id, posted_on);
CREATE INDEX IF NOT EXISTS ix_transfers_conversation ON transfers(conversation_id);
CREATE INDEX IF NOT EXISTS ix_audit_conversation ON audit_log(conversation_id)
"""

_PRIMARY_KEY = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGSERIAL PRIMARY KEY",
}


def ddl(dialect: Dialect) -> str:
    """The CREATE statements for one database engine."""
    return _DDL.format(pk=_PRIMARY_KEY[dialect])


def drop_all(dialect: Dialect) -> str:
    """DROP statements for every table, children first."""
    cascade = " CASCADE" if dialect == "postgresql" else ""
    return ";".join(f"DROP TABLE IF EXISTS {table}{cascade}" for table in TABLES)
