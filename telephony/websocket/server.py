"""WebSocket media streams on aiohttp: ``GET /media/{format}`` upgraded, one call per connection.

The transport is the same for every wire format; a serializer (``twilio``, ``asterisk``,
``pcm``) reads and writes the messages. The connection becomes a call when its start message
arrives (Twilio ``start``, Asterisk ``MEDIA_START``, PCM ``start``); until then nothing is
recorded. Bad input (invalid JSON, unknown events, base64 garbage, oversized messages) closes
the connection with a logged reason and a close code, and fails that call's record only.

Who may connect is decided before the handshake, so a refused peer gets a plain HTTP error
and never a WebSocket: with a ``token`` set, every format wants it as ``Authorization: Bearer``
or as the ``token`` query parameter (401 otherwise); with a Twilio ``twilio_auth_token`` set,
``/media/twilio`` wants a valid ``X-Twilio-Signature`` instead (403 otherwise), since Twilio
can send neither. Once either is set, a format without its proof configured takes no calls.
Capacity is decided there too (``StreamLimits``): every connection, started or not, holds a
place from before the handshake, so connections over ``max_calls`` (or over ``max_unstarted``
still waiting for their start message) get a 503; one that sends no start message within
``start_timeout_s``, or nothing at all for ``idle_timeout_s`` during the call, is closed.

Another way in that proved its peer itself (the web console: a logged-in user with a one-time
ticket) hands the upgrade over with ``handle_vouched``: a plain-PCM call whose id, transport and
caller are the ones it vouches for, whatever the start message says, under the same limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from telephony.access import bearer_token, same_secret
from telephony.bridge import CallInfo, DtmfIn, Transport
from telephony.policing import InputRate
from telephony.stream import (
    DEFAULT_LIMITS,
    OnCall,
    Place,
    StreamBridge,
    StreamCalls,
    StreamLimits,
)
from telephony.websocket.asterisk import AsteriskSerializer
from telephony.websocket.closing import PatientWebSocketResponse
from telephony.websocket.pcm import PcmSerializer
from telephony.websocket.serializer import (
    Message,
    Serializer,
    StreamAudio,
    StreamFlow,
    StreamMark,
    StreamStart,
    StreamStop,
)
from telephony.websocket.signature import SIGNATURE_HEADER, signed_url, valid_twilio_signature
from telephony.websocket.twilio import TwilioSerializer

log = logging.getLogger(__name__)

ROUTE = "/media/{format}"
SERIALIZERS: dict[str, type[Serializer]] = {
    "twilio": TwilioSerializer,
    "asterisk": AsteriskSerializer,
    "pcm": PcmSerializer,
}
"""Wire formats by the name in the URL path."""
MARK_TIMEOUT_S = 3.0
"""How long ``wait_played`` waits for the peer to echo a playback mark."""
CLOSE_TIMEOUT_S = 2.0
"""How long closing waits for the peer's close frame (``telephony.websocket.closing``)."""
RETRY_LATER = {"Retry-After": "5"}
"""Sent with the 503 that refuses a connection over the transport's capacity."""


@dataclass(frozen=True)
class Vouched:
    """A peer another way in has proven: what its call's record says, not what it claims."""

    call_id: str
    """The peer's id for the call, chosen by whoever vouches (kept as ``peer_call_id``)."""
    transport: Transport
    caller: str
    extra: Mapping[str, Any] = field(default_factory=dict)


