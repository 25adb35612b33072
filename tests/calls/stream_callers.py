"""Test callers for the stream transports: an Asterisk chan_websocket peer, a plain-PCM
WebSocket client and an Asterisk AudioSocket peer (the Twilio Media Streams caller is
``telephony.websocket.client.TwilioCaller``, which QA runs use too).

Each speaks its wire format for real over a socket on 127.0.0.1: the caller's audio is sent in
real time (``StreamPeer``'s mouth), and everything the bot sends is kept with its arrival time,
so tests can transcribe it and measure when it stopped.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from typing import Any

from speech.g711 import ulaw_decode, ulaw_encode
from telephony.audiosocket.frames import HEADER_SIZE, Frame, Kind, parse_header
from telephony.peer import RATE, StreamPeer
from telephony.websocket.client import WebSocketPeer

FRAME_BYTES = RATE // 50 * 2


class AsteriskWsCaller(WebSocketPeer):
    """Asterisk's chan_websocket side: plain-text control, binary mu-law media."""

    def __init__(self, url: str, connection_id: str) -> None:
        super().__init__(url)
        self.connection_id = connection_id

    async def dial(self) -> None:
        await self.connect(
            f"MEDIA_START connection_id:{self.connection_id} "
            f"channel:WebSocket/{self.connection_id}/0x1 format:ulaw optimal_frame_size:160"
        )

    def send_audio(self, frame: bytes) -> None:
        self.send(ulaw_encode(frame))

    def on_text(self, text: str) -> None:
        self.control({"event": text})

    def on_binary(self, data: bytes) -> None:
        self.hear(ulaw_decode(data))

    async def press(self, keys: str, gap_s: float = 0.2) -> None:
        for key in keys:
            self.send(f"DTMF_END digit:{key}")
            await asyncio.sleep(gap_s)

    async def hang_up(self) -> None:
        self.send("HANGUP")
        await asyncio.sleep(0.1)


class PcmCaller(WebSocketPeer):
    """A simple client of the plain-PCM format, at the call rate."""

    async def dial(self, **start: Any) -> None:
        await self.connect(json.dumps({"event": "start", **start}))

    def send_audio(self, frame: bytes) -> None:
        self.send(frame)

    def on_binary(self, data: bytes) -> None:
        self.hear(data)

    async def press(self, keys: str, gap_s: float = 0.2) -> None:
        for key in keys:
            self.send(json.dumps({"event": "dtmf", "digit": key}))
            await asyncio.sleep(gap_s)

    async def hang_up(self) -> None:
        self.send(json.dumps({"event": "stop"}))
        await asyncio.sleep(0.1)


class AudioSocketCaller(StreamPeer):
    """Asterisk's side of an AudioSocket call: UUID first, then 320-byte audio frames."""

    def __init__(
        self, port: int, call_uuid: uuid.UUID | None = None, host: str = "127.0.0.1"
    ) -> None:
        """``host`` is the caller's own address (any of 127/8: a second source for tests)."""
        super().__init__()
        self.port = port
        self.host = host
        self.uuid = call_uuid or uuid.uuid4()
        self.hangup_received = False
        self.reading = asyncio.Event()
        self.reading.set()
        self._writer: asyncio.StreamWriter | None = None

    async def dial(self, receive_buffer: int | None = None) -> None:
        """Connect and send the UUID; ``receive_buffer`` shrinks SO_RCVBUF (slow-reader tests)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind((self.host, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        reader, self._writer = await asyncio.open_connection(sock=sock)
        self.write(bytes(Frame.call_uuid(self.uuid)))
        self.background(self._read(reader))
        self.start_mouth()

    def write(self, data: bytes) -> None:
        assert self._writer is not None
        if not self._writer.is_closing():
            self._writer.write(data)

    def send_audio(self, frame: bytes) -> None:
        self.write(bytes(Frame.audio(frame)))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                await self.reading.wait()
                kind, length = parse_header(await reader.readexactly(HEADER_SIZE))
                payload = await reader.readexactly(length) if length else b""
                if kind is Kind.AUDIO:
                    assert len(payload) == FRAME_BYTES, len(payload)
                    self.hear(payload)
                elif kind is Kind.HANGUP:
                    self.hangup_received = True
                else:
                    self.control({"kind": kind.name, "payload": payload})
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.ended.set()

    async def press(self, keys: str, gap_s: float = 0.2) -> None:
        for key in keys:
            self.write(bytes(Frame.dtmf(key)))
            await asyncio.sleep(gap_s)

    async def hang_up(self) -> None:
        self.write(bytes(Frame.hangup()))
        await asyncio.sleep(0.1)

    async def close(self) -> None:
        await super().close()
        if self._writer is not None:
            self._writer.close()
