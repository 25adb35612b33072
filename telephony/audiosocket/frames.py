"""Asterisk AudioSocket frames: type-length-value messages over TCP, parsed and built.

Each frame is a 1-byte kind, a 2-byte big-endian payload length and the payload. Kinds (from
Asterisk's ``res_audiosocket``): 0x00 hang-up, 0x01 the call's 16-byte UUID (always first), 0x03
one DTMF digit (ASCII), 0x10 audio (8 kHz signed 16-bit little-endian mono, 320 bytes per
20 ms), 0xff error (an optional 1-byte code). Both directions use the same frames.
"""

from __future__ import annotations

import enum
import struct
import uuid
from dataclasses import dataclass

from telephony.dtmf import DTMF_EVENTS

HEADER = struct.Struct(">BH")
HEADER_SIZE = HEADER.size
MAX_FRAME_PAYLOAD = 0xFFFF
"""The length field is 16 bits."""
MAX_AUDIO_PAYLOAD = 16000
"""Largest audio payload accepted (one second); Asterisk sends 320 bytes."""


class Kind(enum.IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


def parse_header(data: bytes) -> tuple[Kind, int]:
    """The kind and payload length of a frame header; ValueError for an unknown kind or size."""
    if len(data) != HEADER_SIZE:
        raise ValueError(f"an AudioSocket header is {HEADER_SIZE} bytes, got {len(data)}")
    raw_kind, length = HEADER.unpack(data)
    try:
        kind = Kind(raw_kind)
    except ValueError:
        raise ValueError(f"unknown AudioSocket frame kind 0x{raw_kind:02x}") from None
    limit = MAX_AUDIO_PAYLOAD if kind is Kind.AUDIO else 16
    if length > limit:
        raise ValueError(f"AudioSocket {kind.name} frame of {length} bytes exceeds {limit}")
    return kind, length


@dataclass(frozen=True)
class Frame:
    """One AudioSocket message."""

    kind: Kind
    payload: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> Frame:
        """Exactly one frame, header included; ValueError if malformed."""
        kind, length = parse_header(data[:HEADER_SIZE])
        payload = data[HEADER_SIZE:]
        if len(payload) != length:
            raise ValueError(f"AudioSocket header says {length} payload bytes, got {len(payload)}")
        return cls.checked(kind, payload)

    @classmethod
    def checked(cls, kind: Kind, payload: bytes) -> Frame:
        """A frame from a parsed header and its payload, checked against its kind's rules."""
        if kind is Kind.UUID and len(payload) != 16:
            raise ValueError(f"an AudioSocket UUID is 16 bytes, got {len(payload)}")
        if kind is Kind.DTMF and (len(payload) != 1 or chr(payload[0]) not in DTMF_EVENTS):
            raise ValueError(f"AudioSocket DTMF payload {payload!r} is not one keypad digit")
        if kind is Kind.AUDIO and len(payload) % 2:
            raise ValueError(f"AudioSocket audio of {len(payload)} bytes is not whole samples")
        return cls(kind, payload)

    def __bytes__(self) -> bytes:
        if len(self.payload) > MAX_FRAME_PAYLOAD:
            raise ValueError(f"AudioSocket payload of {len(self.payload)} bytes exceeds 65535")
        return HEADER.pack(self.kind, len(self.payload)) + self.payload

    @classmethod
    def audio(cls, pcm: bytes) -> Frame:
        return cls(Kind.AUDIO, pcm)

    @classmethod
    def call_uuid(cls, value: uuid.UUID) -> Frame:
        return cls(Kind.UUID, value.bytes)

    @classmethod
    def dtmf(cls, digit: str) -> Frame:
        return cls(Kind.DTMF, digit.encode("ascii"))

    @classmethod
    def hangup(cls) -> Frame:
        return cls(Kind.HANGUP)

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)

    @property
    def digit(self) -> str:
        return chr(self.payload[0])

    @property
    def error_code(self) -> int:
        return self.payload[0] if self.payload else 0
