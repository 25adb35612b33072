"""The WebSocket close handshake with a peer that keeps streaming (RFC 6455 sections 5.5.1 and
7.1.1): after the bot's Close the connection stays up, the peer's media in flight read and
dropped, until the peer answers with its Close; then the bot ends the connection at once.

The peer is a raw socket on a thread of its own, so nothing in the test's event loop decides
when it writes or reads, as with a media gateway across the network."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from telephony.stream import StreamLimits
from telephony.websocket.server import CLOSE_TIMEOUT_S

from .test_stream_limits import FRAME, Listener, media_server

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


def masked(opcode: int, payload: bytes) -> bytes:
    """One final client frame (clients mask, RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size)
    return (
        bytes([0x80 | opcode])
        + length
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The (opcode, payload) of each whole unmasked server frame in ``data``."""
    frames, at = [], 0
    while at + 2 <= len(data):
        size, head = data[at + 1] & 0x7F, 2
        if size == 126:
            size, head = struct.unpack("!H", data[at + 2 : at + 4])[0], 4
        elif size == 127:
            size, head = struct.unpack("!Q", data[at + 2 : at + 10])[0], 10
        if at + head + size > len(data):
            break
        frames.append((data[at] & 0x0F, data[at + head : at + head + size]))
        at += head + size
    return frames


@dataclass
class StreamingPeer:
    """Starts a call, streams media every 5 ms, says something the bot refuses, streams on for
    ``stream_on_s`` without reading, then reads the bot's Close and answers it."""

    port: int
    stream_on_s: float = 0.4
    sent_after_close: int = 0
    send_error: str = ""
    close: tuple[int, str] | None = None
    closed_after_answer_s: float | None = None
    frames: list[tuple[int, bytes]] = field(default_factory=list)

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                "GET /media/pcm HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            response = b""
            while b"\r\n\r\n" not in response:
                response += sock.recv(4096)
            assert response.startswith(b"HTTP/1.1 101"), response
            data = response.split(b"\r\n\r\n", 1)[1]
            sock.sendall(
                masked(TEXT, json.dumps({"event": "start", "call_id": "streaming"}).encode())
            )
            self._stream(sock, 0.2)
            sock.sendall(masked(TEXT, b'{"event": "dance"}'))
            self.sent_after_close = self._stream(sock, self.stream_on_s)
            while self.close is None:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                self.frames = server_frames(data)
                for opcode, payload in self.frames:
                    if opcode == CLOSE:
                        self.close = struct.unpack("!H", payload[:2])[0], payload[2:].decode()
            sock.sendall(masked(CLOSE, struct.pack("!H", 1000)))
            answered = time.monotonic()
            while sock.recv(65536):
                pass
            self.closed_after_answer_s = time.monotonic() - answered

    def _stream(self, sock: socket.socket, seconds: float) -> int:
        sent, until = 0, time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                sock.sendall(masked(BINARY, FRAME))
            except OSError as exc:
                self.send_error = repr(exc)
                break
            sent += 1
            time.sleep(0.005)
        return sent


async def test_a_peer_streaming_when_the_bot_closes_gets_its_code_and_reason_and_a_clean_end() -> (
    None
):
    listener = Listener()
    async with media_server(listener, StreamLimits()) as (streams, url):
        peer = StreamingPeer(int(url.split(":")[2].split("/")[0]))
        thread = threading.Thread(target=peer.run, daemon=True)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.05)
        # The connection stayed up while the peer streamed on after the bot's Close ...
        assert peer.send_error == "" and peer.sent_after_close > 20, peer
        # ... the peer read the code and reason ...
        assert peer.close is not None and peer.close[0] == 1008, peer.close
        assert "unknown event 'dance'" in peer.close[1], peer.close
        # ... and its answer ended the connection at once, not at the bot's close timeout.
        assert peer.closed_after_answer_s is not None
        assert peer.closed_after_answer_s < CLOSE_TIMEOUT_S / 2, peer.closed_after_answer_s
        hangup = listener.calls["streaming"].hangup
        assert hangup is not None and hangup.failed
        assert streams.stats()["bad_input_closed"] == 1
