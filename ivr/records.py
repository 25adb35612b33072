"""The call record store: every call and every turn, written as it happens.

A turn is committed the moment it completes, so a crash loses no finished turn. Writes go through
one worker thread (SQLite wants a single writer; PostgreSQL does not mind), so the event loop that
carries the calls never waits on the disk. Caller ids and entity values are masked before they are
written; PIN entry is recorded only as the fact that digits were entered.

A call is keyed by an id the bot generates (``new_call_id``); the id the peer gave the call (SIP
Call-ID, Twilio callSid, ...) is kept as ``peer_call_id`` for finding it, never used as a key or a
file name.

A records database that is locked or down must not reach the caller: a write that fails for a
reason that may pass (SQLite busy or locked, a PostgreSQL connection lost) is kept, in order, in
a bounded backlog and retried in the background until it goes through, and the call goes on.
Writes are never reordered (a call's turns follow its start), so once one is waiting every later
write queues behind it. What is still waiting when the store closes is logged with its call ids.

Each call names the node that served it (``node_id``): at start a node marks its own calls still
``in_progress`` as ``interrupted`` (it died mid-call), never another node's live ones.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ivr.logs import get_logger, mask_digits
from logfields import fields
from masking import mask_caller
from storage.db import Database, Row, Tx

log = get_logger(__name__)

Outcome = Literal["in_progress", "self_served", "handed_off", "abandoned", "failed", "interrupted"]
"""``interrupted``: the server stopped mid-call (drain time over, or found so after a crash)."""
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
    peer_call_id TEXT NOT NULL DEFAULT '',
    node_id TEXT NOT NULL DEFAULT ''
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
CREATE INDEX IF NOT EXISTS calls_started_id ON calls (started_at, call_id)
"""
"""``calls_started_id`` serves retention (``started_at < cutoff``) and the console's calls list,
paged newest first by (started_at, call_id) without a sort. A database made before it also keeps
its older ``calls_started`` (started_at alone)."""
INDEXES_AFTER_UPGRADE = "CREATE INDEX IF NOT EXISTS calls_peer ON calls (peer_call_id)"
"""Created once ``peer_call_id`` exists: a database made before that column gets it added first."""
ADDED_COLUMNS = {
    "peer_call_id": "TEXT NOT NULL DEFAULT ''",
    "node_id": "TEXT NOT NULL DEFAULT ''",
}
"""Columns a database made by an earlier version lacks, added when it is opened."""
BUSY_TIMEOUT_S = 1.0
"""How long one write waits for a locked SQLite database before it joins the backlog: the
session awaits its writes, so this bounds what a locked store can cost a caller."""
MAX_BACKLOG = 10_000
"""Writes kept for a store that is down (about an hour of 30 busy calls); beyond it the newest
are dropped and logged, so memory stays bounded."""
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
"""The backlog is retried after ``RETRY_FIRST_S``, doubling up to ``RETRY_MAX_S``."""
INTERRUPTED_REASON = "the server stopped mid-call (found in progress at its next start)"


def create_records_schema(tx: Tx) -> None:
    """The calls and turns tables and their indexes, older databases brought up to date."""
    tx.script(SCHEMA)
    present = tx.columns("calls")
    for column, kind in ADDED_COLUMNS.items():
        if column not in present:
            tx.execute(f"ALTER TABLE calls ADD COLUMN {column} {kind}")
    tx.execute(INDEXES_AFTER_UPGRADE)


