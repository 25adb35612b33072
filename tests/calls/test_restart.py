"""Restart safety against a real ``ivr serve`` process: SIGTERM drains (new calls and OPTIONS get
503, the running call finishes, the process exits 0), and after SIGKILL mid-call the next start
marks the call interrupted with every turn it completed; another node's calls are left alone.
In process: a draining server refuses every way in, and a call still running when the drain
ends is apologised to and handed off."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from ivr.bench.bot import BotProcess
from ivr.bench.caller import CallerLine, place_call
from ivr.bench.voice import SCRIPT, caller_lines
from ivr.config import load_config
from ivr.records import CallRecordStore
from ivr.server import BotServer
from ivr.session import CallSession
from telephony.audiosocket.frames import Frame, Kind
from telephony.loopback import LoopbackCall
from tests.calls.conftest import records, transcribe, until
from tests.telephony.rawsip import RawSip, offer_sdp

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]
DRAIN_S = 90


@pytest.fixture(scope="module")
def lines() -> list[CallerLine]:
    return caller_lines(load_config(environ={}), SCRIPT[:2])


@pytest.fixture
def this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ivr serve` runs this checkout's code (the virtualenv may hold another one's)."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def call_rows(db: Path) -> list[dict]:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    rows = connection.execute(
        "SELECT c.*, (SELECT COUNT(*) FROM turns t WHERE t.call_id = c.call_id) AS turn_rows,"
        " (SELECT MAX(t.started_at) FROM turns t WHERE t.call_id = c.call_id) AS last_turn"
        " FROM calls c ORDER BY started_at"
    ).fetchall()
    connection.close()
    return [dict(row) for row in rows]


async def test_sigterm_refuses_new_calls_while_the_running_call_finishes_then_exits(
    tmp_path, lines, this_checkout
) -> None:
    bot = BotProcess("drain", tmp_path, [f"server.drain_s={DRAIN_S}", "logging.level=INFO"])
    await bot.start()
    sip_port = bot.bot.sip_port
    try:
        loop = asyncio.get_running_loop()
        running = asyncio.create_task(
            place_call(("127.0.0.1", sip_port), lines, len(lines), loop.time() + 300)
        )
        await until(lambda: bool(call_rows(bot.bot.records_db)), 60, "the call to be answered")
        assert bot.process is not None
        bot.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        peer = await RawSip(sip_port).open()
        try:
            await asyncio.sleep(1.0)  # the signal is handled on the server's loop
            peer.send(peer.request("OPTIONS"))
            options = await peer.expect(503)
            assert options.get("Retry-After")
            peer.send(peer.request("INVITE", body=offer_sdp(40000), content_type="application/sdp"))
            refused = await peer.expect(503)
            assert refused.get("Retry-After")
        finally:
            peer.close()

        result = await asyncio.wait_for(running, 300)
        assert result.error == "" and not result.bot_hangup, result
        assert [t.latency_ms is not None for t in result.turns] == [True] * len(lines), result
        code = await asyncio.to_thread(bot.process.wait, DRAIN_S)
        assert code == 0
        assert time.monotonic() - signalled < DRAIN_S
    finally:
        await bot.stop()
    (call,) = call_rows(bot.bot.records_db)
    assert call["outcome"] == "abandoned" and "caller hung up" in call["reason"], call
    assert call["turn_rows"] == len(lines) + 1  # the greeting and each line


async def test_a_call_cut_by_sigkill_is_marked_interrupted_with_its_turns_at_restart(
    tmp_path, lines, this_checkout
) -> None:
    settings = ["server.node_id=node-a"]
    bot = BotProcess("crash", tmp_path, settings)
    db = bot.bot.records_db
    await bot.start()
    loop = asyncio.get_running_loop()
    talking = asyncio.create_task(
        place_call(("127.0.0.1", bot.bot.sip_port), lines, 20, loop.time() + 300)
    )
    try:
        await until(
            lambda: any(r["turn_rows"] >= 3 for r in call_rows(db)), 180, "two caller turns"
        )
        assert bot.process is not None
        bot.process.kill()
        await asyncio.to_thread(bot.process.wait, 30)
    finally:
        talking.cancel()
        await asyncio.gather(talking, return_exceptions=True)
    (cut,) = call_rows(db)
    assert cut["outcome"] == "in_progress" and cut["node_id"] == "node-a"
    # Another server sharing the database has a call in progress: not ours to close.
    other = CallRecordStore(f"sqlite:///{db}", node_id="node-b")
    await other.start_call("live-on-node-b", "sip", "sip:+15550001111@pbx")
    other.close()

    restarted = BotProcess("crash", tmp_path, settings)
    await restarted.start()
    try:
        rows = {r["call_id"]: r for r in call_rows(db)}
    finally:
        await restarted.stop()
    after = rows[cut["call_id"]]
    assert after["outcome"] == "interrupted" and "mid-call" in after["reason"], after
    assert after["turn_rows"] == cut["turn_rows"], "every completed turn is still there"
    assert after["ended_at"] == after["last_turn"]
    assert rows["live-on-node-b"]["outcome"] == "in_progress"


async def test_a_call_still_running_when_the_drain_ends_is_handed_off_as_interrupted(
    services, call_dirs
) -> None:
    call = LoopbackCall()
    call.start()
    session = CallSession(call.bridge, services)
    running = asyncio.create_task(session.run())
    await call.wait_for_bot_silence(1.6, 90)
    heard = len(call.heard)
    session.interrupt("server stopped: still in the call after 30 s")
    assert await asyncio.wait_for(running, 60) == "interrupted"
    apology = await transcribe(services, bytes(call.heard[heard:]))
    assert "sorry" in apology, apology
    assert call.transfers and "server stopped" in call.transfers[0][1]["reason"]
    row, turns = records(call_dirs, session.call_id)
    assert row["outcome"] == "interrupted" and "server stopped" in row["reason"]
    assert len(turns) == 1


async def test_a_draining_server_refuses_every_way_in_before_a_call_starts(services) -> None:
    base = services.config
    config = dataclasses.replace(
        base,
        sip=dataclasses.replace(base.sip, host="127.0.0.1", port=0),
        http=dataclasses.replace(base.http, host="127.0.0.1", port=0),
    )
    bot = BotServer(config, services)
    await bot.start()
    peer = await RawSip(bot.sip_port).open()
    try:
        peer.send(peer.request("OPTIONS"))
        await peer.expect(200)
        calls_before = len(services.records.recent_calls(1000))
        await bot.drain()  # no calls running: over at once

        peer.send(peer.request("OPTIONS"))
        assert (await peer.expect(503)).get("Retry-After")
        base_url = f"http://127.0.0.1:{bot.http_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base_url}/healthz") as health:
                assert health.status == 503 and health.headers["Retry-After"]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{base_url}/media/pcm")
            assert refused.value.status == 503
        assert bot.audiosocket is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", bot.audiosocket_port)
        # Nothing sent: hung up at once, well within the start timeout, without a read.
        answer = await asyncio.wait_for(reader.read(), config.audiosocket.start_timeout_s / 2)
        writer.close()
        assert Frame.parse(answer).kind is Kind.HANGUP
        assert bot.audiosocket.stats()["refused_draining"] == 1
        assert len(services.records.recent_calls(1000)) == calls_before, "no call was started"
    finally:
        peer.close()
        await bot.stop()
