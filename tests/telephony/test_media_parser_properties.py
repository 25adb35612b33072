"""Property tests of the media-level parsers: RTP, RFC 4733 events, DTMF INFO, AudioSocket.

Whatever a peer sends, a parser either returns a value or raises its own ``ValueError``
(never IndexError, struct.error, UnicodeDecodeError...), and does so quickly; a valid value
survives ``parse(bytes(x)) == x``. Serialisers refuse impossible fields with ValueError too.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.audiosocket.frames import MAX_AUDIO_PAYLOAD, Frame, Kind, parse_header
from telephony.dtmf import (
    DTMF_EVENTS,
    DtmfReceiver,
    TelephoneEvent,
    event_code,
    parse_dtmf_relay,
)
from telephony.jitter import ReorderBuffer
from telephony.rtp import RtpPacket

PROPERTY = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=250),
    suppress_health_check=[HealthCheck.too_slow],
)
"""Enough cases to find the shallow bugs, few enough that the suite stays fast."""

U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
ANY_INT = st.integers(-(2**40), 2**40)
DATAGRAM = st.binary(max_size=1500)


def rtp_headers() -> st.SearchStrategy[bytes]:
    """Bytes that start like RTP version 2 (any flags): parsing gets past the version check."""
    return st.builds(
        lambda first, rest: bytes([0x80 | (first & 0x3F)]) + rest,
        st.integers(0, 255),
        DATAGRAM,
    )


valid_rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    marker=st.booleans(),
    sequence_number=U16,
    timestamp=U32,
    ssrc=U32,
    csrc=st.lists(U32, max_size=15),
    extension_profile=st.none() | U16,
    extension=st.just(b""),
    padding_size=st.integers(0, 255),
    payload=st.binary(max_size=400),
).flatmap(
    lambda p: st.builds(
        lambda ext: dataclasses.replace(p, extension=ext),
        st.just(b"")
        if p.extension_profile is None
        else st.binary(max_size=64).map(lambda b: b[: len(b) - len(b) % 4]),
    )
)


@PROPERTY
@given(DATAGRAM | rtp_headers())
def test_any_datagram_parses_as_rtp_or_raises_value_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except ValueError:
        return
    assert RtpPacket.parse(bytes(packet)) == packet  # what parsed also serialises back


@PROPERTY
@given(valid_rtp_packets)
def test_rtp_packets_round_trip(packet: RtpPacket) -> None:
    assert RtpPacket.parse(bytes(packet)) == packet


@PROPERTY
@given(
    payload_type=ANY_INT,
    csrc=st.lists(ANY_INT, max_size=20),
    extension_profile=st.none() | ANY_INT,
    extension_words=st.sampled_from([0, 1, 0xFFFF, 0x10000]),
    padding_size=ANY_INT,
)
def test_rtp_serialiser_refuses_impossible_fields_with_value_error(
    payload_type: int,
    csrc: list[int],
    extension_profile: int | None,
    extension_words: int,
    padding_size: int,
) -> None:
    packet = RtpPacket(
        payload_type=payload_type,
        csrc=csrc,
        extension_profile=extension_profile,
        extension=bytes(4 * extension_words),
        padding_size=padding_size,
    )
    try:
        data = bytes(packet)
    except ValueError:
        return
    assert RtpPacket.parse(data) == packet


def test_extension_data_without_a_profile_is_refused_not_dropped() -> None:
    packet = RtpPacket(extension=b"\x00\x00\x00\x01")
    try:
        data = bytes(packet)
    except ValueError:
        return
    raise AssertionError(f"serialised to {data!r}, losing the extension")


@PROPERTY
@given(st.binary(max_size=16))
def test_any_payload_parses_as_a_telephone_event_or_raises_value_error(data: bytes) -> None:
    try:
        event = TelephoneEvent.parse(data)
    except ValueError:
        assert len(data) < 4
        return
    assert TelephoneEvent.parse(bytes(event)) == event


@PROPERTY
@given(
    st.builds(
        TelephoneEvent,
        event=st.integers(0, 255),
        end=st.booleans(),
        volume=st.integers(0, 63),
        duration=U16,
    )
)
def test_telephone_events_round_trip(event: TelephoneEvent) -> None:
    assert TelephoneEvent.parse(bytes(event)) == event


@PROPERTY
@given(event=ANY_INT, volume=ANY_INT, duration=ANY_INT)
def test_telephone_event_serialiser_refuses_impossible_fields(
    event: int, volume: int, duration: int
) -> None:
    try:
        data = bytes(TelephoneEvent(event, volume=volume, duration=duration))
    except ValueError:
        return
    assert TelephoneEvent.parse(data) == TelephoneEvent(event, volume=volume, duration=duration)


@PROPERTY
@given(st.lists(st.tuples(U32, st.binary(max_size=8)), max_size=40))
def test_dtmf_receiver_takes_any_packet_stream(packets: list[tuple[int, bytes]]) -> None:
    receiver = DtmfReceiver()
    for timestamp, payload in packets:
        try:
            digit = receiver.feed(timestamp, payload)
        except ValueError:
            continue
        assert digit is None or digit in DTMF_EVENTS


@PROPERTY
@given(
    body=st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: f"Signal={t}\r\nDuration=160\r\n".encode())
    | st.text("0123456789", max_size=6000).map(str.encode),
    content_type=st.sampled_from(
        ["application/dtmf-relay", "application/dtmf", "Application/DTMF; x=1", "text/plain"]
    ),
)
def test_any_info_body_names_a_digit_or_raises_value_error(body: bytes, content_type: str) -> None:
    try:
        digit = parse_dtmf_relay(body, content_type)
    except ValueError as exc:
        assert len(str(exc)) <= 160  # it becomes a 400 reason phrase and a log line
        return
    assert digit is None or event_code(digit) >= 0


@PROPERTY
@given(
    st.binary(max_size=64) | st.builds(lambda k, b: bytes([k]) + b, st.sampled_from(Kind), DATAGRAM)
)
def test_any_bytes_parse_as_an_audiosocket_frame_or_raise_value_error(data: bytes) -> None:
    try:
        frame = Frame.parse(data)
    except ValueError:
        return
    assert Frame.parse(bytes(frame)) == frame
    _ = frame.error_code if frame.kind is Kind.ERROR else None
    if frame.kind is Kind.DTMF:
        assert frame.digit in DTMF_EVENTS
    if frame.kind is Kind.UUID:
        assert frame.uuid.bytes == frame.payload


@PROPERTY
@given(st.binary(min_size=3, max_size=3))
def test_any_audiosocket_header_parses_or_raises_value_error(data: bytes) -> None:
    try:
        kind, length = parse_header(data)
    except ValueError:
        return
    assert length <= MAX_AUDIO_PAYLOAD and kind in Kind


valid_frames = st.one_of(
    st.binary(max_size=MAX_AUDIO_PAYLOAD // 2).map(lambda b: Frame.audio(b + b)),
    st.uuids().map(Frame.call_uuid),
    st.sampled_from(DTMF_EVENTS).map(Frame.dtmf),
    st.just(Frame.hangup()),
    st.binary(max_size=1).map(lambda b: Frame(Kind.ERROR, b)),
)


@PROPERTY
@given(valid_frames)
def test_audiosocket_frames_round_trip(frame: Frame) -> None:
    assert Frame.parse(bytes(frame)) == frame


def test_audiosocket_serialiser_refuses_a_payload_too_long_for_its_header() -> None:
    try:
        data = bytes(Frame.audio(bytes(0x10000)))
    except ValueError:
        return
    raise AssertionError(f"serialised {len(data)} bytes with a 16-bit length field")


@PROPERTY
@given(st.lists(U16, max_size=300), st.integers(0, 8))
def test_reorder_buffer_holds_at_most_its_window_and_delivers_each_packet_once(
    seqs: list[int], window: int
) -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(window)
    delivered: list[int] = []
    for index, seq in enumerate(seqs):
        delivered.extend(buffer.push(seq, index))
        assert buffer.held <= window
    assert len(delivered) == len(set(delivered))


def test_parsing_the_largest_inputs_is_fast() -> None:
    """Cost is linear and small: the event loop that paces every call's RTP does this."""
    worst_rtp = bytes([0xBF, 0]) + bytes(10) + b"\xff" * (65507 - 12)  # 15 CSRC, X, P bits
    frame = bytes(Frame.audio(bytes(MAX_AUDIO_PAYLOAD)))
    relay = b"9" * 60000
    start = time.perf_counter()
    for _ in range(100):
        with pytest.raises(ValueError, match="extension"):
            RtpPacket.parse(worst_rtp)
        Frame.parse(frame)
        with pytest.raises(ValueError, match="not a DTMF digit"):
            parse_dtmf_relay(relay, "application/dtmf")
    assert (time.perf_counter() - start) / 100 < 0.005
