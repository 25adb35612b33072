"""The calls list and the call page over a few hundred calls written through the real call
record store: every filter, keyset paging in start order, the turn timeline, the audit row a
view writes, escaping, and reads that are read-only, bounded in time and served by the index."""

from __future__ import annotations

import html
import random
import re
import shutil
import sqlite3
import time
import types
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

import ivr.records
from ivr.console.paging import Cursor
from ivr.console.queries import CallFilter, list_query
from ivr.console.schema import open_console_db
from ivr.console.users import UserStore
from ivr.records import CallRecordStore, TurnRecord
from storage.db import Database, QueryTooSlow
from tests.console.conftest import add_users, log_in

BASE = datetime(2026, 11, 20, tzinfo=timezone.utc).timestamp()
STEP_S = 2880.0
"""Calls start 48 minutes apart: 300 calls span ten days."""
COUNT = 300
INTENTS = ("check_balance", "lost_card", "branch_hours", "transfer_money", "agent")
PHRASES = ("what is my balance", "I lost my card", "when are you open", "move some money")
SCRIPT = "<script>alert('x')</script> my card"
HANDOFF = {"reason": "caller_request", "priority": "high", "context": {"summary": "lost card"}}


@dataclass
class Written:
    """What the generator wrote for one call, to compute what each filter should find."""

    call_id: str
    started_at: float
    transport: str
    caller: str
    outcome: str
    intents: set[str] = field(default_factory=set)
    words: list[str] = field(default_factory=list)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Written]]:
    """A records database of COUNT calls written through CallRecordStore (its clock moved to
    each call's start), and what was written."""
    path = tmp_path_factory.mktemp("generated") / "calls.db"
    rng = random.Random(7)
    written: list[Written] = []
    now = [BASE]
    clock = types.SimpleNamespace(time=lambda: now[0], strftime=time.strftime, gmtime=time.gmtime)
    store = CallRecordStore(f"sqlite:///{path}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ivr.records, "time", clock)
        for index in range(COUNT):
            # Every tenth call starts with the one before: ties are ordered by call id.
            now[0] = BASE + (index - (index % 10 == 9)) * STEP_S
            call = Written(
                call_id=f"2026call{index:04d}x{rng.getrandbits(24):06x}",
                started_at=now[0],
                transport=("sip", "websocket", "audiosocket")[index % 3],
                caller=f"sip:+1555000{index % 40:04d}@pbx",
                outcome=("self_served", "handed_off", "abandoned", "failed")[index % 4],
            )
            await store.start_call(call.call_id, call.transport, call.caller, "sip:bot@bank")
            for turn in range(1 + index % 3):
                intent = rng.choice(INTENTS)
                said = SCRIPT if index == 42 and turn == 0 else rng.choice(PHRASES)
                call.intents.add(intent)
                call.words.append(said)
                payloads = [{"handoff": HANDOFF}] if call.outcome == "handed_off" else []
                await store.add_turn(
                    TurnRecord(
                        call.call_id,
                        turn,
                        now[0] + 5 * turn,
                        "speech",
                        transcript=said,
                        asr_confidence=0.91,
                        intent=intent,
                        intent_confidence=0.87,
                        entities=[{"entity": "city", "value": "Springfield"}],
                        bot_text=f"Reply {turn} of call {index}.",
                        payloads=payloads,
                        endpoint_ms=600.0,
                        asr_ms=210.0,
                        dialogue_ms=45.0,
                        tts_first_ms=120.0,
                        response_ms=980.0,
                    )
                )
            now[0] += 30
            reason = "<img src=x onerror=alert(1)>" if index == 43 else "caller_done"
            await store.end_call(call.call_id, call.outcome, reason)  # type: ignore[arg-type]
            written.append(call)
    store.close()
    return path, written


@pytest.fixture
def records_url(generated: tuple[Path, list[Written]], tmp_path: Path) -> str:
    """A copy of the generated database for this test (its console tables its own)."""
    shutil.copy(generated[0], tmp_path / "calls.db")
    return f"sqlite:///{tmp_path}/calls.db"


@pytest.fixture
async def qa(client: TestClient, users: UserStore) -> TestClient:
    add_users(users, "qa")
    assert (await log_in(client, "qa")).status == 303
    return client


def newest_first(calls: list[Written]) -> list[str]:
    ordered = sorted(calls, key=lambda call: (call.started_at, call.call_id), reverse=True)
    return [call.call_id for call in ordered]


async def listed(client: TestClient, query: dict[str, str], limit: int = 37) -> list[str]:
    """Every call id the JSON list gives for ``query``, following its pages."""
    ids: list[str] = []
    params = {**query, "limit": str(limit)}
    while True:
        answer = await client.get("/console/calls.json", params=params)
        assert answer.status == 200, await answer.text()
        page = await answer.json()
        assert len(page["calls"]) <= limit
        ids += [call["call_id"] for call in page["calls"]]
        if page["next"] is None:
            return ids
        params["before"] = page["next"]


async def test_pages_walk_every_call_once_newest_first_ties_by_call_id(
    qa: TestClient, generated: tuple[Path, list[Written]]
) -> None:
    _, written = generated
    assert await listed(qa, {}) == newest_first(written)
    first = await (await qa.get("/console/calls", params={"limit": "50"})).text()
    assert first.count('<a href="/console/calls/2026call') == 50
    assert "Older calls</a>" in first and "limit=50" in first


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"outcome": "failed"}, lambda c: c.outcome == "failed"),
        ({"transport": "websocket"}, lambda c: c.transport == "websocket"),
        ({"intent": "lost_card"}, lambda c: "lost_card" in c.intents),
        ({"handed_off": "yes"}, lambda c: c.outcome == "handed_off"),
        ({"handed_off": "no"}, lambda c: c.outcome != "handed_off"),
        ({"caller": "0007@"}, lambda c: c.caller.endswith("0007@pbx")),
        ({"q": "LOST my"}, lambda c: any("lost my" in w.lower() for w in c.words)),
        ({"q": "of call 17."}, lambda c: c.call_id.startswith("2026call0017")),
        ({"q": "call 100."}, lambda c: c.call_id.startswith("2026call0100")),
        ({"q": "%_"}, lambda c: False),
        (
            {"from": "2026-11-22", "to": "2026-11-23"},
            lambda c: 2 * 86400 <= c.started_at - BASE < 4 * 86400,
        ),
        (
            {"from": "2026-11-25", "outcome": "self_served", "transport": "sip", "intent": "agent"},
            lambda c: (
                c.started_at >= BASE + 5 * 86400
                and (c.outcome, c.transport) == ("self_served", "sip")
                and "agent" in c.intents
            ),
        ),
    ],
)
async def test_each_filter_finds_exactly_the_calls_that_match(
    qa: TestClient, generated: tuple[Path, list[Written]], query: dict[str, str], expected
) -> None:
    _, written = generated
    wanted = newest_first([call for call in written if expected(call)])
    assert await listed(qa, query) == wanted
    assert wanted or query == {"q": "%_"}, "each filter should find some calls"