class WebSocketBridge(StreamBridge):
    """One call over a media-stream WebSocket, in the connection's wire format."""

    def __init__(
        self,
        info: CallInfo,
        ws: web.WebSocketResponse,
        serializer: Serializer,
        input_rate: InputRate,
    ) -> None:
        super().__init__(info, input_rate=input_rate)
        self.send_filler = serializer.send_filler
        self._ws = ws
        self._serializer = serializer
        self._marks: dict[str, asyncio.Future[None]] = {}
        self._mark_ids = itertools.count(1)

    async def _send(self, message: Message | None) -> None:
        if isinstance(message, str):
            await self._ws.send_str(message)
        elif message is not None:
            await self._ws.send_bytes(message)

    async def write_audio(self, frame: bytes) -> None:
        await self._send(self._serializer.audio(frame))

    async def write_clear(self) -> None:
        await self._send(self._serializer.clear())

    async def write_hangup(self, reason: str) -> None:
        await self._send(self._serializer.hangup(reason))

    async def close_wire(self) -> None:
        if self._ws.closed:
            return
        ended = self.ended
        failed = ended is not None and ended.failed
        code = WSCloseCode.POLICY_VIOLATION if failed else WSCloseCode.OK
        reason = ended.reason if ended is not None else "call ended"
        await self._ws.close(code=code, message=reason.encode("utf-8")[:120])

    async def playout_done(self) -> None:
        """Send a mark after the last frame and wait until the peer says it was played."""
        if not self._serializer.uses_marks:
            return
        name = f"played-{next(self._mark_ids)}"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks[name] = future
        self.send_command(lambda: self._send(self._serializer.mark(name)))
        try:
            await asyncio.wait_for(future, MARK_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.counters["mark_timeouts"] += 1
        finally:
            self._marks.pop(name, None)

    def mark_played(self, name: str) -> None:
        future = self._marks.get(name)
        if future is not None and not future.done():
            future.set_result(None)

    def clear_audio(self) -> None:
        super().clear_audio()
        self._release_marks()

    def end(self, reason: str, failed: bool = False, by_bot: bool = False) -> None:
        super().end(reason, failed, by_bot)
        self._release_marks()

    def _release_marks(self) -> None:
        for future in self._marks.values():
            if not future.done():
                future.set_result(None)


class WebSocketMediaServer:
    """The media-stream endpoints; ``add_routes`` puts them on the server's aiohttp app."""

    def __init__(
        self,
        on_call: OnCall,
        *,
        limits: StreamLimits = DEFAULT_LIMITS,
        max_message_bytes: int = 65536,
        token: str | None = None,
        twilio_auth_token: str | None = None,
        public_url: str = "",
    ):
        """``public_url`` is the base URL Twilio connects to (``wss://ivr.bank.example``) when a
        proxy in front changes scheme or host; unset, the request's own are used."""
        self.calls = StreamCalls("websocket", on_call, limits)
        self.limits = limits
        self.max_message_bytes = max_message_bytes
        self.token = token
        self.twilio_auth_token = twilio_auth_token
        self.public_url = public_url

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(ROUTE, self.handle)

    async def stop(self) -> None:
        await self.calls.stop()

    def stats(self) -> dict[str, int]:
        return {"refused_bad_token": 0, "refused_bad_signature": 0, **self.calls.stats()}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["format"]
        factory = SERIALIZERS.get(name)
        if factory is None:
            raise web.HTTPNotFound(
                text=f"unknown media format {name!r}; use one of {', '.join(SERIALIZERS)}"
            )
        peer = f"{request.remote} ({name})"
        refusal = self._missing_proof(name, request)
        if refusal is not None:
            why, detail = refusal
            self.calls.refuse(why, peer, detail)
            if why == "bad_signature":
                raise web.HTTPForbidden(text="invalid X-Twilio-Signature")
            raise web.HTTPUnauthorized(
                text="a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        proven = self.token is not None or self.twilio_auth_token is not None
        return await self._admit(request, factory(), peer, "" if proven else request.remote or "?")

    async def handle_vouched(self, request: web.Request, vouched: Vouched) -> web.StreamResponse:
        """Upgrade a plain-PCM connection whose peer the caller of this method has proven: no
        token is asked; capacity and every other limit are as for ``/media/pcm``."""
        peer = f"{request.remote} ({vouched.transport})"
        return await self._admit(request, PcmSerializer(), peer, "", vouched)

    async def _admit(
        self,
        request: web.Request,
        serializer: Serializer,
        peer: str,
        source: str,
        vouched: Vouched | None = None,
    ) -> web.StreamResponse:
        """Hold a place for the connection (``source``: the unproven address it counts
        against, "" when proven) and serve it; 503 when there is none."""
        place = self.calls.admit(peer, source)
        if place is None:
            raise web.HTTPServiceUnavailable(text="too many connections", headers=RETRY_LATER)
        try:
            return await self._connection(request, serializer, place, vouched)
        finally:
            self.calls.leave(place)

    async def _connection(
        self, request: web.Request, serializer: Serializer, place: Place, vouched: Vouched | None
    ) -> web.WebSocketResponse:
        peer = place.peer
        ws = PatientWebSocketResponse(max_msg_size=self.max_message_bytes, timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        try:
            start = await asyncio.wait_for(
                _wait_for_start(ws, serializer), self.limits.start_timeout_s
            )
        except asyncio.TimeoutError:
            detail = f"no start message within {self.limits.start_timeout_s:g} s"
            self.calls.reject("start_timeout", peer, detail)
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=detail.encode())
            return ws
        except ValueError as exc:
            detail = str(exc)
            self.calls.reject("bad_start", peer, detail)
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=detail.encode()[:120])
            return ws
        if start is None:
            self.calls.reject("closed_before_start", peer, "closed before the start message")
            return ws
        place.started = True
        info = CallInfo(
            call_id=start.call_id,
            transport="websocket",
            caller=start.caller,
            called=start.called,
            extra={**start.extra, "peer": request.remote or "", "source": request.remote or ""},
        )
        if vouched is not None:
            info = dataclasses.replace(
                info,
                call_id=vouched.call_id,
                transport=vouched.transport,
                caller=vouched.caller,
                called="",
                extra={**info.extra, **vouched.extra},
            )
        bridge = WebSocketBridge(info, ws, serializer, self.limits.input_rate)
        session = self.calls.spawn(bridge)
        await self._read_call(ws, serializer, bridge)
        with contextlib.suppress(asyncio.CancelledError):
            await session
        return ws

    def _missing_proof(self, name: str, request: web.Request) -> tuple[str, str] | None:
        """(counter, detail) when the upgrade lacks the proof its format needs, else None."""
        if self.token is None and self.twilio_auth_token is None:
            return None
        if name == "twilio" and self.twilio_auth_token is not None:
            url = signed_url(self.public_url, request.scheme, request.host, request.path_qs, True)
            signature = request.headers.get(SIGNATURE_HEADER)
            if valid_twilio_signature(self.twilio_auth_token, url, (), signature):
                return None
            state = "missing" if signature is None else "not valid"
            return "bad_signature", f"X-Twilio-Signature {state} for {url}"
        if self.token is None:
            return "bad_token", f"no token is configured, so /media/{name} takes no calls"
        presented = bearer_token(request.headers.get("Authorization"), request.query.get("token"))
        if same_secret(presented, self.token):
            return None
        return "bad_token", "bearer token missing" if presented is None else "bearer token wrong"

    async def _read_call(
        self, ws: web.WebSocketResponse, serializer: Serializer, bridge: WebSocketBridge
    ) -> None:
        idle_s = self.limits.idle_timeout_s
        while bridge.ended is None:
            try:
                message = await ws.receive(timeout=idle_s)
            except asyncio.TimeoutError:
                bridge.went_idle(idle_s)
                return
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                bridge.end("connection closed")
                return
            if message.type is WSMsgType.ERROR:
                bridge.bad_input(str(ws.exception() or "WebSocket protocol error"))
                return
            if not bridge.message_in():
                continue
            try:
                event = serializer.parse(message.data)
            except ValueError as exc:
                bridge.bad_input(str(exc))
                return
            if isinstance(event, StreamAudio):
                bridge.audio_in(event.pcm)
            elif isinstance(event, DtmfIn):
                bridge.dtmf_in(event.digit)
            elif isinstance(event, StreamMark):
                bridge.mark_played(event.name)
            elif isinstance(event, StreamFlow):
                bridge.pause_sending(event.paused)
            elif isinstance(event, StreamStop):
                bridge.end(event.reason)
            elif isinstance(event, StreamStart):
                bridge.bad_input("a second start on one connection")


async def _wait_for_start(ws: web.WebSocketResponse, serializer: Serializer) -> StreamStart | None:
    """Read until the start message (None if the peer closed first); ValueError on bad input."""
    while True:
        message = await ws.receive()
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return None
        if message.type is WSMsgType.ERROR:
            raise ValueError(str(ws.exception() or "WebSocket protocol error"))
        event = serializer.parse(message.data)
        if isinstance(event, StreamStart):
            return event
        if event is not None:
            raise ValueError(f"{type(event).__name__} before the start message")
