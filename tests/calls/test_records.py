"""Call records, recordings and keypad collection: the parts of a call that must never lose data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from dialogue.payloads import ExpectDigits
from ivr.digits import DigitCollector
from ivr.http import build_app
from ivr.metrics import Metrics
from ivr.recording import StereoRecorder
from ivr.recording_keys import Keyring
from ivr.records import CallRecordStore, TurnRecord, mask_caller
from ivr.sealed import open_recording


@pytest.fixture
def store(tmp_path: Path):
    records = CallRecordStore(f"sqlite:///{tmp_path}/calls.db")
    yield records
    records.close()


async def test_each_turn_is_on_disk_as_soon_as_it_completes(
    store: CallRecordStore, tmp_path
) -> None:
    await store.start_call("c1", "sip", "sip:+15551234567@pbx", "sip:bot@bank")
    await store.add_turn(
        TurnRecord(
            "c1",
            1,
            0.0,
            "speech",
            transcript="my account is 12345678",
            intent="inform",
            intent_confidence=0.93,
            entities=[{"entity": "account_number", "value": "12345678"}],
            bot_text="Your card ending in 4821 is blocked.",
            response_ms=612.5,
        )
    )
    # A second connection sees the turn before the call has ended: a crash loses nothing.
    reader = CallRecordStore(f"sqlite:///{tmp_path}/calls.db")
    call = reader.call("c1")
    turns = reader.turns("c1")
    reader.close()
    assert call is not None and call["outcome"] == "in_progress" and call["turns"] == 1
    assert call["caller"] == "sip:*******4567@pbx"
    assert turns[0]["transcript"] == "my account is ****5678"
    assert "12345678" not in turns[0]["entities"] and "5678" in turns[0]["entities"]
    assert turns[0]["bot_text"] == "Your card ending in 4821 is blocked."
    assert turns[0]["response_ms"] == pytest.approx(612.5)

    await store.end_call("c1", "handed_off", "caller_request")
    assert store.call("c1")["outcome"] == "handed_off"  # type: ignore[index]
    assert store.call("c")["call_id"] == "c1"  # type: ignore[index]  # an unambiguous prefix
    assert [row["call_id"] for row in store.recent_calls()] == ["c1"]


@pytest.mark.parametrize(
    ("caller", "masked"),
    [
        ("sip:+15551234567@10.0.0.1", "sip:*******4567@10.0.0.1"),
        ("5551234567", "******4567"),
        ("sip:alice@example.org", "sip:alice@example.org"),
        ("anonymous", "anonymous"),
    ],
)
def test_caller_ids_keep_only_their_last_four_digits(caller: str, masked: str) -> None:
    assert mask_caller(caller) == masked


def test_recording_keeps_channels_aligned_and_mutes_the_caller_on_request(tmp_path: Path) -> None:
    path = tmp_path / "call.sealed"
    keyring = Keyring(()).with_new_key()
    recorder = StereoRecorder(path, 8000, keyring)
    frame = (np.ones(160) * 1000).astype("<i2").tobytes()
    for index in range(150):
        recorder.caller(frame)
        if index == 50:
            recorder.mute_caller(True)
        if index == 100:
            recorder.mute_caller(False)
        recorder.bot(bytes(320) if index < 20 else frame)
    recorder.caller(frame * 5)  # the caller side ran a little ahead when the call ended
    recorder.close()
    rate, channels, pcm = open_recording(path, keyring)
    assert (channels, rate, len(pcm) // 4) == (2, 8000, 155 * 160)
    stereo = np.frombuffer(pcm, "<i2").reshape(-1, 2)
    caller, bot = stereo[:, 0], stereo[:, 1]
    assert caller[: 51 * 160].all() and not caller[51 * 160 : 101 * 160].any()
    assert caller[101 * 160 :].all()
    assert not bot[: 20 * 160].any() and bot[20 * 160 : 150 * 160].all()
    assert not bot[150 * 160 :].any()  # padded with silence at the end


def test_keypad_entry_completes_on_count_terminator_or_pause() -> None:
    account = DigitCollector(ExpectDigits(count=8, max=8))
    assert [account.press(k, t) for t, k in enumerate("3141592")] == [None] * 7
    assert account.press("6", 7.0) == "31415926"

    free = DigitCollector()
    assert free.press("1", 0.0) is None and free.press("5", 0.5) is None
    assert free.expired(2.0) is None and free.expired(3.6) == "15"
    assert free.press("9", 4.0) is None and free.press("#", 4.2) == "9"
    assert free.press("#", 5.0) is None  # a lone terminator sends nothing


async def test_health_and_metrics_endpoints() -> None:
    metrics = Metrics()
    metrics.call_started("sip")
    metrics.observe("turn", 0.42)
    app = build_app(metrics, lambda: {"sip": {"malformed_dropped": 3}})
    async with TestClient(TestServer(app)) as client:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"
        text = await (await client.get("/metrics")).text()
    assert 'ivr_active_calls{transport="sip"} 1.0' in text
    assert 'ivr_transport{name="malformed_dropped",transport="sip"} 3.0' in text
    assert 'ivr_latency_seconds_bucket{le="0.5",stage="turn"} 1.0' in text


async def test_calls_cli_lists_calls_and_shows_turns(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ivr.cli import main

    url = f"sqlite:///{tmp_path}/calls.db"
    store = CallRecordStore(url)
    await store.start_call(
        "call-abc", "sip", "sip:+15557654321@pbx", recording="r.wav", peer_call_id="9f3e@pbx"
    )
    await store.add_turn(
        TurnRecord(
            "call-abc",
            1,
            0.0,
            "speech",
            transcript="lost card",
            intent="report_lost_card",
            intent_confidence=0.97,
            bot_text="I can block it.",
            asr_ms=310.0,
            response_ms=820.0,
        )
    )
    await store.end_call("call-abc", "self_served", "caller_done")
    store.close()
    runner = CliRunner()
    listed = runner.invoke(main, ["--set", f"call.records_db={url}", "calls"])
    assert listed.exit_code == 0, listed.output
    assert "call-abc" in listed.output and "self_served" in listed.output
    assert "*******4321" in listed.output
    shown = runner.invoke(main, ["--set", f"call.records_db={url}", "calls", "show", "call-a"])
    assert shown.exit_code == 0, shown.output
    assert "report_lost_card 0.97" in shown.output and "response 820 ms" in shown.output
    by_peer = runner.invoke(main, ["--set", f"call.records_db={url}", "calls", "show", "9f3e@pbx"])
    assert by_peer.exit_code == 0 and "call call-abc" in by_peer.output, by_peer.output
    assert "peer call id: 9f3e@pbx" in by_peer.output
    missing = runner.invoke(main, ["--set", f"call.records_db={url}", "calls", "show", "nope"])
    assert missing.exit_code == 1 and "no call with id" in missing.output
