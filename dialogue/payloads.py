"""Voice instructions carried in bot messages: the payload contract's types and builders.

A bot message is text to speak plus an optional ``custom`` JSON payload that tells the call
layer what to do around that text. The contract (keys and meaning) is documented in
:mod:`dialogue.reply` and in ``dialogue/README.md``; this module holds the typed views the
call layer reads and the builders custom actions use, so both sides agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EXPECT_DIGITS = "expect_digits"
HANDOFF = "handoff"
HANGUP = "hangup"
HINTS = "hints"
INTERRUPTIBLE = "interruptible"
PUBLIC = "public"

Priority = Literal["normal", "high"]


@dataclass(frozen=True)
class ExpectDigits:
    """Collect keypad digits for the next turn (speech is still listened to)."""

    count: int
    """Digits expected; collection ends when this many have been pressed."""
    max: int
    """Most digits accepted before the terminator (``max == count`` for fixed lengths)."""
    terminator: str = "#"
    """Key that ends entry early."""
    timeout_s: float = 8.0
    """Seconds to wait for the first and between digits before sending what was collected."""
    secure: bool = False
    """Secret entry (a PIN): send via ``send_digits(..., secure=True)``; never log, record,
    transcribe or echo the digits, and pause the call recording while they are entered."""
    identifier: bool = False
    """The digits are an account number or part of one: records and logs keep none of a part
    (an answer of fewer digits than a whole number, or the bot reading back the digits it
    has), since those with the last four shown elsewhere would give the number away."""

    @classmethod
    def parse(cls, data: Any) -> ExpectDigits:
        if not isinstance(data, dict) or not isinstance(data.get("count"), int):
            raise ValueError("expect_digits must be an object with an integer 'count'")
        count = int(data["count"])
        return cls(
            count=count,
            max=int(data.get("max", count)),
            terminator=str(data.get("terminator", "#")),
            timeout_s=float(data.get("timeout_s", 8.0)),
            secure=bool(data.get("secure", False)),
            identifier=bool(data.get("identifier", False)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "max": self.max,
            "terminator": self.terminator,
            "timeout_s": self.timeout_s,
            "secure": self.secure,
            "identifier": self.identifier,
        }


@dataclass(frozen=True)
class Handoff:
    """Transfer the call to a human agent after speaking this message."""

    reason: str
    """Why: caller_request, frustration, repeated_fallback, repeated_no_input, auth_locked,
    fraud, complaint."""
    priority: Priority = "normal"
    """``high`` puts the caller at the front of the agent queue."""
    context: dict[str, Any] = field(default_factory=dict)
    """Summary for the agent: intent, authenticated, in_progress, summary and details.
    Account and card numbers in it are masked to their last four digits."""

    @classmethod
    def parse(cls, data: Any) -> Handoff:
        if not isinstance(data, dict) or not isinstance(data.get("reason"), str):
            raise ValueError("handoff must be an object with a string 'reason'")
        priority = data.get("priority", "normal")
        if priority not in ("normal", "high"):
            raise ValueError(f"handoff priority must be normal or high, not {priority!r}")
        context = data.get("context") or {}
        if not isinstance(context, dict):
            raise ValueError("handoff context must be an object")
        return cls(reason=data["reason"], priority=priority, context=dict(context))

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "priority": self.priority, "context": self.context}


@dataclass(frozen=True)
class Hangup:
    """End the call after speaking this message."""

    reason: str
    """caller_done, no_input, survey_done."""

    @classmethod
    def parse(cls, data: Any) -> Hangup:
        if not isinstance(data, dict) or not isinstance(data.get("reason"), str):
            raise ValueError("hangup must be an object with a string 'reason'")
        return cls(reason=data["reason"])

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason}


def expect_digits(
    count: int,
    *,
    max_digits: int | None = None,
    secure: bool = False,
    identifier: bool = False,
    timeout_s: float = 8.0,
) -> dict[str, Any]:
    """Payload asking the call layer to collect ``count`` keypad digits."""
    spec = ExpectDigits(count, max_digits or count, "#", timeout_s, secure, identifier)
    return {EXPECT_DIGITS: spec.as_dict()}


def handoff(reason: str, priority: Priority, context: dict[str, Any]) -> dict[str, Any]:
    """Payload asking the call layer to transfer the caller to an agent."""
    return {HANDOFF: Handoff(reason, priority, context).as_dict(), INTERRUPTIBLE: False}


def hangup(reason: str) -> dict[str, Any]:
    """Payload asking the call layer to end the call after the message."""
    return {HANGUP: Hangup(reason).as_dict(), INTERRUPTIBLE: False}
