"""Asterisk AudioSocket over TCP: each connection from Asterisk is one call, as a CallBridge.

Asterisk's ``AudioSocket(uuid,host:port)`` dialplan application (or ARI external media) opens a
TCP connection, sends the call's UUID, then 20 ms audio frames; it plays whatever audio frames
it receives at once. So the bot paces its frames in real time and never queues ahead (audio
already handed to Asterisk cannot be withdrawn on barge-in), sends silence frames while quiet,
and ends the call with a hang-up frame. Bad input (unknown kinds, oversized or malformed frames)
closes the connection with a logged reason and fails only that call. AudioSocket carries no
credentials, so with ``trusted_sources`` set (the Asterisk hosts) a connection from any other
address is closed before a byte of it is read. So is one over the transport's capacity
(``StreamLimits``: ``max_calls`` connections, ``max_unstarted`` of them still without their
UUID); one that sends no UUID within ``start_timeout_s``, or nothing for ``idle_timeout_s``
during the call, is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Sequence

from logfields import fields
from telephony.access import AllowList
from telephony.audiosocket.frames import HEADER_SIZE, Frame, Kind, parse_header
from telephony.bridge import CallInfo
from telephony.policing import InputRate
from telephony.stream import (
    DEFAULT_LIMITS,
    OnCall,
    Place,
    StreamBridge,
    StreamCalls,
    StreamLimits,
)

log = logging.getLogger(__name__)

WRITE_BUFFER_BYTES = 4 * (HEADER_SIZE + 320)
"""Kernel and transport buffering allowed ahead of the wire before the writer waits."""


class AudioSocketBridge(StreamBridge):
    """One AudioSocket call."""

    def __init__(self, info: CallInfo, writer: asyncio.StreamWriter, input_rate: InputRate) -> None:
        super().__init__(info, input_rate=input_rate)
        self._wire = writer

    async def write_audio(self, frame: bytes) -> None:
        self._wire.write(bytes(Frame.audio(frame)))
        await self._wire.drain()

    async def write_hangup(self, reason: str) -> None:
        self._wire.write(bytes(Frame.hangup()))
        await self._wire.drain()

    async def close_wire(self) -> None:
        self._wire.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._wire.wait_closed(), 1.0)


class AudioSocketServer:
    """Accepts AudioSocket connections on ``host:port`` and hands each call to ``on_call``."""

    def __init__(
        self,
        host: str,
        port: int,
        on_call: OnCall,
        limits: StreamLimits = DEFAULT_LIMITS,
        trusted_sources: str | Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.trusted_sources = AllowList.parse(trusted_sources)
        self.limits = limits
        self.calls = StreamCalls("audiosocket", on_call, limits)
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("audiosocket.server.started", extra=fields(host=self.host, port=self.port))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.calls.stop()

    def stats(self) -> dict[str, int]:
        return {"refused_untrusted_source": 0, **self.calls.stats()}

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername)
        if not self.trusted_sources.allows(peername[0] if peername else ""):
            self.calls.refuse("untrusted_source", peer, "not in audiosocket.trusted_sources")
            writer.transport.abort()
            return
        host = str(peername[0]) if peername else "?"
        place = self.calls.admit(peer, "" if self.trusted_sources else host)
        if place is None:
            writer.write(bytes(Frame.hangup()))
            writer.close()
            return
        try:
            await self._connection(reader, writer, place)
        finally:
            self.calls.leave(place)

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, place: Place
    ) -> None:
        peer = place.peer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, WRITE_BUFFER_BYTES)
        writer.transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)
        try:
            first = await asyncio.wait_for(_read_frame(reader), self.limits.start_timeout_s)
            if first.kind is not Kind.UUID:
                raise ValueError(f"the first frame must be the call UUID, not {first.kind.name}")
        except asyncio.TimeoutError:
            detail = f"no UUID frame within {self.limits.start_timeout_s:g} s"
            self.calls.reject("start_timeout", peer, detail)
            writer.close()
            return
        except (ValueError, asyncio.IncompleteReadError, OSError) as exc:
            self.calls.reject("bad_start", peer, _describe(exc))
            writer.close()
            return
        place.started = True
        call_uuid = str(first.uuid)
        host = (writer.get_extra_info("peername") or ("",))[0]
        info = CallInfo(
            call_id=call_uuid, transport="audiosocket", extra={"peer": peer, "source": host}
        )
        bridge = AudioSocketBridge(info, writer, self.limits.input_rate)
        session = self.calls.spawn(bridge)
        await self._read_call(reader, bridge)
        with contextlib.suppress(asyncio.CancelledError):
            await session

    async def _read_call(self, reader: asyncio.StreamReader, bridge: AudioSocketBridge) -> None:
        idle_s = self.limits.idle_timeout_s
        while bridge.ended is None:
            try:
                frame = await asyncio.wait_for(_read_frame(reader), idle_s)
            except asyncio.TimeoutError:
                bridge.went_idle(idle_s)
                return
            except ValueError as exc:
                bridge.bad_input(str(exc))
                return
            except (asyncio.IncompleteReadError, OSError):
                bridge.end("connection closed")
                return
            if not bridge.message_in():
                continue
            if frame.kind is Kind.AUDIO:
                bridge.audio_in(frame.payload)
            elif frame.kind is Kind.DTMF:
                bridge.dtmf_in(frame.digit)
            elif frame.kind is Kind.HANGUP:
                bridge.end("caller hung up")
            elif frame.kind is Kind.ERROR:
                bridge.end(f"Asterisk reported error 0x{frame.error_code:02x}", failed=True)
            else:
                bridge.bad_input("a second UUID frame in one call")


async def _read_frame(reader: asyncio.StreamReader) -> Frame:
    kind, length = parse_header(await reader.readexactly(HEADER_SIZE))
    return Frame.checked(kind, await reader.readexactly(length) if length else b"")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed before the UUID frame"
    return str(exc)
