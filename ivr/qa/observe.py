"""Watching the bot from outside a call: every turn and outcome as the session writes them.

QA runs drive calls through the ordinary ``CallSession``; they learn what happened the way the
record store does, from the same ``start_call``/``add_turn``/``end_call`` writes, so nothing in the
session has to know it is being tested. The dialogue proxy counts requests in flight, which tells
a virtual-clock line when the bot still owes a reply (``CallLog.owed``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dialogue.protocol import DialogueClient
from dialogue.reply import Reply
from ivr.recording_keys import Keyring
from ivr.records import CallRecordStore, Outcome, TurnRecord
from ivr.services import Services

POLL_S = 0.02


@dataclass
class CallLog:
    """One call as a QA run sees it: its turns as they complete, then its outcome."""

    call_id: str
    transport: str
    recording: str = ""
    turns: list[TurnRecord] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    """When each turn was recorded (``time.monotonic()``), to hold it to a step's deadline."""
    outcome: Outcome | None = None
    reason: str = ""
    requests: int = 0
    """Requests sent to the assistant so far; each one ends in a recorded turn."""

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    @property
    def owed(self) -> bool:
        """The bot is thinking or about to speak: a request has no recorded turn yet."""
        return self.requests > len(self.turns)

    def turns_from(self, first: int, deadline: float) -> list[TurnRecord]:
        """The turns from index ``first`` on that were recorded by ``deadline``."""
        timed = zip(self.turns[first:], self.arrived[first:], strict=True)
        return [turn for turn, at in timed if at <= deadline]


class ObservedRecords(CallRecordStore):
    """A call record store that also keeps each call's log in memory for the QA run."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: dict[str, CallLog] = {}
        self.order: list[str] = []

    async def start_call(
        self,
        call_id: str,
        transport: str,
        caller: str,
        called: str = "",
        recording: str = "",
        details: Mapping[str, Any] | None = None,
        peer_call_id: str = "",
    ) -> None:
        self.calls[call_id] = CallLog(call_id, transport, recording)
        self.order.append(call_id)
        await super().start_call(
            call_id, transport, caller, called, recording, details, peer_call_id
        )

    async def add_turn(self, record: TurnRecord) -> None:
        # Seen only once written: the session then re-arms its listening in the same step,
        # so a QA caller never speaks into a turn the session has not finished.
        await super().add_turn(record)
        log = self.calls.get(record.call_id)
        if log is not None:
            log.turns.append(record)
            log.arrived.append(time.monotonic())

    async def end_call(self, call_id: str, outcome: Outcome, reason: str = "") -> None:
        await super().end_call(call_id, outcome, reason)
        log = self.calls.get(call_id)
        if log is not None:
            log.outcome, log.reason = outcome, reason

    def requested(self, call_id: str) -> None:
        log = self.calls.get(call_id)
        if log is not None:
            log.requests += 1

    async def wait(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``ready()`` (checked as records arrive); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def next_call(self, known: int, timeout_s: float) -> CallLog | None:
        """The first call started after ``known`` calls were seen (for bridges that dial in)."""
        if not await self.wait(lambda: len(self.order) > known, timeout_s):
            return None
        return self.calls[self.order[known]]


class TrackedDialogue:
    """The assistant, counting each request against its call so the line knows a reply is owed."""

    def __init__(self, inner: DialogueClient, records: ObservedRecords) -> None:
        self.inner = inner
        self.records = records

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def begin(self, conversation_id: str, metadata: dict[str, Any] | None = None) -> Reply:
        self.records.requested(conversation_id)
        return await self.inner.begin(conversation_id, metadata)

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None
    ) -> Reply:
        self.records.requested(conversation_id)
        return await self.inner.send(conversation_id, text, metadata)

    async def send_digits(self, conversation_id: str, digits: str, *, secure: bool) -> Reply:
        self.records.requested(conversation_id)
        return await self.inner.send_digits(conversation_id, digits, secure=secure)

    async def no_input(self, conversation_id: str) -> Reply:
        self.records.requested(conversation_id)
        return await self.inner.no_input(conversation_id)

    def expects_secure_input(self, conversation_id: str) -> bool:
        return self.inner.expects_secure_input(conversation_id)

    async def end(self, conversation_id: str) -> None:
        await self.inner.end(conversation_id)


def observed(
    services: Services, records_db: str, recordings_dir: str, recording_keys: Keyring
) -> tuple[Services, ObservedRecords]:
    """The same engines and assistant, with records and recordings going to the QA run's folder
    (recordings sealed with ``recording_keys``)."""
    records = ObservedRecords(records_db)
    call = dataclasses.replace(
        services.config.call, records_db=records_db, recordings_dir=recordings_dir
    )
    qa = Services(
        dataclasses.replace(services.config, call=call),
        services.asr,
        services.tts,
        TrackedDialogue(services.dialogue, records),
        records,
        services.metrics,
        recording_keys,
    )
    return qa, records
