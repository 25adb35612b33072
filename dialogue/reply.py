"""The bot's turn as the call layer reads it: messages to speak and the voice instructions in them.

:class:`Reply` is the one reader of the voice payload rules: the call session and the
dialogue client's secure-input routing both ask it, never the payloads, so they cannot
disagree about which message of a turn asks for what.

Voice payload contract
----------------------
Every bot message is ``text`` (to speak; may be ``None``) plus a ``payload`` dict, the
``custom`` JSON of the Rasa response. Keys the call layer acts on (all optional):

``expect_digits``: ``{"count", "max", "terminator": "#", "timeout_s", "secure": bool}``
    Collect keypad digits for the next turn (speech is still listened to). Entry ends after
    ``max`` digits, the ``terminator`` key, or ``timeout_s`` without a key; send them with
    ``send_digits``. ``secure: true`` marks a PIN: send with ``secure=True``, never log,
    record, transcribe or echo the digits, pause the call recording while they are entered.
``handoff``: ``{"reason": str, "priority": "normal" | "high", "context": {...}}``
    Transfer the caller to an agent after speaking the text. ``context`` is the summary for
    the agent: ``intent``, ``authenticated``, ``customer_id``, ``in_progress``, ``summary``
    and optional ``details`` (numbers masked to their last four digits, never a PIN).
``hangup``: ``{"reason": str}``
    End the call after speaking the text (``caller_done``, ``no_input``).
``hints``: ``[str, ...]``
    Phrases likely in the caller's next answer, to bias speech recognition for one turn.
``interruptible``: ``bool`` (default ``true``)
    Whether the caller may barge in over this message; ``false`` for legal notices,
    handoff and goodbye messages.
``public``: ``bool`` (default ``false``)
    The text is published information with no caller data in it (rates, fees, branch hours
    from the knowledge base): its audio may be kept in the prompt cache even though it has
    figures in it, which otherwise mark a sentence as per-caller data.

The prompt cache keeps audio only of text that is the same for every caller: a ``public``
message, or one whose text is verbatim a domain response with no slot to fill
(:attr:`BotMessage.fixed`, set by the client). A response that fills in a name, an amount or
account digits ("Thanks, {customer_name}.") is never cached, whatever its words look like.

The payloads' typed views and the builders actions use are in :mod:`dialogue.payloads`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dialogue import payloads
from dialogue.payloads import ExpectDigits, Handoff, Hangup


@dataclass(frozen=True)
class BotMessage:
    """One thing the bot says, with the voice instructions that go with it."""

    text: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    fixed: bool = False
    """The text is verbatim a domain response with no slot to fill: the same for every caller."""

    @property
    def cacheable(self) -> bool:
        """The same audio serves every caller (fixed or public): it may go to the prompt cache."""
        return self.fixed or self.public

    @property
    def expect_digits(self) -> ExpectDigits | None:
        data = self.payload.get(payloads.EXPECT_DIGITS)
        return ExpectDigits.parse(data) if data is not None else None

    @property
    def handoff(self) -> Handoff | None:
        data = self.payload.get(payloads.HANDOFF)
        return Handoff.parse(data) if data is not None else None

    @property
    def hangup(self) -> Hangup | None:
        data = self.payload.get(payloads.HANGUP)
        return Hangup.parse(data) if data is not None else None

    @property
    def hints(self) -> list[str]:
        return [str(h) for h in self.payload.get(payloads.HINTS) or []]

    @property
    def public(self) -> bool:
        """Published text without caller data (payload key ``public``): cacheable audio."""
        return bool(self.payload.get(payloads.PUBLIC, False))

    @property
    def interruptible(self) -> bool:
        """Barge-in allowed while this message plays (payload key ``interruptible``)."""
        return bool(self.payload.get(payloads.INTERRUPTIBLE, True))

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "payload": self.payload}


@dataclass(frozen=True)
class Reply:
    """The bot's turn: its messages and what it understood of the caller's input.

    Which message a turn-wide instruction comes from, when several carry one:

    - for the caller's next turn (:attr:`expect_digits`, :attr:`secure_entry`, :attr:`hints`)
      the last message that carries it: the caller answers the last question asked. The
      domain's prompts come last in a turn ("Sorry, I need exactly 4 digits." then the
      question with its keypad request and hints), and a PIN prompt after another keypad
      request must make the whole entry secure;
    - for how the call goes on (:attr:`handoff`, :attr:`hangup`) the first message that
      carries it; a handoff wins over a hang-up.

    ``interruptible`` and ``public`` stay per message: each message is spoken by its own rule.
    """

    messages: list[BotMessage]
    intent: str | None
    confidence: float | None
    entities: list[dict[str, Any]]
    """Entities of the caller's input; account numbers and digits masked, tokens hidden."""

    @property
    def text(self) -> str:
        return " ".join(m.text for m in self.messages if m.text)

    @property
    def expect_digits(self) -> ExpectDigits | None:
        """The keypad request for the next turn (from the last message that makes one)."""
        for message in reversed(self.messages):
            if message.expect_digits is not None:
                return message.expect_digits
        return None

    @property
    def secure_entry(self) -> bool:
        """The next turn's entry is a PIN: keys and a spoken number go the secure way."""
        expect = self.expect_digits
        return bool(expect and expect.secure)

    @property
    def handoff(self) -> Handoff | None:
        return next((m.handoff for m in self.messages if m.handoff is not None), None)

    @property
    def hangup(self) -> Hangup | None:
        return next((m.hangup for m in self.messages if m.hangup is not None), None)

    @property
    def hints(self) -> list[str]:
        """Recognition hints for the next turn (from the last message that gives some)."""
        return next((m.hints for m in reversed(self.messages) if m.hints), [])

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "entities": self.entities,
            "messages": [m.as_dict() for m in self.messages],
        }
