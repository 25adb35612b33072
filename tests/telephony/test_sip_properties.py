"""Property tests (hypothesis) of the SIP message and SDP parsers: any input parses or raises
the parser's own error, within a CPU bound, and whatever parses can be answered.

Inputs are random bytes and mutations of real messages (RFC 3665 flows, RFC 4475 torture
tests, the offers real phones send): bytes flipped, deleted, tokens that broke parsers before
inserted (non-ASCII digits, 1e400, long runs of spaces or commas), slices repeated up to the
64 KB datagram limit.
"""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.sdp import (
    MediaParameters,
    NegotiationError,
    SdpError,
    SessionDescription,
    accept_answer,
    answer_offer,
)
from telephony.sip.message import (
    MAX_MESSAGE_SIZE,
    SipParseError,
    SipRequest,
    StreamFramer,
    check_request,
    make_response,
    parse_message,
)
from telephony.sip.transaction import server_key

from .rawsip import offer_sdp
from .sip_samples import (
    INVALID,
    RFC3665_BYE,
    RFC3665_INVITE,
    SDP_150,
    VALID_REQUESTS,
    VALID_RESPONSES,
)
from .test_sdp import BARESIP_OFFER, OPUS_FIRST_OFFER

CPU_BOUND_S = 0.05
"""Most CPU one parse (and the checks a server runs on it) may take, for inputs up to 64 KB."""
CPU_PER_READ_S = 20e-6
"""What one more TCP read may add to framing a stream (a call's overhead, not a rescan)."""
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),  # wall clock on a shared machine; the CPU bound is asserted
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SIP_SAMPLES = [
    RFC3665_INVITE,
    RFC3665_BYE,
    *VALID_REQUESTS.values(),
    *VALID_RESPONSES.values(),
    *(data for data, _ in INVALID.values()),
]
SDP_SAMPLES = [offer_sdp(4000), SDP_150, BARESIP_OFFER.encode(), OPUS_FIRST_OFFER.encode()]
TOKENS = [
    b" ",
    b"\t",
    b"\r\n",
    b"\r\n ",
    b"\n",
    b":",
    b";",
    b",",
    b'"',
    b"<",
    b">",
    b"\\",
    b"=",
    b"/",
    "\u0663".encode(),  # Arabic-Indic three: str.isdigit() says yes, and int() parses it
    "\u00b2".encode(),  # superscript two: str.isdigit() says yes, int() raises
    b"\x00",
    b"\xff",
    b"1e400",
    b"inf",
    b"nan",
    b"-1",
    b"99999999999999999999",
    b"SIP/2.0",
    b"Via: SIP/2.0/UDP ",
    b"Content-Length: ",
    b"a=ptime:",
    b"a=rtpmap:",
    b"m=audio ",
    b" " * 4000,
    b"," * 4000,
]


@st.composite
def mutated(draw: st.DrawFn, samples: list[bytes]) -> bytes:
    """A sample with up to eight mutations, cut to the 64 KB message limit."""
    data = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "repeat"]))
        if operation == "flip" and data:
            data[min(position, len(data) - 1)] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[position:position] = draw(st.sampled_from(TOKENS))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        else:
            end = min(len(data), position + draw(st.integers(1, 200)))
            data[position:end] = data[position:end] * draw(st.integers(2, 3000))
            del data[MAX_MESSAGE_SIZE:]
    return bytes(data[:MAX_MESSAGE_SIZE])


def sip_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=4096), mutated(SIP_SAMPLES))


def sdp_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=4096), mutated(SDP_SAMPLES))


def what_a_server_does_with(data: bytes) -> None:
    """Parse, check and answer as SipServer does; only SipParseError may escape."""
    message = parse_message(data)
    if isinstance(message, SipRequest):
        problem = check_request(message)
        if problem is None:
            server_key(message)
            make_response(message, 200, to_tag="abc", received_from=("192.0.2.1", 5060))
        elif message.get("Via"):
            bytes(make_response(message, problem[0], problem[1]))


@PROPERTY_SETTINGS
@given(sip_inputs())
def test_any_sip_input_parses_or_raises_sip_parse_error_quickly(data: bytes) -> None:
    cpu = time.process_time()
    with contextlib.suppress(SipParseError):
        what_a_server_does_with(data)
    assert time.process_time() - cpu < CPU_BOUND_S, len(data)


@PROPERTY_SETTINGS
@given(sip_inputs(), st.integers(1, 1500))
def test_any_sip_stream_frames_or_raises_sip_parse_error_quickly(data: bytes, chunk: int) -> None:
    """However a stream is cut into reads, framing it is linear: a bound plus a cost per read
    (fed a byte per read, the old framer rescanned its buffer each time: 7 s for 60 KB)."""
    framer = StreamFramer()
    reads = range(0, len(data), chunk)
    cpu = time.process_time()
    try:
        for start in reads:
            framer.feed(data[start : start + chunk])
    except SipParseError:
        pass
    assert time.process_time() - cpu < CPU_BOUND_S + len(reads) * CPU_PER_READ_S, len(data)


def answer_to(offer: SessionDescription) -> MediaParameters:
    _, params = answer_offer(
        offer, address="192.0.2.1", port=4000, session_id="1", session_version=1
    )
    return params


@PROPERTY_SETTINGS
@given(sdp_inputs())
def test_any_sdp_parses_and_negotiates_or_raises_sdp_error_quickly(data: bytes) -> None:
    cpu = time.process_time()
    try:
        offer = SessionDescription.parse(data)
        bytes(offer)
    except SdpError:
        assert time.process_time() - cpu < CPU_BOUND_S, len(data)
        return
    for negotiate in (answer_to, accept_answer):
        try:
            params = negotiate(offer)
        except NegotiationError:
            continue
        assert 0 <= params.payload_type <= 127 and 0 <= params.remote_port <= 65535
        assert params.remote_ptime is None or 1 <= params.remote_ptime <= 1000
    assert time.process_time() - cpu < CPU_BOUND_S, len(data)
