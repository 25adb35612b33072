"""SIP messages parse and serialise losslessly; torture-test messages never crash the parser."""

from __future__ import annotations

import pytest

from telephony.sip.message import (
    MAX_REASON_DETAIL,
    MessageTooLarge,
    NameAddress,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    StreamFramer,
    Via,
    bad_request_reason,
    check_request,
    make_response,
    parse_message,
)

from .sip_samples import (
    DBLREQ,
    ESC01,
    INTMETH,
    INVALID,
    LWSDISP,
    RFC3665_INVITE,
    SDP_150,
    VALID_REQUESTS,
    VALID_RESPONSES,
    WSINV,
)


@pytest.mark.parametrize("name", sorted(VALID_REQUESTS))
def test_valid_requests_parse_pass_checks_and_round_trip(name: str) -> None:
    message = parse_message(VALID_REQUESTS[name])
    assert isinstance(message, SipRequest)
    assert check_request(message) is None
    assert parse_message(bytes(message)) == message
    assert SipRequest.parse(bytes(message)) == message


@pytest.mark.parametrize("name", sorted(VALID_RESPONSES))
def test_valid_responses_parse_and_round_trip(name: str) -> None:
    message = parse_message(VALID_RESPONSES[name])
    assert isinstance(message, SipResponse)
    assert SipResponse.parse(bytes(message)) == message


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_messages_raise_or_are_rejected_never_crash(name: str) -> None:
    data, (outcome, status) = INVALID[name]
    try:
        message = parse_message(data)
    except SipParseError as exc:  # the parser's only error: nothing else may escape
        if exc.partial is None:
            assert outcome == "drop", f"{name} should have been answered {status}"
        else:
            assert outcome == "reject" and status == 400, f"{name}: {exc}"
            assert exc.partial.get("Via")
        return
    assert outcome == "reject", f"{name} parsed but should have been dropped"
    assert isinstance(message, SipRequest)
    problem = check_request(message)
    assert problem is not None and problem[0] == status, f"{name}: {problem}"


def test_tortuous_invite_fields() -> None:
    message = parse_message(WSINV)
    assert isinstance(message, SipRequest)
    assert message.method == "INVITE"
    assert message.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert message.cseq == (9, "INVITE")
    assert message.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert message.get("max-forwards") == "0068"
    assert message.to.uri == "sip:vivekg@chair-dnrc.example.com"
    assert message.to.tag == "1918181833n"
    assert message.from_.display_name == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    assert [(v.transport, v.host, v.branch) for v in message.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    contact = message.contact
    assert contact is not None
    assert contact.display_name == 'Quoted string ""'
    assert contact.param("q") == "0.33" and contact.param("secondparam") == ""
    assert message.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.get("Subject") == ""
    assert message.body == SDP_150
    assert message.content_type == "application/sdp"


def test_compact_forms_expand_and_names_are_case_insensitive() -> None:
    message = parse_message(
        b"OPTIONS sip:bot@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcompact\r\n"
        b"f: <sip:a@example.com>;tag=1\r\n"
        b"t: <sip:bot@example.com>\r\n"
        b"i: compact-1@example.com\r\n"
        b"m: <sip:a@192.0.2.1>\r\n"
        b"c: text/plain\r\n"
        b"k: timer\r\n"
        b"CSEQ: 1 OPTIONS\r\n"
        b"l: 5\r\n"
        b"\r\n"
        b"hello"
    )
    assert [name for name, _ in message.headers] == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "Contact",
        "Content-Type",
        "Supported",
        "CSeq",
    ]
    assert message.get("call-id") == message.get("i") == "compact-1@example.com"
    assert message.body == b"hello"
    assert check_request(message) is None  # type: ignore[arg-type]
    assert b"\r\nContent-Length: 5\r\n\r\nhello" in bytes(message)


