"""The console in a real browser: headless Debian chromium driven by selenium through
chromium-driver, against the bot's HTTP app on 127.0.0.1 with a user made by ``ivr users add``.
Logs in through the form, reads the calls list, opens a call, logs out; a screenshot of each
page lands in the test's tmp dir, and the browser reports no error (a CSP violation would be
one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from click.testing import CliRunner
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ivr.cli import main
from ivr.config import load_config
from ivr.console.app import Console
from ivr.http import bound_port, build_app
from ivr.metrics import Metrics
from ivr.records import CallRecordStore, TurnRecord
from ivr.secretfile import write_secret
from tests.console.chromium import needs_chromium, severe_errors, start_chromium
from tests.console.conftest import PASSWORD

CALL = "20261205t142501z3fa9c1d2e4b5"

pytestmark = needs_chromium


async def test_a_user_logs_in_reads_a_call_and_logs_out_in_chromium(
    records_url: str, tmp_path: Path
) -> None:
    store = CallRecordStore(records_url)
    await store.start_call(CALL, "websocket", "+15551234567")
    await store.add_turn(
        TurnRecord(
            CALL,
            0,
            0.0,
            "speech",
            transcript="I lost my card",
            intent="lost_card",
            intent_confidence=0.93,
            bot_text="I can block it for you.",
            response_ms=812.0,
        )
    )
    await store.end_call(CALL, "self_served", "caller_done")
    store.close()
    secret = write_secret(tmp_path / "password", PASSWORD)
    added = CliRunner().invoke(
        main,
        [
            "--set",
            f"call.records_db={records_url}",
            "users",
            "add",
            "quinn",
            "--role",
            "qa",
            "--password-file",
            str(secret),
        ],
    )
    assert added.exit_code == 0, added.output

    console = Console(load_config(environ={}).console, records_url)
    await console.start()
    runner = web.AppRunner(build_app(Metrics(), lambda: {}, [console.add_routes]))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        shots = await asyncio.to_thread(browse, f"http://127.0.0.1:{bound_port(site)}", tmp_path)
    finally:
        await runner.cleanup()
        await console.stop()
    assert [shot.name for shot in shots] == [
        "1-login.png",
        "2-home.png",
        "3-calls.png",
        "4-call.png",
        "5-analytics.png",
        "6-logged-out.png",
    ]
    assert all(shot.stat().st_size > 5_000 for shot in shots)


def browse(base: str, folder: Path) -> list[Path]:
    """The user's walk through the console (blocking: selenium); the screenshots taken."""
    driver = start_chromium(folder)
    wait = WebDriverWait(driver, 20)
    shots: list[Path] = []

    def shot(name: str) -> None:
        shots.append(folder / name)
        assert driver.save_screenshot(str(shots[-1]))

    try:
        driver.get(f"{base}/console/calls")
        wait.until(expected_conditions.title_contains("Log in"))
        shot("1-login.png")
        driver.find_element(By.NAME, "name").send_keys("quinn")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        wait.until(expected_conditions.title_contains("Calls"))  # back where it was sent from
        driver.find_element(By.LINK_TEXT, "Home").click()
        wait.until(expected_conditions.title_contains("Console"))
        assert "Logged in as quinn, role qa" in driver.find_element(By.TAG_NAME, "main").text
        shot("2-home.png")
        driver.find_element(By.CSS_SELECTOR, "nav").find_element(By.LINK_TEXT, "Calls").click()
        wait.until(expected_conditions.title_contains("Calls"))
        assert "*******4567" in driver.find_element(By.CSS_SELECTOR, "table.calls").text
        shot("3-calls.png")
        driver.find_element(By.LINK_TEXT, CALL).click()
        wait.until(expected_conditions.title_contains(f"Call {CALL}"))
        turn = driver.find_element(By.CSS_SELECTOR, "section.turn").text
        assert "I lost my card" in turn and "lost_card (0.93)" in turn and "response 812 ms" in turn
        shot("4-call.png")
        driver.find_element(By.CSS_SELECTOR, "nav").find_element(By.LINK_TEXT, "Analytics").click()
        wait.until(expected_conditions.title_contains("Analytics"))
        headline = driver.find_element(By.CSS_SELECTOR, ".headline").text
        assert "calls\n1" in headline and "containment (self_served)\n100.0 %" in headline
        assert driver.find_element(By.CSS_SELECTOR, "#calls_per_day svg.chart").size["height"] > 100
        shot("5-analytics.png")
        driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
        wait.until(expected_conditions.title_contains("Log in"))
        shot("6-logged-out.png")
        driver.get(f"{base}/console/calls")
        wait.until(expected_conditions.title_contains("Log in"))
        assert severe_errors(driver) == []
    finally:
        driver.quit()
    return shots
