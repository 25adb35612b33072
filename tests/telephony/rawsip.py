"""A scripted SIP and RTP peer for protocol edge cases: raw sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from telephony.rtp import RtpPacket
from telephony.sip.message import SipRequest, SipResponse, StreamFramer, parse_message


def offer_sdp(
    port: int, formats: str = "0 8 101", direction: str = "sendrecv", host: str = "127.0.0.1"
) -> bytes:
    lines = [
        "v=0",
        f"o=- 1 1 IN IP4 {host}",
        "s=-",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


class RawSip:
    """One SIP peer: sends what the test writes, parses what comes back."""

    def __init__(
        self,
        server_port: int,
        transport: str = "UDP",
        host: str = "127.0.0.1",
        server_host: str = "127.0.0.1",
    ) -> None:
        """``host`` is the peer's own address: any of 127/8 works on Linux (a second source);
        ``server_host`` the address the server listens on."""
        self.server = (server_host, server_port)
        self.host = host
        self.transport = transport
        self.port = 0
        self._udp: _Datagrams | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer = StreamFramer()
        self._pending: list[bytes] = []
        self.call_id = secrets.token_hex(8) + "@" + host
        self.tag = secrets.token_hex(4)
        self.cseq = 0
        self.received: list[SipRequest | SipResponse] = []

    async def open(self) -> RawSip:
        loop = asyncio.get_running_loop()
        if self.transport == "UDP":
            udp = self._udp = _Datagrams()
            await loop.create_datagram_endpoint(lambda: udp, local_addr=(self.host, 0))
            assert udp.transport is not None
            self.port = udp.transport.get_extra_info("sockname")[1]
        else:
            self._reader, self._writer = await asyncio.open_connection(
                *self.server, local_addr=(self.host, 0)
            )
            self.port = self._writer.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._writer is not None:
            self._writer.close()

    def send(self, data: bytes | SipRequest | SipResponse) -> None:
        raw = bytes(data)
        if self._udp is not None:
            assert self._udp.transport is not None
            self._udp.transport.sendto(raw, self.server)
        else:
            assert self._writer is not None
            self._writer.write(raw)

    async def recv_raw(self, timeout: float = 2.0) -> bytes | None:
        """The next message's bytes, or None at timeout (or when the TCP peer closed)."""
        if self._udp is not None:
            try:
                data, _ = await asyncio.wait_for(self._udp.queue.get(), timeout)
            except asyncio.TimeoutError:
                return None
            return data
        assert self._reader is not None
        deadline = time.monotonic() + timeout
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                chunk = await asyncio.wait_for(self._reader.read(65536), remaining)
            except asyncio.TimeoutError:
                return None
            if not chunk:
                return None
            self._pending.extend(self._framer.feed(chunk))
        return self._pending.pop(0)

    async def recv(self, timeout: float = 2.0) -> SipRequest | SipResponse | None:
        data = await self.recv_raw(timeout)
        if data is None:
            return None
        message = parse_message(data)
        self.received.append(message)
        return message

    async def expect(self, want: int | str, timeout: float = 3.0) -> Any:
        """The next response with status ``want`` or request with method ``want``.

        Other messages are skipped (provisional responses, retransmissions); requests are
        remembered in ``received``. Fails the test on timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            message = await self.recv(max(remaining, 0.01)) if remaining > 0 else None
            if message is None:
                raise AssertionError(
                    f"no {want} within {timeout} s; got {[_summary(m) for m in self.received]}"
                )
            if isinstance(message, SipResponse) and message.status == want:
                return message
            if isinstance(message, SipRequest) and message.method == want:
                return message

    def request(
        self,
        method: str,
        *,
        uri: str | None = None,
        to_tag: str | None = None,
        cseq: int | None = None,
        branch: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        call_id: str | None = None,
        contact: str | None = None,
    ) -> SipRequest:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        host, port = self.server
        to = f"<sip:bot@{host}:{port}>" + (f";tag={to_tag}" if to_tag else "")
        transport = self.transport
        out = [
            ("Via", f"SIP/2.0/{transport} {self.host}:{self.port};branch={branch or new_branch()}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:tester@{self.host}:{self.port}>;tag={self.tag}"),
            ("To", to),
            ("Call-ID", call_id or self.call_id),
            ("CSeq", f"{cseq} {method}"),
            (
                "Contact",
                contact or f"<sip:tester@{self.host}:{self.port};transport={transport.lower()}>",
            ),
        ]
        if content_type:
            out.append(("Content-Type", content_type))
        out.extend(headers or [])
        return SipRequest(method, uri or f"sip:bot@{host}:{port}", out, body)

    def respond(self, request: SipRequest, status: int, reason: str = "OK") -> SipResponse:
        headers = [
            (k, v) for k, v in request.headers if k in ("Via", "From", "To", "Call-ID", "CSeq")
        ]
        return SipResponse(status, reason, headers)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(6)


def _summary(message: SipRequest | SipResponse) -> str:
    if isinstance(message, SipResponse):
        return f"{message.status} {message.reason} ({message.get('CSeq')})"
    return f"{message.method} ({message.get('CSeq')})"


class RtpPeer:
    """The peer's RTP socket: sends packets, collects what arrives."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        """``host``: any of 127/8 on Linux, so one test can have RTP from several hosts."""
        self.host = host
        self._proto = _Datagrams()
        self.port = 0
        self.packets: list[RtpPacket] = []
        self.sources: set[tuple[str, int]] = set()

    async def open(self) -> RtpPeer:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self._proto, local_addr=(self.host, 0))
        assert self._proto.transport is not None
        self.port = self._proto.transport.get_extra_info("sockname")[1]
        return self

    def send(self, data: bytes, target: tuple[str, int]) -> None:
        assert self._proto.transport is not None
        self._proto.transport.sendto(data, target)

    def drain(self) -> list[RtpPacket]:
        while not self._proto.queue.empty():
            data, source = self._proto.queue.get_nowait()
            self.sources.add(source)
            self.packets.append(RtpPacket.parse(data))
        return self.packets

    def close(self) -> None:
        if self._proto.transport is not None:
            self._proto.transport.close()
