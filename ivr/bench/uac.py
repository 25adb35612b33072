"""A minimal SIP user agent client over UDP: INVITE with an SDP offer, ACK, BYE (RFC 3261).

Just enough signalling for the load generator: one dialog per call, in-dialog requests from
the bot (BYE, REFER, NOTIFY, OPTIONS) answered so the bot's transactions complete. Through a
proxy (Kamailio in front of several bots) the dialog keeps the route set its 2xx recorded
(RFC 3261 section 12.1.2), so the ACK and BYE pass the proxy on their way to the bot that
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets

from telephony.sdp import MediaParameters, SessionDescription, accept_answer, make_offer
from telephony.sip.message import SipRequest, SipResponse, make_response, parse_message

INVITE_TIMEOUT_S = 10.0
"""Longest wait for the bot to answer an INVITE."""
BYE_TIMEOUT_S = 2.0


class SipCallError(RuntimeError):
    """The bot refused or did not answer the call."""


def _branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


class SipUac(asyncio.DatagramProtocol):
    """One outgoing call: ``invite`` returns the negotiated media; ``bye`` ends it."""

    def __init__(self, server: tuple[str, int], local_host: str = "127.0.0.1") -> None:
        self.server = server
        self.local_host = local_host
        self.local_port = 0
        self.call_id = secrets.token_hex(10) + "@bench"
        self.tag = secrets.token_hex(4)
        self.ended = asyncio.Event()
        """Set when either side hung up."""
        self.bot_hangup = False
        self.refers = 0
        self._cseq = itertools.count(1)
        self._transport: asyncio.DatagramTransport | None = None
        self._responses: asyncio.Queue[SipResponse] = asyncio.Queue()
        self._to = f"<sip:bot@{server[0]}:{server[1]}>"
        self._remote_target = f"sip:bot@{server[0]}:{server[1]}"
        self._route_set: list[str] = []
        self._ack: bytes | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.local_host, 0))
        assert self._transport is not None
        self.local_port = self._transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = parse_message(data)
        except ValueError:
            return
        if isinstance(message, SipResponse):
            if message.status >= 200 and message.cseq[1] == "INVITE" and self._ack is not None:
                self._send(self._ack)  # a retransmitted 2xx: our ACK was lost
            self._responses.put_nowait(message)
            return
        self._on_request(message)

    def _on_request(self, request: SipRequest) -> None:
        if request.method == "ACK":
            return
        self._send(bytes(make_response(request, 200, to_tag=None)))
        if request.method == "BYE":
            self.bot_hangup = True
            self.ended.set()
        elif request.method == "REFER":
            self.refers += 1

    async def invite(self, rtp_port: int) -> MediaParameters:
        """Call the bot offering PCMU and telephone-event; returns what its answer settled."""
        offer = make_offer(
            address=self.local_host,
            port=rtp_port,
            session_id=secrets.token_hex(4),
            session_version=1,
            codecs=("PCMU",),
        )
        cseq = next(self._cseq)
        request = self._request("INVITE", cseq, body=bytes(offer), content_type="application/sdp")
        self._send(bytes(request))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INVITE_TIMEOUT_S
        while True:
            response = await self._response(deadline - loop.time(), cseq, "INVITE")
            if response.status < 200:
                continue
            if response.status >= 300:
                raise SipCallError(f"the bot answered {response.status} {response.reason}")
            break
        self._to = response.get("To") or self._to
        self._route_set = list(reversed(response.values("Record-Route")))
        contact = response.contact
        if contact is not None:
            self._remote_target = str(contact.uri)
        self._ack = bytes(self._request("ACK", cseq))
        self._send(self._ack)
        return accept_answer(SessionDescription.parse(response.body), codecs=("PCMU",))

    async def bye(self) -> None:
        """Hang up (unless the bot already did) and wait briefly for the 200."""
        if self.ended.is_set():
            return
        self.ended.set()
        cseq = next(self._cseq)
        self._send(bytes(self._request("BYE", cseq)))
        with contextlib.suppress(SipCallError):
            await self._response(BYE_TIMEOUT_S, cseq, "BYE")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def _response(self, timeout: float, cseq: int, method: str) -> SipResponse:
        try:
            while True:
                response = await asyncio.wait_for(self._responses.get(), max(timeout, 0.01))
                if response.cseq == (cseq, method):
                    return response
        except asyncio.TimeoutError:
            raise SipCallError(f"no final response to {method} within {timeout:.1f} s") from None

    def _request(
        self, method: str, cseq: int, body: bytes = b"", content_type: str | None = None
    ) -> SipRequest:
        host, port = self.local_host, self.local_port
        headers = [
            ("Via", f"SIP/2.0/UDP {host}:{port};branch={_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:bench@{host}:{port}>;tag={self.tag}"),
            ("To", self._to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:bench@{host}:{port}>"),
            ("User-Agent", "ivr-bench"),
        ]
        if method != "INVITE":
            headers.extend(("Route", route) for route in self._route_set)
        if content_type:
            headers.append(("Content-Type", content_type))
        uri = self._remote_target if method != "INVITE" else f"sip:bot@{self.server[0]}"
        return SipRequest(method, uri, headers, body)

    def _send(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.sendto(data, self.server)
