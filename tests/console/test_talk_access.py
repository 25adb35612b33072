"""Who may open the talk page's media WebSocket: a logged-in user's session cookie, a one-time
ticket of that session, the console's own origin; bounded frames; one call per session; audited.

The console runs with the bot's real media-stream server, whose calls reach a stand-in for the
CallSession that writes a record as the session does (no engines needed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from ivr.console.browser_calls import TICKET_TTL_S, BrowserCalls
from ivr.console.chats import TextChats
from ivr.console.state import STATE, CallTools
from ivr.console.talk_desk import TalkDesk
from ivr.console.users import UserStore
from ivr.records import CallRecordStore, new_call_id
from telephony.bridge import CallBridge, CallInfo, Hangup
from telephony.websocket.server import WebSocketMediaServer
from tests.console.conftest import Clock, ConsoleFactory, add_users, log_in, token_in
from tests.telephony.peers import wait_for

MEDIA_TOKEN = "the-media-token-the-page-never-sees"


class Answered:
    """The on_call callback: records the call as a CallSession would, stays until hung up."""

    def __init__(self, records_url: str) -> None:
        self.store = CallRecordStore(records_url)
        self.calls: list[CallInfo] = []

    async def on_call(self, bridge: CallBridge) -> None:
        info = bridge.info
        self.calls.append(info)
        await self.store.start_call(
            new_call_id(), info.transport, info.caller, peer_call_id=info.call_id
        )
        while not isinstance(await bridge.receive(), Hangup):
            pass


@pytest.fixture
async def answered(records_url: str) -> AsyncIterator[Answered]:
    answered = Answered(records_url)
    yield answered
    answered.store.close()


@pytest.fixture
async def talk(
    make_client: ConsoleFactory, users: UserStore, clock: Clock, answered: Answered
) -> AsyncIterator[tuple[TestClient, WebSocketMediaServer]]:
    """A console with the talk desk on a token-protected media server; a qa user logged in."""
    media = WebSocketMediaServer(answered.on_call, token=MEDIA_TOKEN, max_message_bytes=32768)
    desk = TalkDesk(media, BrowserCalls(clock), TextChats(None))  # type: ignore[arg-type]
    client = await make_client(tools=CallTools(talk=desk))
    add_users(users, "qa", "designer")
    await log_in(client, "qa")
    yield client, media
    await media.stop()


def origin(client: TestClient) -> dict[str, str]:
    return {"Origin": str(client.make_url("")).rstrip("/")}


async def new_ticket(client: TestClient) -> str:
    page = await (await client.get("/console/talk")).text()
    answer = await client.post("/console/talk/ticket", data={"csrf_token": token_in(page)})
    assert answer.status == 200, await answer.text()
    found = await answer.json()
    assert found["rate"] == 16000 and found["url"].startswith("/console/talk/media?ticket=")
    return found["url"]


async def refused(client: TestClient, url: str, headers: dict[str, str] | None = None) -> int:
    """The status of an upgrade refused before the handshake (fails if it is accepted)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
        await client.ws_connect(url, headers=headers)
    return refusal.value.status


async def test_a_ticket_opens_one_call_as_the_logged_in_user_and_is_audited(
    talk: tuple[TestClient, WebSocketMediaServer], answered: Answered
) -> None:
    client, media = talk
    assert await (await client.get("/console/talk/call.json")).json() == {
        "call": None,
        "live": False,
    }
    ws = await client.ws_connect(await new_ticket(client), headers=origin(client))
    await ws.send_str(json.dumps({"event": "start", "rate": 16000, "caller": "+15550001234"}))
    await ws.send_bytes(bytes(640))
    assert await wait_for(lambda: answered.calls, 3.0)
    info = answered.calls[0]
    assert info.transport == "console" and info.caller == "console:qa", info
    assert info.call_id.startswith("console-") and info.extra["console_user"] == "qa"

    busy = await client.post(
        "/console/talk/ticket",
        data={"csrf_token": token_in(await (await client.get("/console/talk")).text())},
    )
    assert busy.status == 409, "one call per session at a time"
    feed = await _feed_with_a_call(client)
    assert feed["live"] and feed["call"]["peer_call_id"] == info.call_id
    assert feed["call"]["caller"] == "console:qa" and feed["turns"] == []

    await ws.send_str(json.dumps({"event": "stop"}))
    await ws.close()
    assert await wait_for(lambda: _open(media) == 0, 3.0)
    rows = _audit_rows(client)
    assert ("qa", "talk.voice", info.call_id) in rows
    call_id = feed["call"]["call_id"]
    assert ("qa", "talk.voice_end", call_id) in rows


