"""Stored call data: sealed recordings, their keys, owner-only files, retention and call ids.

Real files, a real SQLite record store and the real CLI; no engines (whole calls that check the
same on the wire are in test_session.py and test_stream_calls.py).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.config import ConfigError
from ivr.qa.run import RunFolder, new_run_folder, run_keyring
from ivr.recording import StereoRecorder
from ivr.recording_keys import Keyring, read_keyring
from ivr.records import CallRecordStore, TurnRecord, new_call_id
from ivr.retention import DAY_S
from ivr.sealed import MAGIC, RecordingError, SealedWriter, open_recording, probe
from speech.audio import Audio
from speech.tts.cache import PromptCache, PromptKey

RATE = 8000


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _speech_like(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-12000, 12000, int(RATE * seconds), dtype="<i2")


def _record(path: Path, keyring: Keyring, seconds: float = 3.0) -> np.ndarray:
    """A call's two channels through the StereoRecorder; returns what it was given (frames, 2)."""
    caller, bot = _speech_like(seconds, 1), _speech_like(seconds, 2)
    recorder = StereoRecorder(path, RATE, keyring)
    for start in range(0, len(caller), 160):
        recorder.caller(caller[start : start + 160].tobytes())
        recorder.bot(bot[start : start + 160].tobytes())
    recorder.close()
    return np.column_stack([caller, bot])


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_a_sealed_recording_is_no_wav_and_opens_sample_exact_with_its_key(tmp_path: Path) -> None:
    keyring = Keyring(()).with_new_key()
    path = tmp_path / "day" / "call.sealed"
    given = _record(path, keyring)
    data = path.read_bytes()
    assert data.startswith(MAGIC) and b"RIFF" not in data[:64]
    with pytest.raises(wave.Error):
        wave.open(str(path)).close()
    assert given[1000:1010].tobytes() not in data  # no stretch of the audio in the clear
    rate, channels, pcm = open_recording(path, keyring)
    assert (rate, channels) == (RATE, 2)
    assert np.array_equal(np.frombuffer(pcm, "<i2").reshape(-1, 2), given)
    assert probe(path) == (RATE, 2, len(given))  # the length is known without the key
    with pytest.raises(RecordingError, match=r"no call\.recording_key_file"):
        open_recording(path, None)
    with pytest.raises(RecordingError, match="which the keyring lacks"):
        open_recording(path, Keyring(()).with_new_key())


def test_tampered_reordered_and_truncated_recordings_are_detected(tmp_path: Path) -> None:
    keyring = Keyring(()).with_new_key()
    path = tmp_path / "call.sealed"
    writer = SealedWriter(path, keyring, RATE, channels=1)
    chunks = [bytes([n]) * 1600 for n in range(1, 4)]
    for chunk in chunks:
        writer.write(chunk)
    writer.close()
    data = path.read_bytes()
    header = len(data) - 3 * (4 + 1600 + 16) - (4 + 16)
    assert open_recording(path, keyring)[2] == b"".join(chunks)

    def opened(damaged: bytes) -> None:
        bad = tmp_path / "bad.sealed"
        bad.write_bytes(damaged)
        open_recording(bad, keyring)

    flipped = bytearray(data)
    flipped[header + 4 + 100] ^= 1  # one bit of the first chunk's audio
    with pytest.raises(RecordingError, match="chunk 0 fails authentication"):
        opened(bytes(flipped))
    rate_changed = bytearray(data)
    rate_changed[len(MAGIC) + 2 + len(keyring.newest_id)] ^= 1  # the header's rate
    with pytest.raises(RecordingError, match="header fails authentication"):
        opened(bytes(rate_changed))
    first, second = header, header + 4 + 1600 + 16
    swapped = (
        data[:first] + data[second : second + 1620] + data[first:second] + data[2 * 1620 + first :]
    )
    assert len(swapped) == len(data)
    with pytest.raises(RecordingError, match="chunk 0 fails authentication"):
        opened(swapped)
    with pytest.raises(RecordingError, match="truncated after chunk 3"):
        opened(data[: -(4 + 16)])  # the final chunk cut off: the call's end is missing
    with pytest.raises(RecordingError, match="chunk 2 is cut off"):
        opened(data[: header + 2 * 1620 + 800])


