"""Who may open a media stream: WebSocket tokens and Twilio signatures checked before the
handshake, and the AudioSocket source allow-list checked before a byte is read; real sockets.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from telephony.audiosocket.frames import Frame
from telephony.audiosocket.server import AudioSocketServer
from telephony.bridge import CallBridge, Hangup
from telephony.websocket.server import WebSocketMediaServer
from telephony.websocket.signature import SIGNATURE_HEADER, twilio_signature
from telephony.websocket.twilio import MEDIA_FORMAT

from .peers import wait_for

TOKEN = "media-token-for-tests"
TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests"
PUBLIC_URL = "https://ivr.bank.example"


class Answered:
    """The on_call callback: notes each call id and stays on the line until the hang-up."""

    def __init__(self) -> None:
        self.call_ids: list[str] = []

    async def on_call(self, bridge: CallBridge) -> None:
        self.call_ids.append(bridge.info.call_id)
        while not isinstance(await bridge.receive(), Hangup):
            pass


@pytest.fixture
def answered() -> Answered:
    return Answered()


@pytest.fixture
async def media(answered: Answered) -> AsyncIterator[tuple[WebSocketMediaServer, str]]:
    streams = WebSocketMediaServer(
        answered.on_call, token=TOKEN, twilio_auth_token=TWILIO_AUTH_TOKEN, public_url=PUBLIC_URL
    )
    app = web.Application()
    streams.add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield streams, f"ws://127.0.0.1:{server.port}"
    await streams.stop()
    await server.close()


async def refused_status(url: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a refused upgrade (fails the test if the upgrade succeeds)."""
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers=headers)
    return refused.value.status


async def call_through(
    url: str, opening: list[str], answered: Answered, headers: dict[str, str] | None = None
) -> None:
    """Upgrade, send the opening messages, and see the call reach on_call."""
    before = len(answered.call_ids)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url, headers=headers)
        for message in opening:
            await ws.send_str(message)
        assert await wait_for(lambda: len(answered.call_ids) > before, 3.0)
        await ws.close()


def pcm_start(call_id: str) -> list[str]:
    return [json.dumps({"event": "start", "call_id": call_id})]


def twilio_start(call_sid: str) -> list[str]:
    stream_sid = "MZ" + uuid.uuid4().hex
    start = {"streamSid": stream_sid, "callSid": call_sid, "mediaFormat": MEDIA_FORMAT}
    return [
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
        json.dumps({"event": "start", "streamSid": stream_sid, "start": start}),
    ]


async def test_media_stream_without_the_right_token_is_refused_before_the_handshake(
    media: tuple[WebSocketMediaServer, str], answered: Answered
) -> None:
    streams, base = media
    assert await refused_status(f"{base}/media/pcm") == 401
    assert await refused_status(f"{base}/media/pcm?token=guess") == 401
    wrong = {"Authorization": "Bearer guess"}
    assert await refused_status(f"{base}/media/asterisk", wrong) == 401
    assert streams.stats()["refused_bad_token"] == 3
    assert not answered.call_ids and streams.stats()["calls_started"] == 0

    await call_through(f"{base}/media/pcm?token={TOKEN}", pcm_start("by-query"), answered)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    await call_through(f"{base}/media/pcm", pcm_start("by-header"), answered, bearer)
    assert answered.call_ids == ["by-query", "by-header"]


async def test_twilio_stream_needs_twilio_signature_over_the_public_wss_url(
    media: tuple[WebSocketMediaServer, str], answered: Answered
) -> None:
    streams, base = media
    url = f"{base}/media/twilio"
    signed_for_us = twilio_signature(TWILIO_AUTH_TOKEN, "wss://ivr.bank.example/media/twilio")
    other_account = twilio_signature("someone-elses-token", "wss://ivr.bank.example/media/twilio")
    other_url = twilio_signature(TWILIO_AUTH_TOKEN, "wss://evil.example/media/twilio")

    assert await refused_status(url) == 403
    assert await refused_status(url, {SIGNATURE_HEADER: other_account}) == 403
    assert await refused_status(url, {SIGNATURE_HEADER: other_url}) == 403
    assert streams.stats()["refused_bad_signature"] == 3 and not answered.call_ids

    await call_through(url, twilio_start("CAgood"), answered, {SIGNATURE_HEADER: signed_for_us})
    with_port = twilio_signature(TWILIO_AUTH_TOKEN, "wss://ivr.bank.example:443/media/twilio")
    await call_through(url, twilio_start("CAport"), answered, {SIGNATURE_HEADER: with_port})
    assert answered.call_ids == ["CAgood", "CAport"]


@pytest.fixture
async def audiosocket(answered: Answered) -> AsyncIterator[AudioSocketServer]:
    server = AudioSocketServer("127.0.0.1", 0, answered.on_call, trusted_sources="127.0.0.1/32")
    await server.start()
    yield server
    await server.stop()


async def connect_from(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock)


async def test_audiosocket_from_an_untrusted_address_is_closed_before_reading(
    audiosocket: AudioSocketServer, answered: Answered
) -> None:
    reader, writer = await connect_from("127.0.0.2", audiosocket.port)
    try:
        closed = await asyncio.wait_for(reader.read(1), 2.0)
    except ConnectionResetError:
        closed = b""
    writer.close()
    assert closed == b"", "the server hung up without sending anything"
    assert audiosocket.stats()["refused_untrusted_source"] == 1

    reader, writer = await connect_from("127.0.0.1", audiosocket.port)
    call = uuid.uuid4()
    writer.write(bytes(Frame.call_uuid(call)))
    assert await wait_for(lambda: answered.call_ids == [str(call)], 3.0)
    writer.write(bytes(Frame.hangup()))
    writer.close()
    assert audiosocket.stats()["refused_untrusted_source"] == 1
