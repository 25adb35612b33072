"""Hostile SDP and SIP against a real SipServer: every error is a clean refusal, nothing leaks."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import pytest

from telephony.bridge import CallBridge, Hangup
from telephony.sip.limits import SipLimits
from telephony.sip.message import MAX_REASON_DETAIL, SipRequest, SipResponse, parse_message
from telephony.sip.server import SipServer

from .peers import wait_for
from .rawsip import RawSip, RtpPeer, offer_sdp

T1 = 0.05

HOSTILE_SDP_LINES = {
    "ptime inf": (b"a=ptime:20", b"a=ptime:inf"),
    "ptime 1e400": (b"a=ptime:20", b"a=ptime:1e400"),
    "ptime -inf": (b"a=ptime:20", b"a=ptime:-inf"),
    "ptime nan": (b"a=ptime:20", b"a=ptime:nan"),
    "ptime 20 digits": (b"a=ptime:20", b"a=ptime:12345678901234567890"),
    "ptime arabic-indic": (b"a=ptime:20", "a=ptime:\u0662\u0660".encode()),
    "rtpmap arabic-indic pt": (b"a=rtpmap:0 PCMU", "a=rtpmap:\u0660 PCMU".encode()),
    "rtpmap arabic-indic clock": (b"PCMU/8000", "PCMU/\u0668\u0660\u0660\u0660".encode()),
    "rtpmap superscript pt": (b"a=rtpmap:0 PCMU", "a=rtpmap:\u00b2 PCMU".encode()),
    "rtpmap superscript clock": (b"PCMU/8000", "PCMU/8000\u00b2".encode()),
    "rtpmap 20 digit clock": (b"PCMU/8000", b"PCMU/80000000000000000000"),
    "rtpmap superscript channels": (b"PCMU/8000", "PCMU/8000/\u00b9".encode()),
    "fmtp arabic-indic pt": (b"a=fmtp:101", "a=fmtp:\u0661\u0660\u0661".encode()),
    "fmtp arabic-indic events": (b"a=fmtp:101 0-15", "a=fmtp:101 \u0660-15".encode()),
    "format superscript": (b"RTP/AVP 0 8 101", "RTP/AVP \u00b2 8 101".encode()),
    "format arabic-indic": (b"RTP/AVP 0 8 101", "RTP/AVP \u0660 \u0668 101".encode()),
    "format 20 digits": (b"RTP/AVP 0 8 101", b"RTP/AVP 12345678901234567890 101"),
    "m= port arabic-indic": (b"m=audio ", "m=audio \u0664".encode()),
    "m= port superscript count": (b" RTP/AVP", "/\u00b2 RTP/AVP".encode()),
    "o= version superscript": (b"o=- 1 1 ", "o=- 1 \u00b9 ".encode()),
}
"""Twenty offers, each with one number a hostile caller bent (issue 15)."""


SAFE_BAD_REQUEST = re.compile(rb"SIP/2\.0 400 Bad Request \([ -~]{0,%d}\)" % MAX_REASON_DETAIL)
"""A 400's status line echoing untrusted text: printable ASCII, bounded, on one line."""
HOSTILE_TEXT = "\u00e9\r\nX-Injected: 1\r\n\x1b[2J" * 2_700
"""About 60 KB of UTF-8: non-ASCII, CR/LF with a header behind it, terminal escapes."""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def listen_until_hangup(bridge: CallBridge) -> None:
    while not isinstance(await bridge.receive(), Hangup):
        pass


async def final_response(peer: RawSip, request: SipRequest) -> SipResponse | None:
    """The final response to ``request`` (matched by Call-ID and CSeq), None if none came."""
    while True:
        response = await peer.recv(1.0)
        if response is None:
            return None
        if (
            isinstance(response, SipResponse)
            and response.status >= 200
            and response.call_id == request.call_id
            and response.cseq == request.cseq
        ):
            return response


@pytest.fixture
async def server() -> AsyncIterator[SipServer]:
    srv = SipServer(
        "127.0.0.1",
        0,
        listen_until_hangup,
        rtp_port_range=(42000, 42998),
        timer_t1=T1,
        max_calls=2,
        limits=SipLimits(pike_invites=100),  # twenty hostile offers in a row are not a flood
    )
    await srv.start()
    yield srv
    await srv.stop()


