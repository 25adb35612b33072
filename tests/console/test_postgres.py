"""The console on PostgreSQL: the same tables, log-in, sessions, filters, keyset pages, audit,
read-only, time-bounded reads, dashboard figures and NLU inbox as on SQLite (one SQL for both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from aiohttp.test_utils import TestClient

from ivr.console.analytics import Period
from ivr.console.audit import AuditLog
from ivr.console.inbox import REASONS, InboxFilter, InboxQueries
from ivr.console.inbox_labels import LabelStore
from ivr.console.nlu_project import Bands
from ivr.console.schema import open_console_db
from ivr.console.users import UserStore
from ivr.records import CallRecordStore, TurnRecord
from storage.db import QueryTooSlow
from tests.console.analytics_calls import write_calls
from tests.console.conftest import Clock, ConsoleFactory, add_users, log_in
from tests.console.inbox_calls import expected as expected_items
from tests.console.inbox_calls import write_calls as write_inbox_calls
from tests.console.test_analytics import report_of
from tests.postgres import PostgresCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    started = PostgresCluster()
    yield started
    started.remove()


@pytest.fixture
def records_url(cluster: PostgresCluster) -> str:
    return cluster.url


async def test_the_console_works_the_same_on_postgresql(
    make_client: ConsoleFactory, records_url: str, clock: Clock
) -> None:
    store = CallRecordStore(records_url)
    for index in range(12):
        call_id = f"pgcall{index:02d}"
        await store.start_call(call_id, ("sip", "websocket")[index % 2], f"+1555000{index:04d}")
        said = "my card is 100% lost_now" if index == 5 else "what are your hours"
        await store.add_turn(TurnRecord(call_id, 0, 0.0, "speech", transcript=said, intent="x"))
        await store.end_call(call_id, "handed_off" if index % 3 == 0 else "self_served")
    store.close()
    client: TestClient = await make_client()
    db = open_console_db(records_url)
    users = UserStore(db, clock)
    add_users(users, "admin")
    assert (await log_in(client, "admin")).status == 303

    async def ids(**query: str) -> tuple[list[str], str | None]:
        page = await (await client.get("/console/calls.json", params=query)).json()
        return [call["call_id"] for call in page["calls"]], page["next"]

    everything, _ = await ids(limit="200")
    assert everything == [f"pgcall{index:02d}" for index in reversed(range(12))]
    first, after = await ids(limit="5")
    second, _ = await ids(limit="5", before=after)
    assert first + second == everything[:10]
    assert (await ids(q="100% LOST_"))[0] == ["pgcall05"], "% and _ are taken literally"
    assert (await ids(q="100x lost"))[0] == []
    assert (await ids(q="CARD is 10"))[0] == ["pgcall05"], "the last word is a beginning"
    assert (await ids(q="card is 10."))[0] == [], "unless the search ends after it"
    assert (await ids(handed_off="yes", transport="sip"))[0] == ["pgcall06", "pgcall00"]
    assert (await ids(intent="x", caller="0003"))[0] == ["pgcall03"]
    assert (await client.get("/console/calls/pgcall05")).status == 200
    rows = AuditLog(db, clock).page(None, 5).rows
    assert {(row.action, row.target) for row in rows} == {
        ("user.add", "admin"),
        ("login", "admin"),
        ("call.view", "pgcall05"),
    }

    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction), db.reading(1.0) as tx:
        tx.execute("DELETE FROM calls")
    with pytest.raises(QueryTooSlow), db.reading(0.1) as tx:
        tx.all("SELECT pg_sleep(2)")
    db.close()


async def test_the_dashboard_counts_the_same_on_postgresql(
    records_url: str, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path}/calls.db"
    for url in (records_url, sqlite_url):
        await write_calls(url)
    on_postgres, on_sqlite = report_of(records_url), report_of(sqlite_url)
    assert on_postgres.outcomes["self_served"] == 3 and on_postgres.finished == 7
    assert on_postgres == on_sqlite


async def test_the_nlu_inbox_selects_pages_and_decides_the_same_on_postgresql(
    records_url: str, clock: Clock
) -> None:
    await write_inbox_calls(records_url)
    db = open_console_db(records_url)
    inbox, labels = InboxQueries(db), LabelStore(db, clock)
    bands = Bands(0.55, 0.75)
    week = Period(date(2025, 11, 30), date(2025, 12, 6))
    found = inbox.items(InboxFilter(week), bands, None, 200)
    assert {(i.call_id, i.turn): i.reasons for i in found.rows} == {
        item: tuple(reason for reason in REASONS if reason in reasons)
        for item, reasons in expected_items().items()
    }
    first = inbox.items(InboxFilter(week), bands, None, 3)
    rest = inbox.items(InboxFilter(week), bands, first.next, 200)  # type: ignore[arg-type]
    assert first.rows + rest.rows == found.rows
    labels.dismiss("designer", "inbox06", 2)
    labels.label("designer", "inbox01", 2, "report_lost_card", "x y", lambda: "cards.yml")
    left = {(i.call_id, i.turn) for i in inbox.items(InboxFilter(week), bands, None, 200).rows}
    assert ("inbox06", 2) not in left and ("inbox01", 2) not in left
    assert inbox.counts(InboxFilter(week), bands, None).total == len(found.rows) - 2
    pending, total = labels.labelled_since(None)
    assert total == 1 and pending[0].data_file == "cards.yml"
    marked = labels.labels_of(["x y", "not labelled"])  # the wording page's inbox marks
    assert list(marked) == ["x y"] and marked["x y"].turn == 2
    db.close()
