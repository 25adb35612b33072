"""Caller verification: account number, then a PIN checked against its salted hash.

The PIN reaches this module only as a one-time vault token (``secret:...``). The token is
redeemed (which deletes it), the digits are checked and dropped, and the ``pin_token`` slot
is cleared in the same action: no slot, event, log line or record ever holds the PIN.

Two limits apply. Per call, ``bank.max_pin_attempts`` wrong PINs lock self-service for the
call. Across calls, the bank counts failures per customer and attempts per caller identity
(:mod:`dialogue.bank.guards`); when it refuses, whatever the PIN, the caller hears the same
lockout message as after the last wrong PIN in a call and is offered an agent.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from dialogue.actions import runtime
from dialogue.actions.common import bank, conversation_id
from dialogue.actions.digit_entry import AskForDigits, incomplete, keep, kept_digits, read_entry
from dialogue.bank import VerificationRefused
from dialogue.secrets import TOKEN_PATTERN, is_token

ACCOUNT_NUMBER_LENGTH = 8
ACCOUNT_SLOT = "account_number"


class ActionAskAccountNumber(AskForDigits):
    """Asks for the account number, or only for its missing digits when part was heard."""

    slot = ACCOUNT_SLOT
    length = ACCOUNT_NUMBER_LENGTH
    identifier = True


class ValidateAuthForm(FormValidationAction):
    """Validates ``auth_form``: an 8-digit account number, then the PIN token."""

    def name(self) -> str:
        return "validate_auth_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        # Verified or locked out: nothing more to ask, the form ends.
        if tracker.get_slot("authenticated") or tracker.get_slot("auth_locked"):
            return []
        return domain_slots

    def validate_account_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if TOKEN_PATTERN.search(str(value or "")):
            # The caller said a PIN where the account number was asked for: no answer to this
            # question (the PIN's own validation tells the caller), and no digits kept are lost.
            return {ACCOUNT_SLOT: None}
        entry = read_entry(value, kept_digits(tracker, ACCOUNT_SLOT), ACCOUNT_NUMBER_LENGTH)
        if entry.number is None:
            return incomplete(dispatcher, ACCOUNT_SLOT, entry, "utter_invalid_account_number")
        return {ACCOUNT_SLOT: entry.number, **keep(ACCOUNT_SLOT, "")}

    async def validate_pin_token(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        rt = runtime.get()
        token = str(value or "")
        if not is_token(token):
            # Raw digits only arrive when a channel bypassed the secure path; they are not
            # checked (checking would reward leaking them), only refused.
            dispatcher.utter_message(response="utter_pin_use_keypad")
            return {"pin_token": None}
        pin = rt.vault.redeem(token)
        if pin is None:
            dispatcher.utter_message(response="utter_pin_expired")
            return {"pin_token": None}
        account_number = str(tracker.get_slot("account_number") or "")
        if not (account_number.isdigit() and len(account_number) == ACCOUNT_NUMBER_LENGTH):
            # Said aloud before there is an account to check it against: dropped unchecked,
            # so it costs the caller no attempt (and the bank's limits no failure).
            del pin
            dispatcher.utter_message(response="utter_pin_said_early")
            return {"pin_token": None}
        conversation = conversation_id(tracker)
        refused = False
        try:
            customer = await bank(
                rt.repository.authenticate,
                account_number,
                pin,
                conversation,
                caller=rt.callers.identity(conversation),
            )
        except VerificationRefused:
            customer, refused = None, True
        del pin
        if customer is not None:
            dispatcher.utter_message(
                response="utter_auth_success", customer_name=customer.first_name
            )
            return {
                "pin_token": None,
                "account_number": None,
                "authenticated": True,
                "customer_id": float(customer.id),
                "customer_name": customer.first_name,
                "pin_attempts": 0.0,
            }
        attempts = int(tracker.get_slot("pin_attempts") or 0) + 1
        result: dict[str, Any] = {
            "pin_token": None,
            "account_number": None,
            "pin_attempts": float(attempts),
        }
        if refused or attempts >= rt.max_pin_attempts:
            await bank(
                rt.repository.audit,
                conversation,
                None,
                "self_service_lock",
                "locked",
                attempts=attempts,
            )
            result["auth_locked"] = True
        else:
            dispatcher.utter_message(response="utter_auth_failed")
        return result