def test_rotation_keeps_old_recordings_readable_and_seals_new_ones_with_the_new_key(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "keys" / "recording.keys"
    made = _cli("recordings", "keygen", "--key-file", str(key_file))
    assert made.exit_code == 0, made.output
    assert _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700
    again = _cli("recordings", "keygen", "--key-file", str(key_file))
    assert again.exit_code == 1 and "already exists" in again.output
    first = read_keyring(key_file)
    _record(tmp_path / "old.sealed", first)

    rotated = _cli("recordings", "rotate", "--key-file", str(key_file))
    assert rotated.exit_code == 0, rotated.output
    second = read_keyring(key_file)
    assert _mode(key_file) == 0o600
    assert len(second.keys) == 2 and second.keys[0] == first.keys[0]
    assert second.newest_id != first.newest_id and second.newest_id in rotated.output
    given = _record(tmp_path / "new.sealed", second)

    assert (
        (tmp_path / "old.sealed")
        .read_bytes()[len(MAGIC) + 2 :]
        .startswith(first.newest_id.encode())
    )
    assert (
        (tmp_path / "new.sealed")
        .read_bytes()[len(MAGIC) + 2 :]
        .startswith(second.newest_id.encode())
    )
    for name in ("old", "new"):
        pcm = open_recording(tmp_path / f"{name}.sealed", second)[2]
        assert np.array_equal(np.frombuffer(pcm, "<i2").reshape(-1, 2), given)
    with pytest.raises(RecordingError, match="lacks"):
        open_recording(tmp_path / "new.sealed", first)  # the old keyring cannot read new files

    os.chmod(key_file, 0o644)
    with pytest.raises(ConfigError, match=r"call\.recording_key_file.*chmod 600"):
        read_keyring(key_file)


async def test_purge_deletes_only_recordings_and_records_older_than_retention(
    tmp_path: Path,
) -> None:
    keyring = Keyring(()).with_new_key()
    recordings = tmp_path / "recordings"
    now = time.time()
    old_file, new_file = recordings / "20250101" / "old.sealed", recordings / "today" / "new.sealed"
    _record(old_file, keyring, 0.2)
    _record(new_file, keyring, 0.2)
    os.utime(old_file, (now - 91 * DAY_S, now - 91 * DAY_S))
    os.utime(new_file, (now - 89 * DAY_S, now - 89 * DAY_S))
    url = f"sqlite:///{tmp_path}/calls.db"
    store = CallRecordStore(url)
    for call_id in ("old-call", "new-call"):
        await store.start_call(call_id, "sip", "sip:+15550001111@pbx")
        await store.add_turn(TurnRecord(call_id, 1, now, "speech", transcript="lost my card"))
    with store.db.transaction() as tx:
        tx.execute(
            "UPDATE calls SET started_at = ? WHERE call_id = 'old-call'", (now - 91 * DAY_S,)
        )
        tx.execute(
            "UPDATE calls SET started_at = ? WHERE call_id = 'new-call'", (now - 89 * DAY_S,)
        )
    store.close()

    purged = _cli(
        "--set",
        f"call.records_db={url}",
        "--set",
        f"call.recordings_dir={recordings}",
        "recordings",
        "purge",
    )
    assert purged.exit_code == 0, purged.output
    assert "deleted 1 call records and 1 recordings older than 90 days" in purged.output
    assert not old_file.exists() and not old_file.parent.exists() and new_file.exists()
    db = sqlite3.connect(tmp_path / "calls.db")
    assert db.execute("SELECT call_id FROM calls").fetchall() == [("new-call",)]
    assert db.execute("SELECT DISTINCT call_id FROM turns").fetchall() == [("new-call",)]
    db.close()

    kept = _cli(
        "--set",
        f"call.records_db={url}",
        "--set",
        f"call.recordings_dir={recordings}",
        "--set",
        "call.retention_days=0",
        "recordings",
        "purge",
    )
    assert "everything is kept" in kept.output and new_file.exists()
    negative = _cli("--set", "call.retention_days=-1", "recordings", "purge")
    assert negative.exit_code == 2 and "call.retention_days" in negative.output


def test_everything_holding_call_data_is_created_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)  # the usual default: what the code does not restrict, others could read
    store = CallRecordStore(f"sqlite:///{tmp_path}/var/records/calls.db")
    store.close()
    assert _mode(tmp_path / "var/records/calls.db") == 0o600
    assert _mode(tmp_path / "var/records") == 0o700 and _mode(tmp_path / "var") == 0o700

    recording = tmp_path / "recordings" / "20261205" / "call.sealed"
    _record(recording, Keyring(()).with_new_key(), 0.1)
    assert _mode(recording) == 0o600
    assert _mode(recording.parent) == 0o700 and _mode(recording.parent.parent) == 0o700

    cache = PromptCache(tmp_path / "prompt-cache")
    key = PromptKey("Welcome to the bank.", "piper", "joe", "r1", 1.0, RATE)
    cache.put(key, Audio(np.zeros(800, np.int16), RATE))
    entry = cache.path_for(key)
    assert _mode(entry) == 0o600 and _mode(entry.parent) == 0o700
    assert _mode(tmp_path / "prompt-cache") == 0o700

    run = new_run_folder(tmp_path / "qa", "simulate")
    assert _mode(run.root) == 0o700 and _mode(tmp_path / "qa") == 0o700
    keyring = run_keyring(None, run)  # no key configured: the run makes its own
    assert _mode(run.key_file) == 0o600
    assert run_keyring(None, RunFolder(run.root)) == keyring  # made once per run

    legacy = tmp_path / "legacy.db"
    sqlite3.connect(legacy).close()
    os.chmod(legacy, 0o644)
    CallRecordStore(f"sqlite:///{legacy}").close()
    assert _mode(legacy) == 0o600  # a database made before is tightened


