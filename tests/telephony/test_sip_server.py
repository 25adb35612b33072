"""The SIP server against a scripted peer on raw sockets: protocol edges, garbage, media paths."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
import pytest

from speech.g711 import ulaw_decode, ulaw_encode
from telephony.bridge import AudioIn, CallBridge, DtmfIn, Hangup
from telephony.dtmf import TelephoneEvent
from telephony.rtp import RtpPacket
from telephony.sdp import SessionDescription
from telephony.sip.limits import SipLimits
from telephony.sip.message import SipRequest, SipResponse
from telephony.sip.server import SipServer

from .peers import wait_for
from .rawsip import RawSip, RtpPeer, offer_sdp
from .sip_samples import INVALID, RFC3665_INVITE

T1 = 0.05


class Calls:
    """The on_call callback: records each bridge and its events; tests may script the bot."""

    def __init__(self) -> None:
        self.bridges: list[CallBridge] = []
        self.events: list[list[object]] = []
        self.script: Callable[[CallBridge], Awaitable[None]] | None = None
        self.finished = 0

    async def on_call(self, bridge: CallBridge) -> None:
        self.bridges.append(bridge)
        events: list[object] = []
        self.events.append(events)
        if self.script is not None:
            await self.script(bridge)
        else:
            while True:
                event = await bridge.receive()
                events.append(event)
                if isinstance(event, Hangup):
                    break
        self.finished += 1


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
async def server(calls: Calls) -> AsyncIterator[SipServer]:
    srv = SipServer(
        "127.0.0.1", 0, calls.on_call, rtp_port_range=(41000, 41998), timer_t1=T1, max_calls=2
    )
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def peer(server: SipServer) -> AsyncIterator[RawSip]:
    client = await RawSip(server.port).open()
    yield client
    client.close()


async def establish(
    peer: RawSip, rtp: RtpPeer, body: bytes | None = None
) -> tuple[SipRequest, SipResponse]:
    """INVITE with an offer, expect 100/180/200, ACK. Returns (INVITE, 200)."""
    invite = peer.request(
        "INVITE",
        body=offer_sdp(rtp.port) if body is None else body,
        content_type="application/sdp" if body != b"" else None,
    )
    peer.send(invite)
    ok = await peer.expect(200)
    ack = peer.request("ACK", to_tag=ok.to.tag, cseq=invite.cseq[0])
    peer.send(ack)
    return invite, ok


def rtp_target(ok: SipResponse) -> tuple[str, int]:
    sdp = SessionDescription.parse(ok.body)
    assert sdp.connection is not None
    return (sdp.connection.address, sdp.media[0].port)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_options_is_answered_with_allow_and_accept(server: SipServer, transport: str) -> None:
    client = await RawSip(server.port, transport).open()
    try:
        client.send(client.request("OPTIONS"))
        ok = await client.expect(200)
        assert "INVITE" in ok.get("Allow") and "BYE" in ok.get("Allow")
        assert "application/sdp" in ok.get("Accept")
        assert ok.to.tag
    finally:
        client.close()


async def test_unknown_method_gets_501_and_known_unsupported_405(peer: RawSip) -> None:
    peer.send(peer.request("FROBNICATE"))
    assert (await peer.expect(501)).get("CSeq").endswith("FROBNICATE")
    peer.send(peer.request("REGISTER"))
    assert "INVITE" in (await peer.expect(405)).get("Allow")


async def test_in_dialog_requests_for_unknown_dialogs_get_481(peer: RawSip) -> None:
    peer.send(peer.request("BYE", to_tag="nosuchtag"))
    await peer.expect(481)
    peer.send(peer.request("BYE"))
    await peer.expect(481)
    peer.send(peer.request("CANCEL"))
    await peer.expect(481)


async def test_retransmitted_request_gets_the_identical_response(
    server: SipServer, peer: RawSip
) -> None:
    options = peer.request("OPTIONS")
    peer.send(options)
    first = await peer.recv_raw()
    peer.send(options)
    second = await peer.recv_raw()
    assert first is not None and first == second
    assert server.stats()["retransmissions_absorbed"] == 1


async def test_unsupported_extension_in_require_gets_420(peer: RawSip) -> None:
    peer.send(peer.request("OPTIONS", headers=[("Require", "nothingSupportsThis")]))
    response = await peer.expect(420)
    assert response.get("Unsupported") == "nothingSupportsThis"


@pytest.mark.parametrize("name", sorted(INVALID))
async def test_rfc4475_invalid_messages_are_rejected_or_dropped_and_counted(
    server: SipServer, peer: RawSip, name: str
) -> None:
    data, (outcome, status) = INVALID[name]
    peer.send(data)
    if outcome == "reject":
        response = await peer.recv(1.0)
        assert isinstance(response, SipResponse) and response.status == status
    else:
        assert await peer.recv(0.3) is None
    stats = server.stats()
    assert stats["malformed_dropped"] + stats["bad_requests"] == 1
    peer.send(peer.request("OPTIONS"))  # still serving
    await peer.expect(200)


async def test_garbage_datagrams_are_dropped_and_counted_and_a_call_still_works(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    rng = random.Random(1)
    for _ in range(50):
        peer.send(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 1400))))
    peer.send(RFC3665_INVITE[:300])  # truncated
    peer.send(b"\x00" * 20)
    await asyncio.sleep(0.3)
    assert server.stats()["malformed_dropped"] >= 50
    rtp = await RtpPeer().open()
    try:
        await establish(peer, rtp)
        assert await wait_for(lambda: calls.bridges, 2.0)
    finally:
        rtp.close()


async def test_oversized_datagram_is_dropped(calls: Calls) -> None:
    server = SipServer("127.0.0.1", 0, calls.on_call, max_message_size=4096, tcp=False)
    await server.start()
    client = await RawSip(server.port).open()
    try:
        big = client.request("OPTIONS", headers=[("X-Padding", "x" * 6000)])
        client.send(big)
        assert await client.recv(0.5) is None
        assert server.stats()["oversized_dropped"] == 1
        client.send(client.request("OPTIONS"))
        await client.expect(200)
    finally:
        client.close()
        await server.stop()


async def test_tcp_partial_reads_and_pipelined_messages(server: SipServer) -> None:
    client = await RawSip(server.port, "TCP").open()
    try:
        data = bytes(client.request("OPTIONS")) + bytes(client.request("FOO"))
        for i in range(0, len(data), 5):
            client.send(data[i : i + 5])
            await asyncio.sleep(0)
        await client.expect(200)
        await client.expect(501)
        client.send(b"\r\n\r\n" + bytes(client.request("OPTIONS")) * 1)  # keep-alive first
        await client.expect(200)
    finally:
        client.close()


async def test_tcp_garbage_closes_only_that_connection(server: SipServer) -> None:
    good = await RawSip(server.port, "TCP").open()
    bad = await RawSip(server.port, "TCP").open()
    huge = await RawSip(server.port, "TCP").open()
    try:
        bad.send(b"this is not SIP at all\r\n\r\n")
        assert await bad.recv_raw(2.0) is None  # closed by the server
        huge.send(b"OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\nContent-Length: 100000\r\n\r\n")
        assert await huge.recv_raw(2.0) is None
        stats = server.stats()
        assert stats["tcp_connections_closed_on_garbage"] == 2
        assert stats["oversized_dropped"] == 1
        good.send(good.request("OPTIONS"))
        await good.expect(200)
    finally:
        for client in (good, bad, huge):
            client.close()


async def test_invite_without_common_codec_gets_488(server: SipServer, peer: RawSip) -> None:
    body = offer_sdp(4000, formats="9 18").replace(b"a=rtpmap:0 PCMU/8000\r\n", b"")
    invite = peer.request("INVITE", body=body, content_type="application/sdp")
    peer.send(invite)
    response = await peer.expect(488)
    assert (response.get("Warning") or "").startswith("305 ")
    peer.send(
        peer.request(
            "ACK", to_tag=response.to.tag, cseq=invite.cseq[0], branch=invite.top_via.branch
        )
    )
    await asyncio.sleep(0.2)
    assert server.stats()["calls_rejected"] == 1
    assert server.active_calls == 0


async def test_invite_with_unparsable_sdp_or_wrong_body_type(peer: RawSip) -> None:
    peer.send(peer.request("INVITE", body=b"hello", content_type="text/plain"))
    assert "application/sdp" in (await peer.expect(415)).get("Accept")
    peer.send(peer.request("INVITE", body=b"v=0\r\nbroken\r\n", content_type="application/sdp"))
    await peer.expect(400)


async def test_busy_when_max_calls_reached(server: SipServer, calls: Calls) -> None:
    peers = [await RawSip(server.port).open() for _ in range(3)]
    rtps = [await RtpPeer().open() for _ in range(3)]
    try:
        await establish(peers[0], rtps[0])
        await establish(peers[1], rtps[1])
        peers[2].send(
            peers[2].request("INVITE", body=offer_sdp(rtps[2].port), content_type="application/sdp")
        )
        await peers[2].expect(486)
        assert server.stats()["calls_rejected_busy"] == 1
    finally:
        for p in peers:
            p.close()
        for r in rtps:
            r.close()


async def test_non_2xx_final_response_is_retransmitted_until_ack(peer: RawSip) -> None:
    body = offer_sdp(4000, formats="9")
    invite = peer.request("INVITE", body=body, content_type="application/sdp")
    peer.send(invite)
    await peer.expect(488)
    await peer.expect(488, timeout=1.0)  # timer G retransmission (T1 = 50 ms)
    peer.send(peer.request("ACK", to_tag="x", cseq=invite.cseq[0], branch=invite.top_via.branch))
    await asyncio.sleep(0.3)
    while await peer.recv(0.05) is not None:
        pass
    assert await peer.recv(0.5) is None  # no more after the ACK


async def test_2xx_retransmission_stops_at_ack_and_media_flows_both_ways(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    rtp = await RtpPeer().open()
    try:
        invite = peer.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        peer.send(invite)
        ok = await peer.expect(200)
        await peer.expect(200, timeout=1.0)  # retransmitted while we do not ACK
        assert ok.get("Contact") and ok.content_type == "application/sdp"
        peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=invite.cseq[0]))
        assert await wait_for(lambda: calls.bridges, 2.0)
        await asyncio.sleep(0.2)
        while await peer.recv(0.05) is not None:
            pass
        assert await peer.recv(0.6) is None  # no more 200s after the ACK

        target = rtp_target(ok)
        seq, ts, ssrc = 1000, 5000, 0x1234
        for i in range(10):
            pcm = np.full(160, 2000 if i % 2 else -2000, dtype="<i2").tobytes()
            rtp.send(
                bytes(RtpPacket(0, i == 0, seq + i, ts + 160 * i, ssrc, payload=ulaw_encode(pcm))),
                target,
            )

        def voiced() -> list[bytes]:
            return [e.pcm for e in calls.events[0] if isinstance(e, AudioIn) and set(e.pcm) != {0}]

        assert await wait_for(lambda: len(voiced()) >= 10, 2.0)
        assert all(len(f) == 320 for f in voiced())
        levels = {abs(int(np.frombuffer(f, "<i2")[0])) for f in voiced()}
        assert levels == {1980}  # 2000 after mu-law
        assert await wait_for(lambda: len(rtp.drain()) >= 10, 2.0)
        packets = rtp.drain()
        assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
        assert packets[0].marker
        seqs = [p.sequence_number for p in packets]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        assert len({p.ssrc for p in packets}) == 1
    finally:
        rtp.close()


async def test_reordered_duplicate_and_lost_rtp_is_delivered_in_order_with_fill(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    delivered: list[bytes] = []

    async def collect(bridge: CallBridge) -> None:
        while True:
            event = await bridge.receive()
            if isinstance(event, Hangup):
                return
            if isinstance(event, AudioIn):
                delivered.append(event.pcm)

    calls.script = collect
    rtp = await RtpPeer().open()
    try:
        _, ok = await establish(peer, rtp)
        assert await wait_for(lambda: calls.bridges, 2.0)
        target = rtp_target(ok)
        order = [0, 2, 1, 1, 3, 5, 6, 7, 8, 9]  # 1 reordered and duplicated, 4 lost
        for n in order:
            pcm = np.full(160, 100 * (n + 1), dtype="<i2").tobytes()
            rtp.send(
                bytes(RtpPacket(0, False, 500 + n, 8000 + 160 * n, 77, payload=ulaw_encode(pcm))),
                target,
            )
        assert await wait_for(lambda: len([f for f in delivered if set(f) != {0}]) >= 9, 2.0)
        levels = [int(np.frombuffer(f, "<i2")[0]) for f in delivered]
        first = next(i for i, v in enumerate(levels) if v)  # skip idle fill before our packets
        expected = [
            0
            if n == 4
            else int(
                np.frombuffer(
                    ulaw_decode(ulaw_encode(np.full(1, 100 * (n + 1), dtype="<i2").tobytes())),
                    "<i2",
                )[0]
            )
            for n in range(10)
        ]
        assert levels[first : first + 10] == expected  # in order; the lost one is silence
        stats = calls.bridges[0].stats()  # type: ignore[attr-defined]
        assert stats["rx_duplicates"] == 1 and stats["rx_lost"] == 1
    finally:
        rtp.close()


async def test_rtp_from_a_stranger_is_ignored_and_counted(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    rtp = await RtpPeer().open()
    stranger = await RtpPeer().open()
    try:
        _, ok = await establish(peer, rtp)
        assert await wait_for(lambda: calls.bridges, 2.0)
        target = rtp_target(ok)
        loud = ulaw_encode(np.full(160, 8000, dtype="<i2").tobytes())
        rtp.send(bytes(RtpPacket(0, True, 1, 160, 5, payload=ulaw_encode(bytes(320)))), target)
        await asyncio.sleep(0.1)
        for i in range(20):
            stranger.send(bytes(RtpPacket(0, False, 2 + i, 320 + 160 * i, 5, payload=loud)), target)
        stranger.send(b"garbage", target)
        await asyncio.sleep(0.3)
        stats = server.stats()
        assert stats["rtp_rx_strangers"] == 21
        events = calls.events[0]
        assert not any(isinstance(e, AudioIn) and set(e.pcm) - {0} for e in events)
        assert not stranger.drain()  # we never answer the stranger
        assert rtp.drain() and rtp.sources == {target}
    finally:
        rtp.close()
        stranger.close()


def spray(peer: RtpPeer, target: tuple[str, int], level: int, first_seq: int, ssrc: int) -> None:
    """Ten 20 ms packets of a constant ``level`` (its own mark in what the bot hears)."""
    payload = ulaw_encode(np.full(160, level, dtype="<i2").tobytes())
    for i in range(10):
        seq = first_seq + i
        peer.send(bytes(RtpPacket(0, i == 0, seq, 160 * seq, ssrc, payload=payload)), target)


def heard_levels(events: list[object]) -> set[int]:
    """The levels of the non-silent frames the bot received."""
    return {
        abs(int(np.frombuffer(e.pcm, "<i2")[0]))
        for e in events
        if isinstance(e, AudioIn) and set(e.pcm) != {0}
    }


async def test_a_stranger_on_another_host_cannot_inject_rtp_before_or_after_the_caller(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    rtp = await RtpPeer().open()
    stranger = await RtpPeer("127.0.0.2").open()
    try:
        _, ok = await establish(peer, rtp)
        assert await wait_for(lambda: calls.bridges, 2.0)
        target = rtp_target(ok)
        spray(stranger, target, 8000, 100, 0xBAD)  # before the caller's first packet
        await asyncio.sleep(0.2)
        spray(rtp, target, 2000, 1, 0x1234)
        await asyncio.sleep(0.2)
        spray(stranger, target, 8000, 110, 0xBAD)  # and after
        assert await wait_for(lambda: server.stats()["rtp_rx_strangers"] == 20, 2.0)
        assert heard_levels(calls.events[0]) == {1980}  # the caller's 2000, after mu-law
        assert not stranger.drain()  # nothing of the call went to the stranger
        assert rtp.drain() and rtp.sources == {target}
        assert calls.bridges[0].stats()["rx_packets"] == 10  # type: ignore[attr-defined]
    finally:
        rtp.close()
        stranger.close()


async def test_rtp_latches_to_the_signalling_host_when_the_sdp_address_is_not_the_source(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    """A caller behind NAT: its SDP names an address its packets never come from."""
    rtp = await RtpPeer().open()  # on 127.0.0.1, the host the INVITE came from
    stranger = await RtpPeer("127.0.0.2").open()
    neighbour = await RtpPeer().open()  # same host as the caller, another port
    try:
        _, ok = await establish(peer, rtp, offer_sdp(rtp.port, host="127.0.0.3"))
        assert await wait_for(lambda: calls.bridges, 2.0)
        target = rtp_target(ok)
        spray(stranger, target, 8000, 100, 0xBAD)
        await asyncio.sleep(0.2)
        assert server.stats()["rtp_rx_strangers"] == 10  # another host may not latch
        spray(rtp, target, 2000, 1, 0x1234)
        await asyncio.sleep(0.2)
        spray(neighbour, target, 4000, 11, 0x1234)  # once latched, not even the same host
        spray(stranger, target, 8000, 110, 0xBAD)
        assert await wait_for(lambda: server.stats()["rtp_rx_strangers"] == 30, 2.0)
        assert heard_levels(calls.events[0]) == {1980}
        assert await wait_for(lambda: len(rtp.drain()) >= 5, 2.0)  # symmetric RTP back to it
        assert not stranger.drain() and not neighbour.drain()
    finally:
        rtp.close()
        stranger.close()
        neighbour.close()


async def test_rfc4733_dtmf_in_once_per_digit_and_out_as_standard_sequence(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    got: list[str] = []

    async def bot(bridge: CallBridge) -> None:
        while len(got) < 2:
            event = await bridge.receive()
            if isinstance(event, DtmfIn):
                got.append(event.digit)
        await bridge.send_dtmf("9#")

    calls.script = bot
    rtp = await RtpPeer().open()
    try:
        _, ok = await establish(peer, rtp)
        target = rtp_target(ok)
        seq = 100
        for ts, digit in ((1000, 4), (9000, 11)):
            for k, end in ((1, False), (2, False), (3, True), (3, True), (3, True)):
                event = TelephoneEvent(digit, end=end, duration=160 * k)
                rtp.send(
                    bytes(RtpPacket(101, k == 1 and not end, seq, ts, 9, payload=bytes(event))),
                    target,
                )
                seq += 1
        assert await wait_for(lambda: calls.finished == 1, 3.0)
        assert got == ["4", "#"]
        packets = [p for p in rtp.drain() if p.payload_type == 101]
        events = [TelephoneEvent.parse(p.payload) for p in packets]
        assert [e.event for e in events] == [9] * 7 + [11] * 7
        for start in (0, 7):
            group = packets[start : start + 7]
            assert len({p.timestamp for p in group}) == 1
            assert [p.marker for p in group] == [True] + [False] * 6
            assert [e.end for e in events[start : start + 7]] == [False] * 4 + [True] * 3
        assert packets[0].timestamp != packets[7].timestamp
    finally:
        rtp.close()


async def test_info_dtmf_relay_and_bye_from_caller(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    rtp = await RtpPeer().open()
    try:
        _, ok = await establish(peer, rtp)
        assert await wait_for(lambda: calls.bridges, 2.0)
        peer.send(
            peer.request(
                "INFO",
                to_tag=ok.to.tag,
                body=b"Signal=7\r\nDuration=160\r\n",
                content_type="application/dtmf-relay",
            )
        )
        await peer.expect(200)
        peer.send(peer.request("BYE", to_tag=ok.to.tag))
        await peer.expect(200)
        assert await wait_for(lambda: calls.finished == 1, 2.0)
        events = calls.events[0]
        assert DtmfIn("7") in events
        assert events[-1] == Hangup("caller hung up")
        assert await calls.bridges[0].receive() == Hangup("caller hung up")  # sticky
        assert server.active_calls == 0
    finally:
        rtp.close()


async def test_callback_return_sends_bye_and_delayed_offer_works(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    async def short(bridge: CallBridge) -> None:
        await asyncio.sleep(0.2)

    calls.script = short
    rtp = await RtpPeer().open()
    try:
        invite = peer.request("INVITE")  # no SDP: we must offer in the 200
        peer.send(invite)
        ok = await peer.expect(200)
        offer = SessionDescription.parse(ok.body)
        assert offer.media[0].formats[:2] == ["0", "8"]
        answer = offer_sdp(rtp.port, formats="8 101")
        peer.send(
            peer.request(
                "ACK",
                to_tag=ok.to.tag,
                cseq=invite.cseq[0],
                body=answer,
                content_type="application/sdp",
            )
        )
        bye = await peer.expect("BYE", timeout=3.0)
        peer.send(peer.respond(bye, 200))
        assert await wait_for(lambda: rtp.drain() and True, 1.0)
        assert {p.payload_type for p in rtp.packets} == {8}  # PCMA as answered
    finally:
        rtp.close()


async def test_reinvite_hold_and_resume_changes_our_sending(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    rtp = await RtpPeer().open()
    try:
        _, ok = await establish(peer, rtp)
        assert await wait_for(lambda: len(rtp.drain()) > 5, 2.0)
        reinvite = peer.request(
            "INVITE",
            to_tag=ok.to.tag,
            body=offer_sdp(rtp.port, direction="sendonly"),
            content_type="application/sdp",
        )
        peer.send(reinvite)
        held = await peer.expect(200)
        answer = SessionDescription.parse(held.body)
        assert answer.media[0].direction == "recvonly"
        first = SessionDescription.parse(ok.body)
        assert answer.origin.session_version == first.origin.session_version + 1
        peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=reinvite.cseq[0]))
        await asyncio.sleep(0.1)
        count = len(rtp.drain())
        await asyncio.sleep(0.3)
        assert len(rtp.drain()) == count  # on hold: we send nothing
        resume = peer.request(
            "INVITE", to_tag=ok.to.tag, body=offer_sdp(rtp.port), content_type="application/sdp"
        )
        peer.send(resume)
        resumed = await peer.expect(200)
        assert SessionDescription.parse(resumed.body).media[0].direction == "sendrecv"
        peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=resume.cseq[0]))
        assert await wait_for(lambda: len(rtp.drain()) > count + 5, 2.0)
    finally:
        rtp.close()


async def test_cancel_before_answer(calls: Calls) -> None:
    server = SipServer("127.0.0.1", 0, calls.on_call, answer_delay=2.0, timer_t1=T1)
    await server.start()
    client = await RawSip(server.port).open()
    try:
        body = offer_sdp(4000)
        invite = client.request("INVITE", body=body, content_type="application/sdp")
        client.send(invite)
        await client.expect(180)
        cancel = client.request("CANCEL", cseq=invite.cseq[0], branch=invite.top_via.branch)
        client.send(cancel)
        await client.expect(200)
        terminated = await client.expect(487)
        client.send(
            client.request(
                "ACK", to_tag=terminated.to.tag, cseq=invite.cseq[0], branch=invite.top_via.branch
            )
        )
        await asyncio.sleep(2.2)
        assert not calls.bridges
        assert server.stats()["calls_cancelled"] == 1
        assert server.active_calls == 0
    finally:
        client.close()
        await server.stop()


async def test_stop_hangs_up_active_calls_politely(calls: Calls) -> None:
    server = SipServer("127.0.0.1", 0, calls.on_call, timer_t1=T1)
    await server.start()
    client = await RawSip(server.port).open()
    rtp = await RtpPeer().open()
    try:
        await establish(client, rtp)
        assert await wait_for(lambda: calls.bridges, 2.0)

        async def answer_bye() -> None:
            bye = await client.expect("BYE", timeout=3.0)
            client.send(client.respond(bye, 200))

        answering = asyncio.ensure_future(answer_bye())
        await server.stop()
        await answering
        assert calls.events[0][-1] == Hangup("server shutdown")
    finally:
        client.close()
        rtp.close()


async def test_random_fuzzing_of_a_valid_invite_never_crashes(calls: Calls) -> None:
    no_pike = SipLimits(pike_requests=0, pike_invites=0)  # a burst of 300 would be banned
    server = SipServer("127.0.0.1", 0, calls.on_call, timer_t1=T1, max_calls=2, limits=no_pike)
    await server.start()
    rng = random.Random(7)
    base = bytearray(RFC3665_INVITE)
    client = await RawSip(server.port).open()
    try:
        for _ in range(300):
            data = bytearray(base)
            for _ in range(rng.randrange(1, 8)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            client.send(bytes(data))
        client.send(os.urandom(3000))
        await asyncio.sleep(0.5)
        assert server.stats().get("internal_errors", 0) == 0
        client.send(client.request("OPTIONS"))
        await client.expect(200)
    finally:
        client.close()
        await server.stop()


async def test_our_bye_is_retransmitted_until_answered(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    async def short(bridge: CallBridge) -> None:
        await bridge.hangup("bot done")

    calls.script = short
    rtp = await RtpPeer().open()
    try:
        await establish(peer, rtp)
        first = await peer.expect("BYE", timeout=3.0)
        again = await peer.expect("BYE", timeout=1.0)  # unanswered: timer E resends it
        assert bytes(again) == bytes(first)
        peer.send(peer.respond(again, 200))
        await asyncio.sleep(0.5)
        while await peer.recv(0.05) is not None:
            pass  # a retransmission already on its way when our 200 arrived
        assert await peer.recv(0.5) is None  # answered: no more BYEs
        assert first.get("CSeq").endswith("BYE")
        assert first.to.tag == peer.tag  # To is the caller, with their tag
    finally:
        rtp.close()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
@pytest.mark.parametrize("lure", ["Contact", "Record-Route", "re-INVITE Contact"])
async def test_our_bye_goes_to_the_invites_source_not_where_the_caller_points(
    server: SipServer, calls: Calls, transport: str, lure: str
) -> None:
    async def short(bridge: CallBridge) -> None:
        await asyncio.sleep(0.3)
        await bridge.hangup("bot done")

    calls.script = short
    peer = await RawSip(server.port, transport).open()
    victim = await RtpPeer("127.0.0.2").open()  # any UDP socket: it must receive nothing
    rtp = await RtpPeer().open()
    elsewhere = f"<sip:victim@127.0.0.2:{victim.port};transport=udp>"
    try:
        invite = peer.request(
            "INVITE",
            body=offer_sdp(rtp.port),
            content_type="application/sdp",
            contact=elsewhere if lure == "Contact" else None,
            headers=[("Record-Route", f"<sip:127.0.0.2:{victim.port};lr>")]
            if lure == "Record-Route"
            else [],
        )
        peer.send(invite)
        ok = await peer.expect(200)
        peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=invite.cseq[0]))
        if lure == "re-INVITE Contact":  # a target refresh (RFC 3261 section 12.2.2)
            reinvite = peer.request(
                "INVITE",
                to_tag=ok.to.tag,
                body=offer_sdp(rtp.port),
                content_type="application/sdp",
                contact=elsewhere,
            )
            peer.send(reinvite)
            ok = await peer.expect(200)
            peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=reinvite.cseq[0]))
        bye = await peer.expect("BYE", timeout=3.0)
        if lure == "Record-Route":
            assert bye.get("Route") == f"<sip:127.0.0.2:{victim.port};lr>"  # still routed
        else:
            assert bye.uri == elsewhere[1:-1]  # the Request-URI is still the Contact
        peer.send(peer.respond(bye, 200))
        await asyncio.sleep(0.3)
        assert not victim.drain()
    finally:
        peer.close()
        victim.close()
        rtp.close()


async def test_in_dialog_requests_go_to_the_configured_outbound_proxy(calls: Calls) -> None:
    async def short(bridge: CallBridge) -> None:
        await bridge.hangup("bot done")

    calls.script = short
    proxy = await RawSip(0, host="127.0.0.2").open()  # only listens
    server = SipServer(
        "127.0.0.1", 0, calls.on_call, timer_t1=T1, outbound_proxy=f"127.0.0.2:{proxy.port}"
    )
    await server.start()
    peer = await RawSip(server.port).open()
    rtp = await RtpPeer().open()
    try:
        await establish(peer, rtp)
        bye = await proxy.expect("BYE", timeout=3.0)
        assert bye.uri.startswith(f"sip:tester@127.0.0.1:{peer.port}")
        while await peer.recv(0.3) is not None:
            pass
        assert all(not (isinstance(m, SipRequest) and m.method == "BYE") for m in peer.received)
    finally:
        await server.stop()
        peer.close()
        proxy.close()
        rtp.close()


async def test_transfer_sends_refer_with_context_and_fails_softly(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    results: list[bool] = []
    go = asyncio.Event()

    async def bot(bridge: CallBridge) -> None:
        for _ in range(2):
            await go.wait()
            go.clear()
            results.append(
                await bridge.transfer("agent@192.0.2.50", {"intent": "loan", "pin": "***"})
            )
        await asyncio.sleep(0.1)

    calls.script = bot
    server.transfer_timeout = 1.0
    rtp = await RtpPeer().open()
    try:
        _, ok = await establish(peer, rtp)
        # 1: the caller refuses the REFER
        go.set()
        refer = await peer.expect("REFER")
        assert refer.get("Refer-To") == "<sip:agent@192.0.2.50>"
        assert refer.get("X-Handoff-Context") == '{"intent":"loan","pin":"***"}'
        assert refer.get("Referred-By")
        peer.send(peer.respond(refer, 603, "Declined"))
        assert await wait_for(lambda: len(results) == 1, 2.0)
        # 2: accepted, but the target is busy
        go.set()
        refer = await peer.expect("REFER")
        peer.send(peer.respond(refer, 202, "Accepted"))
        notify = peer.request(
            "NOTIFY",
            to_tag=ok.to.tag,
            body=b"SIP/2.0 486 Busy Here\r\n",
            content_type="message/sipfrag",
            headers=[("Event", "refer"), ("Subscription-State", "terminated;reason=noresource")],
        )
        peer.send(notify)
        await peer.expect(200)
        assert await wait_for(lambda: len(results) == 2, 2.0)
        assert results == [False, False]
        assert server.active_calls == 1  # the caller is not dropped: the bot keeps the call
        stats = server.stats()
        assert stats["transfers_attempted"] == 2 and stats.get("transfers_completed", 0) == 0
        bye = await peer.expect("BYE", timeout=3.0)  # the bot hangs up when it is done
        peer.send(peer.respond(bye, 200))
    finally:
        rtp.close()


async def test_send_dtmf_falls_back_to_sip_info_without_telephone_event(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    async def bot(bridge: CallBridge) -> None:
        await bridge.send_dtmf("4*")

    calls.script = bot
    rtp = await RtpPeer().open()
    try:
        await establish(peer, rtp, body=offer_sdp(rtp.port, formats="0"))
        signals = []
        for _ in range(2):
            info = await peer.expect("INFO", timeout=3.0)
            assert info.content_type == "application/dtmf-relay"
            signals.append(info.body.decode().split("\r\n")[0])
            peer.send(peer.respond(info, 200))
        assert signals == ["Signal=4", "Signal=*"]
        assert not [p for p in rtp.drain() if p.payload_type == 101]
    finally:
        rtp.close()


async def test_a_failing_callback_still_hangs_up(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    async def broken(bridge: CallBridge) -> None:
        raise RuntimeError("bot bug")

    calls.script = broken
    rtp = await RtpPeer().open()
    try:
        await establish(peer, rtp)
        bye = await peer.expect("BYE", timeout=3.0)
        peer.send(peer.respond(bye, 200))
        assert server.stats()["callback_errors"] == 1
    finally:
        rtp.close()


async def test_silent_caller_is_hung_up_after_the_media_timeout(calls: Calls) -> None:
    server = SipServer("127.0.0.1", 0, calls.on_call, timer_t1=T1, rtp_timeout=0.5)
    await server.start()
    client = await RawSip(server.port).open()
    rtp = await RtpPeer().open()
    try:
        await establish(client, rtp)
        bye = await client.expect("BYE", timeout=3.0)
        client.send(client.respond(bye, 200))
        assert await wait_for(lambda: calls.finished == 1, 2.0)
        assert calls.events[0][-1] == Hangup("media timeout", failed=True)
        assert server.stats()["calls_media_timeout"] == 1
    finally:
        client.close()
        rtp.close()
        await server.stop()


async def test_outbound_tap_sees_every_frame_on_the_line(
    server: SipServer, peer: RawSip, calls: Calls
) -> None:
    tapped: list[bytes] = []

    async def bot(bridge: CallBridge) -> None:
        bridge.add_outbound_tap(tapped.append)
        await bridge.play(np.full(160 * 5, 1234, dtype="<i2").tobytes())
        await bridge.wait_played()
        await asyncio.sleep(0.1)

    calls.script = bot
    rtp = await RtpPeer().open()
    try:
        await establish(peer, rtp)
        bye = await peer.expect("BYE", timeout=3.0)
        peer.send(peer.respond(bye, 200))
        voiced = [f for f in tapped if f == np.full(160, 1234, dtype="<i2").tobytes()]
        assert len(voiced) == 5
        assert len(tapped) >= 8 and all(len(f) == 320 for f in tapped)  # silence included
        assert calls.bridges[0].underruns == 0  # type: ignore[attr-defined]
    finally:
        rtp.close()


async def test_the_server_listens_on_its_host_and_offers_its_public_address_and_rtp_range(
    calls: Calls,
) -> None:
    """``sip.host``, ``sip.public_address``, ``sip.rtp_port_min``/``max``: bound on 127.0.0.2
    only; the answer's SDP and Contact name the public address; RTP comes from the range."""
    srv = SipServer(
        "127.0.0.2",
        0,
        calls.on_call,
        public_host="192.0.2.10",
        rtp_port_range=(41600, 41602),
        timer_t1=T1,
    )
    await srv.start()
    peer = await RawSip(srv.port, server_host="127.0.0.2").open()
    rtp = await RtpPeer().open()
    try:
        _, ok = await establish(peer, rtp)
        address, port = rtp_target(ok)
        assert address == "192.0.2.10" and port in (41600, 41602)
        assert "192.0.2.10" in ok.get("Contact")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as elsewhere:
            elsewhere.bind(("127.0.0.1", srv.port))  # nothing listens on 127.0.0.1
    finally:
        peer.close()
        rtp.close()
        await srv.stop()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_sip_udp_and_tcp_each_open_only_their_own_listener(
    calls: Calls, transport: str
) -> None:
    only = SipServer("127.0.0.1", 0, calls.on_call, udp=transport == "UDP", tcp=transport == "TCP")
    await only.start()
    client = await RawSip(only.port, transport).open()
    try:
        client.send(client.request("OPTIONS"))
        await client.expect(200)
        if transport == "UDP":
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", only.port)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind(("127.0.0.1", only.port))  # no UDP listener holds the port
    finally:
        client.close()
        await only.stop()