async def test_hostile_numbers_in_sdp_get_a_final_refusal_and_leak_no_socket(
    server: SipServer,
) -> None:
    peer = await RawSip(server.port).open()
    rtp = await RtpPeer().open()
    try:
        baseline = open_fds()
        statuses = {}
        for number, (name, (good, bad)) in enumerate(HOSTILE_SDP_LINES.items()):
            body = offer_sdp(rtp.port).replace(good, bad, 1)
            assert body != offer_sdp(rtp.port), name
            invite = peer.request(
                "INVITE", body=body, content_type="application/sdp", call_id=f"{number}-hostile"
            )
            peer.send(invite)
            final = await final_response(peer, invite)
            assert final is not None, f"{name}: no final response"
            statuses[name] = final.status
        assert {s for s in statuses.values()} <= {400, 488}, statuses
        assert await wait_for(lambda: open_fds() <= baseline, 2.0), (open_fds(), baseline)
        assert server.active_calls == 0
        assert server.stats()["calls_rejected"] == len(HOSTILE_SDP_LINES)
    finally:
        peer.close()
        rtp.close()


async def test_hostile_sdp_in_a_reinvite_is_refused_and_the_call_goes_on(
    server: SipServer,
) -> None:
    peer = await RawSip(server.port).open()
    rtp = await RtpPeer().open()
    try:
        invite = peer.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        peer.send(invite)
        ok = await peer.expect(200)
        peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=invite.cseq[0]))
        assert await wait_for(lambda: server.stats()["active_calls"] == 1, 2.0)
        baseline = open_fds()
        for good, bad in HOSTILE_SDP_LINES.values():
            body = offer_sdp(rtp.port).replace(good, bad, 1)
            reinvite = peer.request(
                "INVITE", to_tag=ok.to.tag, body=body, content_type="application/sdp"
            )
            peer.send(reinvite)
            final = await final_response(peer, reinvite)
            assert final is not None and final.status in (400, 488), final
            peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=reinvite.cseq[0]))
        assert open_fds() == baseline
        assert server.active_calls == 1 and server.stats().get("internal_errors", 0) == 0
        hold = peer.request(
            "INVITE",
            to_tag=ok.to.tag,
            body=offer_sdp(rtp.port, direction="sendonly"),
            content_type="application/sdp",
        )
        peer.send(hold)
        answer = await final_response(peer, hold)
        assert answer is not None and answer.status == 200  # the call still negotiates
        assert b"a=recvonly" in answer.body
    finally:
        peer.close()
        rtp.close()


async def bad_request_status_line(peer: RawSip) -> bytes:
    """The status line of the next 400 the peer receives, as the bytes on the wire."""
    while True:
        raw = await peer.recv_raw(2.0)
        assert raw is not None, "no 400 came"
        if raw.startswith(b"SIP/2.0 400 "):
            assert parse_message(raw).get("X-Injected") is None
            return raw.split(b"\r\n", 1)[0]


async def test_every_bad_request_echoes_hostile_text_as_one_short_ascii_line(
    server: SipServer,
) -> None:
    peer = await RawSip(server.port).open()
    rtp = await RtpPeer().open()
    try:
        lines = {}
        # A Request-Line that does not parse: the parser's complaint quotes it.
        start = ("OPTIONS sip:" + HOSTILE_TEXT.replace("\r\n", "  ") + "  SIP/2.0").encode()
        raw = bytes(peer.request("OPTIONS"))
        peer.send(start + raw[raw.index(b"\r\n") :])
        lines["request line"] = await bad_request_status_line(peer)
        # A header that fails the request checks: the complaint quotes its value.
        contact = "<sip:" + HOSTILE_TEXT.replace("\r\n", " ")[:4000]
        peer.send(peer.request("OPTIONS", contact=contact))
        lines["contact"] = await bad_request_status_line(peer)
        # An INVITE no dialog can be made of (no Contact).
        invite = peer.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        invite.headers = [(k, v) for k, v in invite.headers if k != "Contact"]
        peer.send(invite)
        lines["dialog"] = await bad_request_status_line(peer)
        # An INFO inside a call whose DTMF body is hostile: the complaint quotes the body.
        invite = peer.request("INVITE", body=offer_sdp(rtp.port), content_type="application/sdp")
        peer.send(invite)
        ok = await peer.expect(200)
        peer.send(peer.request("ACK", to_tag=ok.to.tag, cseq=invite.cseq[0]))
        body = HOSTILE_TEXT.encode()
        assert len(body) > 60_000
        peer.send(
            peer.request("INFO", to_tag=ok.to.tag, body=body, content_type="application/dtmf")
        )
        lines["info"] = await bad_request_status_line(peer)
        unsafe = {
            path: line for path, line in lines.items() if not SAFE_BAD_REQUEST.fullmatch(line)
        }
        assert not unsafe, unsafe
        assert server.active_calls == 1  # the call survives its bad INFO
    finally:
        peer.close()
        rtp.close()
