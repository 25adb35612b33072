"""Test callers for the stream transports: a Twilio Media Streams peer, an Asterisk
chan_websocket peer, a plain-PCM WebSocket client and an Asterisk AudioSocket peer.

Each speaks its wire format for real over a socket on 127.0.0.1: the caller's audio is sent in
real time (a ``Pacer``, one 20 ms frame every 20 ms, silence when it has nothing to say), and
everything the bot sends is kept with its arrival time, so tests can transcribe it and measure
when it stopped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import uuid
from typing import Any

import aiohttp

from speech.g711 import ulaw_decode, ulaw_encode
from telephony.audiosocket.frames import HEADER_SIZE, Frame, Kind, parse_header
from telephony.pacing import Pacer

RATE = 8000
FRAME_BYTES = RATE // 50 * 2


class StreamCaller:
    """What every test caller shares: a real-time mouth, and ears that keep what the bot sent."""

    def __init__(self) -> None:
        self.heard = bytearray()
        """Bot audio as received (16-bit PCM at 8 kHz), in order."""
        self.events: list[tuple[int, dict[str, Any]]] = []
        """Control messages from the bot, with how many bytes of bot audio came before them."""
        self.ended = asyncio.Event()
        self._last_voice = 0.0
        self._mouth = Pacer(self._mouth_frame, rate=RATE, frame_ms=20)
        self._tasks: list[asyncio.Task[None]] = []

    # -- what a wire format provides -------------------------------------------------------

    def send_audio(self, frame: bytes) -> None:
        raise NotImplementedError

    async def press(self, keys: str, gap_s: float = 0.2) -> None:
        raise NotImplementedError

    async def hang_up(self) -> None:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------

    def _mouth_frame(self, frame: bytes) -> None:
        if not self.ended.is_set():
            self.send_audio(frame)

    def hear(self, pcm: bytes) -> None:
        self.heard += pcm
        if any(pcm):
            self._last_voice = asyncio.get_running_loop().time()

    def control(self, message: dict[str, Any]) -> None:
        self.events.append((len(self.heard), message))

    def start_mouth(self) -> None:
        self._mouth.start()

    def background(self, coroutine: Any) -> None:
        self._tasks.append(asyncio.create_task(coroutine))

    async def say(self, pcm: bytes) -> None:
        """Speak ``pcm`` in real time; returns when it is sent."""
        self._mouth.play(pcm)
        await self._mouth.wait_played()

    def say_nowait(self, pcm: bytes) -> None:
        self._mouth.play(pcm)

    async def wait_for_bot_silence(self, quiet_s: float = 1.6, timeout_s: float = 90) -> bytes:
        """Wait until the bot says something new and then stays quiet; returns what it said."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        start = len(self.heard)
        while loop.time() < deadline and not self.ended.is_set():
            said = self.heard[start:]
            if any(said) and loop.time() - self._last_voice >= quiet_s:
                return bytes(said)
            await asyncio.sleep(0.05)
        if not self.ended.is_set():
            raise TimeoutError(f"the bot did not speak and finish within {timeout_s} s")
        return bytes(self.heard[start:])

    async def wait_for_voice(self, timeout_s: float = 30) -> None:
        start = len(self.heard)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not any(self.heard[start:]):
            if loop.time() > deadline:
                raise TimeoutError("the bot never started speaking")
            await asyncio.sleep(0.02)

    def stop_mouth(self) -> None:
        self._mouth.stop()

    async def close(self) -> None:
        self.stop_mouth()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class WebSocketCaller(StreamCaller):
    """A WebSocket peer; subclasses say how messages look."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.close_code: int | None = None
        self.close_reason = ""
        self._session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._outbox: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def connect(self, *opening: str | bytes) -> None:
        """Open the WebSocket, send the opening messages, start talking and listening."""
        self._session = aiohttp.ClientSession()
        self.ws = await self._session.ws_connect(self.url, autoclose=False)
        for message in opening:
            await self._send_now(message)
        self.background(self._writer())
        self.background(self._reader())
        self.start_mouth()

    async def _send_now(self, message: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(message, str):
            await self.ws.send_str(message)
        else:
            await self.ws.send_bytes(message)

    def send(self, message: str | bytes) -> None:
        self._outbox.put_nowait(message)

    async def _writer(self) -> None:
        while True:
            message = await self._outbox.get()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send_now(message)

    async def _reader(self) -> None:
        assert self.ws is not None
        try:
            while True:
                message = await self.ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.on_text(message.data)
                elif message.type is aiohttp.WSMsgType.BINARY:
                    self.on_binary(message.data)
                else:
                    if message.type is aiohttp.WSMsgType.CLOSE:
                        self.close_code, self.close_reason = message.data, message.extra or ""
                    break
        finally:
            self.ended.set()

    def on_text(self, text: str) -> None:
        self.control(json.loads(text))

    def on_binary(self, data: bytes) -> None:
        raise AssertionError(f"unexpected binary message of {len(data)} bytes")

    async def close(self) -> None:
        await super().close()
        if self.ws is not None:
            await self.ws.close()
        if self._session is not None:
            await self._session.close()


class TwilioCaller(WebSocketCaller):
    """Twilio's side of a bidirectional Media Stream: plays marks back as soon as it gets them."""

    def __init__(self, url: str, call_sid: str, caller: str = "+15550001234") -> None:
        super().__init__(url)
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = call_sid
        self.caller = caller
        self._chunk = 0

    async def dial(self) -> None:
        start = {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": self.stream_sid,
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"caller": self.caller, "campaign": "tests"},
            },
        }
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        await self.connect(json.dumps(connected), json.dumps(start))

    def send_audio(self, frame: bytes) -> None:
        self._chunk += 1
        media = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str(self._chunk * 20),
            "payload": base64.b64encode(ulaw_encode(frame)).decode(),
        }
        self.send(json.dumps({"event": "media", "streamSid": self.stream_sid, "media": media}))

    def on_text(self, text: str) -> None:
        message = json.loads(text)
        assert message.get("streamSid") == self.stream_sid, message
        if message["event"] == "media":
            self.hear(ulaw_decode(base64.b64decode(message["media"]["payload"])))
            return
        self.control(message)
        if message["event"] == "mark":
            self.send(text)  # played: everything before the mark reached the caller's ear

    async def press(self, keys: str, gap_s: float = 0.2) -> None:
        for key in keys:
            dtmf = {"track": "inbound_track", "digit": key}
            self.send(json.dumps({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": dtmf}))
            await asyncio.sleep(gap_s)

    async def hang_up(self) -> None:
        stop = {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}
        self.send(json.dumps({"event": "stop", "streamSid": self.stream_sid, "stop": stop}))
        await asyncio.sleep(0.1)


class AsteriskWsCaller(WebSocketCaller):
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


class PcmCaller(WebSocketCaller):
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


class AudioSocketCaller(StreamCaller):
    """Asterisk's side of an AudioSocket call: UUID first, then 320-byte audio frames."""

    def __init__(self, port: int, call_uuid: uuid.UUID | None = None) -> None:
        super().__init__()
        self.port = port
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
