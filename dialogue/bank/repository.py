"""The bank backend as the custom actions see it: typed reads, atomic writes, an audit trail.

Every method that acts on the caller's behalf writes an ``audit_log`` row in the same
database transaction as the change itself, so the log and the data cannot disagree.
Account and card numbers leave this module masked (``masked`` / ``last4`` properties);
PINs arrive only to be checked against the salted, peppered hash and are never stored or
logged. Every verification (PIN or card) first takes an attempt from the persistent guards
(:mod:`dialogue.bank.guards`), so guessing is limited across calls, not just within one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from dialogue.bank import guards, schema
from dialogue.bank.guards import GuardPolicy
from dialogue.bank.security import (
    burn_verification_time,
    is_peppered,
    new_reference,
    pepper_hash,
    subject_key,
    verify_pin,
)
from dialogue.callers import UNKNOWN_CALLER
from masking import last4, mask_number
from storage.db import Database, Row, Tx

AccountType = Literal["checking", "savings", "credit"]
ACCOUNT_TYPES: tuple[AccountType, ...] = ("checking", "savings", "credit")


class BankError(Exception):
    """A request the bank refuses; ``code`` is stable for dialogue logic and tests."""

    code = "bank_error"


class InsufficientFunds(BankError):
    code = "insufficient_funds"


class TransferLimitExceeded(BankError):
    code = "limit_exceeded"

    def __init__(self, message: str, remaining_cents: int) -> None:
        super().__init__(message)
        self.remaining_cents = remaining_cents


class InvalidTransfer(BankError):
    code = "invalid_transfer"


class VerificationRefused(BankError):
    """No verification now: the account is locked, or the caller used up their attempts.

    Raised for a locked account whatever the PIN, and for the failure that locks it; the
    caller is told no more than for any refusal and is offered an agent.
    """

    code = "verification_refused"


@dataclass(frozen=True)
class Customer:
    id: int
    first_name: str
    last_name: str


@dataclass(frozen=True)
class Account:
    id: int
    customer_id: int
    number: str
    type: AccountType
    balance_cents: int
    """Money in the account; for a credit account a negative balance is what is owed."""
    credit_limit_cents: int | None = None
    statement_balance_cents: int | None = None
    minimum_payment_cents: int | None = None
    payment_due_on: dt.date | None = None

    @property
    def last4(self) -> str:
        return last4(self.number)

    @property
    def masked(self) -> str:
        return mask_number(self.number)


@dataclass(frozen=True)
class Card:
    id: int
    account_id: int
    last4: str
    kind: Literal["debit", "credit"]
    status: Literal["active", "blocked"]
    customer_id: int
    block_reference: str | None = None


@dataclass(frozen=True)
class Transaction:
    posted_on: dt.date
    description: str
    amount_cents: int


@dataclass(frozen=True)
class TransferReceipt:
    reference: str
    amount_cents: int
    from_balance_cents: int
    to_balance_cents: int


def _now() -> str:
    return _utcnow().isoformat(timespec="seconds")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class BankRepository:
    """Reads and writes the demo bank's data; safe to call from several threads.

    ``pepper`` (the secret from ``bank.pin_pepper_file``) is needed to verify PINs and to key
    the guards; without it the repository reads and writes but verifies nobody.
    """

    def __init__(
        self,
        database: Database | str,
        pepper: bytes | None = None,
        policy: GuardPolicy | None = None,
    ) -> None:
        self.db = database if isinstance(database, Database) else Database(database)
        self.pepper = pepper
        self.policy = policy or GuardPolicy()

    # -- set-up -----------------------------------------------------------------------

    def create_schema(self) -> None:
        with self.db.transaction() as tx:
            tx.script(schema.ddl(self.db.dialect))

    def drop_schema(self) -> None:
        with self.db.transaction() as tx:
            tx.script(schema.drop_all(self.db.dialect))

    def is_empty(self) -> bool:
        with self.db.transaction() as tx:
            row = tx.one("SELECT COUNT(*) AS n FROM customers")
        return row is None or int(row["n"]) == 0

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A raw transaction, for seeding and tests."""
        with self.db.transaction() as tx:
            yield tx

    def close(self) -> None:
        self.db.close()

    def pepper_pin_hashes(self) -> int:
        """Pepper every unpeppered PIN hash (seed data, older databases); returns how many."""
        pepper = self._pepper()
        with self.db.transaction() as tx:
            rows = tx.all("SELECT id, pin_hash FROM customers")
            stale = [row for row in rows if not is_peppered(row["pin_hash"])]
            for row in stale:
                tx.execute(
                    "UPDATE customers SET pin_hash = ? WHERE id = ?",
                    (pepper_hash(row["pin_hash"], pepper), row["id"]),
                )
        return len(stale)

    # -- identity ---------------------------------------------------------------------

    def authenticate(
        self,
        account_number: str,
        pin: str,
        conversation_id: str,
        *,
        caller: str = UNKNOWN_CALLER,
    ) -> Customer | None:
        """The customer owning ``account_number`` if ``pin`` matches; audited either way.

        An unknown account number takes as long as a wrong PIN and gets the same answer,
        and its failures count (per number tried) like a real account's, so the phone line
        cannot be used to find out which account numbers exist. Failures count per customer
        (the PIN is the customer's, whichever of their accounts is named) across calls;
        ``caller`` (the transport's identity for the call) has an hourly budget of attempts.
        Raises :class:`VerificationRefused` when no attempt is left, without a real check.
        """
        pepper = self._pepper()
        now = _utcnow()
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT c.id, c.first_name, c.last_name, c.pin_hash FROM customers c "
                "JOIN accounts a ON a.customer_id = c.id WHERE a.number = ?",
                (account_number,),
            )
            account_key = self._account_key(pepper, account_number, row)
            # The caller's budget first: over it, the account's count is not touched.
            caller_ok = guards.take_caller_attempt(
                tx, self._caller_key(pepper, caller), self.policy, now
            )
            attempt = (
                guards.take_pin_attempt(tx, account_key, self.policy, now)
                if caller_ok
                else guards.Attempt(allowed=False)
            )
            refusal = "account_locked" if caller_ok else "caller_limit"
            if not attempt.allowed:
                self._audit(
                    tx,
                    conversation_id,
                    None,
                    "authenticate",
                    "refused",
                    account=mask_number(account_number),
                    reason=refusal,
                )
        if not attempt.allowed:
            if refusal == "account_locked":
                burn_verification_time(pin)  # as long as a real check: the lock is not told
            raise VerificationRefused(f"verification refused: {refusal}")
        if row is None:
            burn_verification_time(pin)
            ok = False
        else:
            ok = verify_pin(pin, row["pin_hash"], pepper)
        with self.db.transaction() as tx:
            if ok:
                guards.clear(tx, account_key, now)
            self._audit(
                tx,
                conversation_id,
                int(row["id"]) if row is not None and ok else None,
                "authenticate",
                "success" if ok else "failure",
                account=mask_number(account_number),
            )
            if not ok and attempt.last:
                self._audit(
                    tx,
                    conversation_id,
                    None,
                    "pin_lockout",
                    "locked",
                    account=mask_number(account_number),
                    failures=self.policy.max_pin_failures,
                )
        if row is None or not ok:
            if attempt.last:
                raise VerificationRefused("verification refused: account locked now")
            return None
        return Customer(int(row["id"]), row["first_name"], row["last_name"])

    def unlock(self, account_number: str, by: str) -> bool:
        """Lift the PIN lockout of the account's customer; audited. True if it was locked."""
        pepper = self._pepper()
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT a.customer_id AS id FROM accounts a WHERE a.number = ?", (account_number,)
            )
            was_locked = guards.clear(tx, self._account_key(pepper, account_number, row), _utcnow())
            self._audit(
                tx,
                f"admin:{by}",
                int(row["id"]) if row is not None else None,
                "unlock",
                "unlocked" if was_locked else "not_locked",
                account=mask_number(account_number),
                by=by,
            )
        return was_locked

    @staticmethod
    def _account_key(pepper: bytes, account_number: str, customer: Row | None) -> str:
        if customer is None:
            return subject_key(pepper, "account", account_number)
        return subject_key(pepper, "customer", str(customer["id"]))

    @staticmethod
    def _caller_key(pepper: bytes, caller: str) -> str:
        return subject_key(pepper, "caller", caller or UNKNOWN_CALLER)

    def _pepper(self) -> bytes:
        if not self.pepper:
            raise BankError("the bank was opened without the PIN pepper (bank.pin_pepper_file)")
        return self.pepper

    def customer(self, customer_id: int) -> Customer | None:
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT id, first_name, last_name FROM customers WHERE id = ?", (customer_id,)
            )
        return (
            None if row is None else Customer(int(row["id"]), row["first_name"], row["last_name"])
        )

    # -- accounts ---------------------------------------------------------------------

    def accounts(self, customer_id: int) -> list[Account]:
        """The customer's open accounts, checking first, then savings, then credit."""
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT * FROM accounts WHERE customer_id = ? AND status = 'open' ORDER BY id",
                (customer_id,),
            )
        accounts = [_account(row) for row in rows]
        return sorted(accounts, key=lambda a: ACCOUNT_TYPES.index(a.type))

    def account_of_type(self, customer_id: int, account_type: str) -> Account | None:
        return next((a for a in self.accounts(customer_id) if a.type == account_type), None)

    def recent_transactions(self, account_id: int, limit: int = 3) -> list[Transaction]:
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT posted_on, description, amount_cents FROM transactions "
                "WHERE account_id = ? ORDER BY posted_on DESC, id DESC LIMIT ?",
                (account_id, limit),
            )
        return [
            Transaction(
                dt.date.fromisoformat(r["posted_on"]), r["description"], int(r["amount_cents"])
            )
            for r in rows
        ]

    # -- cards ------------------------------------------------------------------------

    def cards(self, customer_id: int, *, active_only: bool = True) -> list[Card]:
        sql = (
            "SELECT k.*, a.customer_id FROM cards k JOIN accounts a ON a.id = k.account_id "
            "WHERE a.customer_id = ?"
        )
        if active_only:
            sql += " AND k.status = 'active'"
        with self.db.transaction() as tx:
            rows = tx.all(sql + " ORDER BY k.id", (customer_id,))
        return [_card(row) for row in rows]

    def card(self, card_id: int) -> Card | None:
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT k.*, a.customer_id FROM cards k JOIN accounts a ON a.id = k.account_id "
                "WHERE k.id = ?",
                (card_id,),
            )
        return None if row is None else _card(row)

    def find_card(
        self, card_last4: str, billing_zip: str | None = None, *, customer_id: int | None = None
    ) -> Card | None:
        """An active card by its last four digits, for a known customer or by billing ZIP code."""
        sql = (
            "SELECT k.*, a.customer_id FROM cards k JOIN accounts a ON a.id = k.account_id "
            "JOIN customers c ON c.id = a.customer_id WHERE k.last4 = ? AND k.status = 'active'"
        )
        params: list[Any] = [card_last4]
        if customer_id is not None:
            sql += " AND c.id = ?"
            params.append(customer_id)
        elif billing_zip is not None:
            sql += " AND c.billing_zip = ?"
            params.append(billing_zip)
        else:
            raise ValueError("find_card needs a customer_id or a billing ZIP code")
        with self.db.transaction() as tx:
            rows = tx.all(sql + " ORDER BY k.id", params)
        return _card(rows[0]) if len(rows) == 1 else None

    def identify_card(
        self, card_last4: str, billing_zip: str, conversation_id: str, *, caller: str
    ) -> Card | None:
        """Light verification for blocking a card: last four digits and billing ZIP code.

        Each try takes an attempt from the caller's hourly budget (the same one PIN checks
        use), so card details cannot be tried out by the thousand; over the budget it
        raises :class:`VerificationRefused` without looking the card up.
        """
        pepper = self._pepper()
        with self.db.transaction() as tx:
            allowed = guards.take_caller_attempt(
                tx, self._caller_key(pepper, caller), self.policy, _utcnow()
            )
            if not allowed:
                self._audit(
                    tx, conversation_id, None, "identify_card", "refused", reason="caller_limit"
                )
        if not allowed:
            raise VerificationRefused("verification refused: caller_limit")
        return self.find_card(card_last4, billing_zip)

    def block_card(
        self, card_id: int, reason: str, conversation_id: str, customer_id: int | None
    ) -> str:
        """Block an active card; returns the reference number. Idempotent for a blocked card."""
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT status, block_reference, last4 FROM cards WHERE id = ?", (card_id,)
            )
            if row is None:
                raise BankError(f"no card with id {card_id}")
            if row["status"] == "blocked":
                return str(row["block_reference"])
            reference = self._unique_reference(tx, "card_block", "cards", "block_reference")
            tx.execute(
                "UPDATE cards SET status = 'blocked', blocked_at = ?, block_reason = ?, "
                "block_reference = ? WHERE id = ? AND status = 'active'",
                (_now(), reason, reference, card_id),
            )
            self._audit(
                tx,
                conversation_id,
                customer_id,
                "block_card",
                "success",
                card=f"****{row['last4']}",
                reason=reason,
                reference=reference,
            )
        return reference

    # -- transfers --------------------------------------------------------------------

    def transferred_in_call(self, conversation_id: str) -> int:
        """Cents moved so far in this call (for the per-call limit)."""
        with self.db.transaction() as tx:
            row = tx.one(
                "SELECT COALESCE(SUM(amount_cents), 0) AS total FROM transfers "
                "WHERE conversation_id = ?",
                (conversation_id,),
            )
        return int(row["total"]) if row else 0

    def transfer(
        self,
        customer_id: int,
        from_account_id: int,
        to_account_id: int,
        amount_cents: int,
        conversation_id: str,
        per_call_limit_cents: int,
    ) -> TransferReceipt:
        """Move money between two of the customer's accounts as one database transaction.

        Either everything happens (both balances, two ledger lines, the transfer record, the
        audit entry) or nothing does. Raises :class:`InsufficientFunds`,
        :class:`TransferLimitExceeded` or :class:`InvalidTransfer` and moves nothing.
        """
        if amount_cents <= 0:
            raise InvalidTransfer("the amount must be positive")
        if from_account_id == to_account_id:
            raise InvalidTransfer("the two accounts must differ")
        try:
            with self.db.transaction() as tx:
                source = tx.one("SELECT * FROM accounts WHERE id = ?", (from_account_id,))
                target = tx.one("SELECT * FROM accounts WHERE id = ?", (to_account_id,))
                if source is None or target is None:
                    raise InvalidTransfer("unknown account")
                if (
                    int(source["customer_id"]) != customer_id
                    or int(target["customer_id"]) != customer_id
                ):
                    raise InvalidTransfer("both accounts must belong to the caller")
                if source["type"] == "credit":
                    raise InvalidTransfer(
                        "transfers from a credit account are not offered by phone"
                    )
                total = tx.one(
                    "SELECT COALESCE(SUM(amount_cents), 0) AS total FROM transfers "
                    "WHERE conversation_id = ?",
                    (conversation_id,),
                )
                already = int(total["total"]) if total else 0
                if already + amount_cents > per_call_limit_cents:
                    raise TransferLimitExceeded(
                        "the per-call transfer limit would be exceeded",
                        max(per_call_limit_cents - already, 0),
                    )
                # The balance check and the debit are one statement, so two concurrent
                # transfers cannot both spend the same money.
                debited = tx.execute(
                    "UPDATE accounts SET balance_cents = balance_cents - ? "
                    "WHERE id = ? AND balance_cents >= ?",
                    (amount_cents, from_account_id, amount_cents),
                )
                if debited != 1:
                    raise InsufficientFunds("not enough money in the source account")
                tx.execute(
                    "UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?",
                    (amount_cents, to_account_id),
                )
                reference = self._unique_reference(tx, "transfer", "transfers", "reference")
                today = dt.date.today().isoformat()
                tx.execute(
                    "INSERT INTO transactions (account_id, posted_on, description, amount_cents, "
                    "transfer_reference) VALUES (?, ?, ?, ?, ?)",
                    (
                        from_account_id,
                        today,
                        f"Transfer to {target['type']}",
                        -amount_cents,
                        reference,
                    ),
                )
                tx.execute(
                    "INSERT INTO transactions (account_id, posted_on, description, amount_cents, "
                    "transfer_reference) VALUES (?, ?, ?, ?, ?)",
                    (
                        to_account_id,
                        today,
                        f"Transfer from {source['type']}",
                        amount_cents,
                        reference,
                    ),
                )
                tx.execute(
                    "INSERT INTO transfers (reference, conversation_id, customer_id, "
                    "from_account_id, to_account_id, amount_cents, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        reference,
                        conversation_id,
                        customer_id,
                        from_account_id,
                        to_account_id,
                        amount_cents,
                        _now(),
                    ),
                )
                self._audit(
                    tx,
                    conversation_id,
                    customer_id,
                    "transfer",
                    "success",
                    reference=reference,
                    amount_cents=amount_cents,
                    from_account=mask_number(source["number"]),
                    to_account=mask_number(target["number"]),
                )
                balances = {
                    int(r["id"]): int(r["balance_cents"])
                    for r in tx.all(
                        "SELECT id, balance_cents FROM accounts WHERE id IN (?, ?)",
                        (from_account_id, to_account_id),
                    )
                }
        except BankError as exc:
            self.audit(
                conversation_id, customer_id, "transfer", exc.code, amount_cents=amount_cents
            )
            raise
        except Exception:
            with contextlib.suppress(Exception):  # the database may be what failed
                self.audit(
                    conversation_id, customer_id, "transfer", "error", amount_cents=amount_cents
                )
            raise
        return TransferReceipt(
            reference, amount_cents, balances[from_account_id], balances[to_account_id]
        )

    # -- complaints, surveys, audit ---------------------------------------------------

    def create_complaint(
        self, conversation_id: str, customer_id: int | None, category: str, description: str
    ) -> str:
        """Store a complaint ticket; returns its reference number."""
        with self.db.transaction() as tx:
            reference = self._unique_reference(tx, "complaint", "complaints", "reference")
            tx.execute(
                "INSERT INTO complaints (reference, conversation_id, customer_id, category, "
                "description, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (reference, conversation_id, customer_id, category, description, _now()),
            )
            self._audit(
                tx,
                conversation_id,
                customer_id,
                "complaint",
                "success",
                reference=reference,
                category=category,
            )
        return reference

    def record_survey(self, conversation_id: str, customer_id: int | None, score: int) -> None:
        if not 1 <= score <= 5:
            raise ValueError("a survey score is 1 to 5")
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO survey_answers (conversation_id, customer_id, score, created_at) "
                "VALUES (?, ?, ?, ?)",
                (conversation_id, customer_id, score, _now()),
            )
            self._audit(tx, conversation_id, customer_id, "survey", "success", score=score)

    def audit(
        self,
        conversation_id: str,
        customer_id: int | None,
        action: str,
        outcome: str,
        **detail: Any,
    ) -> None:
        """Record something done (or refused) on the caller's behalf."""
        with self.db.transaction() as tx:
            self._audit(tx, conversation_id, customer_id, action, outcome, **detail)

    def audit_trail(self, conversation_id: str) -> list[Row]:
        with self.db.transaction() as tx:
            rows = tx.all(
                "SELECT at, customer_id, action, outcome, detail FROM audit_log "
                "WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        for row in rows:
            row["detail"] = json.loads(row["detail"])
        return rows

    @staticmethod
    def _audit(
        tx: Tx,
        conversation_id: str,
        customer_id: int | None,
        action: str,
        outcome: str,
        **detail: Any,
    ) -> None:
        tx.execute(
            "INSERT INTO audit_log (at, conversation_id, customer_id, action, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                _now(),
                conversation_id,
                customer_id,
                action,
                outcome,
                json.dumps(detail, sort_keys=True),
            ),
        )

    @staticmethod
    def _unique_reference(tx: Tx, kind: str, table: str, column: str) -> str:
        for _ in range(20):
            reference = new_reference(kind)
            if tx.one(f"SELECT 1 AS taken FROM {table} WHERE {column} = ?", (reference,)) is None:
                return reference
        raise BankError("could not allocate a unique reference number")


def _account(row: Row) -> Account:
    due = row.get("payment_due_on")
    return Account(
        id=int(row["id"]),
        customer_id=int(row["customer_id"]),
        number=row["number"],
        type=row["type"],
        balance_cents=int(row["balance_cents"]),
        credit_limit_cents=_int_or_none(row.get("credit_limit_cents")),
        statement_balance_cents=_int_or_none(row.get("statement_balance_cents")),
        minimum_payment_cents=_int_or_none(row.get("minimum_payment_cents")),
        payment_due_on=dt.date.fromisoformat(due) if due else None,
    )


def _card(row: Row) -> Card:
    return Card(
        id=int(row["id"]),
        account_id=int(row["account_id"]),
        last4=row["last4"],
        kind=row["kind"],
        status=row["status"],
        customer_id=int(row["customer_id"]),
        block_reference=row.get("block_reference"),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
