"""Asterisk ``chan_websocket``: binary media frames and text control messages.

Asterisk sends ``MEDIA_START`` first (``connection_id``, ``channel``, ``format``,
``optimal_frame_size``, ...), then binary frames in the channel's codec (ulaw, alaw or slin),
``DTMF_END digit:N`` for keys, and ``MEDIA_XOFF``/``MEDIA_XON`` when its outbound queue is full
or has room again. We send binary frames and the commands ``FLUSH_MEDIA`` (drop queued audio:
barge-in) and ``HANGUP``. Control messages come in Asterisk's legacy plain-text form
(``NAME key:value ...``) or its JSON form (``{"event": NAME, ...}``); commands are answered in
the form the peer used. Asterisk generates silence itself, so only bot audio is sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from speech.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from telephony.bridge import DtmfIn
from telephony.websocket.serializer import (
    Message,
    Serializer,
    StreamAudio,
    StreamEvent,
    StreamFlow,
    StreamStart,
    StreamStop,
    check_audio_size,
    check_digit,
    json_object,
    peer_text,
)

_CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes], int]] = {
    "ulaw": (ulaw_decode, ulaw_encode, 1),
    "alaw": (alaw_decode, alaw_encode, 1),
    "slin": (bytes, bytes, 2),
}
"""Codec name in MEDIA_START -> (decode to PCM, encode from PCM, bytes per sample)."""
_INFORMATIONAL = {"DTMF_BEGIN", "STATUS", "QUEUE_DRAINED", "MEDIA_BUFFERING_COMPLETED"}
"""Events that need no action from the bot."""


class AsteriskSerializer(Serializer):
    """Asterisk's WebSocket channel driver (``Dial(WebSocket/...)`` or ARI external media)."""

    send_filler = False

    def __init__(self) -> None:
        self.codec = ""
        self.json_control = False

    def parse(self, message: Message) -> StreamEvent | None:
        if isinstance(message, bytes):
            if not self.codec:
                raise ValueError("media before MEDIA_START")
            decode, _, width = _CODECS[self.codec]
            check_audio_size(len(message) * 2 // width)
            if len(message) % width:
                raise ValueError(f"{self.codec} media of {len(message)} bytes is not whole samples")
            return StreamAudio(decode(message))
        name, params = self._control(message)
        if name == "MEDIA_START":
            return self._start(params)
        if not self.codec:
            raise ValueError(f"{name} before MEDIA_START")
        if name == "DTMF_END":
            return DtmfIn(check_digit(params.get("digit")))
        if name == "MEDIA_XOFF":
            return StreamFlow(paused=True)
        if name == "MEDIA_XON":
            return StreamFlow(paused=False)
        if name == "HANGUP":
            return StreamStop("caller hung up (HANGUP)")
        if name in _INFORMATIONAL:
            return None
        raise ValueError(f"unknown chan_websocket event {name!r}")

    def _control(self, text: str) -> tuple[str, dict[str, Any]]:
        if text.lstrip().startswith("{"):
            data = json_object(text)
            if not isinstance(data.get("event"), str):
                raise ValueError("a JSON control message must have an 'event'")
            self.json_control = True
            return data["event"], data
        words = text.split()
        if not words:
            raise ValueError("an empty control message")
        name, *pairs = words
        params: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition(":")
            if not sep:
                raise ValueError(f"control parameter {pair!r} is not key:value")
            params[key] = value
        return name, params

    def _start(self, params: dict[str, Any]) -> StreamStart:
        if self.codec:
            raise ValueError("a second MEDIA_START on one connection")
        codec = str(params.get("format", "ulaw")).lower()
        if codec not in _CODECS:
            raise ValueError(f"unsupported format {codec!r}; use one of {', '.join(_CODECS)}")
        self.codec = codec
        connection = peer_text(params.get("connection_id"), "connection_id")
        channel = peer_text(params.get("channel"), "channel")
        call_id = peer_text(params.get("channel_id"), "channel_id") or connection or channel
        if not call_id:
            raise ValueError("MEDIA_START without connection_id or channel")
        variables = params.get("channel_variables") or {}
        return StreamStart(
            call_id=call_id,
            caller=peer_text(variables.get("CALLERID(num)"), "CALLERID(num)")
            if isinstance(variables, dict)
            else "",
            extra={
                "format": "asterisk",
                "codec": codec,
                "connection_id": connection,
                "channel": channel,
            },
        )

    def audio(self, pcm: bytes) -> Message:
        return _CODECS[self.codec][1](pcm)

    def clear(self) -> Message:
        return self._command("FLUSH_MEDIA")

    def hangup(self, reason: str) -> Message:
        return self._command("HANGUP")

    def _command(self, name: str) -> str:
        return json.dumps({"command": name}) if self.json_control else name
