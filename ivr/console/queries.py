"""Read-only queries over the call records for the console: the calls list and one call.

The database does the work (filters in SQL, keyset pages on the ``calls_started_id`` index),
inside read-only transactions with a time budget (``storage.db.Database.reading``), so no
page can change a record or hold the call record writer up for long. What the pages show is
what ``ivr.records`` stored: caller ids and digits already masked, no PIN ever.
Blocking (database): call it off the event loop.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from typing import Any

from ivr.console.paging import Cursor, Page, page_of
from ivr.console.schema import READ_BUDGET_S
from ivr.console.word_index import calls_saying
from ivr.records import Outcome, TurnRecord
from storage.db import Database, Dialect, Row

OUTCOMES: tuple[str, ...] = typing.get_args(Outcome)


@dataclass(frozen=True)
class CallFilter:
    """What the calls list is narrowed to; None leaves a field open."""

    started_from: float | None = None
    """Epoch seconds, inclusive."""
    started_before: float | None = None
    """Epoch seconds, exclusive."""
    outcome: str | None = None
    transport: str | None = None
    intent: str | None = None
    """Calls with at least one turn understood as this intent."""
    handed_off: bool | None = None
    """True: calls whose outcome is ``handed_off``; False: all others."""
    caller: str | None = None
    """Part of the caller id as stored (masked), any case."""
    text: str | None = None
    """Words in any turn's caller transcript or bot reply, next to each other, any case, the last
    one as a word beginning (``ivr.console.word_index``)."""


@dataclass(frozen=True)
class CallSummary:
    """One line of the calls list."""

    call_id: str
    transport: str
    caller: str
    started_at: float
    ended_at: float | None
    outcome: str
    reason: str
    turns: int


LIST_COLUMNS = ", ".join(f"c.{field.name}" for field in dataclasses.fields(CallSummary))


@dataclass(frozen=True)
class Call:
    """One call's record as ``calls`` holds it, its details decoded."""

    call_id: str
    transport: str
    caller: str
    called: str
    started_at: float
    ended_at: float | None
    outcome: str
    reason: str
    turns: int
    recording: str
    details: dict[str, Any]
    peer_call_id: str
    node_id: str


@dataclass(frozen=True)
class CallDetail:
    """A call and its turns, in order."""

    call: Call
    turns: list[TurnRecord]

    @property
    def handoffs(self) -> list[tuple[int, dict[str, Any]]]:
        """(turn, handoff payload: reason, priority, context for the agent) of each turn whose
        reply handed the caller to an agent."""
        return [
            (turn.turn, payload["handoff"])
            for turn in self.turns
            for payload in turn.payloads
            if isinstance(payload.get("handoff"), dict)
        ]


class CallQueries:
    """The console's reads of ``calls`` and ``turns``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def calls(self, wanted: CallFilter, before: Cursor | None, limit: int) -> Page[CallSummary]:
        """Calls matching ``wanted``, newest first, after ``before``; at most ``limit``."""
        with self.db.reading(READ_BUDGET_S) as tx:
            rows = tx.all(*list_query(wanted, before, limit + 1, self.db.dialect))
        summaries = [CallSummary(**row) for row in rows]
        return page_of(summaries, limit, lambda call: Cursor(call.started_at, call.call_id))

    def call(self, call_id: str) -> CallDetail | None:
        """The call with exactly this id and its turns; None if there is none."""
        return self._call("call_id = ?", call_id)

    def call_by_peer_id(self, peer_call_id: str) -> CallDetail | None:
        """The newest call with this peer id (a browser call's, which the console chose)."""
        return self._call("peer_call_id = ? ORDER BY started_at DESC LIMIT 1", peer_call_id)

    def _call(self, where: str, value: str) -> CallDetail | None:
        with self.db.reading(READ_BUDGET_S) as tx:
            row = tx.one(f"SELECT * FROM calls WHERE {where}", (value,))
            if row is None:
                return None
            turns = tx.all("SELECT * FROM turns WHERE call_id = ? ORDER BY turn", (row["call_id"],))
        fields = {f.name for f in dataclasses.fields(Call)}
        call = Call(
            **{name: row[name] for name in fields if name != "details"},
            details=_object(row["details"]),
        )
        return CallDetail(call, [_turn(turn) for turn in turns])


def list_query(
    wanted: CallFilter, before: Cursor | None, limit: int, dialect: Dialect
) -> tuple[str, tuple[Any, ...]]:
    """The SQL (and its parameters) of one page of the calls list: the filters, the seek past
    ``before``, newest first by (started_at, call_id), the order of ``calls_started_id``."""
    where, params = _conditions(wanted, dialect)
    if before is not None:
        seek, after = before.seek("c.started_at", "c.call_id")
        where.append(seek)
        params.extend(after)
    sql = (
        f"SELECT {LIST_COLUMNS} FROM calls c"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY c.started_at DESC, c.call_id DESC LIMIT ?"
    )
    return sql, (*params, limit)


def _conditions(wanted: CallFilter, dialect: Dialect) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    plain = (
        ("c.started_at >= ?", wanted.started_from),
        ("c.started_at < ?", wanted.started_before),
        ("c.outcome = ?", wanted.outcome),
        ("c.transport = ?", wanted.transport),
    )
    for condition, value in plain:
        if value is not None:
            where.append(condition)
            params.append(value)
    if wanted.handed_off is not None:
        where.append("c.outcome = ?" if wanted.handed_off else "c.outcome <> ?")
        params.append("handed_off")
    if wanted.caller is not None:
        where.append("LOWER(c.caller) LIKE ? ESCAPE '\\'")
        params.append(_containing(wanted.caller))
    if wanted.intent is not None:
        where.append("EXISTS (SELECT 1 FROM turns t WHERE t.call_id = c.call_id AND t.intent = ?)")
        params.append(wanted.intent)
    saying = None if wanted.text is None else calls_saying(wanted.text, dialect)
    if saying is not None:
        condition, param = saying
        where.append(condition)
        params.append(param)
    elif wanted.text is not None:  # no word in it: looked for as written
        where.append(
            "EXISTS (SELECT 1 FROM turns t WHERE t.call_id = c.call_id AND"
            " (LOWER(t.transcript) LIKE ? ESCAPE '\\' OR LOWER(t.bot_text) LIKE ? ESCAPE '\\'))"
        )
        params.extend([_containing(wanted.text)] * 2)
    return where, params


def _containing(text: str) -> str:
    """A LIKE pattern for ``text`` anywhere, its own % and _ taken literally, lower case."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _turn(row: Row) -> TurnRecord:
    values = {f.name: row[f.name] for f in dataclasses.fields(TurnRecord)}
    values["entities"] = _list(row["entities"])
    values["payloads"] = _list(row["payloads"])
    values["barged_in"] = bool(row["barged_in"])
    return TurnRecord(**values)


def _object(text: str) -> dict[str, Any]:
    decoded = _json(text)
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def _list(text: str) -> list[Any]:
    decoded = _json(text)
    return [item for item in decoded if isinstance(item, dict)] if isinstance(decoded, list) else []


def _json(text: str) -> Any:
    """A stored JSON column; text that is not JSON comes back as itself, never an error."""
    try:
        return json.loads(text)
    except ValueError:
        return text
