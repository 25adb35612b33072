"""SDP (RFC 4566) round trips and offer/answer (RFC 3264) for G.711 + telephone-event."""

from __future__ import annotations

import pytest

from telephony.sdp import (
    MediaDescription,
    NegotiationError,
    SessionDescription,
    accept_answer,
    answer_offer,
    make_offer,
)

RFC4566_EXAMPLE = (
    "v=0\r\n"
    "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    "s=SDP Seminar\r\n"
    "i=A Seminar on the session description protocol\r\n"
    "u=http://www.example.com/seminars/sdp.pdf\r\n"
    "e=j.doe@example.com (Jane Doe)\r\n"
    "c=IN IP4 224.2.17.12/127\r\n"
    "t=2873397496 2873404696\r\n"
    "a=recvonly\r\n"
    "m=audio 49170 RTP/AVP 0\r\n"
    "m=video 51372 RTP/AVP 99\r\n"
    "a=rtpmap:99 h263-1998/90000\r\n"
)

BARESIP_OFFER = (
    "v=0\r\n"
    "o=- 1383606127 1829390011 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "a=tool:baresip 1.0.0\r\n"
    "m=audio 30056 RTP/AVP 0 8 101\r\n"
    "b=AS:64\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=sendrecv\r\n"
    "a=label:1\r\n"
    "a=ssrc:1553108329 cname:e1a7e4e9-6a26-4f1d-9d37-ba1ce0e9a3a0\r\n"
    "a=rtcp-rsize\r\n"
)

# RFC 3264 section 10.1 (offer with audio and video), media lines as in the RFC
RFC3264_OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n"
    "s=\r\n"
    "c=IN IP4 host.atlanta.example.com\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 97\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:97 iLBC/8000\r\n"
    "m=video 51372 RTP/AVP 31 32\r\n"
    "a=rtpmap:31 H261/90000\r\n"
    "a=rtpmap:32 MPV/90000\r\n"
)

OPUS_FIRST_OFFER = (
    "v=0\n"
    "o=user 1 1 IN IP4 192.0.2.10\n"
    "s=call\n"
    "t=0 0\n"
    "m=audio 4000 RTP/AVP 96 9 8 0 110\n"
    "c=IN IP4 192.0.2.10\n"
    "a=rtpmap:96 opus/48000/2\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:110 telephone-event/8000\n"
    "a=fmtp:110 0-16\n"
    "a=ptime:30\n"
)


@pytest.mark.parametrize("text", [RFC4566_EXAMPLE, BARESIP_OFFER, RFC3264_OFFER, OPUS_FIRST_OFFER])
def test_parse_serialise_round_trip(text: str) -> None:
    sdp = SessionDescription.parse(text.encode())
    assert SessionDescription.parse(bytes(sdp)) == sdp
    if "\r\n" in text:
        assert str(sdp) == text


def test_parsed_fields() -> None:
    sdp = SessionDescription.parse(RFC4566_EXAMPLE)
    assert sdp.origin.username == "jdoe"
    assert sdp.origin.session_version == 2890842807
    assert sdp.connection is not None and sdp.connection.host == "224.2.17.12"
    assert [m.kind for m in sdp.media] == ["audio", "video"]
    assert sdp.media[1].rtpmap() == {99: ("h263-1998", 90000, 1)}
    assert sdp.media_direction(sdp.media[0]) == "recvonly"  # from the session level
    offer = SessionDescription.parse(BARESIP_OFFER)
    assert offer.media[0].fmtp(101) == "0-15"
    assert offer.media[0].direction == "sendrecv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "v=0"),
        ("v=1\r\n", "v=0"),
        ("v=0\r\ns=-\r\n", "no o= line"),
        ("v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n", "not a number"),
        ("v=0\r\no=- 1 1 IN IP4\r\n", "needs 6 fields"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n", "not a number"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 5\r\n", "needs media"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\ngarbage\r\n", "<type>=<value>"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "not allowed"),
        ("v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4\r\n", "needs 3 fields"),
    ],
)
def test_malformed_sdp_raises_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SessionDescription.parse(text)


def answer(offer_text: str, **kwargs):
    return answer_offer(
        SessionDescription.parse(offer_text),
        address="127.0.0.1",
        port=40000,
        session_id="42",
        session_version=7,
        **kwargs,
    )


