"""Account information for a verified caller: balances, recent transactions, card payments."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import ACCOUNT_LABELS, bank, conversation_id, customer_id
from dialogue.bank import Account
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


class ActionCheckBalance(Action):
    """Reads the balance of the account type asked for, or of every account (at most three)."""

    def name(self) -> str:
        return "action_check_balance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime.get()
        cid = customer_id(tracker)
        if cid is None:
            return []
        accounts = await bank(rt.repository.accounts, cid)
        wanted = tracker.get_slot("account_type")
        chosen = [a for a in accounts if a.type == wanted] if wanted else accounts
        if wanted and not chosen:
            dispatcher.utter_message(
                response="utter_no_such_account", account_label=ACCOUNT_LABELS[wanted]
            )
            return list(DONE)
        for account in chosen[:3]:
            _say_balance(dispatcher, account)
        await bank(
            rt.repository.audit,
            conversation_id(tracker),
            cid,
            "balance_inquiry",
            "success",
            accounts=[a.masked for a in chosen[:3]],
        )
        return list(DONE)


class ActionRecentTransactions(Action):
    """Reads the last three transactions of the account asked for (checking by default)."""

    def name(self) -> str:
        return "action_recent_transactions"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime.get()
        cid = customer_id(tracker)
        if cid is None:
            return []
        accounts = await bank(rt.repository.accounts, cid)
        wanted = tracker.get_slot("account_type")
        account = next((a for a in accounts if a.type == wanted), None) if wanted else None
        if wanted and account is None:
            dispatcher.utter_message(
                response="utter_no_such_account", account_label=ACCOUNT_LABELS[wanted]
            )
            return list(DONE)
        account = account or (accounts[0] if accounts else None)
        if account is None:
            return list(DONE)
        transactions = await bank(rt.repository.recent_transactions, account.id, 3)
        label: dict[str, Any] = {
            "account_label": ACCOUNT_LABELS[account.type],
            "last4": say_digits(account.last4),
        }
        if not transactions:
            dispatcher.utter_message(response="utter_no_transactions", **label)
        else:
            dispatcher.utter_message(
                response="utter_transactions_intro", count=len(transactions), **label
            )
            for item in transactions:
                dispatcher.utter_message(
                    response="utter_transaction_line",
                    date=say_date(item.posted_on).capitalize(),
                    description=item.description,
                    amount=say_money(item.amount_cents),
                    direction="in" if item.amount_cents > 0 else "out",
                )
        await bank(
            rt.repository.audit,
            conversation_id(tracker),
            cid,
            "transactions_inquiry",
            "success",
            account=account.masked,
        )
        return list(DONE)


class ActionCardPaymentDue(Action):
    """Reads the credit card's payment due date, minimum payment and statement balance."""

    def name(self) -> str:
        return "action_card_payment_due"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rt = runtime.get()
        cid = customer_id(tracker)
        if cid is None:
            return []
        account = await bank(rt.repository.account_of_type, cid, "credit")
        if account is None or account.payment_due_on is None:
            dispatcher.utter_message(response="utter_no_credit_card")
            return list(DONE)
        due = say_date(account.payment_due_on, weekday=True)
        dispatcher.utter_message(
            response="utter_card_payment_due",
            minimum=say_money(account.minimum_payment_cents or 0),
            due_date=due if due in ("today", "tomorrow", "yesterday") else f"on {due}",
            statement=say_money(account.statement_balance_cents or 0),
        )
        await bank(
            rt.repository.audit,
            conversation_id(tracker),
            cid,
            "card_payment_inquiry",
            "success",
            account=account.masked,
        )
        return list(DONE)
