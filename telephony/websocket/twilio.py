"""Twilio Media Streams: JSON text messages with base64 mu-law audio at 8 kHz.

Inbound (Twilio to us): ``connected``, ``start`` (streamSid, callSid, mediaFormat, tracks,
customParameters), ``media`` (track, chunk, timestamp, base64 payload), ``dtmf``, ``mark`` (a
mark we sent has been played) and ``stop``. Outbound: ``media``, ``mark`` and ``clear`` (drop
buffered audio on barge-in). Twilio plays silence when it receives nothing, so only bot audio
is sent; ``wait_played`` ends when Twilio echoes the mark sent after the last frame.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from speech.g711 import ulaw_decode, ulaw_encode
from telephony.bridge import DtmfIn
from telephony.websocket.serializer import (
    Message,
    Serializer,
    StreamAudio,
    StreamEvent,
    StreamMark,
    StreamStart,
    StreamStop,
    check_audio_size,
    check_digit,
    json_object,
    peer_text,
)

MEDIA_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


class TwilioSerializer(Serializer):
    """Twilio Media Streams (bidirectional ``<Connect><Stream>``)."""

    send_filler = False
    uses_marks = True

    def __init__(self) -> None:
        self.stream_sid = ""

    def parse(self, message: Message) -> StreamEvent | None:
        if isinstance(message, bytes):
            raise ValueError("Twilio media streams send text messages, not binary")
        data = json_object(message)
        event = data.get("event")
        if event == "connected":
            return None
        if event == "start":
            return self._start(data)
        if not self.stream_sid:
            raise ValueError(f"{event!r} message before start")
        if data.get("streamSid", self.stream_sid) != self.stream_sid:
            raise ValueError(f"message for another stream {data.get('streamSid')!r}")
        if event == "media":
            return self._media(_section(data, "media"))
        if event == "dtmf":
            return DtmfIn(check_digit(_section(data, "dtmf").get("digit")))
        if event == "mark":
            return StreamMark(str(_section(data, "mark").get("name", "")))
        if event == "stop":
            return StreamStop("caller hung up (stop)")
        raise ValueError(f"unknown Twilio event {event!r}")

    def _start(self, data: dict[str, Any]) -> StreamStart:
        if self.stream_sid:
            raise ValueError("a second start in one stream")
        start = _section(data, "start")
        sid = peer_text(data.get("streamSid") or start.get("streamSid"), "streamSid")
        if not sid:
            raise ValueError("start without a streamSid")
        media_format = start.get("mediaFormat", MEDIA_FORMAT)
        if not isinstance(media_format, dict) or any(
            media_format.get(key) != value for key, value in MEDIA_FORMAT.items()
        ):
            raise ValueError(f"unsupported mediaFormat {media_format!r}; need {MEDIA_FORMAT}")
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise ValueError("customParameters must be an object")
        self.stream_sid = sid
        return StreamStart(
            call_id=peer_text(start.get("callSid"), "callSid") or sid,
            caller=peer_text(params.get("caller") or params.get("From"), "caller"),
            called=peer_text(params.get("called") or params.get("To"), "called"),
            extra={
                "format": "twilio",
                "stream_sid": sid,
                "tracks": start.get("tracks", ["inbound"]),
                "custom_parameters": {
                    k: v for k, v in params.items() if k not in ("caller", "From")
                },
            },
        )

    def _media(self, media: dict[str, Any]) -> StreamAudio | None:
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return None  # both_tracks streams also carry our own audio back: not the caller
        payload = media.get("payload")
        if not isinstance(payload, str):
            raise ValueError("media without a base64 payload")
        check_audio_size(len(payload) * 3 // 4)
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"media payload is not base64: {exc}") from None
        return StreamAudio(ulaw_decode(ulaw))

    def audio(self, pcm: bytes) -> Message:
        payload = base64.b64encode(ulaw_encode(pcm)).decode("ascii")
        return json.dumps(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        )

    def clear(self) -> Message:
        return json.dumps({"event": "clear", "streamSid": self.stream_sid})

    def mark(self, name: str) -> Message:
        return json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    section = data.get(name)
    if not isinstance(section, dict):
        raise ValueError(f"{data.get('event')!r} message without its {name!r} object")
    return section
