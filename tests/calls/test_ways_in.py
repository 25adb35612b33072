"""The running bot server with every way in's proof configured: strangers are refused at each
door before anything is set up for them, a caller with the proof is answered by the bot, and
every refusal shows in /metrics. Real sockets on 127.0.0.1, 127.0.0.2 as the stranger.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from ivr.secretfile import new_token, write_secret
from ivr.server import BotServer
from ivr.services import Services
from tests.calls.conftest import transcribe
from tests.calls.stream_callers import AudioSocketCaller, PcmCaller
from tests.telephony.rawsip import RawSip, RtpPeer, offer_sdp

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

STRANGER = "127.0.0.2"


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def guarded(services: Services, tmp_path_factory: pytest.TempPathFactory):
    """The server with an API token, a media token, a Twilio auth token and allow-lists."""
    folder = tmp_path_factory.mktemp("secrets")
    tokens = {name: new_token() for name in ("api", "media", "twilio")}
    files = {name: write_secret(folder / name, value) for name, value in tokens.items()}
    base = services.config
    config = dataclasses.replace(
        base,
        sip=dataclasses.replace(base.sip, host="127.0.0.1", port=0, trusted_sources="127.0.0.1"),
        http=dataclasses.replace(
            base.http, host="127.0.0.1", port=0, api_token_file=str(files["api"])
        ),
        websocket=dataclasses.replace(
            base.websocket,
            token_file=str(files["media"]),
            twilio_auth_token_file=str(files["twilio"]),
        ),
        audiosocket=dataclasses.replace(base.audiosocket, trusted_sources="127.0.0.1"),
    )
    bot = BotServer(config, services)
    await bot.start()
    yield bot, tokens
    await bot.stop()


async def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_strangers_are_refused_at_every_door_and_counted_in_metrics(
    guarded: tuple[BotServer, dict[str, str]],
) -> None:
    bot, tokens = guarded
    base = f"http://127.0.0.1:{bot.http_port}"
    assert (await get(f"{base}/metrics"))[0] == 401
    assert (await get(f"{base}/calls/anything/next"))[0] == 401
    status, health = await get(f"{base}/healthz")
    assert status == 200 and "refused" not in health and "sip" not in health
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"ws://127.0.0.1:{bot.http_port}/media/pcm?token=guess")
    assert refused.value.status == 401

    audiosocket = AudioSocketCaller(bot.audiosocket_port, host=STRANGER)
    await audiosocket.dial()
    try:
        await asyncio.wait_for(audiosocket.ended.wait(), 3.0)  # hung up on, not a call
        assert not audiosocket.heard and not audiosocket.hangup_received
    finally:
        await audiosocket.close()

    stranger = await RawSip(bot.sip_port, host=STRANGER).open()
    rtp = await RtpPeer().open()
    try:
        offer = offer_sdp(rtp.port)
        stranger.send(stranger.request("INVITE", body=offer, content_type="application/sdp"))
        assert await stranger.recv(0.5) is None
    finally:
        stranger.close()
        rtp.close()

    status, metrics = await get(f"{base}/metrics", tokens["api"])
    assert status == 200
    for transport, counter, count in (
        ("http", "refused_bad_token", 2),
        ("websocket", "refused_bad_token", 1),
        ("audiosocket", "refused_untrusted_source", 1),
        ("sip", "refused_untrusted_source", 1),
        ("websocket", "refused_bad_signature", 0),
    ):
        line = f'ivr_transport{{name="{counter}",transport="{transport}"}} {count}.0'
        assert line in metrics, line
    assert 'ivr_transport{name="calls_offered",transport="sip"} 0.0' in metrics
    for token in tokens.values():
        assert token not in metrics


async def test_caller_with_the_media_token_is_answered_by_the_bot(
    guarded: tuple[BotServer, dict[str, str]], services: Services, call_dirs: Path
) -> None:
    bot, tokens = guarded
    caller = PcmCaller(f"ws://127.0.0.1:{bot.http_port}/media/pcm?token={tokens['media']}")
    await caller.dial(caller="+15550007777")
    try:
        greeting = await transcribe(services, await caller.wait_for_bot_silence())
        assert "help" in greeting, greeting
        await caller.hang_up()
    finally:
        await caller.close()
