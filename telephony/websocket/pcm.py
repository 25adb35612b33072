"""Plain PCM: binary 16-bit little-endian mono frames plus a small JSON control channel.

For browsers and simple clients. The client opens with ``{"event": "start", "rate": 16000,
"call_id": "...", "caller": "..."}`` (all optional but the event; rate defaults to 8000), then
sends binary PCM at that rate in chunks of any size, ``{"event": "dtmf", "digit": "5"}`` for
keys and ``{"event": "stop"}`` to hang up. The bot sends binary PCM at the same rate, one 20 ms
frame every 20 ms (silence included, so the client can play it as it comes),
``{"event": "clear"}`` when the caller barges in and ``{"event": "hangup", "reason": ...}``.
"""

from __future__ import annotations

import json
import uuid

from speech.resample import StreamResampler
from telephony.bridge import CALL_RATE, DtmfIn
from telephony.websocket.serializer import (
    Message,
    Serializer,
    StreamAudio,
    StreamEvent,
    StreamStart,
    StreamStop,
    check_audio_size,
    check_digit,
    json_object,
    peer_text,
)

CLIENT_RATES = (8000, 16000, 24000, 44100, 48000)


class PcmSerializer(Serializer):
    """Binary PCM with JSON control messages."""

    def __init__(self) -> None:
        self.rate = 0
        self._inbound: StreamResampler | None = None
        self._outbound: StreamResampler | None = None

    def parse(self, message: Message) -> StreamEvent | None:
        if isinstance(message, bytes):
            if not self.rate:
                raise ValueError("audio before the start message")
            check_audio_size(len(message) * CALL_RATE // self.rate)
            if len(message) % 2:
                raise ValueError(f"PCM of {len(message)} bytes is not whole 16-bit samples")
            assert self._inbound is not None
            return StreamAudio(self._inbound.process(message))
        data = json_object(message)
        event = data.get("event")
        if event == "start":
            return self._start(data)
        if not self.rate:
            raise ValueError(f"{event!r} message before start")
        if event == "dtmf":
            return DtmfIn(check_digit(data.get("digit")))
        if event == "stop":
            return StreamStop("caller hung up (stop)")
        raise ValueError(f"unknown event {event!r}")

    def _start(self, data: dict[str, object]) -> StreamStart:
        if self.rate:
            raise ValueError("a second start on one connection")
        rate = data.get("rate", CALL_RATE)
        if rate not in CLIENT_RATES or not isinstance(rate, int):
            raise ValueError(f"rate {rate!r} is not one of {CLIENT_RATES}")
        self.rate = rate
        self._inbound = StreamResampler(rate, CALL_RATE, quality="LQ")
        self._outbound = StreamResampler(CALL_RATE, rate, quality="QQ")
        return StreamStart(
            call_id=peer_text(data.get("call_id"), "call_id") or f"pcm-{uuid.uuid4().hex[:12]}",
            caller=peer_text(data.get("caller"), "caller"),
            extra={"format": "pcm", "rate": rate},
        )

    def audio(self, pcm: bytes) -> Message:
        assert self._outbound is not None
        return self._outbound.process(pcm)

    def clear(self) -> Message:
        return json.dumps({"event": "clear"})

    def hangup(self, reason: str) -> Message:
        return json.dumps({"event": "hangup", "reason": reason})
