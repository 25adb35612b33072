"""Account information for a verified caller: balances, recent transactions, card payments."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import ACCOUNT_LABELS, bank, conversation_id, customer_id
from dialogue.bank import Account, BankRepository
from dialogue.spoken import say_date, say_digits, say_money

DONE: list[EventType] = [
    SlotSet("pending_task", None),
    SlotSet("account_type", None),
    SlotSet("served", True),
]


def _say_balance(dispatcher: CollectingDispatcher, account: Account) -> None:
    if account.type == "credit":
        dispatcher.utter_message(
            response="utter_balance_credit",
            last4=say_digits(account.last4),
            amount=say_money(max(-account.balance_cents, 0)),
        )
    else:
        dispatcher.utter_message(
            response="utter_balance",
            account_label=ACCOUNT_LABELS[account.type],
            last4=say_digits(account.last4),
            amount=say_money(account.balance_cents),
        )


@dataclass(frozen=True)
class Inquiry:
    """What an account answer needs: where to speak, the conversation, the bank, the customer."""

    dispatcher: CollectingDispatcher
    tracker: Tracker
    repository: BankRepository
    customer_id: int


class _AccountInquiry(Action, abc.ABC):
    """An answer for a verified caller: look the customer up, answer, audit, end the task.

    Subclasses speak the answer and return what the audit log keeps (masked account numbers),
    or None when there was nothing to report.
    """

    audit_action: str

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        cid = customer_id(tracker)
        if cid is None:
            return []
        repository = runtime.get().repository
        audited = await self.answer(Inquiry(dispatcher, tracker, repository, cid))
        if audited is not None:
            await bank(
                repository.audit,
                conversation_id(tracker),
                cid,
                self.audit_action,
                "success",
                **audited,
            )
        return list(DONE)

    @abc.abstractmethod
    async def answer(self, ask: Inquiry) -> dict[str, Any] | None:
        """Speak the answer; return what the audit log keeps, or None if nothing was found."""


def _no_such_account(dispatcher: CollectingDispatcher, wanted: str) -> None:
    dispatcher.utter_message(response="utter_no_such_account", account_label=ACCOUNT_LABELS[wanted])


class ActionCheckBalance(_AccountInquiry):
    """Reads the balance of the account type asked for, or of every account (at most three)."""

    audit_action = "balance_inquiry"

    def name(self) -> str:
        return "action_check_balance"

    async def answer(self, ask: Inquiry) -> dict[str, Any] | None:
        accounts = await bank(ask.repository.accounts, ask.customer_id)
        wanted = ask.tracker.get_slot("account_type")
        chosen = [a for a in accounts if a.type == wanted] if wanted else accounts
        if wanted and not chosen:
            _no_such_account(ask.dispatcher, wanted)
            return None
        for account in chosen[:3]:
            _say_balance(ask.dispatcher, account)
        return {"accounts": [a.masked for a in chosen[:3]]}


class ActionRecentTransactions(_AccountInquiry):
    """Reads the last three transactions of the account asked for (checking by default)."""

    audit_action = "transactions_inquiry"

    def name(self) -> str:
        return "action_recent_transactions"

    async def answer(self, ask: Inquiry) -> dict[str, Any] | None:
        accounts = await bank(ask.repository.accounts, ask.customer_id)
        wanted = ask.tracker.get_slot("account_type")
        account = next((a for a in accounts if a.type == wanted), None) if wanted else None
        if wanted and account is None:
            _no_such_account(ask.dispatcher, wanted)
            return None
        account = account or (accounts[0] if accounts else None)
        if account is None:
            return None
        transactions = await bank(ask.repository.recent_transactions, account.id, 3)
        label: dict[str, Any] = {
            "account_label": ACCOUNT_LABELS[account.type],
            "last4": say_digits(account.last4),
        }
        if not transactions:
            ask.dispatcher.utter_message(response="utter_no_transactions", **label)
        else:
            ask.dispatcher.utter_message(
                response="utter_transactions_intro", count=len(transactions), **label
            )
            for item in transactions:
                ask.dispatcher.utter_message(
                    response="utter_transaction_line",
                    date=say_date(item.posted_on).capitalize(),
                    description=item.description,
                    amount=say_money(item.amount_cents),
                    direction="in" if item.amount_cents > 0 else "out",
                )
        return {"account": account.masked}


class ActionCardPaymentDue(_AccountInquiry):
    """Reads the credit card's payment due date, minimum payment and statement balance."""

    audit_action = "card_payment_inquiry"

    def name(self) -> str:
        return "action_card_payment_due"

    async def answer(self, ask: Inquiry) -> dict[str, Any] | None:
        account = await bank(ask.repository.account_of_type, ask.customer_id, "credit")
        if account is None or account.payment_due_on is None:
            ask.dispatcher.utter_message(response="utter_no_credit_card")
            return None
        due = say_date(account.payment_due_on, weekday=True)
        ask.dispatcher.utter_message(
            response="utter_card_payment_due",
            minimum=say_money(account.minimum_payment_cents or 0),
            due_date=due if due in ("today", "tomorrow", "yesterday") else f"on {due}",
            statement=say_money(account.statement_balance_cents or 0),
        )
        return {"account": account.masked}
