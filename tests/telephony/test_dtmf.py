"""RFC 4733 telephone-events: payload round trip, one report per press, the sender's sequence."""

from __future__ import annotations

import pytest

from telephony.dtmf import (
    DTMF_EVENTS,
    DtmfReceiver,
    TelephoneEvent,
    dtmf_packets,
    event_code,
    parse_dtmf_relay,
)


def test_payload_round_trip() -> None:
    for event in (
        TelephoneEvent(0),
        TelephoneEvent(11, end=True, volume=63, duration=65535),
        TelephoneEvent(15, end=False, volume=10, duration=800),
    ):
        assert TelephoneEvent.parse(bytes(event)) == event
    assert bytes(TelephoneEvent(5, end=True, volume=10, duration=800)) == b"\x05\x8a\x03\x20"


def test_reserved_bit_is_ignored_and_short_payload_rejected() -> None:
    assert TelephoneEvent.parse(b"\x05\xca\x00\xa0") == TelephoneEvent(5, True, 10, 160)
    with pytest.raises(ValueError, match="expected 4"):
        TelephoneEvent.parse(b"\x05\x8a")
    with pytest.raises(ValueError):
        bytes(TelephoneEvent(5, volume=64))


def test_event_codes_cover_the_keypad() -> None:
    assert [event_code(d) for d in DTMF_EVENTS] == list(range(16))
    assert event_code("a") == 12
    for bad in ("", "E", "12", " "):
        with pytest.raises(ValueError):
            event_code(bad)


def test_sender_emits_marker_updates_and_three_end_packets() -> None:
    packets = dtmf_packets("5", duration_ms=100)
    markers = [m for m, _ in packets]
    events = [e for _, e in packets]
    assert markers == [True, False, False, False, False, False, False]
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {e.event for e in events} == {5}


def test_a_very_short_press_still_has_a_marker_and_three_ends() -> None:
    packets = dtmf_packets("#", duration_ms=20)
    assert [(m, e.end) for m, e in packets] == [(True, True), (False, True), (False, True)]


def test_receiver_reports_each_press_once_despite_retransmitted_ends() -> None:
    receiver = DtmfReceiver()
    reported = []
    for timestamp, digit in ((1000, "1"), (5000, "1"), (9000, "#")):
        for _, event in dtmf_packets(digit):
            result = receiver.feed(timestamp, bytes(event))
            if result:
                reported.append(result)
    assert reported == ["1", "1", "#"]


def test_receiver_reports_a_press_whose_start_packets_were_lost() -> None:
    receiver = DtmfReceiver()
    packets = dtmf_packets("7")
    assert receiver.feed(4000, bytes(packets[-1][1])) == "7"
    assert receiver.feed(4000, bytes(packets[-2][1])) is None


def test_late_end_packet_of_an_earlier_press_is_not_a_new_press() -> None:
    receiver = DtmfReceiver()
    end = bytes(TelephoneEvent(1, end=True, duration=800))
    assert receiver.feed(1000, end) == "1"
    assert receiver.feed(2000, bytes(TelephoneEvent(2, duration=160))) == "2"
    assert receiver.feed(1000, end) is None


def test_long_event_segments_continue_the_same_press() -> None:
    receiver = DtmfReceiver()
    assert receiver.feed(0, bytes(TelephoneEvent(9, duration=65535))) == "9"
    assert receiver.feed(65535, bytes(TelephoneEvent(9, duration=800, end=True))) is None


def test_sip_info_bodies() -> None:
    assert parse_dtmf_relay(b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay") == "5"
    assert parse_dtmf_relay(b"Signal= #\r\n", "Application/DTMF-Relay; charset=x") == "#"
    assert parse_dtmf_relay(b"Signal=11\r\n", "application/dtmf-relay") == "#"
    assert parse_dtmf_relay(b"*", "application/dtmf") == "*"
    assert parse_dtmf_relay(b"10", "application/dtmf") == "*"
    assert parse_dtmf_relay(b"hello", "text/plain") is None
    with pytest.raises(ValueError):
        parse_dtmf_relay(b"Duration=160", "application/dtmf-relay")
    with pytest.raises(ValueError):
        parse_dtmf_relay(b"Signal=X", "application/dtmf-relay")