def new_call_id() -> str:
    """A fresh call id: UTC start time (sorts by time) and 48 random bits; only [0-9a-z].

    Letters part every run of digits (``20261205t142501z3fa9c1d2e4b5``), so the log masking of
    long numbers, which must hide account and card numbers, leaves the id readable.
    """
    return f"{time.strftime('%Y%m%dt%H%M%Sz', time.gmtime())}{secrets.token_hex(6)}"


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

    def __init__(self, url: str, node_id: str = "") -> None:
        """``node_id`` names the server writing the calls it starts (empty: not a server)."""
        self.db = Database(url)
        self.node_id = node_id
        with self.db.transaction() as tx:
            create_records_schema(tx)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-records")
        self._backlog: deque[_Write] = deque()
        self._retrying: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0
        """Writes dropped: the backlog was full, or the database refused them for good."""

    @property
    def backlog(self) -> int:
        """Writes waiting for the database to come back."""
        return len(self._backlog)

    async def _write(self, call_id: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Run the statements as one transaction on the writer thread, after any backlog."""

        def apply(tx: Tx) -> None:
            for sql, params in statements:
                tx.execute(sql, params)

        await self._apply(call_id, apply)

    async def _apply(self, call_id: str, apply: Callable[[Tx], None]) -> None:
        """Run ``apply`` in one transaction on the writer thread, after any backlog.

        Never raises for the database: a write it cannot take now waits in the backlog.
        """
        if len(self._backlog) >= MAX_BACKLOG:
            self.dropped += 1
            log.error("records.dropped", extra=fields(call_id=call_id, backlog=MAX_BACKLOG))
            return
        self._backlog.append(_Write(call_id, apply))
        loop = asyncio.get_running_loop()
        if self._retry_running() or await loop.run_in_executor(self._writer, self._flush_backlog):
            return  # written, or queued behind a backlog that is being retried
        if not self._retry_running():
            self._retrying = loop.create_task(self._retry(), name="call-records-retry")

    def stats(self) -> dict[str, int]:
        """For /metrics: writes waiting for the database, and writes dropped."""
        return {"backlog": len(self._backlog), "dropped": self.dropped}

    def _retry_running(self) -> bool:
        return self._retrying is not None and not self._retrying.done()

    async def _retry(self) -> None:
        """Retry the backlog until it is written, backing off while the database is away."""
        loop = asyncio.get_running_loop()
        delay = RETRY_FIRST_S
        while not self._closed:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            try:
                if await loop.run_in_executor(self._writer, self._flush_backlog):
                    log.info("records.backlog_written", extra=fields(dropped=self.dropped))
                    return
            except RuntimeError:  # closed meanwhile: close() made the last try
                return

    def _flush_backlog(self) -> bool:
        """Write the backlog in order (writer thread); False if the database is still away."""
        while self._backlog:
            write = self._backlog[0]
            try:
                with self.db.transaction(busy_timeout_s=BUSY_TIMEOUT_S) as tx:
                    write.apply(tx)
            except Exception as exc:
                if _may_pass(exc):
                    write.attempts += 1
                    if write.attempts == 1:
                        log.warning(
                            "records.write_delayed",
                            extra=fields(
                                call_id=write.call_id, error=str(exc), backlog=len(self._backlog)
                            ),
                        )
                    return False
                self.dropped += 1
                log.exception("records.write_refused", extra=fields(call_id=write.call_id))
            self._backlog.popleft()
        return True

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
            call_id,
            (
                "INSERT INTO calls (call_id, transport, caller, called, started_at, outcome,"
                " recording, details, peer_call_id, node_id)"
                " VALUES (?, ?, ?, ?, ?, 'in_progress', ?, ?, ?, ?)",
                (
                    call_id,
                    transport,
                    mask_caller(caller),
                    called,
                    time.time(),
                    recording,
                    mask_digits(json.dumps(dict(details or {}), default=str)),
                    peer_call_id,
                    self.node_id,
                ),
            ),
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
            record.call_id,
            (insert, tuple(row[c] for c in columns)),
            ("UPDATE calls SET turns = turns + 1 WHERE call_id = ?", (record.call_id,)),
        )

    async def note(self, call_id: str, key: str, value: str) -> None:
        """Add ``key: value`` to the call's details (what went wrong with its recording, ...)."""

        def apply(tx: Tx) -> None:
            row = tx.one("SELECT details FROM calls WHERE call_id = ?", (call_id,))
            details = json.loads(row["details"]) if row is not None else {}
            details[key] = value
            tx.execute(
                "UPDATE calls SET details = ? WHERE call_id = ?",
                (mask_digits(json.dumps(details, default=str)), call_id),
            )

        await self._apply(call_id, apply)

    async def end_call(self, call_id: str, outcome: Outcome, reason: str = "") -> None:
        await self._write(
            call_id,
            (
                "UPDATE calls SET ended_at = ?, outcome = ?, reason = ? WHERE call_id = ?",
                (time.time(), outcome, mask_digits(reason), call_id),
            ),
        )

    def recent_calls(self, limit: int = 20) -> list[Row]:
        with self.db.transaction() as tx:
            return tx.all("SELECT * FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))

    def recorded_calls(self, limit: int) -> list[Row]:
        """The most recent calls that ended (not cut short by a stopping server) and have a
        recording, newest first."""
        with self.db.transaction() as tx:
            return tx.all(
                "SELECT * FROM calls WHERE ended_at IS NOT NULL AND recording != ''"
                " AND outcome NOT IN ('in_progress', 'interrupted')"
                " ORDER BY started_at DESC LIMIT ?",
                (limit,),
            )

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

    def mark_interrupted(self) -> list[str]:
        """Close this node's calls left ``in_progress`` (it stopped mid-call) as ``interrupted``,
        ended at their last recorded turn; returns their ids. Call it before taking calls."""
        with self.db.transaction() as tx:
            stranded = [
                row["call_id"]
                for row in tx.all(
                    "SELECT call_id FROM calls WHERE outcome = 'in_progress' AND node_id = ?",
                    (self.node_id,),
                )
            ]
            tx.execute(
                "UPDATE calls SET outcome = 'interrupted', reason = ?, ended_at = COALESCE("
                "(SELECT MAX(t.started_at) FROM turns t WHERE t.call_id = calls.call_id),"
                " started_at) WHERE outcome = 'in_progress' AND node_id = ?",
                (INTERRUPTED_REASON, self.node_id),
            )
        return stranded

    def close(self) -> None:
        """Write what the backlog still holds (one last try), then release the database."""
        self._closed = True
        self._writer.submit(self._flush_backlog).result()
        self._writer.shutdown(wait=True)
        if self._backlog:
            log.error(
                "records.unwritten",
                extra=fields(
                    writes=len(self._backlog),
                    call_ids=sorted({w.call_id for w in self._backlog}),
                ),
            )
        self.db.close()


@dataclass
class _Write:
    """One transaction waiting for the writer thread."""

    call_id: str
    apply: Callable[[Tx], None]
    attempts: int = 0


def _may_pass(exc: Exception) -> bool:
    """Whether a failed write may succeed later: the database was busy, locked, full or away
    (SQLite's and psycopg2's OperationalError, a lost PostgreSQL connection), not a bad write."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    psycopg2 = sys.modules.get("psycopg2")
    return psycopg2 is not None and isinstance(
        exc, (psycopg2.OperationalError, psycopg2.InterfaceError)
    )


def _by_peer_id(tx: Tx, peer_call_id: str) -> Row | None:
    if not peer_call_id:
        return None  # calls recorded before peer ids were kept have an empty one
    return tx.one(
        "SELECT * FROM calls WHERE peer_call_id = ? ORDER BY started_at DESC LIMIT 1",
        (peer_call_id,),
    )