def test_folded_header_lines_are_joined() -> None:
    message = parse_message(
        b"OPTIONS sip:bot@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1\r\n ;branch=z9hG4bKfold\r\n"
        b"From: <sip:a@example.com>\r\n\t;tag=7\r\n"
        b"To: <sip:bot@example.com>\r\n"
        b"Call-ID: fold@example.com\r\n"
        b"CSeq: 2\r\n  OPTIONS\r\n"
        b"Subject: one\r\n two\r\n\tthree\r\n"
        b"\r\n"
    )
    assert message.get("Subject") == "one two three"
    assert message.top_via.branch == "z9hG4bKfold"
    assert message.from_.tag == "7"
    assert message.cseq == (2, "OPTIONS")


def test_lf_only_line_endings_and_leading_crlf_are_tolerated() -> None:
    data = b"\r\n\r\n" + LWSDISP.replace(b"\r\n", b"\n")
    message = parse_message(data)
    assert isinstance(message, SipRequest) and message.method == "OPTIONS"
    assert message.from_.display_name == "caller"


def test_extra_datagram_octets_after_content_length_are_ignored() -> None:
    message = parse_message(DBLREQ)
    assert isinstance(message, SipRequest) and message.method == "REGISTER"
    assert message.body == b""


def test_unusual_characters_survive() -> None:
    message = SipRequest.parse(INTMETH)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    uri = SipUri.parse(message.uri)
    assert uri.host == "example.com"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert message.from_.tag == "_token~1'+`*%!-."


def test_escaped_uris() -> None:
    message = SipRequest.parse(ESC01)
    assert SipUri.parse(message.uri).user == "sips%3Auser%40example.com"
    contact = message.contact
    assert contact is not None
    uri = SipUri.parse(contact.uri)
    assert uri.params == [("%6C%72", None), ("n%61me", "v%61lue%25%34%31")]


def test_uri_parse_and_format() -> None:
    for text in (
        "sip:bot@127.0.0.1:5070",
        "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?Subject=hi&X=1",
        "sip:example.com",
        "sip:+15551234567;phone-context=example.com@gw.example.com;user=phone",
    ):
        assert str(SipUri.parse(text)) == text
    uri = SipUri.parse("sip:agent@10.0.0.5;transport=TCP")
    assert (uri.user, uri.host, uri.port, uri.transport) == ("agent", "10.0.0.5", None, "TCP")
    for bad in ("sip:", "sip:user@", "sip:host:99999", "http://x", "sip:a b@c", "sip:[::1"):
        with pytest.raises(ValueError):
            SipUri.parse(bad)


def test_name_address_forms() -> None:
    assert NameAddress.parse("sip:a@b;tag=x") == NameAddress("sip:a@b", None, [("tag", "x")])
    parsed = NameAddress.parse('"A \\"B\\"" <sip:a@b;transport=tcp>;tag=1;expires=30')
    assert parsed.display_name == 'A "B"'
    assert parsed.uri == "sip:a@b;transport=tcp"
    assert NameAddress.parse(str(parsed)) == parsed
    assert str(NameAddress("sip:x@y").with_tag("t")) == "<sip:x@y>;tag=t"
    for bad in ('"unterminated <sip:a@b>', "<sip:a@b", "Bell, A <sip:a@b>", "< sip:a@b >", "a@b"):
        with pytest.raises(ValueError):
            NameAddress.parse(bad)


def test_via_forms() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::1] : 5070 ;branch=z9hG4bKx;rport;received=2001:db8::9")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "[2001:db8::1]",
        5070,
        "z9hG4bKx",
    )
    assert via.param("rport") == ""
    assert Via.parse(str(via)) == via
    for bad in ("SIP/2.0 UDP host", "SIP/2.0/UDP", "SIP/2.0/UDP host:0", "SIP/2.0/UDP h;;x"):
        with pytest.raises(ValueError):
            Via.parse(bad)


