"""WebSocket wire formats: Twilio Media Streams, Asterisk chan_websocket, plain PCM."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from speech.g711 import ulaw_encode
from telephony.bridge import DtmfIn
from telephony.websocket.asterisk import AsteriskSerializer
from telephony.websocket.pcm import PcmSerializer
from telephony.websocket.serializer import (
    StreamAudio,
    StreamFlow,
    StreamMark,
    StreamStart,
    StreamStop,
)
from telephony.websocket.twilio import TwilioSerializer

TONE = (np.sin(np.arange(160) * 0.3) * 9000).astype("<i2").tobytes()


def twilio_started() -> TwilioSerializer:
    serializer = TwilioSerializer()
    start = {
        "event": "start",
        "streamSid": "MZ1",
        "start": {
            "streamSid": "MZ1",
            "callSid": "CA1",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"caller": "+15550001234", "lang": "en"},
        },
    }
    assert serializer.parse(json.dumps({"event": "connected", "protocol": "Call"})) is None
    started = serializer.parse(json.dumps(start))
    assert started == StreamStart(
        "CA1",
        caller="+15550001234",
        extra={
            "format": "twilio",
            "stream_sid": "MZ1",
            "tracks": ["inbound"],
            "custom_parameters": {"lang": "en"},
        },
    )
    return serializer


def test_twilio_inbound_events() -> None:
    serializer = twilio_started()
    payload = base64.b64encode(ulaw_encode(TONE)).decode()
    media = {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": payload}
    audio = serializer.parse(json.dumps({"event": "media", "streamSid": "MZ1", "media": media}))
    assert isinstance(audio, StreamAudio) and len(audio.pcm) == len(TONE)
    assert np.corrcoef(np.frombuffer(audio.pcm, "<i2"), np.frombuffer(TONE, "<i2"))[0, 1] > 0.99
    dtmf = {"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": "5"}}
    assert serializer.parse(json.dumps(dtmf)) == DtmfIn("5")
    mark = {"event": "mark", "streamSid": "MZ1", "mark": {"name": "played-1"}}
    assert serializer.parse(json.dumps(mark)) == StreamMark("played-1")
    stop = {"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}}
    assert isinstance(serializer.parse(json.dumps(stop)), StreamStop)


def test_twilio_outbound_messages() -> None:
    serializer = twilio_started()
    media = json.loads(serializer.audio(TONE))
    assert media["event"] == "media" and media["streamSid"] == "MZ1"
    assert base64.b64decode(media["media"]["payload"]) == ulaw_encode(TONE)
    assert json.loads(serializer.clear()) == {"event": "clear", "streamSid": "MZ1"}
    assert json.loads(serializer.mark("m")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "m"},
    }


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("{oops", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"event": "dance", "streamSid": "MZ1"}', "unknown Twilio event 'dance'"),
        ('{"event": "media", "streamSid": "MZ1", "media": {"payload": "%%%"}}', "not base64"),
        ('{"event": "media", "streamSid": "MZ1", "media": {}}', "without a base64 payload"),
        ('{"event": "media", "streamSid": "MZ2", "media": {"payload": ""}}', "another stream"),
        ('{"event": "dtmf", "streamSid": "MZ1", "dtmf": {"digit": "55"}}', "keypad key"),
        ('{"event": "start", "streamSid": "MZ1", "start": {}}', "second start"),
    ],
)
def test_twilio_bad_input_is_refused_with_a_reason(message: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        twilio_started().parse(message)


def test_twilio_refuses_oversized_audio_binary_and_media_before_start() -> None:
    big = base64.b64encode(bytes(20000)).decode()
    oversized = {"event": "media", "streamSid": "MZ1", "media": {"payload": big}}
    with pytest.raises(ValueError, match="exceeds"):
        twilio_started().parse(json.dumps(oversized))
    with pytest.raises(ValueError, match="not binary"):
        twilio_started().parse(b"\x00\x01")
    with pytest.raises(ValueError, match="before start"):
        TwilioSerializer().parse('{"event": "media", "media": {"payload": ""}}')
    wrong_format = {"event": "start", "streamSid": "MZ", "start": {"mediaFormat": {}}}
    with pytest.raises(ValueError, match="unsupported mediaFormat"):
        TwilioSerializer().parse(json.dumps(wrong_format))


def test_asterisk_plain_text_control_and_media() -> None:
    serializer = AsteriskSerializer()
    with pytest.raises(ValueError, match="before MEDIA_START"):
        serializer.parse(b"\xff" * 160)
    start = serializer.parse(
        "MEDIA_START connection_id:abc channel:WebSocket/abc/0x1 format:ulaw optimal_frame_size:160"
    )
    assert isinstance(start, StreamStart) and start.call_id == "abc"
    assert start.extra["codec"] == "ulaw"
    audio = serializer.parse(ulaw_encode(TONE))
    assert isinstance(audio, StreamAudio) and len(audio.pcm) == 320
    assert serializer.parse("DTMF_END digit:#") == DtmfIn("#")
    assert serializer.parse("MEDIA_XOFF") == StreamFlow(paused=True)
    assert serializer.parse("MEDIA_XON") == StreamFlow(paused=False)
    assert serializer.parse("DTMF_BEGIN digit:1") is None
    assert isinstance(serializer.parse("HANGUP"), StreamStop)
    assert serializer.audio(TONE) == ulaw_encode(TONE)
    assert (serializer.clear(), serializer.hangup("bye")) == ("FLUSH_MEDIA", "HANGUP")
    with pytest.raises(ValueError, match="unknown chan_websocket event 'WHAT'"):
        serializer.parse("WHAT now:1")
    with pytest.raises(ValueError, match="not key:value"):
        serializer.parse("DTMF_END 5")


def test_asterisk_json_control_is_answered_in_json() -> None:
    serializer = AsteriskSerializer()
    start = {
        "event": "MEDIA_START",
        "connection_id": "c1",
        "channel_id": "17.1",
        "format": "slin",
    }
    assert serializer.parse(json.dumps(start)) == StreamStart(
        "17.1",
        extra={"format": "asterisk", "codec": "slin", "connection_id": "c1", "channel": ""},
    )
    assert serializer.parse(TONE) == StreamAudio(TONE)
    assert json.loads(serializer.clear()) == {"command": "FLUSH_MEDIA"}
    with pytest.raises(ValueError, match="unsupported format 'opus'"):
        AsteriskSerializer().parse("MEDIA_START connection_id:x format:opus")


def test_pcm_format_resamples_a_16khz_client_and_checks_its_messages() -> None:
    serializer = PcmSerializer()
    with pytest.raises(ValueError, match="before the start"):
        serializer.parse(bytes(640))
    start = serializer.parse(json.dumps({"event": "start", "rate": 16000, "caller": "browser"}))
    assert isinstance(start, StreamStart) and start.extra == {"format": "pcm", "rate": 16000}
    second = np.sin(np.arange(16000) * 2 * np.pi * 300 / 16000) * 8000
    inbound = serializer.parse(second.astype("<i2").tobytes())
    assert isinstance(inbound, StreamAudio)
    assert 14400 < len(inbound.pcm) <= 16000  # one second at 8 kHz, less soxr's filter delay
    outbound = serializer.audio(bytes(16000))
    assert isinstance(outbound, bytes) and 28800 < len(outbound) <= 32000
    assert serializer.parse('{"event": "dtmf", "digit": "*"}') == DtmfIn("*")
    assert json.loads(serializer.hangup("bye")) == {"event": "hangup", "reason": "bye"}
    with pytest.raises(ValueError, match="whole 16-bit samples"):
        serializer.parse(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="rate 11025"):
        PcmSerializer().parse('{"event": "start", "rate": 11025}')


@pytest.mark.parametrize(
    ("serializer", "start"),
    [
        (
            TwilioSerializer,
            {"event": "start", "streamSid": "MZ1", "start": {"callSid": {"a": ["b"] * 50}}},
        ),
        (
            TwilioSerializer,
            {
                "event": "start",
                "streamSid": "MZ1",
                "start": {"customParameters": {"caller": ["+15550100"]}},
            },
        ),
        (TwilioSerializer, {"event": "start", "streamSid": "MZ" + "9" * 500, "start": {}}),
        (PcmSerializer, {"event": "start", "call_id": "x" * 129}),
        (PcmSerializer, {"event": "start", "caller": "+1555\n0100"}),
        (AsteriskSerializer, {"event": "MEDIA_START", "channel_id": {"id": 1}}),
    ],
)
def test_a_peer_id_that_is_not_short_printable_text_refuses_the_start(serializer, start) -> None:
    with pytest.raises(ValueError, match="must be"):
        serializer().parse(json.dumps(start))


def test_a_numeric_peer_id_is_kept_as_text() -> None:
    start = PcmSerializer().parse(json.dumps({"event": "start", "call_id": 42, "caller": 5550100}))
    assert (start.call_id, start.caller) == ("42", "5550100")
