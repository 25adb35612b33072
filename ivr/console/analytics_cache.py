"""The dashboard's figures of settled weeks, kept so a long period does not read a month of turns.

The dashboard reads a period a week at a time (``ivr.console.analytics``); a 30-day period over
100,000 calls took 0.7-0.8 s, most of it the funnels' reply searches and the latency groupings
over every turn of the month. A week that ended a day ago or more no longer changes: its calls
have ended and no turn is added to them. So the rows each query gives for a whole calendar week
(Monday to Monday, UTC) are kept in ``console_analytics_weeks``, keyed by the query and its
parameters, with the state of the week's calls when they were read: their number and their
summed end times, read once per report for all of the week's queries. Retention deleting
calls, or a restarted node marking its dead calls ``interrupted``, changes that state, and the
week is read again. The current week, and the part weeks at a period's ends, are always read
live. Rows kept ``KEEP_DAYS`` days ago are read again (a page view never writes to keep them
fresh: a write would hold up call records), and at most ``MAX_ENTRIES`` are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Row, Tx

SCHEMA = """
CREATE TABLE IF NOT EXISTS console_analytics_weeks (
    key TEXT PRIMARY KEY,
    calls_state TEXT NOT NULL,
    rows TEXT NOT NULL,
    kept_at DOUBLE PRECISION NOT NULL
)
"""
WEEK_S = 7 * 86_400
SETTLE_S = 86_400
"""A week is settled this long after it ended: no call lasts a day."""
KEEP_DAYS = 35
MAX_ENTRIES = 2_000
"""About 13 queries for each of 150 weeks: three years of weeks, whatever is asked."""


def settled(start: float, end: float, now: float) -> bool:
    """Whether the stretch [start, end) is a whole week that can no longer change."""
    return end - start == WEEK_S and end <= now - SETTLE_S


def calls_state(tx: Tx, start: float, end: float) -> str:
    """What changes when a call of the week is added, deleted or ended."""
    row = tx.one(
        "SELECT COUNT(*) AS calls, COALESCE(SUM(ended_at), 0) AS ended FROM calls"
        " WHERE started_at >= ? AND started_at < ?",
        (start, end),
    )
    return "0:0" if row is None else f"{row['calls']}:{float(row['ended']):.3f}"


@dataclass(frozen=True)
class Lookup:
    """A settled week's query: its key, the state of its calls, and its rows if kept."""

    key: str
    calls_state: str
    rows: list[Row] | None


class WeekCache:
    """Rows of settled weeks by query (blocking). Looked up inside a read, kept after it: on
    SQLite a write waits for every open read to end, its own thread's too."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    def lookup(self, tx: Tx, sql: str, params: tuple[Any, ...], state: str) -> Lookup:
        """The kept rows of ``sql`` with ``params`` for a settled week, if the week's calls are
        in the ``state`` they were in when the rows were read (``tx``: the read in progress)."""
        key = hashlib.sha256(json.dumps([sql, list(params)]).encode()).hexdigest()
        kept = tx.one("SELECT calls_state, rows FROM console_analytics_weeks WHERE key = ?", (key,))
        if kept is not None and kept["calls_state"] == state:
            return Lookup(key, state, list(json.loads(kept["rows"])))
        return Lookup(key, state, None)

    def keep(self, looked: Lookup, rows: list[Row]) -> None:
        """Keep a week's rows read after ``looked`` found none; drop what is old or too many."""
        now = self.clock()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO console_analytics_weeks (key, calls_state, rows, kept_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                " calls_state = excluded.calls_state, rows = excluded.rows,"
                " kept_at = excluded.kept_at",
                (looked.key, looked.calls_state, json.dumps(rows), now),
            )
            tx.execute(
                "DELETE FROM console_analytics_weeks WHERE kept_at < ?",
                (now - KEEP_DAYS * 86_400,),
            )
            tx.execute(
                "DELETE FROM console_analytics_weeks WHERE key NOT IN (SELECT key FROM"
                " console_analytics_weeks ORDER BY kept_at DESC LIMIT ?)",
                (MAX_ENTRIES,),
            )