async def test_the_media_socket_refuses_a_missing_wrong_expired_reused_or_foreign_ticket(
    talk: tuple[TestClient, WebSocketMediaServer], answered: Answered, clock: Clock
) -> None:
    client, media = talk
    same = origin(client)
    assert await refused(client, "/console/talk/media", same) == 403
    assert await refused(client, "/console/talk/media?ticket=" + "x" * 43, same) == 403
    expired = await new_ticket(client)
    clock.advance(TICKET_TTL_S + 1)
    assert await refused(client, expired, same) == 403

    used = await new_ticket(client)
    ws = await client.ws_connect(used, headers=same)
    await ws.send_str(json.dumps({"event": "start", "rate": 16000}))
    assert await wait_for(lambda: answered.calls, 3.0)
    await ws.close()
    assert await wait_for(lambda: _open(media) == 0, 3.0)
    assert await refused(client, used, same) == 403

    replaced = await new_ticket(client)
    await new_ticket(client)
    assert await refused(client, replaced, same) == 403, "a new ticket voids the session's last"

    theirs = await new_ticket(client)
    client.session.cookie_jar.clear()
    await log_in(client, "designer")
    assert await refused(client, theirs, same) == 403, "a ticket is its own session's"
    mine = await new_ticket(client)
    client.session.cookie_jar.clear()
    assert await refused(client, mine, same) == 401, "not without the session's cookie"
    assert len(answered.calls) == 1 and media.calls.stats()["calls_started"] == 1


async def test_the_media_socket_refuses_another_origin_and_no_origin(
    talk: tuple[TestClient, WebSocketMediaServer], answered: Answered
) -> None:
    client, _ = talk
    port = client.make_url("").port
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{port + 1}"},
        {"Origin": "null"},
        {},
    ):
        assert await refused(client, await new_ticket(client), headers) == 403, headers
    assert not answered.calls


async def test_a_logged_out_browser_gets_no_ticket(
    talk: tuple[TestClient, WebSocketMediaServer],
) -> None:
    client, _ = talk
    token = token_in(await (await client.get("/console/talk")).text())
    client.session.cookie_jar.clear()
    answer = await client.post(
        "/console/talk/ticket",
        data={"csrf_token": token},
        headers={"Accept": "application/json"},
        allow_redirects=False,
    )
    assert answer.status == 401


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes(40_000), aiohttp.WSCloseCode.MESSAGE_TOO_BIG),
        (bytes(32_002), aiohttp.WSCloseCode.POLICY_VIOLATION),
    ],
    ids=["over-the-message-size", "over-a-second"],
)
async def test_an_oversized_frame_ends_the_call_as_failed(
    talk: tuple[TestClient, WebSocketMediaServer], answered: Answered, frame: bytes, code: int
) -> None:
    client, media = talk
    ws = await client.ws_connect(await new_ticket(client), headers=origin(client))
    await ws.send_str(json.dumps({"event": "start", "rate": 16000}))
    assert await wait_for(lambda: answered.calls, 3.0)
    await ws.send_bytes(bytes(640))
    await ws.send_bytes(frame)
    assert await asyncio.wait_for(_closing(ws), 5.0) == code
    assert await wait_for(lambda: _open(media) == 0, 3.0)
    stats = media.calls.stats()
    assert stats["calls_failed"] == stats["bad_input_closed"] == 1, stats


async def _closing(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """The close code the server sends (bot audio before it is skipped)."""
    while True:
        message = await ws.receive()
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            return ws.close_code
        if message.type is WSMsgType.ERROR:
            return ws.close_code


def _open(media: WebSocketMediaServer) -> int:
    return media.calls.stats()["open_connections"]


async def _feed_with_a_call(client: TestClient) -> dict:
    """The talk page's feed once the call's record is there."""
    for _ in range(30):
        feed = await (await client.get("/console/talk/call.json")).json()
        if feed["call"] is not None:
            return feed
        await asyncio.sleep(0.1)
    raise AssertionError("the call's record never reached the feed")


def _audit_rows(client: TestClient) -> list[tuple[str, str, str]]:
    entries = client.app[STATE].audit.page(None, 100).rows
    return [(entry.actor, entry.action, entry.target) for entry in entries]
