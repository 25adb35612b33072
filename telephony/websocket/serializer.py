"""What a WebSocket wire format must provide: parse inbound messages, build outbound ones.

A serializer is made per connection (formats like Twilio's carry a stream id after ``start``).
``parse`` turns one WebSocket message into one ``StreamEvent`` (or None for messages that only
inform, like Twilio's ``connected``) and raises ValueError, with a sentence, for anything
malformed or unknown; the transport then closes the connection and fails the call.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telephony.bridge import DtmfIn
from telephony.dtmf import DTMF_EVENTS

MAX_AUDIO_BYTES = 16000
"""Largest decoded audio in one message (one second at 8 kHz); more is refused as oversized."""

MAX_JSON_DEPTH = 16
"""Deepest nesting of arrays and objects a control message may have (real ones use 3)."""
_JSON_STRING = re.compile(r'"(?:[^"\\]+|\\.)*"?', re.DOTALL)
"""A JSON string, or the rest of the text if it is unterminated: never fails, so never
backtracks; the scan below stays linear in the message."""
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")

Message = str | bytes
"""A WebSocket message: text or binary."""


@dataclass(frozen=True)
class StreamStart:
    """The stream (call) begins: identifiers and whatever the peer tells about the call."""

    call_id: str
    caller: str = ""
    called: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamAudio:
    """Caller audio, decoded to 16-bit PCM at 8 kHz (any length)."""

    pcm: bytes


@dataclass(frozen=True)
class StreamMark:
    """The peer played our audio up to the mark of this name."""

    name: str


@dataclass(frozen=True)
class StreamFlow:
    """Peer flow control: ``paused`` while its queue is full (Asterisk MEDIA_XOFF)."""

    paused: bool


@dataclass(frozen=True)
class StreamStop:
    """The caller side ended the stream."""

    reason: str


StreamEvent = StreamStart | StreamAudio | DtmfIn | StreamMark | StreamFlow | StreamStop
"""Keypad digits arrive as the bridge's own ``DtmfIn``."""


class Serializer(abc.ABC):
    """One wire format of the media-stream WebSocket, for one connection."""

    send_filler = True
    """Send silence while the bot is quiet (false when the peer generates it)."""
    uses_marks = False
    """``mark`` messages come back when playback reaches them (used for ``wait_played``)."""

    @abc.abstractmethod
    def parse(self, message: Message) -> StreamEvent | None:
        """One inbound message as an event (None: nothing to act on); ValueError if malformed."""

    @abc.abstractmethod
    def audio(self, pcm: bytes) -> Message:
        """An outbound message carrying one frame of bot audio (16-bit PCM at 8 kHz)."""

    def clear(self) -> Message | None:
        """The message that makes the peer drop buffered bot audio (barge-in)."""
        return None

    def mark(self, name: str) -> Message | None:
        """A playback marker the peer echoes when it has played everything before it."""
        return None

    def hangup(self, reason: str) -> Message | None:
        """The message that asks the peer to end the call (before we close)."""
        return None


def json_object(text: str) -> dict[str, Any]:
    """A control message that must be one JSON object; ValueError saying what it is not."""
    check_json_depth(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("a control message must be a JSON object")
    return data


def check_json_depth(text: str) -> None:
    """ValueError if ``text`` nests arrays or objects deeper than ``MAX_JSON_DEPTH``.

    ``json.loads`` recurses once per level, so 100,000 ``[`` raise RecursionError instead of
    a parse error. The check runs before it and stays linear: with the strings taken out, the
    running count of opening minus closing brackets is the depth the parser would reach
    (an unmatched closer stops the parser, so the count can only overstate it).
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    if steps.size and int(np.cumsum(steps).max()) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


MAX_PEER_TEXT = 128
"""Longest id or caller number a peer may give: they are kept in records and logs."""


def peer_text(value: Any, name: str) -> str:
    """A short printable string the peer gave (a call id, a caller number); "" for none.

    Anything else (an object, a kilobyte of text, control characters) is refused with
    ValueError, so no peer can put an object or an unbounded line into a record or a log.
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{name} must be text, not {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_PEER_TEXT or not text.isprintable():
        raise ValueError(f"{name} must be printable text of at most {MAX_PEER_TEXT} characters")
    return text


def check_digit(digit: Any) -> str:
    if not isinstance(digit, str) or len(digit) != 1 or digit.upper() not in DTMF_EVENTS:
        raise ValueError(f"DTMF digit {digit!r} is not one keypad key")
    return digit.upper()


def check_audio_size(size: int) -> None:
    if size > MAX_AUDIO_BYTES:
        raise ValueError(f"audio message of {size} bytes exceeds {MAX_AUDIO_BYTES} (one second)")
