"""The console on PostgreSQL: the same tables, log-in, sessions, filters, keyset pages, audit,
read-only, time-bounded reads and dashboard figures as on SQLite (one SQL for both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from aiohttp.test_utils import TestClient

from ivr.console.audit import AuditLog
from ivr.console.schema import open_console_db
from ivr.console.users import UserStore
from ivr.records import CallRecordStore, TurnRecord
from storage.db import QueryTooSlow
from tests.console.analytics_calls import write_calls
from tests.console.conftest import Clock, ConsoleFactory, add_users, log_in
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
