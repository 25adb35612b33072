"""Talking to the bot from the console in a real browser: headless chromium whose fake
microphone plays a WAV the test synthesised with piper, against the whole bot (engines, the
assistant, records) with the console on its HTTP server. The browser call's transcript and
intent must appear in the page and in the call record under the console caller id; a text chat
gets the bot's reply in the page and a record of its own. Screenshots land in the test's tmp
dir; the browser log must hold no error (a CSP violation would be one)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ivr.console.schema import open_console_db
from ivr.console.users import UserStore
from ivr.secretfile import write_secret
from ivr.server import BotServer
from ivr.services import start_services
from speech.audio import Audio, write_wav
from tests.calls.conftest import call_config
from tests.console.chromium import needs_chromium, severe_errors, start_chromium
from tests.console.conftest import PASSWORD
from tests.speech.corpus import piper, piper_voice

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SAID = "I'd like to check my balance."
BEFORE_S = 9.0
"""Silence before the words: the greeting (not interruptible) is over by then."""
AFTER_S = 8.0


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[BotServer, Path]]:
    """The whole bot on 127.0.0.1 with the console on its HTTP port, the media streams asking
    for a token the browser never sees, and a designer, dana."""
    folder = tmp_path_factory.mktemp("talk")
    config = call_config(folder)
    token = write_secret(folder / "media-token", "a-media-token-only-platforms-hold")
    config = dataclasses.replace(
        config,
        sip=dataclasses.replace(config.sip, enabled=False),
        http=dataclasses.replace(config.http, host="127.0.0.1", port=0),
        websocket=dataclasses.replace(config.websocket, token_file=str(token)),
    )
    services = await start_services(config)
    server = BotServer(config, services)
    await server.start()
    db = open_console_db(config.call.records_db)
    UserStore(db, time.time).add("dana", "designer", PASSWORD, "cli:test")
    db.close()
    yield server, folder
    await server.stop()
    await services.close()


def caller_wav(path: Path) -> Path:
    """The caller's words with silence around them, at piper's own rate (chromium resamples)."""
    spoken = piper(piper_voice(), SAID)
    rate = spoken.rate
    silence = np.zeros(int(BEFORE_S * rate), np.int16)
    after = np.zeros(int(AFTER_S * rate), np.int16)
    write_wav(path, Audio(np.concatenate([silence, spoken.samples, after]), rate))
    return path


async def test_a_designer_calls_and_chats_with_the_bot_from_the_talk_page(
    bot: tuple[BotServer, Path], tmp_path: Path
) -> None:
    server, folder = bot
    wav = await asyncio.to_thread(caller_wav, tmp_path / "caller.wav")
    base = f"http://127.0.0.1:{server.http_port}"
    seen = await asyncio.to_thread(talk_in_chromium, base, wav, tmp_path)
    assert [shot.name for shot in seen["shots"]] == ["1-talk.png", "2-call.png", "3-chat.png"]
    assert all(shot.stat().st_size > 5_000 for shot in seen["shots"])
    assert "check_balance" in seen["call"] and "balance" in seen["call"].lower()
    assert "report_lost_card" in seen["chat"] and "Bot: " in seen["chat"]

    calls = _rows(folder, "SELECT * FROM calls ORDER BY started_at")
    voice = [call for call in calls if call["transport"] == "console"]
    text = [call for call in calls if call["transport"] == "text"]
    assert len(voice) == 1 and len(text) == 1, calls
    assert voice[0]["caller"] == text[0]["caller"] == "console:dana"
    assert json.loads(voice[0]["details"])["console_user"] == "dana"
    said = _rows(folder, "SELECT * FROM turns WHERE call_id = ?", voice[0]["call_id"])
    asked = [turn for turn in said if turn["intent"] == "check_balance"]
    assert asked and "balance" in asked[0]["transcript"].lower(), said
    assert asked[0]["input_kind"] == "speech"
    typed = _rows(folder, "SELECT * FROM turns WHERE call_id = ?", text[0]["call_id"])
    assert [turn["input_kind"] for turn in typed[:2]] == ["start", "speech"]
    assert typed[1]["transcript"] == "I lost my card" and typed[1]["intent"] == "report_lost_card"
    assert typed[1]["bot_text"] and typed[1]["bot_text"] in seen["chat"]

    audit = _rows(folder, "SELECT actor, action, target FROM console_audit WHERE actor = 'dana'")
    actions = {(row["action"], row["target"]) for row in audit}
    assert ("talk.voice", voice[0]["peer_call_id"]) in actions
    assert ("talk.text", text[0]["call_id"]) in actions


def talk_in_chromium(base: str, wav: Path, folder: Path) -> dict:
    """Log in, place the call, wait for its turn with the intent, hang up, then chat (blocking:
    selenium); the screenshots and the texts the page showed."""
    driver = start_chromium(
        folder,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    )
    wait = WebDriverWait(driver, 20)
    shots: list[Path] = []

    def shot(name: str) -> None:
        shots.append(folder / name)
        assert driver.save_screenshot(str(shots[-1]))

    def shows(selector: str, text: str, timeout_s: float = 20) -> None:
        WebDriverWait(driver, timeout_s).until(
            expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text)
        )

    try:
        driver.get(f"{base}/console/talk")
        wait.until(expected_conditions.title_contains("Log in"))
        driver.find_element(By.NAME, "name").send_keys("dana")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        wait.until(expected_conditions.title_contains("Talk to the bot"))
        shot("1-talk.png")
        driver.find_element(By.ID, "call").click()
        shows("#call-status", "In a call")
        shows("#turns", "check_balance", timeout_s=90)
        call = driver.find_element(By.ID, "turns").text
        shot("2-call.png")
        driver.find_element(By.ID, "hang-up").click()
        shows("#call-status", "You hung up")
        driver.find_element(By.ID, "chat-text").send_keys("I lost my card")
        driver.find_element(By.CSS_SELECTOR, "form.chat button[type=submit]").click()
        shows("#chat-log", "report_lost_card", timeout_s=60)
        chat = driver.find_element(By.ID, "chat-log").text
        shot("3-chat.png")
        assert severe_errors(driver) == []
    finally:
        driver.quit()
    return {"shots": shots, "call": call, "chat": chat}


def _rows(folder: Path, query: str, *values: str) -> list[dict]:
    db = sqlite3.connect(folder / "calls.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute(query, values)]
    finally:
        db.close()
