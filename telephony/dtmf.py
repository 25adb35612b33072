"""DTMF digits as RTP telephone-events (RFC 4733) and SIP INFO bodies, with no I/O.

``TelephoneEvent`` is the 4-byte payload; ``DtmfReceiver`` turns a stream of event packets (with
their retransmitted end packets) into one report per key press; ``dtmf_packets`` gives the packet
sequence a sender emits for one digit (RFC 4733 section 2.5.1).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

DTMF_EVENTS = "0123456789*#ABCD"
"""Event codes 0-15 are the DTMF keys in this order (RFC 4733 section 3.2, table 3)."""
TELEPHONE_EVENT_LENGTH = 4
"""Event (8 bits), E/R/volume (8 bits), duration (16 bits) (RFC 4733 section 2.3)."""
MAX_VOLUME = 63
"""Volume is six bits: power level in dBm0 below 0, i.e. 0 to -63 dBm0 (RFC 4733 section 2.3.4)."""
MAX_DURATION = 0xFFFF
"""Duration is 16 bits in timestamp units (RFC 4733 section 2.3.5)."""
END_PACKET_REPEATS = 3
"""The final packet of an event is sent three times (RFC 4733 section 2.5.1.4)."""
DEFAULT_VOLUME = 10
"""-10 dBm0, a typical keypad level."""

MAX_SHOWN = 8
"""Characters of a bad digit quoted in an error: it may reach a 400 reason phrase and the log."""

_EVENT = struct.Struct("!BBH")


@dataclass(frozen=True)
class TelephoneEvent:
    """The payload of one telephone-event RTP packet (RFC 4733 section 2.3)."""

    event: int
    """Event code; 0-15 are DTMF (section 3.2)."""
    end: bool = False
    """E bit: this packet reports the end of the event (section 2.3.3)."""
    volume: int = DEFAULT_VOLUME
    """Power level in -dBm0, 0-63 (section 2.3.4)."""
    duration: int = 0
    """Duration so far in timestamp units, counted from the event's RTP timestamp (2.3.5)."""

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        """Parse a telephone-event payload; raise ValueError if it is too short."""
        if len(data) < TELEPHONE_EVENT_LENGTH:
            raise ValueError(f"telephone-event payload is {len(data)} bytes, expected 4")
        event, flags, duration = _EVENT.unpack_from(data)
        # The R bit (0x40) is reserved: senders clear it, receivers ignore it (section 2.3.2).
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    def __bytes__(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise ValueError(f"telephone-event code {self.event} does not fit eight bits")
        if not 0 <= self.volume <= MAX_VOLUME:
            raise ValueError(f"telephone-event volume {self.volume} is outside 0-63")
        if not 0 <= self.duration <= MAX_DURATION:
            raise ValueError(f"telephone-event duration {self.duration} does not fit 16 bits")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @property
    def digit(self) -> str | None:
        """The DTMF key for this event, or None for a non-DTMF event."""
        return DTMF_EVENTS[self.event] if self.event < len(DTMF_EVENTS) else None


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a keypad digit (0-9, *, #, A-D; case-insensitive)."""
    code = DTMF_EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        shown = repr(digit[:MAX_SHOWN]) + ("..." if len(digit) > MAX_SHOWN else "")
        raise ValueError(f"{shown} is not a DTMF digit (0-9, *, #, A-D)")
    return code


class DtmfReceiver:
    """Reports each DTMF key press once from a stream of telephone-event packets.

    An event is identified by its RTP timestamp (RFC 4733 section 2.5.2.1): every update and the
    three retransmitted end packets of one press share it, so only a new timestamp is a new press.
    Segments of a long event (section 2.5.1.3) continue the previous press and are not reported.
    The digit is reported on the first packet seen, so a lost start packet delays nothing.
    """

    def __init__(self, history: int = 8) -> None:
        self._recent: deque[int] = deque(maxlen=history)
        self._event = -1
        self._timestamp = -1
        self._duration = 0
        self._ended = True

    def feed(self, timestamp: int, payload: bytes) -> str | None:
        """Take one telephone-event packet; return its digit if it starts a new press.

        Raises ValueError for a malformed payload.
        """
        event = TelephoneEvent.parse(payload)
        if timestamp == self._timestamp:
            self._duration = max(self._duration, event.duration)
            self._ended = self._ended or event.end
            return None
        if timestamp in self._recent:
            return None  # a late retransmission of an earlier press
        continuation = (
            not self._ended
            and event.event == self._event
            and timestamp == (self._timestamp + self._duration) & 0xFFFFFFFF
        )
        self._recent.append(timestamp)
        self._event = event.event
        self._timestamp = timestamp
        self._duration = event.duration
        self._ended = event.end
        if continuation:
            return None
        return event.digit


def dtmf_packets(
    digit: str,
    *,
    duration_ms: int = 100,
    packet_ms: int = 20,
    rate: int = 8000,
    volume: int = DEFAULT_VOLUME,
) -> list[tuple[bool, TelephoneEvent]]:
    """The (marker, payload) sequence a sender emits for one key press, one per ``packet_ms``.

    All packets carry the same RTP timestamp (the event start): the first has the marker bit
    (RFC 4733 section 2.5.1.2), updates grow the duration (2.5.1.3), and the final packet with
    the E bit is sent three times (2.5.1.4).
    """
    code = event_code(digit)
    step = rate * packet_ms // 1000
    count = max(1, duration_ms // packet_ms)
    total = min(count * step, MAX_DURATION)
    packets = [
        (k == 1, TelephoneEvent(code, end=False, volume=volume, duration=k * step))
        for k in range(1, count)
    ]
    final = TelephoneEvent(code, end=True, volume=volume, duration=total)
    first_is_end = not packets
    for k in range(END_PACKET_REPEATS):
        packets.append((first_is_end and k == 0, final))
    return packets


def parse_dtmf_relay(body: bytes, content_type: str) -> str | None:
    """The digit in a SIP INFO body of type application/dtmf-relay or application/dtmf.

    application/dtmf-relay carries ``Signal=5`` and ``Duration=160`` lines (the de-facto format
    of Cisco and most PBXs); application/dtmf carries the digit alone. Returns None for other
    content types; raises ValueError if the body names no DTMF digit.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("ascii", errors="replace").strip()
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip().lower() == "signal":
                signal = value.strip()
                if signal in ("10", "11"):  # some PBXs send the event code for * and #
                    signal = DTMF_EVENTS[int(signal)]
                event_code(signal)
                return signal.upper()
        raise ValueError("dtmf-relay body has no Signal= line")
    if kind == "application/dtmf":
        if text.isdigit() and len(text) <= 2 and int(text) < len(DTMF_EVENTS):
            return DTMF_EVENTS[int(text)]
        event_code(text)
        return text.upper()
    return None
