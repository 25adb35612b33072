"""The NLU inbox's reads: caller turns the bot may have misunderstood, by SQL over the records.

A spoken caller turn (``input_kind = 'speech'``, with a transcript) is an inbox item for any of
these reasons, each decided from what ``calls`` and ``turns`` hold:

- ``low_confidence``: understood as a real intent with a confidence under the confirm band's
  top (``confirm_threshold`` of ``dialogue/config.yml``): below ``threshold`` NLU makes it a
  fallback, in between it acts (or asks first) on a guess;
- ``fallback``: understood as ``nlu_fallback`` (re-prompted) or ``nlu_confirm`` (asked "is that
  right?"): the record keeps the band's marker, not the guess;
- ``corrected``: the caller's next turn (turn + 1 of the call) says the bot got it wrong: a
  ``deny`` to the confirm question, words that open with a correction ("no I said ...", "I
  meant ...", "that's not what I ..."), or the same words again (case and ``, . ? !`` aside,
  two words or more);
- ``handoff``: the call was handed to an agent and this is its last spoken turn that was not
  itself a request for an agent (what the bot failed to serve before the caller gave up on it).

Turns a designer labelled or dismissed (``console_inbox_labels``) leave the inbox. Items come
newest call first, keyset-paged on the calls' ``calls_started_id`` index (call start, call id)
and then the turn, within a period of call start days, in read-only transactions with the
console's time budget: a page costs what reading its calls costs, whatever the table's size.
Blocking (database): call it off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ivr.console.analytics import Period
from ivr.console.nlu_project import CONFIRM_INTENT, FALLBACK_INTENT, Bands
from ivr.console.paging import Cursor, Page, page_of
from ivr.console.schema import READ_BUDGET_S
from storage.db import Database, Row

REASONS: dict[str, str] = {
    "low_confidence": "understood with low confidence",
    "fallback": "not understood (fallback) or asked to confirm",
    "corrected": "the caller corrected the bot next",
    "handoff": "the last thing said before a handoff",
}
"""Each reason and how the page explains it."""
CORRECTION_OPENERS = (
    "no i said",
    "no i meant",
    "no that's not",
    "i said",
    "i meant",
    "that's not what i",
    "thats not what i",
    "not what i said",
)
"""Words a correction opens with, lower case, without commas or full stops."""
IGNORED_MARKS = (",", ".", "?", "!")
AGENT_INTENT = "talk_to_agent"
Sql = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class InboxFilter:
    """Which items: calls started in ``period``, one reason or all, and only turns after
    ``after`` (the current model's training) when given."""

    period: Period
    reason: str | None = None
    after: float | None = None


@dataclass(frozen=True)
class InboxItem:
    """One caller turn in the inbox and why it is there."""

    call_id: str
    turn: int
    started_at: float
    call_started_at: float
    transcript: str
    intent: str | None
    intent_confidence: float | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class InboxCursor(Cursor):
    """Where a page ended: the call's (start, id) and the turn, newest first."""

    turn: int = 0

    def __str__(self) -> str:
        return f"{super().__str__()}~{self.turn}"

    @classmethod
    def parse(cls, text: str) -> InboxCursor:
        """The cursor ``str`` made; ValueError for anything else."""
        call, separator, turn = text.rpartition("~")
        if not separator or not turn.isdigit() or len(turn) > 6:
            raise ValueError("not an inbox cursor")
        at_call = Cursor.parse(call)
        return cls(at_call.at, at_call.key, int(turn))


@dataclass(frozen=True)
class InboxCounts:
    """How many items the period holds, by reason, and how many are newer than the model."""

    by_reason: dict[str, int]
    total: int
    new: int


def normalised(column: str) -> Sql:
    """``column`` lower case, trimmed, without ``IGNORED_MARKS`` (SQLite and PostgreSQL)."""
    sql = column
    for _ in IGNORED_MARKS:
        sql = f"REPLACE({sql}, ?, '')"
    return f"LOWER(TRIM({sql}))", IGNORED_MARKS


def reason_conditions(bands: Bands) -> dict[str, Sql]:
    """The SQL condition of each reason over ``calls c``, ``turns t`` and the next turn
    ``n`` (every literal a parameter: PostgreSQL's driver reads ``%`` and ``?`` in SQL)."""
    said, said_params = normalised("t.transcript")
    next_said, next_params = normalised("n.transcript")
    openers = " OR ".join(f"{next_said} LIKE ?" for _ in CORRECTION_OPENERS)
    opener_params = tuple(p for o in CORRECTION_OPENERS for p in (*next_params, f"{o}%"))
    return {
        "low_confidence": (
            "(t.intent IS NOT NULL AND t.intent NOT IN (?, ?) AND t.intent_confidence < ?)",
            (FALLBACK_INTENT, CONFIRM_INTENT, bands.confirm_threshold),
        ),
        "fallback": ("(t.intent IN (?, ?))", (FALLBACK_INTENT, CONFIRM_INTENT)),
        "corrected": (
            f"((t.intent = ? AND n.intent = ?) OR (n.input_kind = ? AND ({openers}))"
            f" OR (n.input_kind = ? AND {next_said} = {said} AND t.transcript LIKE ?))",
            (
                CONFIRM_INTENT,
                "deny",
                "speech",
                *opener_params,
                "speech",
                *next_params,
                *said_params,
                "% %",
            ),
        ),
        "handoff": (
            "(c.outcome = ? AND COALESCE(t.intent, '') <> ? AND NOT EXISTS (SELECT 1 FROM turns"
            " later WHERE later.call_id = t.call_id AND later.turn > t.turn"
            " AND later.input_kind = ? AND COALESCE(later.intent, '') <> ?))",
            ("handed_off", AGENT_INTENT, "speech", AGENT_INTENT),
        ),
    }


FROM = (
    " FROM calls c JOIN turns t ON t.call_id = c.call_id"
    " LEFT JOIN turns n ON n.call_id = t.call_id AND n.turn = t.turn + 1"
)
ITEM_COLUMNS = (
    "SELECT c.started_at AS call_started_at, t.call_id, t.turn, t.started_at, t.transcript,"
    " t.intent, t.intent_confidence"
)
SPOKEN = "t.input_kind = ? AND t.transcript <> ?"
FLAG = "CASE WHEN {sql} THEN 1 ELSE 0 END"
"""A reason's 0/1 column."""
NOT_DECIDED = (
    "NOT EXISTS (SELECT 1 FROM console_inbox_labels l"
    " WHERE l.call_id = t.call_id AND l.turn = t.turn)"
)


class InboxQueries:
    """The console's reads of inbox items."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def items(
        self, wanted: InboxFilter, bands: Bands, before: InboxCursor | None, limit: int
    ) -> Page[InboxItem]:
        """Undecided items matching ``wanted``, newest call first, after ``before``."""
        conditions = reason_conditions(bands)
        where, params = self._where(wanted, conditions)
        if before is not None:
            where += " AND (c.started_at, c.call_id, t.turn) < (?, ?, ?)"
            params += (before.at, before.key, before.turn)
        flags, flag_params = _per_reason(conditions, FLAG)
        sql = (
            f"{ITEM_COLUMNS}, {flags}{FROM} WHERE {where}"
            " ORDER BY c.started_at DESC, c.call_id DESC, t.turn DESC LIMIT ?"
        )
        with self.db.reading(READ_BUDGET_S) as tx:
            rows = tx.all(sql, (*flag_params, *params, limit + 1))
        items = [_item(row) for row in rows]
        return page_of(
            items,
            limit,
            lambda item: InboxCursor(item.call_started_at, item.call_id, item.turn),
        )

    def counts(self, wanted: InboxFilter, bands: Bands, model_at: float | None) -> InboxCounts:
        """Undecided items of ``wanted``'s period (and reason), by reason and new."""
        conditions = reason_conditions(bands)
        where, params = self._where(wanted, conditions)
        sums, sum_params = _per_reason(conditions, "SUM(CASE WHEN {sql} THEN 1 ELSE 0 END)")
        newer = "SUM(CASE WHEN t.started_at > ? THEN 1 ELSE 0 END) AS new"
        sql = f"SELECT COUNT(*) AS total, {sums}, {newer}{FROM} WHERE {where}"
        with self.db.reading(READ_BUDGET_S) as tx:
            row = tx.one(sql, (*sum_params, model_at or 0.0, *params)) or {}
        return InboxCounts(
            {name: int(row.get(name) or 0) for name in conditions},
            int(row.get("total") or 0),
            int(row.get("new") or 0),
        )

    def item(self, call_id: str, turn: int, bands: Bands) -> InboxItem | None:
        """The turn as an inbox item (decided or not); None if it is not one."""
        conditions = reason_conditions(bands)
        flags, flag_params = _per_reason(conditions, FLAG)
        sql = f"{ITEM_COLUMNS}, {flags}{FROM} WHERE t.call_id = ? AND t.turn = ? AND {SPOKEN}"
        with self.db.reading(READ_BUDGET_S) as tx:
            row = tx.one(sql, (*flag_params, call_id, turn, "speech", ""))
        found = None if row is None else _item(row)
        return found if found is not None and found.reasons else None

    @staticmethod
    def _where(wanted: InboxFilter, conditions: dict[str, Sql]) -> tuple[str, tuple[Any, ...]]:
        chosen = [conditions[wanted.reason]] if wanted.reason else list(conditions.values())
        parts = [
            SPOKEN,
            "c.started_at >= ? AND c.started_at < ?",
            NOT_DECIDED,
            f"({' OR '.join(sql for sql, _ in chosen)})",
        ]
        params: tuple[Any, ...] = (
            "speech",
            "",
            wanted.period.start,
            wanted.period.end,
            *(p for _, values in chosen for p in values),
        )
        if wanted.after is not None:
            parts.append("t.started_at > ?")
            params += (wanted.after,)
        return " AND ".join(parts), params


def _per_reason(conditions: dict[str, Sql], template: str) -> Sql:
    """One column per reason, ``template`` filled with its condition, named after it."""
    columns = [f"{template.format(sql=sql)} AS {name}" for name, (sql, _) in conditions.items()]
    return ", ".join(columns), tuple(p for _, values in conditions.values() for p in values)


def _item(row: Row) -> InboxItem:
    return InboxItem(
        call_id=row["call_id"],
        turn=int(row["turn"]),
        started_at=float(row["started_at"]),
        call_started_at=float(row["call_started_at"]),
        transcript=row["transcript"],
        intent=row["intent"],
        intent_confidence=row["intent_confidence"],
        reasons=tuple(name for name in REASONS if row.get(name)),
    )


def reasons_text(reasons: Iterable[str]) -> str:
    """The reasons as the page says them."""
    return "; ".join(REASONS[name] for name in reasons)
