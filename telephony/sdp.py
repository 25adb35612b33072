"""SDP session descriptions (RFC 4566 subset) and the offer/answer model (RFC 3264) for G.711 calls.

Pure parse/serialise and negotiation, no I/O. ``SessionDescription.parse`` keeps every line it
does not model so that ``parse(bytes(x)) == x``; ``answer_offer`` picks PCMU or PCMA and
telephone-event from an offer and builds our answer; ``make_offer``/``accept_answer`` cover
INVITEs without an offer (RFC 3261 section 13.2.1).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from telephony.rtp import PT_PCMA, PT_PCMU
from telephony.sip.message import is_decimal

SDP_VERSION = "0"
"""The only protocol version (RFC 4566 section 5.1)."""
RTP_AVP = "RTP/AVP"
"""The RTP audio/video profile transport (RFC 4566 section 5.14, RFC 3551)."""
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
"""Media direction attributes (RFC 4566 section 6; RFC 3264 section 5.1)."""
DEFAULT_DIRECTION = "sendrecv"
"""Direction when none is given (RFC 3264 section 5.1)."""
HOLD_ADDRESS = "0.0.0.0"
"""Connection address meaning "hold" in RFC 2543 style offers (RFC 3264 section 8.4)."""
TELEPHONE_EVENT = "telephone-event"
"""Encoding name of RFC 4733 named events."""
DTMF_EVENT_RANGE = "0-15"
"""The fmtp of telephone-event we accept: the 16 DTMF events (RFC 4733 section 7.1.1)."""
STATIC_PAYLOAD_TYPES = {PT_PCMU: ("PCMU", 8000), PT_PCMA: ("PCMA", 8000)}
"""Static payload types we use, valid without an rtpmap (RFC 3551 section 6, table 4)."""
SUPPORTED_CODECS = ("PCMU", "PCMA")
"""G.711 mu-law and A-law: all the bot encodes."""

MAX_PTIME_MS = 1000
"""Longest a=ptime we take (RFC 4566 section 6); G.711 peers use 10-60 ms."""
MAX_SDP_LINES = 512
"""Most lines an SDP body may have; a bigger one is refused unread."""
_PTIME_RE = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,3})?\Z")
_EVENT_RANGES_RE = re.compile(r"[0-9]{1,3}(?:-[0-9]{1,3})?(?:,[0-9]{1,3}(?:-[0-9]{1,3})?)*\Z")
"""The events of a telephone-event fmtp, e.g. 0-15 or 0-11,16 (RFC 4733 section 7.1.1)."""


class SdpError(ValueError):
    """An SDP body that is not a session description, or holds a number we cannot use.

    The only error the parser and the offer/answer functions raise (``NegotiationError`` is
    one): callers refuse the offer with it and never see ``OverflowError`` or the like.
    """


def payload_type(text: str) -> int:
    """An RTP payload type 0-127 written in ASCII digits (RFC 3551 section 3); else SdpError."""
    if not is_decimal(text, 3) or int(text) > 127:
        raise SdpError(f"SDP payload type {text[:20]!r} is not a number 0-127")
    return int(text)


# Line order inside a description (RFC 4566 section 5).
_SESSION_BEFORE_TIME = "iuepcb"
_SESSION_AFTER_TIME = "zk"
_MEDIA_LINES = "icbk"


def _split_fields(value: str, count: int, what: str) -> list[str]:
    parts = value.split()
    if len(parts) != count:
        raise SdpError(f"SDP {what} line {value[:60]!r} needs {count} fields, has {len(parts)}")
    return parts


@dataclass
class Origin:
    """The o= line: originator and session identifier (RFC 4566 section 5.2)."""

    username: str = "-"
    session_id: str = "0"
    session_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    @classmethod
    def parse(cls, value: str) -> Origin:
        username, session_id, version, nettype, addrtype, address = _split_fields(value, 6, "o=")
        if not is_decimal(version, 20):
            raise SdpError(f"SDP o= session version {version[:30]!r} is not a number")
        return cls(username, session_id, int(version), nettype, addrtype, address)

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass
class Connection:
    """A c= line: network address of the media (RFC 4566 section 5.7)."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    @classmethod
    def parse(cls, value: str) -> Connection:
        nettype, addrtype, address = _split_fields(value, 3, "c=")
        return cls(address=address, nettype=nettype, addrtype=addrtype)

    @classmethod
    def for_address(cls, address: str) -> Connection:
        return cls(address=address, addrtype="IP6" if ":" in address else "IP4")

    @property
    def host(self) -> str:
        """The address without a multicast TTL or count suffix."""
        return self.address.split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


