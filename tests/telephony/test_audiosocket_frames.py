"""AudioSocket frames: round trips, Asterisk's byte layout, and malformed input refused."""

from __future__ import annotations

import uuid

import pytest

from telephony.audiosocket.frames import MAX_AUDIO_PAYLOAD, Frame, Kind, parse_header


def test_frames_round_trip_with_asterisks_byte_layout() -> None:
    call = uuid.UUID("0b4c5e1e-7a8d-4a5e-9f3c-2d1e0f9a8b7c")
    assert bytes(Frame.call_uuid(call)) == b"\x01\x00\x10" + call.bytes
    assert bytes(Frame.dtmf("#")) == b"\x03\x00\x01#"
    assert bytes(Frame.hangup()) == b"\x00\x00\x00"
    audio = Frame.audio(bytes(range(256)) + bytes(64))
    assert bytes(audio)[:3] == b"\x10\x01\x40"  # 320 bytes, big-endian length
    for frame in (Frame.call_uuid(call), Frame.dtmf("7"), Frame.hangup(), audio):
        assert Frame.parse(bytes(frame)) == frame
    assert Frame.parse(bytes(Frame.call_uuid(call))).uuid == call
    assert Frame.parse(b"\xff\x00\x01\x02").error_code == 2


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"\x42\x00\x00", "unknown AudioSocket frame kind 0x42"),
        (b"\x01\x00\x04abcd", "UUID is 16 bytes"),
        (b"\x03\x00\x01x", "not one keypad digit"),
        (b"\x10\x00\x03abc", "not whole samples"),
        (b"\x10\x00\x04ab", "header says 4 payload bytes, got 2"),
        (b"\x10", "header is 3 bytes"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(data: bytes, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Frame.parse(data)


def test_oversized_frames_are_refused_from_the_header() -> None:
    too_big = MAX_AUDIO_PAYLOAD + 2
    with pytest.raises(ValueError, match="exceeds"):
        parse_header(bytes([Kind.AUDIO]) + too_big.to_bytes(2, "big"))
    with pytest.raises(ValueError, match="exceeds"):
        parse_header(b"\x03\x01\x00")  # a 256-byte DTMF frame
