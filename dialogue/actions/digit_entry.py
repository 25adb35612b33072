"""A number collected over several answers: digits the caller gave are kept, only the rest asked.

A caller reading out an account number often stops early or is cut off ("five five five oh
one two"); asking for the whole number again wastes the digits already heard. What was heard
is kept in the ``digits_so_far`` slot, the caller is told it and asked for the rest ("I have
5 5 5 0 1 2. Please say the last 2 digits."), and the next answer is appended. "Start again"
drops what was kept. Not for the PIN: a PIN is never kept in part (it only ever reaches the
actions as a one-time vault token).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from dialogue import payloads
from dialogue.secrets import TOKEN_PATTERN
from dialogue.spoken import digit_answer, say_digits

PARTIAL_SLOT = "digits_so_far"
_START_AGAIN = re.compile(
    r"\b(start(ing)? (it )?(again|over)|begin again|restart|from the (start|beginning)"
    r"|scratch that)\b"
)


@dataclass(frozen=True)
class DigitEntry:
    """What one answer makes of a number being collected."""

    number: str | None = None
    """The whole number, when this answer completes it."""
    kept: str = ""
    """Digits kept for the next answer (the number is still short)."""
    start_again: bool = False
    """The caller asked to start the number again."""


def kept_digits(tracker: Tracker, slot: str) -> str:
    """Digits of ``slot``'s number the caller already gave ("" when none)."""
    partial = tracker.get_slot(PARTIAL_SLOT)
    if isinstance(partial, dict) and partial.get("slot") == slot:
        return re.sub(r"\D", "", str(partial.get("digits", "")))
    return ""


def wants_start_again(text: str) -> bool:
    """The caller asks to give the number again from its first digit."""
    return _START_AGAIN.search(text.lower()) is not None


def read_entry(value: Any, kept: str, length: int) -> DigitEntry:
    """The answer ``value`` to a request for a ``length``-digit number, ``kept`` digits heard.

    A whole number on its own wins (the caller started over without saying so); otherwise the
    answer's digits go after the kept ones; too many digits in all start the number afresh.
    """
    # A PIN said here reached the actions as a vault token: its hex digits are no answer.
    text = TOKEN_PATTERN.sub(" ", str(value or ""))
    if wants_start_again(text):
        return DigitEntry(start_again=True)
    digits = digit_answer(text)
    if len(digits) == length:
        return DigitEntry(number=digits)
    joined = kept + digits
    if len(joined) == length:
        return DigitEntry(number=joined)
    if digits and len(joined) < length:
        return DigitEntry(kept=joined)
    return DigitEntry(kept=kept if not digits else "")


def keep(slot: str, digits: str) -> dict[str, Any]:
    """The slot value keeping ``digits`` of ``slot``'s number (None: nothing kept)."""
    return {PARTIAL_SLOT: {"slot": slot, "digits": digits} if digits else None}


def incomplete(
    dispatcher: CollectingDispatcher, slot: str, entry: DigitEntry, invalid_response: str
) -> dict[str, Any]:
    """The slot events for an answer that did not complete the number: the digits kept (the
    ask action then asks for the rest), or a fresh start after "start again" or a bad answer."""
    if entry.start_again:
        dispatcher.utter_message(response="utter_digits_start_again")
    elif not entry.kept:
        dispatcher.utter_message(response=invalid_response)
    return {slot: None, **keep(slot, entry.kept)}


class AskForDigits(Action, ABC):
    """Asks for a number with the slot's own question, or only for its missing digits when
    part of it was heard ("I have 5 5 5 0 1 2. Please say the last 2 digits."). Abstract, so
    the action server registers only its subclasses, one per slot."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The form slot the number fills."""

    @property
    @abstractmethod
    def length(self) -> int:
        """Digits in a whole number."""

    identifier = False
    """The number is an account number: the call layer keeps none of its parts in records."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        kept = kept_digits(tracker, self.slot)
        if not kept:
            dispatcher.utter_message(response=f"utter_ask_{self.slot}")
            return []
        missing = self.length - len(kept)
        dispatcher.utter_message(
            response="utter_digits_so_far",
            so_far=say_digits(kept),
            rest="the last digit" if missing == 1 else f"the last {missing} digits",
            json_message=payloads.expect_digits(missing, identifier=self.identifier),
        )
        return []