Attribute = tuple[str, "str | None"]
"""An a= line: name and value (None for a property attribute such as ``a=sendrecv``)."""


def _parse_attribute(value: str) -> Attribute:
    name, sep, rest = value.partition(":")
    if not name:
        raise SdpError(f"SDP attribute {value[:60]!r} has no name")
    return (name, rest if sep else None)


def _format_attribute(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


@dataclass
class MediaDescription:
    """One m= section (RFC 4566 section 5.14) with its c=, b=, a= and other lines."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    """The ``/<number of ports>`` suffix of the m= port, when present."""
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)
    """i=, b= and k= lines, in order, as (type, value)."""

    @classmethod
    def parse_m_line(cls, value: str) -> MediaDescription:
        parts = value.split()
        if len(parts) < 4:
            raise SdpError(f"SDP m= line {value[:60]!r} needs media, port, proto and formats")
        kind, port_text, proto, *formats = parts
        port_part, slash, count_part = port_text.partition("/")
        if not is_decimal(port_part, 5) or (slash and not is_decimal(count_part, 5)):
            raise SdpError(f"SDP m= port {port_text[:30]!r} is not a number")
        port = int(port_part)
        if port > 65535:
            raise SdpError(f"SDP m= port {port} is out of range")
        return cls(kind, port, proto, formats, int(count_part) if slash else None)

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={self.kind} {port} {self.proto} {' '.join(self.formats)}"]
        out.extend(f"{t}={v}" for t, v in self.other if t == "i")
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"{t}={v}" for t, v in self.other if t in "bk")
        out.extend(_format_attribute(a) for a in self.attributes)
        return out

    def attribute(self, name: str) -> str | None:
        """Value of the first attribute called ``name`` ('' for a property attribute)."""
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [v or "" for k, v in self.attributes if k == name]

    @property
    def direction(self) -> str:
        """sendrecv, sendonly, recvonly or inactive as declared here (sendrecv by default)."""
        for key, value in self.attributes:
            if value is None and key in DIRECTIONS:
                return key
        return DEFAULT_DIRECTION

    def rtpmap(self) -> dict[int, tuple[str, int, int]]:
        """Payload type -> (encoding name, clock rate, channels) from a=rtpmap (section 6).

        An rtpmap without a clock rate is skipped; one whose numbers are not ASCII decimals
        of sane size raises SdpError.
        """
        result: dict[int, tuple[str, int, int]] = {}
        for value in self.attribute_values("rtpmap"):
            pt_text, _, encoding = value.partition(" ")
            name, _, rest = encoding.strip().partition("/")
            clock_text, _, channels_text = rest.partition("/")
            pt = payload_type(pt_text)
            if (clock_text and not is_decimal(clock_text, 6)) or (
                channels_text and not is_decimal(channels_text, 2)
            ):
                raise SdpError(f"SDP a=rtpmap:{value[:40]!r} has a malformed rate or channels")
            if clock_text:
                result[pt] = (name, int(clock_text), int(channels_text) if channels_text else 1)
        return result

    def fmtp(self, pt: int) -> str | None:
        """The format parameters of payload type ``pt``; SdpError if an fmtp is malformed."""
        found: str | None = None
        for value in self.attribute_values("fmtp"):
            pt_text, _, params = value.partition(" ")
            if payload_type(pt_text) == pt and found is None:
                found = params.strip()
        return found

    @property
    def ptime(self) -> int | None:
        """a=ptime in whole milliseconds (1 to MAX_PTIME_MS); SdpError if malformed."""
        value = self.attribute("ptime")
        if value is None:
            return None
        if not _PTIME_RE.match(value) or not 1 <= float(value) <= MAX_PTIME_MS:
            raise SdpError(f"SDP a=ptime:{value[:30]!r} is not 1-{MAX_PTIME_MS} ms")
        return int(float(value))


@dataclass
class SessionDescription:
    """A whole SDP body (RFC 4566 section 5): session-level lines and the media sections."""

    origin: Origin = field(default_factory=Origin)
    name: str = "-"
    connection: Connection | None = None
    timing: list[tuple[str, str]] = field(default_factory=lambda: [("t", "0 0")])
    """t= and r= lines, in order."""
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)
    """Other session-level lines (i, u, e, p, b, z, k), in order, as (type, value)."""

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body; raise SdpError if it is not a valid session description."""
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError as exc:
            raise SdpError(f"SDP is not UTF-8 text ({exc.reason})") from None
        lines = [line.rstrip("\r") for line in text.split("\n", MAX_SDP_LINES)]
        if len(lines) > MAX_SDP_LINES:
            raise SdpError(f"SDP has more than {MAX_SDP_LINES} lines")
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines or lines[0].strip() != f"v={SDP_VERSION}":
            raise SdpError("SDP does not start with v=0")
        session = cls(timing=[])
        origin: Origin | None = None
        current: MediaDescription | None = None
        for number, line in enumerate(lines[1:], start=2):
            if len(line) < 2 or line[1] != "=" or not "a" <= line[0] <= "z":
                raise SdpError(f"SDP line {number} is not <type>=<value>: {line[:60]!r}")
            kind, value = line[0], line[2:]
            if kind == "m":
                current = MediaDescription.parse_m_line(value)
                session.media.append(current)
            elif current is not None:
                if kind == "c":
                    current.connection = Connection.parse(value)
                elif kind == "a":
                    current.attributes.append(_parse_attribute(value))
                elif kind in _MEDIA_LINES:
                    current.other.append((kind, value))
                else:
                    raise SdpError(f"SDP line {number}: {kind}= is not allowed in a media section")
            elif kind == "o":
                origin = Origin.parse(value)
            elif kind == "s":
                session.name = value
            elif kind == "c":
                session.connection = Connection.parse(value)
            elif kind in "tr":
                session.timing.append((kind, value))
            elif kind == "a":
                session.attributes.append(_parse_attribute(value))
            elif kind in _SESSION_BEFORE_TIME + _SESSION_AFTER_TIME:
                session.other.append((kind, value))
            else:
                raise SdpError(f"SDP line {number}: unknown line type {kind}=")
        if origin is None:
            raise SdpError("SDP has no o= line")
        session.origin = origin
        if not session.timing:
            session.timing = [("t", "0 0")]
        return session

    def __str__(self) -> str:
        out = [f"v={SDP_VERSION}", f"o={self.origin}", f"s={self.name}"]
        out.extend(f"{t}={v}" for t, v in self.other if t in "iuep")
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"{t}={v}" for t, v in self.other if t == "b")
        out.extend(f"{t}={v}" for t, v in self.timing)
        out.extend(f"{t}={v}" for t, v in self.other if t in _SESSION_AFTER_TIME)
        out.extend(_format_attribute(a) for a in self.attributes)
        for media in self.media:
            out.extend(media.lines())
        return "\r\n".join(out) + "\r\n"

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """The connection for a media section: its own c= or the session-level one (5.7)."""
        return media.connection or self.connection

    def media_direction(self, media: MediaDescription) -> str:
        """Direction of a media section, falling back to a session-level direction attribute."""
        for key, value in media.attributes:
            if value is None and key in DIRECTIONS:
                return key
        for key, value in self.attributes:
            if value is None and key in DIRECTIONS:
                return key
        return DEFAULT_DIRECTION


