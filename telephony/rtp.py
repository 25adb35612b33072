"""RTP packets (RFC 3550 section 5.1): parse and serialise, with no I/O.

Modelled on aiortc's ``rtp.py``: one dataclass per packet with ``parse`` and ``__bytes__``;
malformed input raises ``ValueError`` saying what was wrong, and the caller drops and counts it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
"""The version field (V) of every RTP packet (RFC 3550 section 5.1)."""
RTP_HEADER_LENGTH = 12
"""Fixed header: V/P/X/CC, M/PT, sequence number, timestamp, SSRC (RFC 3550 section 5.1)."""
MAX_CSRC_COUNT = 15
"""The CC field is four bits (RFC 3550 section 5.1)."""
MAX_PAYLOAD_TYPE = 127
"""PT is seven bits (RFC 3550 section 5.1)."""
MAX_EXTENSION_LENGTH = 4 * 0xFFFF
"""The extension's length field counts 32-bit words in 16 bits (RFC 3550 section 5.3.1)."""
RTCP_PACKET_TYPES = range(192, 224)
"""Second-byte values that mark RTCP when RTP and RTCP share a port (RFC 5761 section 4)."""

PT_PCMU = 0
"""Static payload type of G.711 mu-law at 8000 Hz (RFC 3551 section 6, table 4)."""
PT_PCMA = 8
"""Static payload type of G.711 A-law at 8000 Hz (RFC 3551 section 6, table 4)."""
PT_CN = 13
"""Static payload type of comfort noise (RFC 3389 section 4)."""

_HEADER = struct.Struct("!BBHII")


@dataclass
class RtpPacket:
    """One RTP data packet (RFC 3550 section 5.1)."""

    payload_type: int = 0
    """PT: identifies the payload format (RFC 3551)."""
    marker: bool = False
    """M: for audio, the first packet of a talkspurt (RFC 3551 section 4.1)."""
    sequence_number: int = 0
    """Increments by one per packet, modulo 2**16."""
    timestamp: int = 0
    """Sampling instant of the first octet of the payload, modulo 2**32."""
    ssrc: int = 0
    """Synchronisation source identifier."""
    csrc: list[int] = field(default_factory=list)
    """Contributing sources (at most 15)."""
    extension_profile: int | None = None
    """Profile-defined 16 bits of the header extension, or None when X is clear (section 5.3.1)."""
    extension: bytes = b""
    """Header extension data, a multiple of four octets."""
    padding_size: int = 0
    """Octets of padding after the payload, including the count octet itself; 0 when P is clear."""
    payload: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raise ValueError if it is not a well-formed RTP packet."""
        if len(data) < RTP_HEADER_LENGTH:
            raise ValueError(f"RTP packet is {len(data)} bytes, shorter than the 12-byte header")
        first, second, sequence_number, timestamp, ssrc = _HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise ValueError(f"RTP packet has version {version}, expected {RTP_VERSION}")
        csrc_count = first & 0x0F
        pos = RTP_HEADER_LENGTH
        end = len(data)
        if end < pos + 4 * csrc_count:
            raise ValueError(f"RTP packet too short for its {csrc_count} CSRC identifiers")
        csrc = list(struct.unpack_from(f"!{csrc_count}I", data, pos)) if csrc_count else []
        pos += 4 * csrc_count
        extension_profile: int | None = None
        extension = b""
        if first & 0x10:
            if end < pos + 4:
                raise ValueError("RTP packet too short for its header extension")
            extension_profile, length = struct.unpack_from("!HH", data, pos)
            pos += 4
            if end < pos + 4 * length:
                raise ValueError(f"RTP header extension of {4 * length} bytes exceeds the packet")
            extension = bytes(data[pos : pos + 4 * length])
            pos += 4 * length
        padding_size = 0
        if first & 0x20:
            padding_size = data[-1]
            if padding_size == 0 or pos + padding_size > end:
                raise ValueError(f"RTP padding count {padding_size} is invalid for this packet")
            end -= padding_size
        return cls(
            payload_type=second & 0x7F,
            marker=bool(second & 0x80),
            sequence_number=sequence_number,
            timestamp=timestamp,
            ssrc=ssrc,
            csrc=csrc,
            extension_profile=extension_profile,
            extension=extension,
            padding_size=padding_size,
            payload=bytes(data[pos:end]),
        )

    def __bytes__(self) -> bytes:
        if not 0 <= self.payload_type <= MAX_PAYLOAD_TYPE:
            raise ValueError(f"RTP payload type {self.payload_type} is outside 0-127")
        if len(self.csrc) > MAX_CSRC_COUNT:
            raise ValueError(f"RTP packet cannot carry {len(self.csrc)} CSRCs (at most 15)")
        if not all(0 <= c <= 0xFFFFFFFF for c in self.csrc):
            raise ValueError("RTP CSRC identifiers are 32-bit unsigned numbers")
        if self.extension_profile is None:
            if self.extension:
                raise ValueError("RTP header extension data needs an extension_profile")
        elif not 0 <= self.extension_profile <= 0xFFFF:
            raise ValueError(f"RTP extension profile {self.extension_profile} is not 16 bits")
        if len(self.extension) % 4 or len(self.extension) > MAX_EXTENSION_LENGTH:
            raise ValueError(
                f"RTP header extension of {len(self.extension)} bytes is not a multiple of four"
                f" bytes up to {MAX_EXTENSION_LENGTH}"
            )
        if not 0 <= self.padding_size <= 255:
            raise ValueError(f"RTP padding of {self.padding_size} bytes does not fit one octet")
        first = RTP_VERSION << 6 | len(self.csrc)
        if self.padding_size:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        parts = [
            _HEADER.pack(
                first,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence_number & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension_profile is not None:
            parts.append(struct.pack("!HH", self.extension_profile, len(self.extension) // 4))
            parts.append(self.extension)
        parts.append(self.payload)
        if self.padding_size:
            parts.append(b"\x00" * (self.padding_size - 1) + bytes([self.padding_size]))
        return b"".join(parts)


def pack_rtp(
    payload_type: int, marker: bool, sequence_number: int, timestamp: int, ssrc: int, payload: bytes
) -> bytes:
    """The bytes of a plain RTP packet (no CSRC, extension or padding): the per-packet fast path.

    Equal to ``bytes(RtpPacket(...))`` for the same fields, without building a dataclass.
    """
    return (
        _HEADER.pack(
            0x80,
            (0x80 if marker else 0) | payload_type,
            sequence_number & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            ssrc,
        )
        + payload
    )


def is_rtcp(data: bytes) -> bool:
    """True if a datagram on an RTP port is RTCP (RFC 5761 section 4 demultiplexing)."""
    return len(data) >= 2 and data[1] in RTCP_PACKET_TYPES


def seq_diff(a: int, b: int) -> int:
    """Signed distance from sequence number ``b`` to ``a`` modulo 2**16 (RFC 3550 appendix A.1)."""
    return (a - b + 0x8000) % 0x10000 - 0x8000