async def test_records_keep_the_peer_id_and_find_a_call_by_either_id(tmp_path: Path) -> None:
    legacy = tmp_path / "calls.db"
    db = sqlite3.connect(legacy)  # a store made before peer ids were kept
    db.execute(
        "CREATE TABLE calls (call_id TEXT PRIMARY KEY, transport TEXT NOT NULL, caller TEXT NOT"
        " NULL, called TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE"
        " PRECISION, outcome TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', turns INTEGER NOT"
        " NULL DEFAULT 0, recording TEXT NOT NULL DEFAULT '', details TEXT NOT NULL DEFAULT '{}')"
    )
    db.execute(
        "INSERT INTO calls (call_id, transport, caller, called, started_at, outcome)"
        " VALUES ('old-one', 'sip', '', '', 1.0, 'self_served')"
    )
    db.commit()
    db.close()
    store = CallRecordStore(f"sqlite:///{legacy}")
    ids = [new_call_id() for _ in range(200)]
    assert len(set(ids)) == 200 and all(re.fullmatch(r"\d{8}t\d{6}z[0-9a-f]{12}", i) for i in ids)
    first, second = ids[:2]
    await store.start_call(first, "sip", "sip:+15550001111@pbx", peer_call_id="../../x@evil")
    await store.start_call(second, "sip", "sip:+15550001111@pbx", peer_call_id="../../x@evil")
    with store.db.transaction() as tx:
        tx.execute("UPDATE calls SET started_at = started_at - 5 WHERE call_id = ?", (first,))
    assert store.call(first)["peer_call_id"] == "../../x@evil"  # type: ignore[index]
    assert store.call("../../x@evil")["call_id"] == second  # type: ignore[index]  # the newest
    assert store.call_by_peer_id("../../x@evil")["call_id"] == second  # type: ignore[index]
    assert store.call("old-one")["peer_call_id"] == ""  # type: ignore[index]
    assert store.call_by_peer_id("") is None  # older calls' empty peer id matches nothing
    store.close()