def test_answer_picks_the_offerers_first_supported_codec_and_telephone_event() -> None:
    sdp, params = answer(BARESIP_OFFER)
    assert params.codec == "PCMU" and params.payload_type == 0
    assert params.telephone_event == 101
    assert (params.remote_address, params.remote_port) == ("127.0.0.1", 30056)
    media = sdp.media[0]
    assert (media.port, media.proto, media.formats) == (40000, "RTP/AVP", ["0", "101"])
    assert media.attribute("ptime") == "20"
    assert media.direction == "sendrecv"
    assert media.fmtp(101) == "0-15"
    assert sdp.connection is not None and sdp.connection.address == "127.0.0.1"
    assert SessionDescription.parse(bytes(sdp)) == sdp


def test_answer_respects_offer_order_and_our_codec_list() -> None:
    _, params = answer(OPUS_FIRST_OFFER)
    assert params.codec == "PCMA"  # offered before PCMU; opus and G722 unsupported
    assert params.telephone_event == 110
    assert params.remote_ptime == 30
    assert params.remote_address == "192.0.2.10"  # media-level c=
    _, params = answer(BARESIP_OFFER, codecs=("PCMA",))
    assert params.codec == "PCMA" and params.payload_type == 8


def test_unsupported_streams_are_refused_with_port_zero_keeping_mline_count() -> None:
    sdp, params = answer(RFC3264_OFFER)
    assert [m.kind for m in sdp.media] == ["audio", "video"]
    assert sdp.media[1].port == 0 and sdp.media[1].formats == ["31", "32"]
    assert params.telephone_event is None
    assert sdp.media[0].formats == ["0"]


def test_dynamic_payload_type_for_g711_is_accepted() -> None:
    offer = BARESIP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 98 101").replace(
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:98 PCMU/8000"
    )
    sdp, params = answer(offer)
    assert params.payload_type == 98 and params.codec == "PCMU"
    assert ("rtpmap", "98 PCMU/8000") in sdp.media[0].attributes


@pytest.mark.parametrize(
    ("offered", "answered", "we_send", "we_receive"),
    [
        ("sendrecv", "sendrecv", True, True),
        ("sendonly", "recvonly", False, True),
        ("recvonly", "sendonly", True, False),
        ("inactive", "inactive", False, False),
    ],
)
def test_direction_is_mirrored(
    offered: str, answered: str, we_send: bool, we_receive: bool
) -> None:
    sdp, params = answer(BARESIP_OFFER.replace("a=sendrecv", f"a={offered}"))
    assert sdp.media[0].direction == answered
    assert params.direction == answered
    assert params.sending is we_send
    assert params.receiving is we_receive


def test_rfc2543_hold_with_zero_address_stops_our_sending() -> None:
    offer = BARESIP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0").replace(
        "a=sendrecv\r\n", ""
    )
    sdp, params = answer(offer)
    assert sdp.media[0].direction == "recvonly"
    assert not params.sending


def test_no_common_codec_is_a_488() -> None:
    offer = OPUS_FIRST_OFFER.replace(" 9 8 0 110", " 9 110")
    with pytest.raises(NegotiationError) as info:
        answer(offer)
    assert info.value.status == 488
    with pytest.raises(NegotiationError):
        answer(BARESIP_OFFER.replace("RTP/AVP", "RTP/SAVP"))
    with pytest.raises(NegotiationError):
        answer(BARESIP_OFFER.replace("m=audio 30056", "m=audio 0"))


def test_our_offer_and_the_peers_answer() -> None:
    offer = make_offer(address="127.0.0.1", port=40002, session_id="1", session_version=1)
    assert offer.media[0].formats == ["0", "8", "101"]
    peer_answer = SessionDescription.parse(
        "v=0\r\no=- 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
    )
    params = accept_answer(peer_answer)
    assert params.codec == "PCMA" and params.telephone_event == 101
    assert params.direction == "recvonly"
    with pytest.raises(NegotiationError):
        accept_answer(SessionDescription.parse(bytes(offer).replace(b" 0 8 101", b" 9")))


def test_media_description_formats_port_count() -> None:
    media = MediaDescription.parse_m_line("audio 49170/2 RTP/AVP 0")
    assert media.port_count == 2
    assert media.lines()[0] == "m=audio 49170/2 RTP/AVP 0"


def test_rtpmap_lines_for_formats_not_offered_are_ignored() -> None:
    offer = BARESIP_OFFER.replace("RTP/AVP 0 8 101", "RTP/AVP 0 8")
    _, params = answer(offer)
    assert params.telephone_event is None
