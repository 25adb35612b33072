"""Load the demo bank from ``data/bank/seed.yml`` (customers, accounts, cards, transactions).

Amounts in the seed are written in dollars (``-54.20``) and stored as integer cents; dates
are relative (``days_ago``, ``payment_due_in_days``) so the demo always sounds current.
PINs appear in the seed only as salted hashes (``ivr bank hash-pin`` makes one).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from dialogue.bank.repository import ACCOUNT_TYPES, BankRepository


class SeedError(ValueError):
    """The seed file is malformed; the message names the entry."""


def cents(value: Any, where: str) -> int:
    """Dollars as written in YAML (``12.5``, ``"1,250.00"``) to integer cents."""
    try:
        amount = Decimal(str(value).replace(",", "")) * 100
    except Exception as exc:
        raise SeedError(f"{where}: {value!r} is not an amount of money") from exc
    if amount != amount.to_integral_value():
        raise SeedError(f"{where}: {value!r} has fractions of a cent")
    return int(amount)


def load_seed(path: str | Path) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("customers"), list):
        raise SeedError(f"{path}: expected a top-level 'customers' list")
    return data


def seed(repository: BankRepository, path: str | Path, today: dt.date | None = None) -> int:
    """Insert the seed's customers into an empty database; returns how many were added."""
    today = today or dt.date.today()
    data = load_seed(path)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with repository.transaction() as tx:
        for i, customer in enumerate(data["customers"]):
            where = f"customers[{i}]"
            for key in ("first_name", "last_name", "billing_zip", "pin_hash", "accounts"):
                if key not in customer:
                    raise SeedError(f"{where}: missing {key!r}")
            if not str(customer["pin_hash"]).startswith("scrypt$"):
                raise SeedError(f"{where}: pin_hash must be a scrypt hash, never a clear PIN")
            row = tx.one(
                "INSERT INTO customers (first_name, last_name, billing_zip, pin_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (
                    customer["first_name"],
                    customer["last_name"],
                    str(customer["billing_zip"]),
                    customer["pin_hash"],
                    now,
                ),
            )
            assert row is not None
            customer_id = int(row["id"])
            for j, account in enumerate(customer["accounts"]):
                _insert_account(tx, customer_id, account, f"{where}.accounts[{j}]", today)
    return len(data["customers"])


def _insert_account(
    tx: Any, customer_id: int, account: dict[str, Any], where: str, today: dt.date
) -> None:
    kind = account.get("type")
    if kind not in ACCOUNT_TYPES:
        raise SeedError(f"{where}: type must be one of {', '.join(ACCOUNT_TYPES)}")
    number = str(account.get("number", ""))
    if not (number.isdigit() and len(number) == 8):
        raise SeedError(f"{where}: number must be 8 digits")
    due_in = account.get("payment_due_in_days")
    row = tx.one(
        "INSERT INTO accounts (customer_id, number, type, balance_cents, credit_limit_cents, "
        "statement_balance_cents, minimum_payment_cents, payment_due_on) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            customer_id,
            number,
            kind,
            cents(account.get("balance", 0), f"{where}.balance"),
            _optional_cents(account, "credit_limit", where),
            _optional_cents(account, "statement_balance", where),
            _optional_cents(account, "minimum_payment", where),
            (today + dt.timedelta(days=int(due_in))).isoformat() if due_in is not None else None,
        ),
    )
    account_id = int(row["id"])
    for k, card in enumerate(account.get("cards", [])):
        card_last4 = str(card.get("last4", ""))
        if not (card_last4.isdigit() and len(card_last4) == 4):
            raise SeedError(f"{where}.cards[{k}]: last4 must be 4 digits")
        tx.execute(
            "INSERT INTO cards (account_id, last4, kind, status) VALUES (?, ?, ?, ?)",
            (account_id, card_last4, card.get("kind", "debit"), card.get("status", "active")),
        )
    for k, item in enumerate(account.get("transactions", [])):
        posted = today - dt.timedelta(days=int(item.get("days_ago", 0)))
        tx.execute(
            "INSERT INTO transactions (account_id, posted_on, description, amount_cents) "
            "VALUES (?, ?, ?, ?)",
            (
                account_id,
                posted.isoformat(),
                item["description"],
                cents(item["amount"], f"{where}.transactions[{k}].amount"),
            ),
        )


def _optional_cents(account: dict[str, Any], key: str, where: str) -> int | None:
    return cents(account[key], f"{where}.{key}") if account.get(key) is not None else None
