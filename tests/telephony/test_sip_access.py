"""Who may call the SIP server: the source allow-list and digest authentication, on raw sockets.

127.0.0.2 is a second source address (Linux routes all of 127/8 to loopback); the server's RTP
range holds a single port, so an INVITE that allocated media would leave the next call none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from telephony.sip.digest import DigestChallenge, answer_challenge
from telephony.sip.message import SipRequest, SipResponse
from telephony.sip.server import SipServer

from .peers import wait_for
from .rawsip import RawSip, RtpPeer, offer_sdp
from .test_sip_server import T1, Calls

ONE_RTP_PORT = (44000, 44000)
USER = "trunk"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
async def rtp() -> AsyncIterator[RtpPeer]:
    peer = await RtpPeer().open()
    yield peer
    peer.close()


@pytest.fixture
async def trusting_loopback_one(calls: Calls) -> AsyncIterator[SipServer]:
    server = SipServer(
        "127.0.0.1",
        0,
        calls.on_call,
        rtp_port_range=ONE_RTP_PORT,
        timer_t1=T1,
        trusted_sources="127.0.0.1/32",
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def digest_server(calls: Calls) -> AsyncIterator[SipServer]:
    server = SipServer(
        "127.0.0.1",
        0,
        calls.on_call,
        rtp_port_range=ONE_RTP_PORT,
        timer_t1=T1,
        digest_user=USER,
        digest_password=PASSWORD,
        digest_realm="pbx.example",
    )
    await server.start()
    yield server
    await server.stop()


async def open_peer(server: SipServer, transport: str = "UDP", host: str = "127.0.0.1") -> RawSip:
    return await RawSip(server.port, transport, host).open()


def invite(peer: RawSip, rtp: RtpPeer, headers: list[tuple[str, str]] | None = None) -> SipRequest:
    return peer.request(
        "INVITE", body=offer_sdp(rtp.port), content_type="application/sdp", headers=headers
    )


async def answered(peer: RawSip, request: SipRequest) -> SipResponse:
    """Send the INVITE, expect its 200 OK and acknowledge it."""
    peer.send(request)
    ok = await peer.expect(200)
    peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=request.cseq[0]))
    return ok


def acknowledge(peer: RawSip, request: SipRequest, response: SipResponse) -> None:
    """ACK a final error response: same branch as the INVITE (RFC 3261 17.1.1.3)."""
    branch = request.top_via.branch
    peer.send(peer.request("ACK", to_tag=response.to.tag, cseq=request.cseq[0], branch=branch))


async def test_invite_from_outside_the_allow_list_gets_no_answer_and_no_media(
    trusting_loopback_one: SipServer, calls: Calls, rtp: RtpPeer
) -> None:
    server = trusting_loopback_one
    stranger = await open_peer(server, host="127.0.0.2")
    trunk = await open_peer(server)
    try:
        stranger.send(invite(stranger, rtp))
        stranger.send(stranger.request("OPTIONS"))
        assert await stranger.recv(0.5) is None, "no reflection towards a forgeable UDP source"
        stats = server.stats()
        assert stats["refused_untrusted_source"] == 2
        assert stats["calls_offered"] == 0 and stats["active_calls"] == 0

        ok = await answered(trunk, invite(trunk, rtp))  # the only RTP port is still free
        assert f"m=audio {ONE_RTP_PORT[0]} ".encode() in ok.body
        assert await wait_for(lambda: calls.bridges, 2.0)
    finally:
        stranger.close()
        trunk.close()


async def test_a_thousand_datagrams_from_outside_the_allow_list_are_counted_and_logged_once(
    trusting_loopback_one: SipServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = trusting_loopback_one
    stranger = await open_peer(server, host="127.0.0.2")
    try:
        with caplog.at_level(logging.WARNING, logger="telephony.sip.server"):
            for sent in range(1000):
                stranger.send(stranger.request("OPTIONS"))
                if sent % 50 == 49:  # let the server read: no loss in the socket buffer
                    await asyncio.sleep(0.01)
            assert await wait_for(
                lambda: server.stats()["refused_untrusted_source"] == 1000, 5.0
            ), server.stats()["refused_untrusted_source"]
        refusals = [r for r in caplog.records if "refused (untrusted_source)" in r.getMessage()]
        assert len(refusals) == 1, [r.getMessage() for r in refusals[:5]]
    finally:
        stranger.close()


async def test_request_over_tcp_from_outside_the_allow_list_is_forbidden(
    trusting_loopback_one: SipServer, calls: Calls, rtp: RtpPeer
) -> None:
    stranger = await open_peer(trusting_loopback_one, "TCP", host="127.0.0.2")
    try:
        stranger.send(invite(stranger, rtp))
        await stranger.expect(403)
        assert trusting_loopback_one.stats()["refused_untrusted_source"] == 1
        assert trusting_loopback_one.stats()["calls_offered"] == 0
        assert not calls.bridges
    finally:
        stranger.close()


async def challenged(trunk, rtp: RtpPeer):
    """Send an INVITE without credentials; the INVITE and the 401 it drew (ACKed)."""
    first = invite(trunk, rtp)
    trunk.send(first)
    unauthorized = await trunk.expect(401)
    acknowledge(trunk, first, unauthorized)
    return first, unauthorized


async def test_digest_challenge_then_right_password_answers_the_call(
    digest_server: SipServer, calls: Calls, rtp: RtpPeer
) -> None:
    trunk = await open_peer(digest_server)
    try:
        first, unauthorized = await challenged(trunk, rtp)
        offered = [DigestChallenge.parse(v) for v in unauthorized.get_all("WWW-Authenticate")]
        assert [c.algorithm for c in offered] == ["SHA-256", "MD5"]
        assert all(c.realm == "pbx.example" and c.qop == "auth" and not c.stale for c in offered)
        assert digest_server.stats()["calls_offered"] == 0, "nothing set up before the proof"

        md5 = offered[1]
        credentials = answer_challenge(md5, USER, PASSWORD, "INVITE", first.uri)
        ok = await answered(trunk, invite(trunk, rtp, [("Authorization", str(credentials))]))
        assert f"m=audio {ONE_RTP_PORT[0]} ".encode() in ok.body
        assert await wait_for(lambda: calls.bridges, 2.0)
        stats = digest_server.stats()
        assert stats["auth_challenged"] == 1 and stats["calls_offered"] == 1
        assert stats["refused_bad_credentials"] == 0
    finally:
        trunk.close()


async def test_digest_with_wrong_password_is_forbidden_and_allocates_nothing(
    digest_server: SipServer, calls: Calls, rtp: RtpPeer
) -> None:
    trunk = await open_peer(digest_server)
    try:
        first, unauthorized = await challenged(trunk, rtp)
        challenge = DigestChallenge.parse(unauthorized.get_all("WWW-Authenticate")[0])
        wrong = answer_challenge(challenge, USER, "Tr0ub4dor&3", "INVITE", first.uri)
        trunk.send(invite(trunk, rtp, [("Authorization", str(wrong))]))
        await trunk.expect(403)
        stats = digest_server.stats()
        assert stats["refused_bad_credentials"] == 1 and stats["calls_offered"] == 0
        assert not calls.bridges
    finally:
        trunk.close()


async def test_replayed_digest_credentials_are_challenged_again_as_stale(
    digest_server: SipServer, calls: Calls, rtp: RtpPeer
) -> None:
    trunk = await open_peer(digest_server)
    eavesdropper = await open_peer(digest_server)
    try:
        first, unauthorized = await challenged(trunk, rtp)
        challenge = DigestChallenge.parse(unauthorized.get_all("WWW-Authenticate")[0])
        credentials = answer_challenge(challenge, USER, PASSWORD, "INVITE", first.uri)
        await answered(trunk, invite(trunk, rtp, [("Authorization", str(credentials))]))

        replay = invite(eavesdropper, rtp, [("Authorization", str(credentials))])
        eavesdropper.send(replay)
        again = await eavesdropper.expect(401)
        assert DigestChallenge.parse(again.get_all("WWW-Authenticate")[0]).stale
        assert digest_server.stats()["calls_offered"] == 1
    finally:
        trunk.close()
        eavesdropper.close()
