"""QA runs on real calls: the shipped caller scripts, replays of calls the bot recorded, reports.

Everything goes through the real CallSession with the real engines and the trained assistant.
The scripted suite runs on the virtual-clock in-process line (faster than real time); the call
that is replayed is recorded in real time over the loopback line first, as a caller would make it.
One short script also runs over real SIP with baresip, and one over a Twilio media-stream
WebSocket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import pytest_asyncio

from dialogue.client import make_client
from dialogue.training import Project, train
from ivr.pepper import bank_pepper
from ivr.qa.run import RunFolder, finish_run, replay_run, run_calls, run_keyring, simulate_run
from ivr.qa.script import load_script, load_scripts
from ivr.qa.simulate import run_script
from ivr.sealed import MAGIC
from ivr.services import Services
from speech.audio import Audio, write_wav
from speech.resample import resample
from telephony.baresip import BARESIP
from tests.calls.conftest import RATE, caller_says, loopback_call, records

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "data" / "qa"
BOB_ACCOUNT, BOB_PIN = "55501234", "8024"
CHROMIUM = shutil.which("chromium")
CHANGED_FROM = "First, I need to verify you. Please say or key in your 8-digit account number."
CHANGED_TO = "To start, please key in your 8-digit account number."


def _without_audio(text: str) -> str:
    return re.sub(r"data:audio/wav;base64,[A-Za-z0-9+/=]+", "", text)


def _texts(value: object) -> list[str]:
    """Every string in a JSON document (numbers such as timestamps may hold any digits)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


async def test_the_shipped_suite_passes_faster_than_real_time(
    services: Services, tmp_path: Path
) -> None:
    scripts = load_scripts([SUITE])
    folder = RunFolder(tmp_path / "run")
    keyring = run_keyring(None, folder)  # as with no call.recording_key_file: the run's own key
    results = await run_calls(
        services, folder, "inprocess", True, scripts, run_script, keyring, progress=False
    )
    printed: list[str] = []
    secrets = tuple(pin for script in scripts for pin in script.secrets)
    passed = finish_run(
        folder, "simulate", results, {"bridge": "inprocess"}, secrets, printed.append, keyring
    )
    assert passed, "\n".join(printed)
    assert len(results) >= 10

    line_s = sum(r.line_s for r in results)
    wall_s = sum(r.wall_s for r in results)
    assert line_s > 1.5 * wall_s, f"{line_s:.0f} s of calls took {wall_s:.0f} s"

    data = json.loads(folder.results.read_text())
    overall = data["scores"]["overall"]
    assert overall["task_success"] == 1.0
    assert overall["wer"] is not None and overall["wer"] < 0.2, overall
    assert overall["intent_accuracy"] >= 0.9 and overall["intent_turns"] >= 15, overall
    assert 0 < overall["containment"] < 1 and overall["abandonment_rate"] > 0, overall
    assert overall["latency_p50_ms"] <= overall["latency_p95_ms"], overall
    assert len(data["scores"]["per_call"]) == len(results)

    page = folder.report.read_text()
    assert page.count("<section") == len(results) and "<svg" in page
    assert page.count("<audio") == 2 * len(results) and "recording unreadable" not in page
    assert all(Path(r.recording).read_bytes().startswith(MAGIC) for r in results)
    for pin in secrets:
        assert pin not in _without_audio(page)
        assert not any(pin in text for text in _texts(data))
    if CHROMIUM is None:
        pytest.skip("chromium is installed by `make setup`")
    shot = tmp_path / "report.png"
    await asyncio.to_thread(_screenshot, folder.report, shot, tmp_path / "profile")
    assert shot.stat().st_size > 20_000
    dom = await asyncio.to_thread(_dump_dom, folder.report, tmp_path / "profile2")
    assert f"{len(results)}/{len(results)} calls passed" in dom


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile.mkdir()
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def _screenshot(page: Path, png: Path, profile: Path) -> None:
    _chromium(f"--screenshot={png}", "--window-size=1280,2000", page.as_uri(), profile=profile)


