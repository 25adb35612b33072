"""The call record store: every call and every turn, written as it happens.

A turn is committed the moment it completes, so a crash loses no finished turn. Writes go through
one worker thread (SQLite wants a single writer; PostgreSQL does not mind), so the event loop that
carries the calls never waits on the disk. Caller ids and entity values are masked before they are
written; PIN entry is recorded only as the fact that digits were entered.

A call is keyed by an id the bot generates (``new_call_id``); the id the peer gave the call (SIP
Call-ID, Twilio callSid, ...) is kept as ``peer_call_id`` for finding it, never used as a key or a
file name.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from dialogue.bank.masking import mask_number
from ivr.db import Database, Row, Tx
from ivr.logs import mask_digits

Outcome = Literal["in_progress", "self_served", "handed_off", "abandoned", "failed"]
InputKind = Literal["start", "speech", "dtmf", "secure_dtmf", "secure_speech", "no_input"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    transport TEXT NOT NULL,
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    turns INTEGER NOT NULL DEFAULT 0,
    recording TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}',
    peer_call_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS turns (
    call_id TEXT NOT NULL REFERENCES calls (call_id),
    turn INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    input_kind TEXT NOT NULL,
    transcript TEXT NOT NULL DEFAULT '',
    asr_confidence DOUBLE PRECISION,
    intent TEXT,
    intent_confidence DOUBLE PRECISION,
    entities TEXT NOT NULL DEFAULT '[]',
    bot_text TEXT NOT NULL DEFAULT '',
    payloads TEXT NOT NULL DEFAULT '[]',
    barged_in INTEGER NOT NULL DEFAULT 0,
    endpoint_ms DOUBLE PRECISION,
    asr_ms DOUBLE PRECISION,
    dialogue_ms DOUBLE PRECISION,
    tts_first_ms DOUBLE PRECISION,
    response_ms DOUBLE PRECISION,
    PRIMARY KEY (call_id, turn)
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at)
"""
INDEXES_AFTER_UPGRADE = "CREATE INDEX IF NOT EXISTS calls_peer ON calls (peer_call_id)"
"""Created once ``peer_call_id`` exists: a database made before that column gets it added first."""


def new_call_id() -> str:
    """A fresh call id: UTC start time (sorts by time) and 48 random bits; only [0-9a-z-]."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(6)}"


@dataclass
class TurnRecord:
    """One exchange: what the caller did, what was understood, what the bot said, and how fast."""

    call_id: str
    turn: int
    started_at: float
    input_kind: InputKind
    transcript: str = ""
    asr_confidence: float | None = None
    intent: str | None = None
    intent_confidence: float | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    bot_text: str = ""
    payloads: list[dict[str, Any]] = field(default_factory=list)
    barged_in: bool = False
    endpoint_ms: float | None = None
    """End of caller speech to the endpointer closing the utterance (the hangover wait)."""
    asr_ms: float | None = None
    """Utterance closed to final transcript."""
    dialogue_ms: float | None = None
    """Transcript sent to the assistant until its reply arrived."""
    tts_first_ms: float | None = None
    """Reply arrived until the first bot audio frame was queued to the caller."""
    response_ms: float | None = None
    """End of caller speech to first bot audio: what the caller feels as the bot's delay."""


class CallRecordStore:
    """Calls and turns in ``sqlite:///...`` or ``postgresql://...``; async writes, sync reads."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        with self.db.transaction() as tx:
            tx.script(SCHEMA)
            if "peer_call_id" not in tx.columns("calls"):
                tx.execute("ALTER TABLE calls ADD COLUMN peer_call_id TEXT NOT NULL DEFAULT ''")
            tx.execute(INDEXES_AFTER_UPGRADE)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-records")

    async def _write(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Run the statements as one transaction on the writer thread."""

        def run() -> None:
            with self.db.transaction() as tx:
                for sql, params in statements:
                    tx.execute(sql, params)

        await asyncio.get_running_loop().run_in_executor(self._writer, run)

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
        await self._write(
            (
                "INSERT INTO calls (call_id, transport, caller, called, started_at, outcome,"
                " recording, details, peer_call_id) VALUES (?, ?, ?, ?, ?, 'in_progress', ?, ?, ?)",
                (
                    call_id,
                    transport,
                    mask_caller(caller),
                    called,
                    time.time(),
                    recording,
                    mask_digits(json.dumps(dict(details or {}), default=str)),
                    peer_call_id,
                ),
            )
        )

    async def add_turn(self, record: TurnRecord) -> None:
        row = asdict(record)
        row["transcript"] = mask_digits(record.transcript)
        row["bot_text"] = mask_digits(record.bot_text)
        row["entities"] = mask_digits(json.dumps(record.entities, default=str))
        row["payloads"] = mask_digits(json.dumps(record.payloads, default=str))
        row["barged_in"] = int(record.barged_in)
        columns = list(row)
        insert = (
            f"INSERT INTO turns ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        await self._write(
            (insert, tuple(row[c] for c in columns)),
            ("UPDATE calls SET turns = turns + 1 WHERE call_id = ?", (record.call_id,)),
        )

    async def end_call(self, call_id: str, outcome: Outcome, reason: str = "") -> None:
        await self._write(
            (
                "UPDATE calls SET ended_at = ?, outcome = ?, reason = ? WHERE call_id = ?",
                (time.time(), outcome, mask_digits(reason), call_id),
            )
        )

    def recent_calls(self, limit: int = 20) -> list[Row]:
        with self.db.transaction() as tx:
            return tx.all("SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))

    def call(self, call_id: str) -> Row | None:
        """The call with this id, else the newest with this peer id, else the one whose id
        starts with it (when only one does)."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT * FROM calls WHERE call_id = ?", (call_id,)) or _by_peer_id(
                tx, call_id
            )
            if row is None:
                matches = tx.all(
                    "SELECT * FROM calls WHERE call_id LIKE ? ORDER BY started_at DESC LIMIT 2",
                    (call_id + "%",),
                )
                row = matches[0] if len(matches) == 1 else None
            return row

    def call_by_peer_id(self, peer_call_id: str) -> Row | None:
        """The newest call the peer gave this id (a peer may reuse one)."""
        with self.db.transaction() as tx:
            return _by_peer_id(tx, peer_call_id)

    def delete_calls_before(self, cutoff: float) -> int:
        """Delete calls started before ``cutoff`` (epoch seconds) with their turns; how many."""
        with self.db.transaction() as tx:
            old = "SELECT call_id FROM calls WHERE started_at < ?"
            tx.execute(f"DELETE FROM turns WHERE call_id IN ({old})", (cutoff,))
            return tx.execute("DELETE FROM calls WHERE started_at < ?", (cutoff,))

    def turns(self, call_id: str) -> list[Row]:
        with self.db.transaction() as tx:
            return tx.all("SELECT * FROM turns WHERE call_id = ? ORDER BY turn", (call_id,))

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self.db.close()


def _by_peer_id(tx: Tx, peer_call_id: str) -> Row | None:
    if not peer_call_id:
        return None  # calls recorded before peer ids were kept have an empty one
    return tx.one(
        "SELECT * FROM calls WHERE peer_call_id = ? ORDER BY started_at DESC LIMIT 1",
        (peer_call_id,),
    )


def mask_caller(caller: str) -> str:
    """A caller id keeps its last four digits; a SIP URI keeps its host for routing questions."""
    user, at, host = caller.partition("@")
    scheme, colon, number = user.rpartition(":")
    if sum(ch.isdigit() for ch in number) >= 4:
        number = mask_number(number)
    return f"{scheme}{colon}{number}{at}{host}"