async def test_the_filters_stay_in_the_form_and_the_next_page_link(qa: TestClient) -> None:
    query = {"outcome": "handed_off", "q": "card", "transport": "sip", "limit": "5"}
    page = await (await qa.get("/console/calls", params=query)).text()
    assert '<option value="handed_off" selected="">handed_off</option>' in page
    assert 'name="q" value="card"' in page and 'name="transport" value="sip"' in page
    older = re.search(r'<a href="/console/calls\?([^"]+)">Older calls</a>', page)
    assert older is not None
    carried = parse_qs(html.unescape(older.group(1)))
    assert Cursor.parse(carried.pop("before")[0]).key.startswith("2026call")
    assert carried == {
        "outcome": ["handed_off"],
        "q": ["card"],
        "transport": ["sip"],
        "limit": ["5"],
    }


async def test_the_call_page_shows_the_turn_timeline_and_its_view_is_audited(
    client: TestClient, users: UserStore, generated: tuple[Path, list[Written]]
) -> None:
    add_users(users, "designer", "admin")
    call = next(c for c in generated[1] if c.outcome == "handed_off" and len(c.words) == 3)
    await log_in(client, "designer")
    page = await client.get(f"/console/calls/{call.call_id}")
    text = await page.text()
    assert page.status == 200
    for shown in (
        "sip:*******",  # the caller id as stored: masked
        "handed_off",
        "caller_done",
        "Turn 2",
        call.words[2],
        "(0.87)",
        "city=Springfield",
        "Reply 1 of call",
        "endpoint 600 ms, asr 210 ms, dialogue 45 ms, tts first audio 120 ms, response 980 ms",
        "caller_request",  # the handoff: reason, priority, context for the agent
        "{&quot;summary&quot;: &quot;lost card&quot;}",
    ):
        assert shown in text, shown
    data = await (await client.get(f"/console/calls/{call.call_id}.json")).json()
    assert [turn["transcript"] for turn in data["turns"]] == call.words
    assert data["handoffs"][0]["turn"] == 0 and data["handoffs"][0]["priority"] == "high"

    client.session.cookie_jar.clear()
    await log_in(client, "admin")
    audit = await (await client.get("/console/audit")).text()
    views = [row for row in re.findall(r"<tr>(.*?)</tr>", audit, re.S) if "call.view" in row]
    assert len(views) == 2 and all("<td>designer</td>" in row for row in views)
    assert {"<td>page</td>", "<td>json</td>"} == {row.split("\n")[-1] for row in views}
    assert f'<a href="/console/calls/{call.call_id}">' in audit