def _dump_dom(page: Path, profile: Path) -> str:
    return _chromium("--dump-dom", page.as_uri(), profile=profile).stdout


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def recorded_call(services: Services, voice, call_dirs: Path):
    """A real-time call the bot records: Bob asks for his balance, keys in account and PIN."""
    async with loopback_call(services) as (call, session):
        await call.wait_for_bot_silence(quiet_s=1.6, timeout_s=90)
        await call.say(caller_says(voice, "What's my balance, please?"))
        await call.wait_for_bot_silence(quiet_s=1.6, timeout_s=90)
        await call.press(BOB_ACCOUNT)
        await call.wait_for_bot_silence(quiet_s=1.6, timeout_s=90)
        await call.press(BOB_PIN)
        await call.wait_for_bot_silence(quiet_s=1.6, timeout_s=90)
        call.hang_up()
        await asyncio.wait_for(session, 30)
    row, turns = records(call_dirs, call.bridge.info.call_id)
    assert [t["input_kind"] for t in turns] == ["start", "speech", "dtmf", "secure_dtmf"], turns
    assert turns[1]["intent"] == "check_balance" and "balance of" in turns[3]["bot_text"]
    return Path(row["recording"]), row, turns


async def _replay(services: Services, recording: Path, out: Path, **options) -> tuple[bool, dict]:
    printed: list[str] = []
    ok = await replay_run(
        services.config,
        [recording],
        options.get("keys", []),
        options.get("pin"),
        True,
        str(out),
        progress=False,
        echo=printed.append,
        services=services,
    )
    data = json.loads((out / "results.json").read_text())
    data["printed"] = "\n".join(printed)
    return ok, data


async def test_replaying_a_call_recorded_by_the_bot_reproduces_it(
    services: Services, recorded_call, tmp_path: Path
) -> None:
    recording, row, turns = recorded_call
    ok, data = await _replay(
        services, recording, tmp_path / "replay", keys=[BOB_ACCOUNT], pin=BOB_PIN
    )
    call = data["calls"][0]
    assert ok and call["passed"], data["printed"]
    assert call["compared"] and call["diffs"] == []
    assert [t["intent"] for t in call["turns"]] == [t["intent"] for t in turns]
    assert call["outcome"] == row["outcome"] == "abandoned"
    assert call["line_s"] > 2 * call["wall_s"], (call["line_s"], call["wall_s"])
    assert not any(BOB_PIN in text for text in _texts(data))

    # Without the PIN the replay stops at the PIN entry and is compared up to there.
    ok, data = await _replay(services, recording, tmp_path / "nopin", keys=[BOB_ACCOUNT])
    call = data["calls"][0]
    assert ok, data["printed"]
    assert [t["intent"] for t in call["turns"]] == [t["intent"] for t in turns[:3]]
    assert any("compared up to turn 3" in note for note in call["notes"])


async def test_a_plain_wav_is_replayed_for_a_report_only(
    services: Services, voice, tmp_path: Path
) -> None:
    """Any caller WAV at any rate: no record to compare with, so it is reported, not judged."""
    pcm = bytes(RATE * 2 * 8) + caller_says(voice, "What are your opening hours?")
    samples = Audio.from_pcm(pcm + bytes(RATE * 2 * 6), RATE).samples
    wav = tmp_path / "caller.wav"
    write_wav(wav, Audio(resample(samples, RATE, 16000), 16000))
    ok, data = await _replay(services, wav, tmp_path / "plain")
    call = data["calls"][0]
    assert ok and not call["compared"], data["printed"]
    assert [t["intent"] for t in call["turns"]][:2] == ["greet", "branch_hours"], call["turns"]
    assert "open" in call["turns"][1]["bot_text"]