# ---------------------------------------------------------------------------------------------
# Offer/answer (RFC 3264)


class NegotiationError(SdpError):
    """The offer or answer cannot be used; ``status`` is the SIP response to send."""

    def __init__(self, message: str, status: int = 488) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MediaParameters:
    """What offer/answer settled for the call's audio stream."""

    remote_address: str
    """Where the peer wants RTP (the c= address); HOLD_ADDRESS when it asked not to receive."""
    remote_port: int
    codec: str
    """PCMU or PCMA."""
    payload_type: int
    telephone_event: int | None
    """Payload type of telephone-event/8000, or None if the peer does not do RFC 4733."""
    direction: str
    """Our direction: sendrecv; sendonly (we only send); recvonly (the peer put us on hold, we
    only listen); inactive."""
    remote_ptime: int | None = None

    @property
    def sending(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and self.remote_address != HOLD_ADDRESS

    @property
    def receiving(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
"""Answer direction for each offered direction (RFC 3264 section 6.1)."""


def _intersect_direction(remote: str, local: str) -> str:
    """Combine the direction the peer allows us with what we want (RFC 3264 section 6.1)."""
    allowed = _ANSWER_DIRECTION[remote]
    send = allowed in ("sendrecv", "sendonly") and local in ("sendrecv", "sendonly")
    recv = allowed in ("sendrecv", "recvonly") and local in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly"}.get(
        (send, recv), "inactive"
    )


@contextlib.contextmanager
def _unusable(what: str) -> Iterator[None]:
    """Turn an SdpError met while negotiating into NegotiationError (488 Not Acceptable)."""
    try:
        yield
    except NegotiationError:
        raise
    except SdpError as exc:
        raise NegotiationError(f"unusable SDP {what}: {exc}") from None


def _codec_of(media: MediaDescription, fmt: str, rtpmap: dict[int, tuple[str, int, int]]) -> str:
    pt = payload_type(fmt)
    if pt in rtpmap:
        name, clock, channels = rtpmap[pt]
        return name.upper() if clock == 8000 and channels == 1 else ""
    return STATIC_PAYLOAD_TYPES.get(pt, ("", 0))[0]


def _telephone_event_pt(media: MediaDescription) -> int | None:
    """The payload type of telephone-event/8000 among the formats the m= line lists."""
    rtpmap = media.rtpmap()
    for fmt in media.formats:
        pt = payload_type(fmt)
        if pt in rtpmap:
            name, clock, _ = rtpmap[pt]
            if name.lower() == TELEPHONE_EVENT and clock == 8000:
                events = media.fmtp(pt)
                if events and not _EVENT_RANGES_RE.match(events.replace(" ", "")):
                    raise SdpError(f"SDP telephone-event fmtp {events[:30]!r} is malformed")
                return pt
    return None


def _audio_media(
    address: str, port: int, payload_type: int, codec: str, te_pt: int | None, direction: str
) -> MediaDescription:
    formats = [str(payload_type)]
    attributes: list[Attribute] = [("rtpmap", f"{payload_type} {codec}/8000")]
    if te_pt is not None:
        formats.append(str(te_pt))
        attributes.append(("rtpmap", f"{te_pt} {TELEPHONE_EVENT}/8000"))
        attributes.append(("fmtp", f"{te_pt} {DTMF_EVENT_RANGE}"))
    attributes.append(("ptime", "20"))
    attributes.append((direction, None))
    return MediaDescription("audio", port, RTP_AVP, formats, attributes=attributes)


def _session(address: str, session_id: str, session_version: int) -> SessionDescription:
    connection = Connection.for_address(address)
    origin = Origin("-", session_id, session_version, "IN", connection.addrtype, address)
    return SessionDescription(origin=origin, name="-", connection=connection)


def answer_offer(
    offer: SessionDescription,
    *,
    address: str,
    port: int,
    session_id: str,
    session_version: int,
    codecs: Sequence[str] = SUPPORTED_CODECS,
    local_direction: str = "sendrecv",
) -> tuple[SessionDescription, MediaParameters]:
    """Build our answer to an SDP offer and the parameters of the accepted audio stream.

    The first audio stream over RTP/AVP that offers a codec in ``codecs`` is accepted, with the
    first such codec in the offer's order (the offerer's preference, RFC 3264 section 6.1);
    every other stream is refused with port 0, keeping the m-line count and order (section 6).
    Raises ``NegotiationError`` (488) when no stream can be accepted.
    """
    wanted = {c.upper() for c in codecs}
    answer = _session(address, session_id, session_version)
    chosen: MediaParameters | None = None
    with _unusable("offer"):
        for media in offer.media:
            if chosen is None and media.kind == "audio" and media.proto == RTP_AVP and media.port:
                rtpmap = media.rtpmap()
                codec_fmt = next(
                    (f for f in media.formats if _codec_of(media, f, rtpmap) in wanted), ""
                )
                connection = offer.media_connection(media)
                if codec_fmt and connection is not None:
                    te_pt = _telephone_event_pt(media)
                    remote_direction = offer.media_direction(media)
                    if connection.host in (HOLD_ADDRESS, "::") and remote_direction == "sendrecv":
                        remote_direction = "sendonly"  # RFC 2543 hold (RFC 3264 section 8.4)
                    direction = _intersect_direction(remote_direction, local_direction)
                    codec = _codec_of(media, codec_fmt, rtpmap)
                    chosen = MediaParameters(
                        remote_address=connection.host,
                        remote_port=media.port,
                        codec=codec,
                        payload_type=int(codec_fmt),
                        telephone_event=te_pt,
                        direction=direction,
                        remote_ptime=media.ptime,
                    )
                    answer.media.append(
                        _audio_media(address, port, int(codec_fmt), codec, te_pt, direction)
                    )
                    continue
            answer.media.append(MediaDescription(media.kind, 0, media.proto, list(media.formats)))
    if chosen is None:
        offered = ", ".join(f"{m.kind} {m.proto} {' '.join(m.formats)}" for m in offer.media)
        raise NegotiationError(
            f"no audio stream offers {' or '.join(codecs)} over RTP/AVP (offered: {offered})"
        )
    return answer, chosen


def make_offer(
    *,
    address: str,
    port: int,
    session_id: str,
    session_version: int,
    codecs: Sequence[str] = SUPPORTED_CODECS,
    telephone_event: int = 101,
    direction: str = "sendrecv",
) -> SessionDescription:
    """Our offer (for an INVITE that came without one): G.711 codecs and telephone-event."""
    offer = _session(address, session_id, session_version)
    pts = {"PCMU": PT_PCMU, "PCMA": PT_PCMA}
    formats = [str(pts[c.upper()]) for c in codecs]
    attributes: list[Attribute] = [("rtpmap", f"{pts[c.upper()]} {c.upper()}/8000") for c in codecs]
    formats.append(str(telephone_event))
    attributes.append(("rtpmap", f"{telephone_event} {TELEPHONE_EVENT}/8000"))
    attributes.append(("fmtp", f"{telephone_event} {DTMF_EVENT_RANGE}"))
    attributes.append(("ptime", "20"))
    attributes.append((direction, None))
    offer.media.append(MediaDescription("audio", port, RTP_AVP, formats, attributes=attributes))
    return offer


def accept_answer(
    answer: SessionDescription, codecs: Sequence[str] = SUPPORTED_CODECS
) -> MediaParameters:
    """The audio parameters from the peer's answer to our offer (RFC 3264 section 7)."""
    wanted = {c.upper() for c in codecs}
    with _unusable("answer"):
        for media in answer.media:
            if media.kind != "audio" or not media.port:
                continue
            rtpmap = media.rtpmap()
            codec_fmt = next(
                (f for f in media.formats if _codec_of(media, f, rtpmap) in wanted), ""
            )
            connection = answer.media_connection(media)
            if not codec_fmt or connection is None:
                continue
            remote_direction = answer.media_direction(media)
            if connection.host in (HOLD_ADDRESS, "::") and remote_direction == "sendrecv":
                remote_direction = "sendonly"
            return MediaParameters(
                remote_address=connection.host,
                remote_port=media.port,
                codec=_codec_of(media, codec_fmt, rtpmap),
                payload_type=int(codec_fmt),
                telephone_event=_telephone_event_pt(media),
                direction=_ANSWER_DIRECTION[remote_direction],
                remote_ptime=media.ptime,
            )
    raise NegotiationError("the SDP answer accepts none of our audio codecs")