async def test_text_from_a_call_is_escaped_wherever_it_is_shown(
    qa: TestClient, generated: tuple[Path, list[Written]]
) -> None:
    _, written = generated
    page = await (await qa.get(f"/console/calls/{written[42].call_id}")).text()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; my card" in page
    assert "<script" not in page
    day = {"from": "2026-11-21", "to": "2026-11-21"}  # call 43 starts on the 21st
    listing = await (await qa.get("/console/calls", params=day)).text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in listing and "<img" not in listing


async def test_an_unknown_call_is_404_and_not_audited(qa: TestClient, users: UserStore) -> None:
    answer = await qa.get("/console/calls/2026nothere")
    assert answer.status == 404
    assert (await qa.get("/console/calls/2026nothere.json")).status == 404
    with users.db.reading(1.0) as tx:
        assert tx.all("SELECT * FROM console_audit WHERE action = 'call.view'") == []


def test_the_calls_list_is_read_from_the_index_in_order_without_sorting(records_url: str) -> None:
    open_console_db(records_url).close()  # the word index, as a running console has it
    connection = sqlite3.connect(records_url.removeprefix("sqlite:///"))
    for wanted in (CallFilter(), CallFilter(outcome="failed", text="card", intent="agent")):
        sql, params = list_query(wanted, Cursor(BASE + 86400, "2026call"), 50, "sqlite")
        plan = " | ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "USING INDEX calls_started_id ((started_at,call_id)<(?,?))" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    connection.close()


def test_console_reads_cannot_write_and_stop_at_their_budget(records_url: str) -> None:
    db = Database(records_url)
    with pytest.raises(sqlite3.OperationalError, match="readonly"), db.reading(1.0) as tx:
        tx.execute("DELETE FROM calls")
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"
    )
    started = time.monotonic()
    with pytest.raises(QueryTooSlow), db.reading(0.2) as tx:
        tx.all(endless)
    assert time.monotonic() - started < 2
    with db.reading(1.0) as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM calls") == {"n": COUNT}


async def test_a_search_over_its_budget_is_answered_503(
    qa: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ivr.console.queries.READ_BUDGET_S", 1e-6)
    # Punctuation alone is looked for as written, in every turn (the word index has no words).
    answer = await qa.get("/console/calls", params={"q": "%%"})
    assert answer.status == 503 and "narrow it" in await answer.text()
