"""Hostile inputs for the live fuzz: valid messages of every way in, then broken on purpose.

Each ``*_input`` function returns one input for one way in (SIP, RTP, WebSocket media streams,
AudioSocket) and the name of its mutation, drawn from the caller's :class:`random.Random`. Most
inputs start from a message the bot would accept (an INVITE with its SDP offer, a Twilio
``media`` event, an AudioSocket audio frame) and are then mutated the ways a hostile or broken
peer would: bit flips, truncation, duplicated or huge headers, out-of-range numbers, SDP values
such as ``a=ptime:inf`` or non-ASCII digits, deeply nested JSON, bad base64, random bytes.
Starting from valid messages gets the mutations past the first checks and into the parsers.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import struct
from collections.abc import Callable

from telephony.rtp import pack_rtp

MAX_DATAGRAM = 65507
"""The largest UDP payload over IPv4."""
SIP_METHODS = ("INVITE", "OPTIONS", "BYE", "REGISTER", "CANCEL", "ACK", "INFO", "REFER")
BAD_NUMBERS = (
    "inf",
    "-inf",
    "nan",
    "1e400",
    "-1",
    "0",
    "99999999999999999999",
    "18446744073709551616",
    "0x14",
    "2_0",
    " 20",
    "٢٠",  # Arabic-Indic digits: str.isdigit() is true, int() accepts them
    "２０",  # fullwidth digits
    "²",  # superscript two: isdigit() true, int() refuses
    "",
    "20" * 2000,
)
"""Numbers a careless parser turns into infinities, huge integers or exceptions."""
SDP_LINES = (
    "a=ptime:{n}",
    "a=maxptime:{n}",
    "a=rtpmap:{n} PCMU/8000",
    "a=rtpmap:0 PCMU/{n}",
    "a=rtpmap:101 telephone-event/{n}",
    "a=fmtp:101 0-{n}",
    "a=fmtp:{n} 0-15",
    "m=audio {n} RTP/AVP 0 101",
    "m=audio 4000 RTP/AVP {n}",
    "m=audio 4000/{n} RTP/AVP 0",
    "c=IN IP4 {n}",
    "c=IN IP6 {n}",
    "o=- {n} {n} IN IP4 127.0.0.2",
    "b=AS:{n}",
    "t={n} {n}",
)
"""SDP lines with a number slot for :data:`BAD_NUMBERS`."""


def _branch() -> str:
    return "z9hG4bK" + secrets.token_hex(6)


def sdp_offer(host: str, rtp_port: int, extra: tuple[str, ...] = ()) -> str:
    """A plain PCMU + telephone-event offer, optionally with ``extra`` lines at the media level."""
    lines = [
        "v=0",
        f"o=fuzz {random.getrandbits(31)} 1 IN IP4 {host}",
        "s=fuzz",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
        *extra,
    ]
    return "\r\n".join(lines) + "\r\n"


def sip_request(
    method: str, bot: tuple[str, int], source: tuple[str, int], transport: str, body: str = ""
) -> bytes:
    """A well-formed request from ``source`` (whose Via and Contact point back at it)."""
    host, port = source
    target = f"sip:bot@{bot[0]}:{bot[1]}"
    headers = [
        f"{method} {target} SIP/2.0",
        f"Via: SIP/2.0/{transport} {host}:{port};branch={_branch()};rport",
        "Max-Forwards: 70",
        f"From: <sip:fuzz@{host}:{port}>;tag={secrets.token_hex(4)}",
        f"To: <{target}>",
        f"Call-ID: {secrets.token_hex(8)}@fuzz",
        f"CSeq: {random.randint(1, 9999)} {'INVITE' if method in ('ACK', 'CANCEL') else method}",
        f"Contact: <sip:fuzz@{host}:{port};transport={transport.lower()}>",
        "User-Agent: ivr-fuzz",
    ]
    if method == "REGISTER":
        headers.append("Expires: 3600")
    encoded = body.encode("utf-8")
    if encoded:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(encoded)}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + encoded


# -- byte-level mutations ----------------------------------------------------------------


def bit_flips(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def splice_random(rng: random.Random, data: bytes) -> bytes:
    """Overwrite or insert a run of random bytes somewhere in the message."""
    at = rng.randrange(len(data) + 1)
    run = rng.randbytes(rng.randint(1, 64))
    keep = at + (len(run) if rng.random() < 0.5 else 0)
    return data[:at] + run + data[keep:]


def random_bytes(rng: random.Random, limit: int = 1500) -> bytes:
    return rng.randbytes(rng.randint(0, limit))


BYTE_MUTATIONS: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    bit_flips,
    truncate,
    splice_random,
)


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    return rng.choice(BYTE_MUTATIONS)(rng, data)


# -- SIP ---------------------------------------------------------------------------------


def _lines(data: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def _join(lines: list[bytes], body: bytes, fix_length: bool) -> bytes:
    if fix_length:
        lines = [
            b"Content-Length: %d" % len(body) if line.startswith(b"Content-Length:") else line
            for line in lines
        ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def duplicate_header(rng: random.Random, data: bytes) -> bytes:
    lines, body = _lines(data)
    if len(lines) < 2:
        return data
    index = rng.randrange(1, len(lines))
    lines[index:index] = [lines[index]] * rng.choice((1, 2, 10, 100, 1000))
    return _join(lines, body, fix_length=False)


def huge_header(rng: random.Random, data: bytes, limit: int) -> bytes:
    """A header (new, or an existing one such as Via) grown to up to ``limit`` bytes."""
    lines, body = _lines(data)
    size = rng.choice((1024, 8192, 32768, limit))
    room = max(0, min(size, limit - len(data) - 64))
    if rng.random() < 0.5 and len(lines) > 1:
        index = rng.randrange(1, len(lines))
        lines[index] += b";x=" + b"a" * room
    else:
        name = rng.choice((b"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=", b"X-Fuzz: ", b"Subject: "))
        lines.insert(rng.randrange(1, len(lines) + 1), name + b"z" * room)
    return _join(lines, body, fix_length=False)


def bad_header_value(rng: random.Random, data: bytes) -> bytes:
    """An out-of-range or malformed value in a header the server reads."""
    lines, body = _lines(data)
    value = rng.choice(BAD_NUMBERS).encode("utf-8")
    name = rng.choice((b"CSeq", b"Content-Length", b"Max-Forwards", b"Expires", b"Via", b"To"))
    replacement = {
        b"CSeq": b"CSeq: " + value + b" INVITE",
        b"Content-Length": b"Content-Length: " + value,
        b"Max-Forwards": b"Max-Forwards: " + value,
        b"Expires": b"Expires: " + value,
        b"Via": b"Via: SIP/2.0/UDP 127.0.0.2:" + value + b";branch=z9hG4bK" + value,
        b"To": b"To: <sip:bot@127.0.0.1:" + value + b">;tag=" + value,
    }[name]
    lines = [line for line in lines if not line.lower().startswith(name.lower() + b":")]
    lines.insert(rng.randrange(1, len(lines) + 1), replacement)
    return _join(lines, body, fix_length=False)


def sip_input(
    rng: random.Random,
    bot: tuple[str, int],
    source: tuple[str, int],
    transport: str,
    rtp_sink: int,
    limit: int = MAX_DATAGRAM,
) -> tuple[str, bytes]:
    """One mutated SIP message and the name of its mutation."""
    method = rng.choice(SIP_METHODS)
    host = source[0]
    if rng.random() < 0.3:
        bad = tuple(line.format(n=rng.choice(BAD_NUMBERS)) for line in rng.sample(SDP_LINES, k=2))
        message = sip_request("INVITE", bot, source, transport, sdp_offer(host, rtp_sink, bad))
        return "bad_sdp", message
    body = sdp_offer(host, rtp_sink) if method == "INVITE" else ""
    message = sip_request(method, bot, source, transport, body)
    kinds = ("bit_flips", "truncate", "splice", "duplicate_header", "huge_header", "bad_value")
    kind = rng.choices((*kinds, "random"), weights=(30, 15, 15, 10, 2, 20, 8))[0]
    if kind == "bit_flips":
        return kind, bit_flips(rng, message)
    if kind == "truncate":
        return kind, truncate(rng, message)
    if kind == "splice":
        return kind, splice_random(rng, message)
    if kind == "duplicate_header":
        return kind, duplicate_header(rng, message)
    if kind == "huge_header":
        return kind, huge_header(rng, message, limit)
    if kind == "bad_value":
        return kind, bad_header_value(rng, message)
    return kind, random_bytes(rng)


# -- RTP ---------------------------------------------------------------------------------


def rtp_input(rng: random.Random) -> tuple[str, bytes]:
    """A random or mutated RTP (or RTCP-looking) packet and the name of its kind."""
    payload_type = rng.choice((0, 8, 101, 13, 96, 127, rng.randrange(128)))
    payload = rng.randbytes(rng.choice((0, 1, 4, 160, 320, 1400)))
    packet = pack_rtp(
        payload_type,
        rng.random() < 0.2,
        rng.getrandbits(16),
        rng.getrandbits(32),
        rng.getrandbits(32),
        payload,
    )
    kind = rng.choices(
        ("valid_random", "bit_flips", "truncate", "bad_header", "event", "rtcp", "random"),
        weights=(20, 20, 15, 15, 10, 10, 10),
    )[0]
    if kind == "valid_random":
        return kind, packet
    if kind == "bit_flips":
        return kind, bit_flips(rng, packet)
    if kind == "truncate":
        return kind, truncate(rng, packet)
    if kind == "bad_header":
        # CSRC count, extension and padding bits that claim more than the packet holds.
        first = (rng.choice((0, 1, 2, 3)) << 6) | rng.getrandbits(6)
        tail = packet[12:] + (bytes([255]) if first & 0x20 else b"")
        return kind, bytes([first]) + packet[1:12] + tail
    if kind == "event":
        # RFC 4733: event code, end bit + volume, duration; codes and durations out of range.
        event = struct.pack(
            ">BBH", rng.choice((0, 9, 11, 15, 16, 255)), rng.getrandbits(8), rng.getrandbits(16)
        )
        body = event[: rng.choice((0, 2, 4))] if rng.random() < 0.3 else event
        return kind, pack_rtp(101, True, rng.getrandbits(16), 0, rng.getrandbits(32), body)
    if kind == "rtcp":
        return kind, bytes([0x80, rng.randint(200, 204)]) + rng.randbytes(rng.randint(0, 64))
    return kind, random_bytes(rng)


# -- WebSocket media streams -------------------------------------------------------------


def _nested(rng: random.Random) -> str:
    depth = rng.choice((100, 1000, 10000, 30000))
    opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
    return opener * depth + "1" + closer * depth


def _ulaw_base64(rng: random.Random, frames: int = 1) -> str:
    return base64.b64encode(rng.randbytes(160 * frames)).decode("ascii")


def stream_start(fmt: str, rng: random.Random) -> str:
    """The message that makes a WebSocket connection a call, in each wire format."""
    sid = "MZ" + secrets.token_hex(8)
    if fmt == "twilio":
        return json.dumps(
            {
                "event": "start",
                "streamSid": sid,
                "start": {
                    "streamSid": sid,
                    "callSid": "CA" + secrets.token_hex(8),
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": {"caller": "+15550100"},
                },
            }
        )
    if fmt == "asterisk":
        if rng.random() < 0.5:
            return f"MEDIA_START connection_id:{sid} channel:fuzz format:ulaw"
        return json.dumps({"event": "MEDIA_START", "connection_id": sid, "format": "ulaw"})
    return json.dumps({"event": "start", "rate": 8000, "call_id": sid, "caller": "fuzz"})


def _stream_message(fmt: str, rng: random.Random) -> str | bytes:
    """A valid in-call message: audio, a key, a mark echo."""
    if fmt == "twilio":
        event = rng.choice(("media", "media", "dtmf", "mark"))
        message: dict[str, object] = {"event": event}
        if event == "media":
            message["media"] = {"track": "inbound", "payload": _ulaw_base64(rng)}
        elif event == "dtmf":
            message["dtmf"] = {"digit": rng.choice("0123456789*#")}
        else:
            message["mark"] = {"name": "played-1"}
        return json.dumps(message)
    if fmt == "asterisk":
        return rng.randbytes(160) if rng.random() < 0.7 else f"DTMF_END digit:{rng.randrange(10)}"
    if rng.random() < 0.7:
        return rng.randbytes(320)
    return json.dumps({"event": "dtmf", "digit": rng.choice("0123456789")})


def _json_mutation(rng: random.Random, text: str) -> str:
    """The message's JSON with a value replaced by a wrong type, a huge value or deep nesting."""
    try:
        data = json.loads(text)
    except ValueError:
        return text + rng.choice(("{", "}", "\x00", "\ufffe"))
    if not isinstance(data, dict) or not data:
        return _nested(rng)
    key = rng.choice(list(data))
    data[key] = rng.choice(
        (
            None,
            1e308,
            -1,
            2**70,
            [],
            {},
            "x" * rng.choice((10, 70000)),
            "\u0663",
            {"payload": "!!!not base64!!!"},
            {"digit": "99"},
            {"payload": _ulaw_base64(rng, 200)},
        )
    )
    return json.dumps(data)


