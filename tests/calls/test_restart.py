"""Restart safety against a real ``ivr serve`` process: SIGTERM drains (new calls and OPTIONS get
503, the running call finishes, the process exits 0), and after SIGKILL mid-call the next start
marks the call interrupted with every turn it completed; another node's calls are left alone.
In process: a draining server refuses every way in, a call still running when the drain
(``server.drain_s``) ends is apologised to and handed off, and each way in listens only where
its settings say (a disabled one not at all), the web console included."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import socket
import sqlite3
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

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


@dataclasses.dataclass
class Restart:
    """A bot killed (SIGKILL) in the middle of a call, and the bot started after it on the same
    records: what the records said before and right after the restart, and the restarted bot."""

    db: Path
    cut: dict
    """The cut call's row before the restart."""
    after: dict[str, dict]
    """Every call's row once the restarted bot was up, by call id."""
    bot: BotProcess
    """The restarted bot, still running (with ``server.drain_s`` set, for the drain test)."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def restart(tmp_path_factory: pytest.TempPathFactory, lines: list[CallerLine]):
    """One SIGKILL and restart for the module: starting a bot takes half a minute, so the drain
    test drains the restarted bot instead of starting a third."""
    workdir = tmp_path_factory.mktemp("restart")
    settings = ["server.node_id=node-a", f"server.drain_s={DRAIN_S}", "logging.level=INFO"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", str(ROOT))  # `ivr serve` runs this checkout's code
        bot = BotProcess("crash", workdir, settings)
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
        # Another server sharing the database has a call in progress: not ours to close.
        other = CallRecordStore(f"sqlite:///{db}", node_id="node-b")
        await other.start_call("live-on-node-b", "sip", "sip:+15550001111@pbx")
        other.close()

        restarted = BotProcess("crash", workdir, settings)
        await restarted.start()
    try:
        yield Restart(db, cut, {r["call_id"]: r for r in call_rows(db)}, restarted)
    finally:
        await restarted.stop()


async def test_a_call_cut_by_sigkill_is_marked_interrupted_with_its_turns_at_restart(
    restart: Restart,
) -> None:
    cut = restart.cut
    assert cut["outcome"] == "in_progress" and cut["node_id"] == "node-a"
    after = restart.after[cut["call_id"]]
    assert after["outcome"] == "interrupted" and "mid-call" in after["reason"], after
    assert after["turn_rows"] == cut["turn_rows"], "every completed turn is still there"
    assert after["ended_at"] == after["last_turn"]
    assert restart.after["live-on-node-b"]["outcome"] == "in_progress"


async def test_sigterm_refuses_new_calls_while_the_running_call_finishes_then_exits(
    restart: Restart, lines: list[CallerLine]
) -> None:
    bot = restart.bot
    sip_port = bot.bot.sip_port
    loop = asyncio.get_running_loop()
    running = asyncio.create_task(
        place_call(("127.0.0.1", sip_port), lines, len(lines), loop.time() + 300)
    )

    def new_calls() -> list[dict]:
        return [r for r in call_rows(restart.db) if r["call_id"] not in restart.after]

    await until(lambda: bool(new_calls()), 60, "the call to be answered")
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()

    peer = await RawSip(sip_port).open()
    try:
        await asyncio.sleep(1.0)  # the signal is handled on the server's loop
        peer.send(peer.request("OPTIONS"))
        options = await peer.expect(503)
        assert options.get("Retry-After") and options.get("X-Calls") == "1"
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
    (call,) = new_calls()
    assert call["outcome"] == "abandoned" and "caller hung up" in call["reason"], call
    assert call["turn_rows"] == len(lines) + 1  # the greeting and each line


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


def free_port() -> int:
    """A port nothing listens on now (TCP; its UDP twin is free as well here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_drain_s_is_how_long_a_running_call_goes_on_before_it_is_handed_off(
    services, call_dirs
) -> None:
    base = services.config
    sip_port, socket_port = free_port(), free_port()
    config = dataclasses.replace(
        base,
        sip=dataclasses.replace(base.sip, host="127.0.0.1", port=sip_port),
        http=dataclasses.replace(base.http, host="127.0.0.1", port=0),
        audiosocket=dataclasses.replace(base.audiosocket, host="127.0.0.2", port=socket_port),
        server=dataclasses.replace(base.server, drain_s=1.0),
    )
    bot = BotServer(config, services)
    await bot.start()
    peer_id = str(uuid.uuid4())
    _, writer = await asyncio.open_connection("127.0.0.2", socket_port)
    peer = await RawSip(sip_port).open()
    try:
        writer.write(bytes(Frame.call_uuid(uuid.UUID(peer_id))))
        await writer.drain()
        await until(lambda: bool(records(call_dirs, peer_id)[0]), 30, "the call to start")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await bot.drain()
        took = loop.time() - started
        peer.send(peer.request("OPTIONS"))
        assert (await peer.expect(503)).get("Retry-After")
    finally:
        peer.close()
        writer.close()
        await bot.stop()
    assert 1.0 <= took < 15, took
    row, _ = records(call_dirs, peer_id)
    assert row["outcome"] == "interrupted" and "after 1 s" in row["reason"], row


async def test_the_server_listens_only_where_its_settings_say(services, tmp_path) -> None:
    token = tmp_path / "api.token"
    token.write_text("api-secret-for-this-test\n")
    token.chmod(0o600)
    sip_port, socket_port, http_port = free_port(), free_port(), free_port()
    base = services.config
    config = dataclasses.replace(
        base,
        sip=dataclasses.replace(base.sip, enabled=False, host="127.0.0.1", port=sip_port),
        audiosocket=dataclasses.replace(base.audiosocket, enabled=False, port=socket_port),
        websocket=dataclasses.replace(base.websocket, enabled=False),
        http=dataclasses.replace(
            base.http, host="127.0.0.2", port=http_port, api_token_file=str(token)
        ),
    )
    bot = BotServer(config, services)
    await bot.start()
    try:
        url = f"http://127.0.0.2:{http_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as health:
                assert health.status == 200
            async with http.get(f"{url}/metrics") as refused:
                assert refused.status == 401
            bearer = {"Authorization": "Bearer api-secret-for-this-test"}
            async with http.get(f"{url}/metrics", headers=bearer) as metrics:
                assert metrics.status == 200
            with pytest.raises(aiohttp.WSServerHandshakeError) as no_streams:
                await http.ws_connect(f"{url}/media/pcm")
            assert no_streams.value.status == 404
        with pytest.raises(ConnectionRefusedError):  # the HTTP server is on 127.0.0.2 only
            await asyncio.open_connection("127.0.0.1", http_port)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", socket_port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sip:
            sip.bind(("127.0.0.1", sip_port))  # no SIP server holds the port
    finally:
        await bot.stop()


async def test_the_console_is_served_where_its_settings_say(services) -> None:
    base = services.config
    own_port = free_port()
    quiet = dataclasses.replace(
        base,
        sip=dataclasses.replace(base.sip, enabled=False),
        audiosocket=dataclasses.replace(base.audiosocket, enabled=False),
        websocket=dataclasses.replace(base.websocket, enabled=False),
        http=dataclasses.replace(base.http, host="127.0.0.1", port=0),
    )
    for console, own in (
        (base.console, False),
        (dataclasses.replace(base.console, port=own_port, host="127.0.0.2"), True),
        (dataclasses.replace(base.console, enabled=False), False),
    ):
        bot = BotServer(dataclasses.replace(quiet, console=console), services)
        await bot.start()
        try:
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{bot.http_port}/console/login"
                async with http.get(url) as on_http:
                    assert on_http.status == (200 if console.enabled and not own else 404)
                if own:
                    assert bot.console is not None and bot.console.port == own_port
                    async with http.get(f"http://127.0.0.2:{own_port}/console/login") as alone:
                        assert alone.status == 200 and "Log in" in await alone.text()
                    with pytest.raises(ConnectionRefusedError):  # on console.host only
                        await asyncio.open_connection("127.0.0.1", own_port)
                async with http.get(f"http://127.0.0.1:{bot.http_port}/healthz") as health:
                    assert health.status == 200
        finally:
            await bot.stop()
