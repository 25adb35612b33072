"""``server.max_calls`` bounds the calls of every way in together: with one call up over
AudioSocket and room for one, a SIP INVITE gets 503 (with Retry-After, so a proxy tries another
node), a dispatcher's OPTIONS probe 503 with the node's calls (``X-Calls: 1``), a media
WebSocket 503 and another AudioSocket connection a hang-up; once that call ends, OPTIONS gets
200 again and a SIP call is answered. In process, against the real transports and engines."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import aiohttp
import pytest

from ivr.server import BotServer
from telephony.audiosocket.frames import Frame, Kind
from tests.calls.conftest import records, until
from tests.calls.test_restart import free_port
from tests.telephony.rawsip import RawSip, offer_sdp

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def test_the_server_refuses_a_call_on_any_way_in_once_it_holds_max_calls(
    services, call_dirs
) -> None:
    base = services.config
    socket_port = free_port()
    config = dataclasses.replace(
        base,
        sip=dataclasses.replace(base.sip, host="127.0.0.1", port=0),
        http=dataclasses.replace(base.http, host="127.0.0.1", port=0),
        audiosocket=dataclasses.replace(base.audiosocket, host="127.0.0.1", port=socket_port),
        server=dataclasses.replace(base.server, max_calls=1),
    )
    bot = BotServer(config, services)
    await bot.start()
    assert bot.sip is not None and bot.audiosocket is not None
    peer_id = str(uuid.uuid4())
    _, writer = await asyncio.open_connection("127.0.0.1", socket_port)
    sip = await RawSip(bot.sip_port).open()
    try:
        writer.write(bytes(Frame.call_uuid(uuid.UUID(peer_id))))
        await writer.drain()
        await until(lambda: bool(records(call_dirs, peer_id)[0]), 30, "the call to start")

        sip.send(sip.request("INVITE", body=offer_sdp(40000), content_type="application/sdp"))
        refused = await sip.expect(503)
        assert refused.get("Retry-After")
        assert bot.sip.stats()["calls_rejected_node_full"] == 1
        sip.send(sip.request("OPTIONS"))
        probe = await sip.expect(503)
        assert probe.get("X-Calls") == "1" and probe.get("Retry-After")
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as full:
                await http.ws_connect(f"http://127.0.0.1:{bot.http_port}/media/pcm")
            assert full.value.status == 503
        other_reader, other_writer = await asyncio.open_connection("127.0.0.1", socket_port)
        answer = await asyncio.wait_for(other_reader.read(), 5)
        other_writer.close()
        assert Frame.parse(answer).kind is Kind.HANGUP
        assert bot.audiosocket.stats()["refused_node_full"] == 1

        writer.write(bytes(Frame.hangup()))
        await writer.drain()
        await until(lambda: bot.audiosocket.calls.held == 0, 30, "the first call to end")
        again = await RawSip(bot.sip_port).open()
        try:
            again.send(again.request("OPTIONS"))
            probe = await again.expect(200)
            assert probe.get("X-Calls") == "0" and "INVITE" in (probe.get("Allow") or "")
            again.send(
                again.request("INVITE", body=offer_sdp(40002), content_type="application/sdp")
            )
            await again.expect(200, timeout=15)
        finally:
            again.close()
    finally:
        sip.close()
        writer.close()
        await bot.stop()
    row, _ = records(call_dirs, peer_id)
    assert row["outcome"] != "in_progress", row
