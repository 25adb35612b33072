"""A call's recording on its page: sealed recordings written by the real recorder with a test
keyring, opened by the console served over real HTTP on 127.0.0.1. Who may hear them, the audit
row of every request, the WAV's samples, byte ranges, files outside the folder, recordings cut
short, missing or damaged, and a waveform whose size does not grow with the call."""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from ivr.console.recordings import RecordingShelf
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.console.waveform import POINTS
from ivr.recording import StereoRecorder
from ivr.recording_keys import Keyring, create_key_file
from ivr.records import CallRecordStore, TurnRecord
from ivr.sealed import SealedWriter
from storage.db import Database
from tests.console.conftest import START, ConsoleFactory, add_users, log_in

RATE = 8000
CALL_ID = "20251206t054640zfeedc0ffee01"


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return create_key_file(tmp_path / "recording.keys")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


def tone(seconds: float, hertz: float, amplitude: int) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * hertz * t) * amplitude).astype("<i2")


def record(path: Path, keyring: Keyring, caller: np.ndarray, bot: np.ndarray) -> None:
    """Write a stereo recording as a call does: 20 ms frames from each side, then close."""
    recorder = StereoRecorder(path, RATE, keyring)
    for start in range(0, len(caller), 160):
        recorder.caller(caller[start : start + 160].tobytes())
        recorder.bot(bot[start : start + 160].tobytes())
    recorder.close()


async def store_call(records_url: str, recording: str, call_id: str = CALL_ID) -> None:
    """A call record with three turns 1 s apart, naming ``recording``."""
    store = CallRecordStore(records_url)
    await store.start_call(call_id, "sip", "sip:+15550001234@pbx", recording=recording)
    for turn, kind in enumerate(("start", "speech", "dtmf")):
        await store.add_turn(
            TurnRecord(call_id, turn, START + turn, kind, transcript="hello", bot_text="Hi.")
        )
    await store.end_call(call_id, "self_served")
    store.close()
    db = Database(records_url)  # the store stamps the real time; the turns are on the test clock
    with db.transaction() as tx:
        tx.execute("UPDATE calls SET started_at = ? WHERE call_id = ?", (START, call_id))
    db.close()


@pytest.fixture
async def client_with(
    make_client: ConsoleFactory, users: UserStore, keyring: Keyring, folder: Path
):
    add_users(users, "designer", "qa", "supervisor", "admin")

    async def make(role: str) -> TestClient:
        client = await make_client(tools=CallTools(recordings=RecordingShelf(folder, keyring)))
        assert (await log_in(client, role)).status == 303
        return client

    return make


@pytest.fixture
async def recorded(
    records_url: str, keyring: Keyring, folder: Path
) -> tuple[np.ndarray, np.ndarray]:
    """A 3 s call: the caller a 440 Hz tone, the bot a quieter 220 Hz one."""
    caller, bot = tone(3, 440, 8000), tone(3, 220, 4000)
    path = folder / "2025-12-06" / f"{CALL_ID}.sealed"
    record(path, keyring, caller, bot)
    await store_call(records_url, str(path))
    return caller, bot


def audit_rows(records_url: str) -> list[tuple[str, str, str, str]]:
    db = Database(records_url)
    with db.transaction() as tx:
        rows = tx.all("SELECT actor, action, target, detail FROM console_audit ORDER BY at, id")
    db.close()
    return [(r["actor"], r["action"], r["target"], r["detail"]) for r in rows]


