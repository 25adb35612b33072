"""A typed conversation with the assistant, kept as a call: the console's text chat.

The assistant, its actions and the record store are the ones phone calls use, so a designer
typing to the bot meets the same dialogue a caller does, and the conversation is an ordinary
call record (transport ``text``, no recording): the greeting as turn 0, then a turn per message.
What a caller would say is recorded as said words (``speech``); digits typed where the bot asked
for keys are sent as keys, and a PIN asked for is sent as a secure entry and never recorded, as
on the phone. PINs and card numbers typed anywhere else are redacted in the record as
``ivr.session`` does for speech. The bot's hang-up or handoff ends the call with that outcome.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

from dialogue.bank.redaction import redact_secrets
from dialogue.callers import IDENTITY_KEY
from dialogue.protocol import DialogueRequest
from dialogue.reply import Reply
from ivr.logs import get_logger
from ivr.records import Outcome, TurnRecord, new_call_id
from ivr.services import Services
from logfields import fields

log = get_logger(__name__)

TRANSPORT = "text"
KEYS = re.compile(r"[0-9*#]{1,32}")
"""A message that is only keypad keys: sent as keys when the bot asked for them."""


class TextCallOver(RuntimeError):
    """The conversation has ended (the bot hung up, handed off, or failed)."""


class TextCall:
    """One typed conversation: ``begin`` for the greeting, ``say`` per message, ``end``."""

    def __init__(self, services: Services, caller: str, details: Mapping[str, Any]) -> None:
        """``caller``: who types, as the record and the per-caller limits name them."""
        self.services = services
        self.call_id = new_call_id()
        self.caller = caller
        self.details = {**details, "channel": "text"}
        self.turns = 0
        self.outcome: Outcome = "in_progress"
        self._reply: Reply | None = None
        self._lock = asyncio.Lock()
        """One message at a time: a second waits for the reply to the first."""

    @property
    def over(self) -> bool:
        return self.outcome != "in_progress"

    async def begin(self) -> TurnRecord:
        """Start the record and let the bot greet (turn 0); messages wait for the greeting."""
        async with self._lock:
            await self.services.records.start_call(
                self.call_id, TRANSPORT, self.caller, details=self.details
            )
            self.services.metrics.call_started(TRANSPORT)
            log.info("call.start", extra=fields(call_id=self.call_id, transport=TRANSPORT))
            metadata = {**self._metadata(), IDENTITY_KEY: f"caller:{self.caller}"}
            record = TurnRecord(self.call_id, 0, time.time(), "start")
            return await self._turn(record, lambda d: d.begin(self.call_id, metadata))

    async def say(self, text: str) -> TurnRecord:
        """One typed message and the bot's answer, recorded as a turn."""
        async with self._lock:
            if self.over:
                raise TextCallOver(f"the conversation is over ({self.outcome})")
            self.turns += 1
            record = TurnRecord(self.call_id, self.turns, time.time(), "speech")
            return await self._turn(record, self._request(text.strip(), record))

    async def end(self, outcome: Outcome = "abandoned", reason: str = "chat ended") -> None:
        """Close the record (nothing if it is closed already) and the conversation."""
        if self.over:
            return
        self.outcome = outcome
        try:
            await self.services.dialogue.end(self.call_id)
        except Exception as exc:
            log.warning("dialogue.end_failed", extra=fields(call_id=self.call_id, error=str(exc)))
        await self.services.records.end_call(self.call_id, outcome, reason)
        self.services.metrics.call_ended(TRANSPORT, outcome)
        log.info("call.end", extra=fields(call_id=self.call_id, outcome=outcome, reason=reason))

    def _request(self, text: str, record: TurnRecord) -> DialogueRequest:
        """How this message goes to the assistant, and what of it the record keeps."""
        expect = self._reply.expect_digits if self._reply is not None else None
        secure = self._reply is not None and self._reply.secure_entry
        identifier = expect is not None and expect.identifier
        keys = expect is not None and KEYS.fullmatch(text) is not None
        if keys:
            record.input_kind = "secure_dtmf" if secure else "dtmf"
            return lambda d: d.send_digits(self.call_id, text, secure=secure)
        if secure:
            record.input_kind = "secure_speech"
        else:
            record.transcript = redact_secrets(text, identifier=identifier).text
        return lambda d: d.send(self.call_id, text, self._metadata())

    async def _turn(self, record: TurnRecord, request: DialogueRequest) -> TurnRecord:
        asked = time.monotonic()
        try:
            reply = await request(self.services.dialogue)
        except Exception as exc:
            log.exception("call.dependency_failed", extra=fields(call_id=self.call_id))
            await self.end("failed", f"dialogue failed: {exc}")
            raise TextCallOver("the assistant failed; the conversation is over") from exc
        record.dialogue_ms = round((time.monotonic() - asked) * 1000, 1)
        record.intent = reply.intent
        record.intent_confidence = reply.confidence
        record.entities = [] if record.input_kind.startswith("secure") else list(reply.entities)
        record.payloads = [m.payload for m in reply.messages if m.payload]
        expect = reply.expect_digits
        record.bot_text = redact_secrets(
            reply.text, identifier=expect is not None and expect.identifier
        ).text
        self._reply = reply
        await self.services.records.add_turn(record)
        self.services.metrics.turn_done(TRANSPORT)
        if reply.handoff is not None:
            await self.end("handed_off", reply.handoff.reason)
        elif reply.hangup is not None:
            await self.end("self_served", reply.hangup.reason)
        return record

    def _metadata(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "transport": TRANSPORT, "channel": "text"}
