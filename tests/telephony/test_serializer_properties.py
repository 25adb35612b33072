"""Property tests for the WebSocket wire formats and AudioSocket frames: whatever a peer sends,
parsing ends quickly in an event or in the format's own ValueError, never in another exception;
what we send parses back to what we meant.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speech.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from telephony.audiosocket.frames import MAX_AUDIO_PAYLOAD, Frame, Kind
from telephony.bridge import DtmfIn
from telephony.dtmf import DTMF_EVENTS
from telephony.websocket.asterisk import AsteriskSerializer
from telephony.websocket.pcm import PcmSerializer
from telephony.websocket.serializer import (
    MAX_AUDIO_BYTES,
    MAX_JSON_DEPTH,
    Message,
    Serializer,
    StreamAudio,
    StreamFlow,
    StreamMark,
    StreamStart,
    StreamStop,
)
from telephony.websocket.twilio import MEDIA_FORMAT, TwilioSerializer

PARSE_BOUND_S = 0.5
"""Generous bound for one message of at most 64 KB on a shared, loaded test machine."""
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TWILIO_START = json.dumps(
    {
        "event": "start",
        "streamSid": "MZ1",
        "start": {"streamSid": "MZ1", "callSid": "CA1", "mediaFormat": MEDIA_FORMAT},
    }
)
ASTERISK_START = "MEDIA_START connection_id:c1 channel:WebSocket/c1/0x1 format:{codec}"
PCM_START = json.dumps({"event": "start", "rate": 8000, "call_id": "p1"})


def fresh(kind: str) -> Serializer:
    return {"twilio": TwilioSerializer, "asterisk": AsteriskSerializer, "pcm": PcmSerializer}[
        kind
    ]()


def started(kind: str, codec: str = "ulaw") -> Serializer:
    serializer = fresh(kind)
    opening = {"twilio": TWILIO_START, "pcm": PCM_START}.get(kind) or ASTERISK_START.format(
        codec=codec
    )
    assert isinstance(serializer.parse(opening), StreamStart)
    return serializer


def parses_or_refuses(serializer: Serializer, message: Message) -> None:
    """The property: an event (well-formed), nothing, or ValueError; quickly in every case."""
    began = time.perf_counter()
    try:
        event = serializer.parse(message)
    except ValueError:
        event = None
    took = time.perf_counter() - began
    assert took < PARSE_BOUND_S, f"parsing {len(message)} characters took {took:.3f} s"
    if isinstance(event, StreamAudio):
        assert len(event.pcm) % 2 == 0 and len(event.pcm) <= 2 * MAX_AUDIO_BYTES
    elif isinstance(event, DtmfIn):
        assert event.digit in DTMF_EVENTS
    else:
        assert event is None or isinstance(
            event, StreamStart | StreamMark | StreamFlow | StreamStop
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
EVENTS = ["connected", "start", "media", "dtmf", "mark", "stop", "MEDIA_START", "DTMF_END"]
EVENTS += ["MEDIA_XOFF", "MEDIA_XON", "HANGUP", "STATUS", "dance", ""]
base64_text = st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode())


@st.composite
def near_valid_json(draw: Callable[..., Any]) -> str:
    """An object shaped like a real control message, with any field wrong or missing."""
    message: dict[str, Any] = {"event": draw(st.sampled_from(EVENTS) | json_values)}
    fields = {
        "streamSid": st.sampled_from(["MZ1", "MZ2", ""]) | json_values,
        "media": st.fixed_dictionaries(
            {}, optional={"payload": base64_text | json_values, "track": json_values}
        )
        | json_values,
        "dtmf": st.fixed_dictionaries({}, optional={"digit": st.text(max_size=2) | json_values}),
        "digit": st.text(max_size=2) | json_values,
        "mark": st.fixed_dictionaries({}, optional={"name": json_values}),
        "start": st.fixed_dictionaries(
            {},
            optional={
                "streamSid": json_values,
                "mediaFormat": st.just(MEDIA_FORMAT) | json_values,
                "customParameters": json_values,
            },
        ),
        "rate": st.sampled_from([8000, 16000, 11025, 8000.0, True]) | json_values,
        "format": st.sampled_from(["ulaw", "alaw", "slin", "opus"]) | json_values,
        "connection_id": json_values,
        "channel_variables": json_values,
    }
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=5, unique=True)):
        message[key] = draw(fields[key])
    return json.dumps(message)


plain_control = st.builds(
    " ".join,
    st.lists(
        st.sampled_from(EVENTS)
        | st.text(max_size=12)
        | st.builds("{}:{}".format, st.text(), st.text()),
        max_size=5,
    ),
)
deep_json = st.builds(
    lambda n, opener, tail: opener * n + tail,
    st.integers(MAX_JSON_DEPTH + 1, 100_000),
    st.sampled_from(["[", '{"a":', '[{"b":']),
    st.sampled_from(["", "]", "1" + "]" * 20]),
)
text_messages = (
    st.text(max_size=300)
    | near_valid_json()
    | plain_control
    | deep_json
    | json_values.map(json.dumps)
)
binary_messages = st.binary(max_size=3000)
KINDS = ["twilio", "asterisk", "pcm"]


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(message=text_messages | binary_messages, begun=st.booleans())
def test_any_single_message_parses_or_is_refused_quickly(
    kind: str, message: Message, begun: bool
) -> None:
    parses_or_refuses(started(kind) if begun else fresh(kind), message)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(messages=st.lists(text_messages | binary_messages, max_size=6))
def test_any_sequence_of_messages_keeps_each_parse_an_event_or_a_refusal(
    kind: str, messages: list[Message]
) -> None:
    serializer = fresh(kind)
    for message in messages:
        parses_or_refuses(serializer, message)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(depth=st.integers(MAX_JSON_DEPTH + 1, 100_000))
def test_deeply_nested_json_is_the_serializers_own_refusal(kind: str, depth: int) -> None:
    for serializer in (fresh(kind), started(kind)):
        began = time.perf_counter()
        with pytest.raises(ValueError, match="nested deeper"):
            serializer.parse('{"event": ' + "[" * depth)
        assert time.perf_counter() - began < PARSE_BOUND_S


pcm_frames = st.binary(max_size=MAX_AUDIO_BYTES).map(lambda b: b[: len(b) // 2 * 2])


@FUZZ
@given(pcm=pcm_frames, name=st.text(max_size=40))
def test_twilio_media_and_marks_we_send_parse_back(pcm: bytes, name: str) -> None:
    ours, theirs = started("twilio"), started("twilio")
    assert theirs.parse(ours.audio(pcm)) == StreamAudio(ulaw_decode(ulaw_encode(pcm)))
    mark = ours.mark(name)
    assert mark is not None and theirs.parse(mark) == StreamMark(name)


@pytest.mark.parametrize(
    ("codec", "through"),
    [
        ("ulaw", lambda pcm: ulaw_decode(ulaw_encode(pcm))),
        ("alaw", lambda pcm: alaw_decode(alaw_encode(pcm))),
        ("slin", lambda pcm: pcm),
    ],
)
@FUZZ
@given(pcm=pcm_frames)
def test_asterisk_media_we_send_parses_back_in_every_codec(
    codec: str, through: Callable[[bytes], bytes], pcm: bytes
) -> None:
    serializer = started("asterisk", codec)
    assert serializer.parse(serializer.audio(pcm)) == StreamAudio(through(pcm))


@FUZZ
@given(pcm=pcm_frames)
def test_pcm_media_we_send_at_the_call_rate_parses_back_unchanged(pcm: bytes) -> None:
    serializer = started("pcm")
    assert serializer.parse(serializer.audio(pcm)) == StreamAudio(pcm)


@FUZZ
@given(data=st.binary(max_size=40) | st.binary(max_size=MAX_AUDIO_PAYLOAD + 8))
def test_any_audiosocket_bytes_parse_to_a_frame_that_round_trips_or_are_refused(
    data: bytes,
) -> None:
    try:
        frame = Frame.parse(data)
    except ValueError:
        return
    assert bytes(frame) == data and frame.kind in Kind


@FUZZ
@given(
    frame=st.sampled_from(sorted(DTMF_EVENTS)).map(Frame.dtmf)
    | st.uuids().map(Frame.call_uuid)
    | pcm_frames.map(Frame.audio)
    | st.just(Frame.hangup())
)
def test_audiosocket_frames_we_build_parse_back(frame: Frame) -> None:
    assert Frame.parse(bytes(frame)) == frame