def stereo(body: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(body)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
        return wav.getframerate(), frames


WAV = f"/console/calls/{CALL_ID}/recording.wav"
PAGE = f"/console/calls/{CALL_ID}"


@pytest.mark.parametrize("role", ["qa", "supervisor", "admin"])
async def test_listeners_get_the_player_the_waveform_and_play_from_here(
    client_with, recorded, role: str
) -> None:
    client = await client_with(role)
    page = await (await client.get(PAGE)).text()
    assert f'<audio id="recording" controls preload="metadata" src="{WAV}">' in page
    assert page.count('class="play-from"') == 3
    assert 'data-at="1.00"' in page and 'data-at="2.00"' in page
    assert page.count('class="turn-mark"') == 3 and "<svg" in page
    assert '<script src="/console/static/player.js" defer=""></script>' in page
    assert "cut short" not in page
    script = await client.get("/console/static/player.js")
    assert script.status == 200 and "play-from" in await script.text()


async def test_a_designer_gets_403_for_the_recording_and_no_player(
    client_with, recorded, records_url: str
) -> None:
    client = await client_with("designer")
    assert (await client.get(WAV)).status == 403
    page = await (await client.get(PAGE)).text()
    assert "<audio" not in page and "play-from" not in page and "<svg" not in page
    assert not [row for row in audit_rows(records_url) if row[1] == "recording.play"]


async def test_the_wav_holds_the_recorded_samples_and_each_request_is_audited(
    client_with, recorded, records_url: str
) -> None:
    caller, bot = recorded
    client = await client_with("qa")
    answer = await client.get(WAV)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "audio/wav"
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    body = await answer.read()
    assert int(answer.headers["Content-Length"]) == len(body) == 44 + len(caller) * 4
    rate, frames = stereo(body)
    assert rate == RATE
    assert np.array_equal(frames[:, 0], caller) and np.array_equal(frames[:, 1], bot)
    plays = [row for row in audit_rows(records_url) if row[1] == "recording.play"]
    assert plays == [("qa", "recording.play", CALL_ID, f"bytes 0-{len(body) - 1} of {len(body)}")]


async def test_a_range_request_gets_exactly_those_bytes(
    client_with, recorded, records_url: str
) -> None:
    client = await client_with("supervisor")
    whole = await (await client.get(WAV)).read()
    part = await client.get(WAV, headers={"Range": "bytes=1000-40999"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 1000-40999/{len(whole)}"
    assert await part.read() == whole[1000:41000]
    tail = await client.get(WAV, headers={"Range": "bytes=-100"})
    assert tail.status == 206 and await tail.read() == whole[-100:]
    head = await client.get(WAV, headers={"Range": "bytes=0-43"})
    assert await head.read() == whole[:44]
    outside = await client.get(WAV, headers={"Range": f"bytes={len(whole)}-"})
    assert outside.status == 416 and outside.headers["Content-Range"] == f"bytes */{len(whole)}"
    assert (await client.get(WAV, headers={"Range": "bytes=0-1,5-9"})).status == 416
    plays = [row for row in audit_rows(records_url) if row[1] == "recording.play"]
    assert len(plays) == 4  # every request that sent audio, ranges included


@pytest.mark.parametrize("where", ["absolute", "dotdot", "link"])
async def test_a_record_naming_a_file_outside_the_folder_is_never_served(
    client_with, records_url: str, keyring: Keyring, folder: Path, tmp_path: Path, where: str
) -> None:
    """Even a real sealed recording outside ``call.recordings_dir`` is refused."""
    outside = tmp_path / "elsewhere" / f"{CALL_ID}.sealed"
    record(outside, keyring, tone(1, 440, 8000), tone(1, 220, 4000))
    stored = {
        "absolute": str(outside),
        "dotdot": str(folder / ".." / "elsewhere" / outside.name),
        "link": str(folder / "link.sealed"),
    }[where]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "link.sealed").symlink_to(outside)
    await store_call(records_url, stored)
    client = await client_with("qa")
    answer = await client.get(WAV)
    assert answer.status == 404
    assert "not in the recordings folder" in await answer.text()
    page = await (await client.get(PAGE)).text()
    assert "not in the recordings folder" in page and "<audio" not in page


@pytest.mark.parametrize(
    "path", ["/console/calls/..%2F..%2Fetc/recording.wav", "/console/calls/a.b/recording.wav"]
)
async def test_a_call_id_that_is_not_one_reaches_no_recording(
    client_with, recorded, path: str
) -> None:
    client = await client_with("qa")
    answer = await client.get(path)
    assert answer.status in (400, 404)
    assert answer.headers["Content-Type"].startswith("text/html")


async def test_a_truncated_recording_plays_what_there_is_and_the_page_says_so(
    client_with, records_url: str, keyring: Keyring, folder: Path
) -> None:
    """Two chunks written, the process dies (no final chunk), and a third cut off mid-write."""
    path = folder / f"{CALL_ID}.sealed"
    first, second = tone(1, 440, 8000), tone(1, 300, 6000)
    chunks = [np.column_stack([side, side]).astype("<i2").tobytes() for side in (first, second)]
    writer = SealedWriter(path, keyring, RATE, channels=2)
    for chunk in chunks:
        writer.write(chunk)
    writer.write(chunks[0])
    writer.abandon()
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size - 100)
    await store_call(records_url, str(path))
    client = await client_with("qa")
    page = await (await client.get(PAGE)).text()
    assert "cut short" in page and "the 2.0 s that were written play" in page
    answer = await client.get(WAV)
    assert answer.status == 200
    _, frames = stereo(await answer.read())
    assert np.array_equal(frames[:, 0], np.concatenate([first, second]))
    plays = [row for row in audit_rows(records_url) if row[1] == "recording.play"]
    assert plays[0][3].endswith(", truncated")


async def test_a_missing_or_damaged_recording_is_a_clear_message_never_a_500(
    client_with, records_url: str, keyring: Keyring, folder: Path
) -> None:
    await store_call(records_url, str(folder / "gone.sealed"))
    client = await client_with("qa")
    page = await client.get(PAGE)
    assert page.status == 200 and "no longer there" in await page.text()
    answer = await client.get(WAV)
    assert answer.status == 404 and "no longer there" in await answer.text()

    damaged = folder / "gone.sealed"
    record(damaged, keyring, tone(3, 440, 8000), tone(3, 220, 4000))
    data = bytearray(damaged.read_bytes())
    data[400] ^= 0xFF  # inside the first chunk's ciphertext
    damaged.write_bytes(bytes(data))
    page = await client.get(PAGE)
    assert page.status == 200 and "damaged" in await page.text()

    other = Keyring(()).with_new_key()
    record(folder / "other.sealed", other, tone(1, 440, 8000), tone(1, 220, 4000))
    await store_call(
        records_url, str(folder / "other.sealed"), call_id="20251206t054640zfeedc0ffee02"
    )
    page = await client.get("/console/calls/20251206t054640zfeedc0ffee02")
    assert page.status == 200 and "which the keyring lacks" in await page.text()


async def test_the_waveform_stays_bounded_however_long_the_call(
    client_with, records_url: str, keyring: Keyring, folder: Path
) -> None:
    path = folder / f"{CALL_ID}.sealed"
    loud, quiet = tone(120, 440, 20000), tone(120, 220, 1000)
    record(path, keyring, loud, quiet)
    await store_call(records_url, str(path))
    client = await client_with("admin")
    page = await (await client.get(PAGE)).text()
    lanes = re.findall(r'<path d="([^"]+)" class="wave (caller|bot)"', page)
    assert [name for _, name in lanes] == ["caller", "bot"]
    for path_data, name in lanes:
        strokes = re.findall(r"M([\d.]+) ([\d.]+)V([\d.]+)", path_data)
        assert len(strokes) == POINTS
        spans = [float(low) - float(high) for _, high, low in strokes]
        if name == "caller":
            assert min(spans) > 0.55 * 60  # a 20000 tone fills most of its 60-unit lane
        else:
            assert max(spans) < 0.05 * 60
    assert len(page) < 60_000