@pytest.mark.long  # trains a changed model: about two minutes
async def test_a_changed_response_in_the_domain_is_a_regression(
    services: Services, recorded_call, tmp_path: Path
) -> None:
    """A copy of the project with one prompt reworded: the replay lists it and fails."""
    recording, _, _ = recorded_call
    project = tmp_path / "project"
    (project / "dialogue").mkdir(parents=True)
    for name in ("domain.yml", "config.yml", "endpoints.yml"):
        shutil.copy(ROOT / "dialogue" / name, project / "dialogue" / name)
    shutil.copytree(ROOT / "data", project / "data")
    shutil.copytree(ROOT / "models", project / "models")
    domain = project / "dialogue" / "domain.yml"
    assert CHANGED_FROM in domain.read_text()
    domain.write_text(domain.read_text().replace(CHANGED_FROM, CHANGED_TO))
    config = services.config
    config = dataclasses.replace(
        config, dialogue=dataclasses.replace(config.dialogue, project_dir=str(project))
    )
    outcome = await asyncio.to_thread(train, Project.from_config(config.dialogue), progress=print)
    assert outcome.trained
    print(f"retraining for a changed response took {outcome.seconds:.0f} s")

    changed = make_client(config.dialogue, config.bank, pepper=bank_pepper(config))
    await changed.start()
    try:
        bot = dataclasses.replace(services, config=config, dialogue=changed)
        ok, data = await _replay(
            bot, recording, tmp_path / "changed", keys=[BOB_ACCOUNT], pin=BOB_PIN
        )
    finally:
        await changed.close()
    call = data["calls"][0]
    assert not ok and not call["passed"]
    bot_diffs = [d for d in call["diffs"] if d["field"] == "bot"]
    assert bot_diffs and bot_diffs[0]["turn"] == 1, call["diffs"]
    assert CHANGED_FROM in bot_diffs[0]["original"] and CHANGED_TO in bot_diffs[0]["replay"]
    assert "turn 1 bot" in data["printed"]


@pytest.mark.skipif(BARESIP is None, reason="baresip is installed by `make setup`")
async def test_a_script_runs_over_real_sip_with_baresip(services: Services, tmp_path: Path) -> None:
    script = load_script(SUITE / "branch_hours.yml")
    folder = RunFolder(tmp_path / "sip")
    [result] = await run_calls(
        services,
        folder,
        "sip",
        False,
        [script],
        run_script,
        services.recording_keys,
        progress=False,
    )
    assert result.passed, (result.checks, result.error)
    assert result.turns[1]["intent"] == "branch_hours"
    assert result.wall_s >= 0.9 * result.line_s > 5  # real time: the line runs on the wall clock


async def test_a_script_runs_over_a_twilio_media_stream_websocket(
    services: Services, tmp_path: Path
) -> None:
    """``ivr simulate --bridge websocket``: the caller dials /media/twilio like Twilio does."""
    script = load_script(SUITE / "branch_hours.yml")
    out = tmp_path / "websocket"
    printed: list[str] = []
    passed = await simulate_run(
        services.config,
        [script],
        "websocket",
        False,
        None,
        str(out),
        progress=False,
        echo=printed.append,
        services=services,
    )
    assert passed, "\n".join(printed)
    data = json.loads((out / "results.json").read_text())
    [call] = data["calls"]
    assert call["passed"] and call["turns"][1]["intent"] == "branch_hours", call
    assert call["wall_s"] >= 0.9 * call["line_s"] > 5  # real time: the line runs on the wall clock
    db = sqlite3.connect(out / "calls.db")
    [(transport, details)] = db.execute("SELECT transport, details FROM calls").fetchall()
    db.close()
    assert transport == "websocket"
    assert json.loads(details)["format"] == "twilio", details


async def test_qa_turn_timeout_s_fails_a_step_whose_reply_comes_later_and_runs_land_in_reports_dir(
    services: Services, tmp_path: Path
) -> None:
    """No folder named: the run gets one under ``qa.reports_dir``; a reply the bot gives more
    than ``qa.turn_timeout_s`` after the caller's last word is not the step's reply, so the step
    fails (even when it comes while the caller's line is still carrying silence)."""
    script = load_script(SUITE / "branch_hours.yml")
    qa = dataclasses.replace(
        services.config.qa, reports_dir=str(tmp_path / "reports"), turn_timeout_s=0.05
    )
    printed: list[str] = []
    passed = await simulate_run(
        dataclasses.replace(services.config, qa=qa),
        [script],
        "inprocess",
        True,
        None,
        None,
        progress=False,
        echo=printed.append,
        services=services,
    )
    assert not passed, "\n".join(printed)
    [folder] = (tmp_path / "reports").iterdir()
    assert folder.name.startswith("simulate-")
    [call] = json.loads((folder / "results.json").read_text())["calls"]
    first = next(c for c in call["checks"] if c["what"].startswith("intent after"))
    assert first["got"] == "no turn" and not first["ok"], call["checks"]
