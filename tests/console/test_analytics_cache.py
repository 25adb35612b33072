"""Settled weeks of the dashboard are read once and kept; the week in progress is always read
live, and a kept week is read again when its calls change (retention, a call ended late)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

import pytest

from ivr.console import analytics_cache
from ivr.console.analytics import AnalyticsQueries, Period
from ivr.console.schema import open_console_db
from ivr.records import CallRecordStore, TurnRecord
from storage.db import Database, Row, Tx

WEEK = Period(date(2026, 3, 2), date(2026, 3, 8))
"""Monday to Sunday: one whole calendar week."""
TWO_WEEKS = Period(date(2026, 3, 2), date(2026, 3, 15))
"""The same week and the next, settled by ``LATER`` too."""
LATER = datetime(2026, 3, 20, tzinfo=timezone.utc).timestamp()
"""A clock twelve days after the week: settled."""
DURING = datetime(2026, 3, 7, 12, tzinfo=timezone.utc).timestamp()
"""A clock inside the week: still in progress."""


async def call(url: str, call_id: str, day: int, intent: str) -> None:
    store = CallRecordStore(url)
    await store.start_call(call_id, "sip", "+15550002222")
    await store.add_turn(TurnRecord(call_id, 1, 1.0, "speech", transcript="hi", intent=intent))
    await store.end_call(call_id, "self_served")
    started = datetime(2026, 3, day, 10, tzinfo=timezone.utc).timestamp()
    with store.db.transaction() as tx:
        tx.execute(
            "UPDATE calls SET started_at = ?, ended_at = ? WHERE call_id = ?",
            (started, started + 60, call_id),
        )
    store.close()


def intents(db: Database, clock: float) -> dict[str, int]:
    return dict(AnalyticsQueries(db, lambda: clock).report(WEEK).turn_intents)


def state_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The (start, end) of each week whose calls' state is read from now on."""
    reads: list[tuple[Any, ...]] = []
    one = Tx.one

    def watched(tx: Tx, sql: str, params: Sequence[Any] = ()) -> Row | None:
        if "SUM(ended_at)" in sql:
            reads.append(tuple(params))
        return one(tx, sql, params)

    monkeypatch.setattr(Tx, "one", watched)
    return reads


def relabel(db: Database, intent: str) -> None:
    """Change what the turns say without touching a call (what a settled week never sees)."""
    with db.transaction() as tx:
        tx.execute("UPDATE turns SET intent = ?", (intent,))


def test_a_period_is_read_by_calendar_weeks() -> None:
    weeks = Period(date(2026, 3, 4), date(2026, 3, 17)).weeks()
    days = [(datetime.fromtimestamp(a, timezone.utc).date(), (b - a) / 86_400) for a, b in weeks]
    assert days == [(date(2026, 3, 4), 5), (date(2026, 3, 9), 7), (date(2026, 3, 16), 2)]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_settled_week_is_kept_until_its_calls_change(records_url: str) -> None:
    db = open_console_db(records_url)
    await call(records_url, "call-a", 3, "check_balance")
    assert intents(db, LATER) == {"check_balance": 1}
    relabel(db, "fees")
    assert intents(db, LATER) == {"check_balance": 1}, "kept: the week was read once"
    await call(records_url, "call-b", 4, "fees")
    assert intents(db, LATER) == {"fees": 2}, "a call more: the week is read again"
    store = CallRecordStore(records_url)
    assert store.delete_calls_before(datetime(2026, 3, 4, tzinfo=timezone.utc).timestamp()) == 1
    store.close()
    assert intents(db, LATER) == {"fees": 1}, "retention took a call: read again"
    db.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_report_reads_the_state_of_each_settled_week_once(
    records_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_console_db(records_url)
    await call(records_url, "call-a", 3, "check_balance")
    await call(records_url, "call-b", 10, "fees")
    reads = state_reads(monkeypatch)
    report = AnalyticsQueries(db, lambda: LATER).report(TWO_WEEKS)
    assert dict(report.turn_intents) == {"check_balance": 1, "fees": 1}
    assert reads == TWO_WEEKS.weeks(), "once per week, not once per query"
    relabel(db, "lost_card")
    await call(records_url, "call-c", 11, "fees")
    reads.clear()
    report = AnalyticsQueries(db, lambda: LATER).report(TWO_WEEKS)
    assert dict(report.turn_intents) == {"check_balance": 1, "lost_card": 1, "fees": 1}, (
        "the first week kept, the changed second one read again"
    )
    assert reads == TWO_WEEKS.weeks()
    db.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_the_week_in_progress_is_always_read_live(records_url: str) -> None:
    db = open_console_db(records_url)
    await call(records_url, "call-a", 3, "check_balance")
    assert intents(db, DURING) == {"check_balance": 1}
    relabel(db, "fees")
    assert intents(db, DURING) == {"fees": 1}
    with db.reading(1.0) as tx:
        assert tx.all("SELECT key FROM console_analytics_weeks") == []
    db.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_kept_weeks_are_bounded(records_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analytics_cache, "MAX_ENTRIES", 3)
    db = open_console_db(records_url)
    await call(records_url, "call-a", 3, "check_balance")
    AnalyticsQueries(db, lambda: LATER).report(WEEK)
    with db.reading(1.0) as tx:
        assert len(tx.all("SELECT key FROM console_analytics_weeks")) == 3
    much_later = time.time() + 400 * 86_400
    AnalyticsQueries(db, lambda: much_later).report(Period(date(2026, 3, 9), date(2026, 3, 15)))
    with db.reading(1.0) as tx:
        kept = tx.all("SELECT kept_at FROM console_analytics_weeks")
    assert len(kept) <= 3 and all(row["kept_at"] == much_later for row in kept)
    db.close()
