"""SIP over UDP and TCP (RFC 3261 section 18): thin asyncio protocols that own the sockets.

Each transport hands every received message's bytes, with a ``Source`` saying how to answer,
to one ``deliver`` callback (the server). UDP delivers datagrams as they come; TCP frames the
byte stream with ``StreamFramer`` and closes only the offending connection on garbage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from telephony.sip.message import MAX_MESSAGE_SIZE, MessageTooLarge, StreamFramer

log = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 120.0
"""A TCP connection without a complete message for this long is closed (the peer reconnects
if needed); dribbling bytes that never make a message does not keep it open."""


@dataclass(frozen=True, eq=False)
class Source:
    """Where a message came from, and so where its response goes (RFC 3261 section 18.2.2)."""

    transport: str
    """UDP or TCP."""
    address: tuple[str, int]
    connection: TcpConnection | None = None

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


Deliver = Callable[[bytes, Source], None]
"""Receives each message's bytes and its source."""


class UdpTransport(asyncio.DatagramProtocol):
    """The SIP UDP socket: one datagram is one message (RFC 3261 section 18.1.1)."""

    def __init__(self, deliver: Deliver, on_oversized: Callable[[Source], None], max_size: int):
        self._deliver = deliver
        self._on_oversized = on_oversized
        self.max_size = max_size
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        source = Source("UDP", (addr[0], addr[1]))
        if len(data) > self.max_size:
            self._on_oversized(source)
            return
        self._deliver(data, source)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that went away: nothing to do but note it.
        log.debug("SIP UDP socket error: %s", exc)

    def send(self, data: bytes, address: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, address)

    @property
    def local_address(self) -> tuple[str, int]:
        assert self.transport is not None
        sockname = self.transport.get_extra_info("sockname")
        return (sockname[0], sockname[1])


class TcpConnection(asyncio.Protocol):
    """One SIP TCP connection, accepted or opened by us, framed by Content-Length (18.3)."""

    def __init__(
        self,
        deliver: Deliver,
        on_garbage: Callable[[TcpConnection, ValueError], None],
        max_size: int = MAX_MESSAGE_SIZE,
        on_closed: Callable[[TcpConnection], None] | None = None,
        *,
        admit: Callable[[TcpConnection], bool] | None = None,
        idle_timeout: float = TCP_IDLE_TIMEOUT,
    ) -> None:
        """``admit`` decides, once the peer is known, whether the connection may stay open."""
        self._deliver = deliver
        self._on_garbage = on_garbage
        self._on_closed = on_closed
        self._admit = admit
        self._framer = StreamFramer(max_size)
        self.idle_timeout = idle_timeout
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.closed = False
        self.closed_idle = False
        """Closed because no complete message came within ``idle_timeout``."""
        self.pinned = 0
        """Calls whose signalling uses this connection: it is not closed for idleness."""
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's is not an asyncio.Transport subclass, so no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else ("", 0)
        if self._admit is not None and not self._admit(self):
            self.close()
            return
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(self.idle_timeout, self._idle_expired)

    def _idle_expired(self) -> None:
        if self.pinned > 0:
            self._touch()
        else:
            self.closed_idle = True
            self.close()

    def data_received(self, data: bytes) -> None:
        keepalives = self._framer.keepalives
        try:
            messages = self._framer.feed(data)
        except ValueError as exc:
            self._on_garbage(self, exc)
            self.close()
            return
        if messages or self._framer.keepalives != keepalives:
            self._touch()
        source = Source("TCP", self.peer, self)
        for message in messages:
            if self.closed:
                return
            self._deliver(message, source)

    def send(self, data: bytes) -> bool:
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._mark_closed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._on_closed is not None:
            self._on_closed(self)


__all__ = ["MessageTooLarge", "Source", "TcpConnection", "UdpTransport"]
