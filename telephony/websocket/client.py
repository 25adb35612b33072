"""The phone company's side of a media-stream WebSocket: dials the bot's ``/media/{format}``.

QA runs and tests call the bot the way Twilio does, over a real WebSocket: ``WebSocketPeer`` is
the connection (one writer task so paced frames never interleave, one reader task), and
``TwilioCaller`` speaks the Twilio Media Streams JSON format of ``telephony.websocket.twilio``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import Mapping

import aiohttp

from speech.g711 import ulaw_decode, ulaw_encode
from telephony.peer import StreamPeer
from telephony.websocket.twilio import MEDIA_FORMAT

TWILIO_ACCOUNT = "AC" + "0" * 32


class WebSocketPeer(StreamPeer):
    """A WebSocket client with a real-time mouth; subclasses say how messages look."""

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
        if self.ws is None:
            raise ConnectionError("not connected")
        if isinstance(message, str):
            await self.ws.send_str(message)
        else:
            await self.ws.send_bytes(message)

    def send(self, message: str | bytes) -> None:
        """Queue a message; the writer sends messages in order."""
        self._outbox.put_nowait(message)

    async def _writer(self) -> None:
        while True:
            message = await self._outbox.get()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send_now(message)

    async def _reader(self) -> None:
        ws = self.ws
        if ws is None:
            return
        try:
            while True:
                message = await ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.on_text(message.data)
                elif message.type is aiohttp.WSMsgType.BINARY:
                    self.on_binary(message.data)
                else:
                    if message.type is aiohttp.WSMsgType.CLOSE:
                        self.close_code, self.close_reason = message.data, message.extra or ""
                        await self._answer_close(ws)
                    break
        finally:
            if self.close_code is None:
                self.close_code = ws.close_code  # closed while sending: no CLOSE message read
            self.ended.set()

    async def _answer_close(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The bot closed: send nothing more and answer with a Close (RFC 6455 section 5.5.1),
        so the bot ends the connection at once instead of waiting for its close timeout."""
        self.ended.set()
        self.stop_mouth()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()

    def on_text(self, text: str) -> None:
        self.control(json.loads(text))

    def on_binary(self, data: bytes) -> None:
        raise ValueError(f"unexpected binary message of {len(data)} bytes")

    async def close(self) -> None:
        await super().close()
        if self.ws is not None:
            await self.ws.close()
        if self._session is not None:
            await self._session.close()


class TwilioCaller(WebSocketPeer):
    """Twilio's side of a bidirectional Media Stream.

    Marks are echoed as soon as they arrive: the bot paces its audio in real time, so a mark
    arrives when playback reaches it, which is when Twilio echoes it.
    """

    def __init__(
        self,
        url: str,
        call_sid: str = "",
        caller: str = "+15550001234",
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(url)
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.caller = caller
        self.parameters = dict(parameters or {})
        """customParameters besides ``caller`` (``<Parameter>`` elements of ``<Stream>``)."""
        self._chunk = 0

    async def dial(self) -> None:
        """Connect and send ``connected`` and ``start``; the bot answers with its greeting."""
        start = {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": self.stream_sid,
            "start": {
                "accountSid": TWILIO_ACCOUNT,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": MEDIA_FORMAT,
                "customParameters": {"caller": self.caller, **self.parameters},
            },
        }
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        await self.connect(json.dumps(connected), json.dumps(start))

    def _event(self, event: str, **body: object) -> str:
        return json.dumps({"event": event, "streamSid": self.stream_sid, **body})

    def send_audio(self, frame: bytes) -> None:
        self._chunk += 1
        media = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str(self._chunk * 20),
            "payload": base64.b64encode(ulaw_encode(frame)).decode(),
        }
        self.send(self._event("media", media=media))

    def on_text(self, text: str) -> None:
        message = json.loads(text)
        if message.get("streamSid") != self.stream_sid:
            raise ValueError(f"a message for another stream: {message}")
        if message["event"] == "media":
            self.hear(ulaw_decode(base64.b64decode(message["media"]["payload"])))
            return
        self.control(message)
        if message["event"] == "mark":
            self.send(text)  # played: everything before the mark reached the caller's ear

    async def press(self, keys: str, gap_s: float = 0.2) -> None:
        for key in keys:
            self.send(self._event("dtmf", dtmf={"track": "inbound_track", "digit": key}))
            await asyncio.sleep(gap_s)

    async def hang_up(self) -> None:
        """Send ``stop``, as Twilio does when the caller hangs up."""
        self.send(
            self._event("stop", stop={"accountSid": TWILIO_ACCOUNT, "callSid": self.call_sid})
        )
        await asyncio.sleep(0.1)
