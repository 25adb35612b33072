"""Call records, recordings and keypad collection: the parts of a call that must never lose data."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
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
from ivr.records import BUSY_TIMEOUT_S, CallRecordStore, TurnRecord
from ivr.sealed import open_recording
from tests.postgres import PostgresCluster


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


def numbered_frames(first: int, count: int) -> list[bytes]:
    """20 ms frames at 8 kHz whose samples all equal their frame number (never zero)."""
    return [(np.ones(160) * n).astype("<i2").tobytes() for n in range(first, first + count)]


KEYRING = Keyring(()).with_new_key()


def sealed_recorder(tmp_path: Path) -> StereoRecorder:
    return StereoRecorder(tmp_path / "call.sealed", 8000, KEYRING)


def caller_frames(tmp_path: Path) -> np.ndarray:
    """The first sample of each 20 ms caller frame of the recording the test wrote."""
    _, _, pcm = open_recording(tmp_path / "call.sealed", KEYRING)
    return np.frombuffer(pcm, "<i2").reshape(-1, 2)[:, 0].reshape(-1, 160)[:, 0]


def test_held_utterance_is_muted_from_its_pre_roll_when_it_held_a_secret(tmp_path: Path) -> None:
    recorder = sealed_recorder(tmp_path)
    frames = numbered_frames(1, 300)
    held = []
    for index, frame in enumerate(frames):
        recorder.caller(frame)
        recorder.bot(bytes(320))
        if index == 59:  # speech confirmed after frame 59; its pre-roll began at frame 45
            held.append(recorder.hold_caller(15 * 20))
        if index == 99:
            recorder.end_hold(held[0])
        if index == 139:  # the next utterance, frames 130 to 169, said nothing secret
            held.append(recorder.hold_caller(10 * 20))
        if index == 169:
            recorder.end_hold(held[1])
        if index == 189:  # transcripts come in after the caller went on talking
            recorder.release_caller(held[1], redact=False)
            recorder.release_caller(held[0], redact=True)
    recorder.close()
    caller = caller_frames(tmp_path)
    assert len(caller) == 300
    assert list(caller[:45]) == list(range(1, 46)), "audio before the pre-roll is kept"
    assert not caller[45:100].any(), "the secret utterance and its pre-roll are silent"
    assert list(caller[100:]) == list(range(101, 301)), "everything after it is kept, in order"


def test_audio_still_held_when_the_call_ends_is_muted(tmp_path: Path) -> None:
    recorder = sealed_recorder(tmp_path)
    for index, frame in enumerate(numbered_frames(1, 100)):
        recorder.caller(frame)
        recorder.bot(bytes(320))
        if index == 69:
            recorder.hold_caller(10 * 20)  # hung up mid-utterance: no transcript will come
    recorder.close()
    caller = caller_frames(tmp_path)
    assert list(caller[:60]) == list(range(1, 61)) and not caller[60:].any()


def test_a_hold_never_released_keeps_memory_bounded_and_mutes_as_it_goes(tmp_path: Path) -> None:
    recorder = sealed_recorder(tmp_path)
    recorder.reserve_caller(lookback_ms=200, max_hold_ms=1000)
    frames = numbered_frames(1, 500)  # 10 s
    for index, frame in enumerate(frames):
        recorder.caller(frame)
        recorder.bot(bytes(320))
        if index == 19:
            recorder.hold_caller(5 * 20)
    assert recorder.frames_written >= 8 * 8000, "held audio went on to disk, muted"
    recorder.close()
    caller = caller_frames(tmp_path)
    assert list(caller[:15]) == list(range(1, 16)) and not caller[15:].any()


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


async def test_writes_to_a_locked_database_wait_in_order_and_are_written_when_it_frees(
    store: CallRecordStore, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "calls.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        await store.start_call("c1", "sip", "sip:+15551234567@pbx")
        await store.add_turn(TurnRecord("c1", 1, 0.0, "speech", transcript="lost card"))
        await store.note("c1", "recording_error", "recording stopped: disk full")
        await store.end_call("c1", "self_served", "caller_done")
        assert time.monotonic() - started < 3 * BUSY_TIMEOUT_S, "a locked store costs a call ~1 s"
        assert store.stats() == {"backlog": 4, "dropped": 0}  # on /metrics
    finally:
        holder.execute("COMMIT")
        holder.close()
    deadline = time.monotonic() + 15
    while store.backlog and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    call = store.call("c1")
    assert call is not None and call["outcome"] == "self_served" and call["turns"] == 1
    assert json.loads(call["details"]) == {"recording_error": "recording stopped: disk full"}
    assert store.dropped == 0


async def test_writes_while_postgresql_is_down_are_written_when_it_is_back() -> None:
    cluster = PostgresCluster()
    try:
        store = CallRecordStore(cluster.url, node_id="node-a")
        await store.start_call("c1", "sip", "sip:+15551234567@pbx")
        cluster.stop()
        await store.add_turn(TurnRecord("c1", 1, 0.0, "speech", transcript="lost card"))
        await store.end_call("c1", "handed_off", "caller_request")
        assert store.backlog == 2
        cluster.start()
        deadline = time.monotonic() + 30
        while store.backlog and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        call = store.call("c1")
        assert call is not None and call["outcome"] == "handed_off" and call["turns"] == 1
        assert call["node_id"] == "node-a"
        store.close()
    finally:
        cluster.remove()


async def test_a_restart_marks_only_its_own_calls_left_in_progress_as_interrupted(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/calls.db"
    ours, theirs = CallRecordStore(url, node_id="a"), CallRecordStore(url, node_id="b")
    await ours.start_call("cut", "sip", "sip:+15551234567@pbx")
    await ours.add_turn(TurnRecord("cut", 1, 1234.5, "speech", transcript="lost card"))
    await ours.start_call("done", "sip", "sip:+15551234567@pbx")
    await ours.end_call("done", "self_served", "caller_done")
    await theirs.start_call("live", "sip", "sip:+15557654321@pbx")
    theirs.close()
    ours.close()
    restarted = CallRecordStore(url, node_id="a")
    assert restarted.mark_interrupted() == ["cut"]
    cut = restarted.call("cut")
    assert cut is not None and cut["outcome"] == "interrupted" and cut["ended_at"] == 1234.5
    assert len(restarted.turns("cut")) == 1
    assert restarted.call("done")["outcome"] == "self_served"  # type: ignore[index]
    assert restarted.call("live")["outcome"] == "in_progress"  # type: ignore[index]
    restarted.close()
