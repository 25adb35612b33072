"""RTP packets (RFC 3550) parse and serialise losslessly; malformed packets raise ValueError."""

from __future__ import annotations

import pytest

from telephony.rtp import RtpPacket, is_rtcp, pack_rtp, seq_diff


def test_round_trip_of_a_plain_g711_packet() -> None:
    packet = RtpPacket(
        payload_type=0,
        marker=True,
        sequence_number=65535,
        timestamp=2**32 - 160,
        ssrc=0xDEADBEEF,
        payload=b"\xff" * 160,
    )
    data = bytes(packet)
    assert len(data) == 12 + 160
    assert data[:2] == b"\x80\x80"
    assert RtpPacket.parse(data) == packet


def test_round_trip_with_csrc_extension_and_padding() -> None:
    packet = RtpPacket(
        payload_type=101,
        sequence_number=7,
        timestamp=12345,
        ssrc=1,
        csrc=[2, 3, 4],
        extension_profile=0xBEDE,
        extension=b"\x10\xab\x00\x00",
        padding_size=4,
        payload=b"abc",
    )
    data = bytes(packet)
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[-1] == 4
    assert RtpPacket.parse(data) == packet


def test_fast_path_packer_matches_the_dataclass() -> None:
    packet = RtpPacket(
        payload_type=8, marker=False, sequence_number=1, timestamp=99, ssrc=5, payload=b"\xd5" * 160
    )
    assert pack_rtp(8, False, 1, 99, 5, b"\xd5" * 160) == bytes(packet)
    assert pack_rtp(0, True, 65536 + 3, 2**32 + 7, 5, b"") == bytes(
        RtpPacket(payload_type=0, marker=True, sequence_number=3, timestamp=7, ssrc=5)
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than the 12-byte header"),
        (b"\x80\x00" + b"\x00" * 9, "shorter than the 12-byte header"),
        (b"\x40\x00" + b"\x00" * 10, "version 1"),
        (b"\x83\x00" + b"\x00" * 10 + b"\x00" * 8, "CSRC"),
        (b"\x90\x00" + b"\x00" * 10 + b"\xbe\xde", "header extension"),
        (b"\x90\x00" + b"\x00" * 10 + b"\xbe\xde\x00\x05" + b"\x00" * 4, "exceeds the packet"),
        (b"\xa0\x00" + b"\x00" * 10 + b"ab\x00", "padding count 0"),
        (b"\xa0\x00" + b"\x00" * 10 + b"ab\x09", "padding count 9"),
    ],
)
def test_malformed_packets_raise_value_error_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RtpPacket.parse(data)


def test_serialising_invalid_fields_is_refused() -> None:
    with pytest.raises(ValueError):
        bytes(RtpPacket(payload_type=128))
    with pytest.raises(ValueError):
        bytes(RtpPacket(csrc=list(range(16))))
    with pytest.raises(ValueError):
        bytes(RtpPacket(extension_profile=1, extension=b"abc"))


def test_sequence_arithmetic_wraps_around() -> None:
    assert seq_diff(1, 65535) == 2
    assert seq_diff(65535, 1) == -2
    assert seq_diff(100, 100) == 0


def test_rtcp_is_told_apart_from_rtp_on_a_shared_port() -> None:
    assert is_rtcp(b"\x80\xc8\x00\x06" + b"\x00" * 24)  # sender report, PT 200
    assert not is_rtcp(bytes(RtpPacket(payload_type=0, marker=True)))