def websocket_input(fmt: str, rng: random.Random) -> tuple[str, str | bytes]:
    """One mutated in-call message for a ``fmt`` stream (sent after a start, or instead of it)."""
    kind = rng.choices(
        ("valid", "json_value", "nested", "bad_base64", "text_flips", "truncate", "binary"),
        weights=(25, 20, 5, 15, 15, 10, 10),
    )[0]
    valid = _stream_message(fmt, rng)
    if kind == "valid":
        return kind, valid
    if kind == "nested":
        return kind, _nested(rng)
    if kind == "bad_base64":
        payload = rng.choice(("!!!!", "a", "====", "\u00e9t\u00e9", "QUJD" * 30000))
        return kind, json.dumps({"event": "media", "media": {"payload": payload}})
    if kind == "binary":
        return kind, random_bytes(rng, 4000)
    text = valid if isinstance(valid, str) else stream_start(fmt, rng)
    if kind == "json_value":
        return kind, _json_mutation(rng, text)
    mutated = (bit_flips if kind == "text_flips" else truncate)(rng, text.encode("utf-8"))
    return kind, mutated.decode("utf-8", errors="replace")


# -- AudioSocket -------------------------------------------------------------------------


def _frame(kind: int, payload: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BH", kind, len(payload) if length is None else length) + payload


def audiosocket_uuid(rng: random.Random) -> bytes:
    return _frame(0x01, rng.randbytes(16))


def audiosocket_input(rng: random.Random) -> tuple[str, bytes]:
    """One mutated AudioSocket frame (kinds and lengths wrong, truncated, random)."""
    kind = rng.choices(
        ("audio", "dtmf", "bad_kind", "bad_length", "truncated", "uuid", "error", "random"),
        weights=(25, 10, 15, 15, 10, 10, 5, 10),
    )[0]
    if kind == "audio":
        return kind, _frame(0x10, rng.randbytes(rng.choice((320, 321, 0, 16000, 2))))
    if kind == "dtmf":
        return kind, _frame(0x03, rng.choice((b"5", b"x", b"", b"55", b"\xff")))
    if kind == "bad_kind":
        return kind, _frame(rng.choice((0x02, 0x04, 0x11, 0x7F, 0xFE)), rng.randbytes(8))
    if kind == "bad_length":
        return kind, _frame(0x10, rng.randbytes(320), rng.choice((0, 1, 319, 16001, 65535)))
    if kind == "truncated":
        return kind, _frame(0x10, rng.randbytes(320))[: rng.randrange(1, 323)]
    if kind == "uuid":
        return kind, _frame(0x01, rng.randbytes(rng.choice((0, 15, 16, 17))))
    if kind == "error":
        return kind, _frame(0xFF, rng.randbytes(rng.choice((0, 1, 16))))
    return kind, random_bytes(rng, 400)