def test_built_messages_round_trip_and_refuse_header_injection() -> None:
    request = SipRequest(
        "BYE",
        "sip:alice@192.0.2.1:5060",
        [("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc"), ("CSeq", "2 BYE")],
        b"",
    )
    assert parse_message(bytes(request)) == request
    response = SipResponse(486, "Busy Here", [("Retry-After", "30")], b"body")
    assert parse_message(bytes(response)) == response
    with pytest.raises(ValueError):
        bytes(SipRequest("BYE", "sip:a@b", [("X-Evil", "a\r\nInjected: 1")]))
    with pytest.raises(ValueError):
        bytes(SipResponse(1000))


@pytest.mark.parametrize(
    "hostile",
    [
        "bad\r\nVia: SIP/2.0/UDP evil.example\r\n\r\n",
        "caf\u00e9 \u202e\u0000\x1b[2J\t\x7f\ufffd",
        "\r\n\u00e9" * 20_000,
    ],
    ids=["crlf", "non-ascii and controls", "60 KB"],
)
def test_bad_request_reason_is_one_short_line_of_printable_ascii(hostile: str) -> None:
    reason = bad_request_reason(hostile)
    assert reason.startswith("Bad Request (") and reason.endswith(")")
    assert all(" " <= c <= "~" for c in reason), reason
    assert len(reason) <= len("Bad Request ()") + MAX_REASON_DETAIL
    assert parse_message(bytes(SipResponse(400, reason))).reason == reason


def test_make_response_copies_dialog_headers_and_marks_received() -> None:
    request = parse_message(RFC3665_INVITE)
    assert isinstance(request, SipRequest)
    response = make_response(request, 180, to_tag="abc", received_from=("192.0.2.200", 40000))
    assert response.reason == "Ringing"
    assert response.to.tag == "abc"
    assert response.get_all("Via")[1:] == request.get_all("Via")[1:]
    assert "received=192.0.2.200" in response.get_all("Via")[0]
    assert response.get("Record-Route") == "<sip:ss1.atlanta.example.com;lr>"
    assert response.get("CSeq") == "1 INVITE"
    trying = make_response(request, 100, to_tag="abc")
    assert trying.to.tag is None  # no tag on 100 Trying
    rport = make_response(
        SipRequest.parse(
            bytes(request).replace(b"branch=z9hG4bK2d4790.1", b"branch=z9hG4bKr;rport")
        ),
        200,
        received_from=("192.0.2.9", 5099),
    )
    assert rport.top_via.param("rport") == "5099"


def test_stream_framer_handles_partial_reads_and_several_messages() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + RFC3665_INVITE + LWSDISP + RFC3665_INVITE
    messages: list[bytes] = []
    for i in range(0, len(stream), 7):  # seven bytes at a time
        messages.extend(framer.feed(stream[i : i + 7]))
    assert messages == [RFC3665_INVITE, LWSDISP, RFC3665_INVITE]
    assert framer.keepalives == 2
    assert framer.buffered == 0
    assert StreamFramer().feed(LWSDISP * 3) == [LWSDISP] * 3


def test_stream_framer_rejects_garbage_and_oversized_messages() -> None:
    with pytest.raises(ValueError, match="no Content-Length"):
        StreamFramer().feed(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")
    with pytest.raises(ValueError, match="invalid Content-Length"):
        StreamFramer().feed(b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n")
    with pytest.raises(MessageTooLarge):
        StreamFramer(max_size=1000).feed(b"X" * 2000)
    with pytest.raises(SipParseError):  # one error family for every framing refusal
        StreamFramer(max_size=1000).feed(b"X" * 2000)
    with pytest.raises(MessageTooLarge):
        StreamFramer(max_size=1000).feed(b"OPTIONS sip:a@b SIP/2.0\r\nl: 5000\r\n\r\n")
    partial = StreamFramer(max_size=1000)
    assert partial.feed(b"OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\n12345") == []
