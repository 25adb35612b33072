"""Transfers between the caller's own accounts: amount, from, to, read-back, one DB transaction."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import (
    ACCOUNT_LABELS,
    bank,
    conversation_id,
    customer_id,
    latest_text,
    yes_no,
)
from dialogue.bank import BankError, InsufficientFunds, TransferLimitExceeded
from dialogue.bank.security import spoken_reference
from dialogue.spoken import (
    extract_digits,
    parse_account_type,
    parse_amount_cents,
    say_money,
    transfer_accounts,
)
from logfields import fields

log = logging.getLogger(__name__)

TRANSFER_SLOTS = ("transfer_amount", "transfer_from", "transfer_to", "transfer_confirmed")


def amount_of(value: Any) -> int | None:
    """Cents from a slot value: already validated (int) or raw caller text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value)
    if text.startswith("/dtmf") or text.isdigit():  # keypad: whole dollars
        digits = extract_digits(text)
        return int(digits) * 100 if digits else None
    return parse_amount_cents(text)


class ValidateTransferForm(FormValidationAction):
    """Validates ``transfer_form``; balance and per-call limit are checked before the read-back."""

    def name(self) -> str:
        return "validate_transfer_form"

    def _named_account(self, slot: str, tracker: Tracker) -> dict[str, Any]:
        """The account the caller named with "from ..." / "to ..." (when not asked for it)."""
        if tracker.get_slot(slot) or tracker.get_slot("requested_slot") in (
            "transfer_from",
            "transfer_to",
        ):
            return {}
        source, target = transfer_accounts(latest_text(tracker))
        named = source if slot == "transfer_from" else target
        return {slot: named} if named else {}

    def extract_transfer_from(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._named_account("transfer_from", tracker)

    def extract_transfer_to(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._named_account("transfer_to", tracker)

    async def _remaining_limit(self, tracker: Tracker) -> tuple[int, int]:
        rt = runtime.get()
        used = await bank(rt.repository.transferred_in_call, conversation_id(tracker))
        return rt.transfer_limit_cents, max(rt.transfer_limit_cents - used, 0)

    async def validate_transfer_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        cents = amount_of(value)
        if cents is None or cents <= 0:
            dispatcher.utter_message(response="utter_invalid_amount")
            return {"transfer_amount": None}
        limit, remaining = await self._remaining_limit(tracker)
        if cents > remaining:
            dispatcher.utter_message(
                response="utter_transfer_limit",
                limit=say_money(limit),
                remaining=say_money(remaining),
            )
            return {"transfer_amount": None}
        return {"transfer_amount": cents}

    async def _validate_account(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        kind = parse_account_type(str(value or ""))
        if kind is None:
            dispatcher.utter_message(response="utter_invalid_account_choice")
            return {slot: None}
        if slot == "transfer_from" and kind == "credit":
            dispatcher.utter_message(response="utter_no_credit_source")
            return {slot: None}
        cid = customer_id(tracker)
        account = await bank(runtime.get().repository.account_of_type, cid, kind) if cid else None
        if account is None:
            dispatcher.utter_message(
                response="utter_no_such_account", account_label=ACCOUNT_LABELS[kind]
            )
            return {slot: None}
        other = tracker.get_slot("transfer_to" if slot == "transfer_from" else "transfer_from")
        if other and parse_account_type(str(other)) == kind:
            dispatcher.utter_message(response="utter_same_account")
            return {slot: None}
        return {slot: kind}

    async def validate_transfer_from(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._validate_account("transfer_from", value, dispatcher, tracker)

    async def validate_transfer_to(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._validate_account("transfer_to", value, dispatcher, tracker)

    def validate_transfer_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"transfer_confirmed": yes_no(value)}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Per-slot checks, then the cross-check: enough money in the source account."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        values = dict(tracker.slots)
        for event in events:
            if event.get("event") == "slot":
                values[event["name"]] = event["value"]
        cents = values.get("transfer_amount")
        source = values.get("transfer_from")
        cid = customer_id(tracker)
        if isinstance(cents, int) and isinstance(source, str) and cid is not None:
            account = await bank(runtime.get().repository.account_of_type, cid, source)
            if account is not None and account.balance_cents < cents:
                dispatcher.utter_message(
                    response="utter_insufficient_funds",
                    account_label=ACCOUNT_LABELS[source],
                    balance=say_money(account.balance_cents),
                )
                events.append(SlotSet("transfer_amount", None))
        return events


class ActionAskTransferConfirmed(Action):
    """Reads the transfer back before asking for the go-ahead."""

    def name(self) -> str:
        return "action_ask_transfer_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_ask_transfer_confirmed",
            amount=say_money(int(tracker.get_slot("transfer_amount") or 0)),
            from_account=ACCOUNT_LABELS.get(str(tracker.get_slot("transfer_from")), "account"),
            to_account=ACCOUNT_LABELS.get(str(tracker.get_slot("transfer_to")), "account"),
        )
        return []


class ActionExecuteTransfer(Action):
    """Moves the money if the caller said yes; nothing moves on no, and on any failure."""

    def name(self) -> str:
        return "action_execute_transfer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        done: list[EventType] = [
            SlotSet(name, None) for name in (*TRANSFER_SLOTS, "pending_task", "account_type")
        ]
        rt = runtime.get()
        cid = customer_id(tracker)
        if tracker.get_slot("transfer_confirmed") is not True or cid is None:
            dispatcher.utter_message(response="utter_transfer_cancelled")
            await bank(rt.repository.audit, conversation_id(tracker), cid, "transfer", "cancelled")
            return done
        cents = int(tracker.get_slot("transfer_amount"))
        source_type = str(tracker.get_slot("transfer_from"))
        target_type = str(tracker.get_slot("transfer_to"))
        source = await bank(rt.repository.account_of_type, cid, source_type)
        target = await bank(rt.repository.account_of_type, cid, target_type)
        if source is None or target is None:
            dispatcher.utter_message(response="utter_transfer_failed")
            return done
        try:
            receipt = await bank(
                rt.repository.transfer,
                cid,
                source.id,
                target.id,
                cents,
                conversation_id(tracker),
                rt.transfer_limit_cents,
            )
        except InsufficientFunds:
            dispatcher.utter_message(
                response="utter_insufficient_funds",
                account_label=ACCOUNT_LABELS[source_type],
                balance=say_money(source.balance_cents),
            )
            dispatcher.utter_message(response="utter_transfer_failed")
            return done
        except TransferLimitExceeded:
            dispatcher.utter_message(
                response="utter_transfer_limit_reached", limit=say_money(rt.transfer_limit_cents)
            )
            dispatcher.utter_message(response="utter_transfer_failed")
            return done
        except BankError:
            dispatcher.utter_message(response="utter_transfer_failed")
            return done
        except Exception:  # the database failed mid-transfer: it rolled back, say so
            log.exception(
                "dialogue.transfer.failed", extra=fields(conversation=conversation_id(tracker))
            )
            dispatcher.utter_message(response="utter_transfer_failed")
            return done
        dispatcher.utter_message(
            response="utter_transfer_done",
            amount=say_money(receipt.amount_cents),
            from_account=ACCOUNT_LABELS[source_type],
            to_account=ACCOUNT_LABELS[target_type],
            reference=spoken_reference(receipt.reference),
        )
        return [*done, SlotSet("served", True)]
