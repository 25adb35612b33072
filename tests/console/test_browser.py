"""The console in a real browser: headless Debian chromium driven by selenium through
chromium-driver, against the bot's HTTP app on 127.0.0.1 with a user made by ``ivr users add``.
Logs in through the form, reads the calls list, opens a call, logs out; a designer labels an
NLU inbox item into the designers' draft (made from a copy of the design); a screenshot of each
page lands in the test's tmp dir, and the browser reports no error (a CSP violation would be
one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from click.testing import CliRunner
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from ivr.cli import main
from ivr.config import load_config
from ivr.console.app import Console
from ivr.console.state import CallTools
from ivr.http import bound_port, build_app
from ivr.metrics import Metrics
from ivr.records import CallRecordStore, TurnRecord
from ivr.secretfile import write_secret
from tests.console.chromium import needs_chromium, replaced, severe_errors, start_chromium
from tests.console.conftest import PASSWORD, Clock, copy_workspace, draft_nlu
from tests.console.inbox_calls import nlu_files, write_calls

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
    add_user(records_url, tmp_path, "quinn", "qa")
    shots = await serve_and_browse(
        Console(load_config(environ={}).console, records_url), browse, tmp_path
    )
    assert [shot.name for shot in shots] == [
        "1-login.png",
        "2-home.png",
        "3-calls.png",
        "4-call.png",
        "5-analytics.png",
        "6-logged-out.png",
    ]
    assert all(shot.stat().st_size > 5_000 for shot in shots)


def add_user(records_url: str, folder: Path, name: str, role: str) -> None:
    """A console user made the way an operator makes one: ``ivr users add``."""
    secret = write_secret(folder / f"{name}.password", PASSWORD)
    added = CliRunner().invoke(
        main,
        [
            "--set",
            f"call.records_db={records_url}",
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-file",
            str(secret),
        ],
    )
    assert added.exit_code == 0, added.output


async def serve_and_browse(
    console: Console, walk: Callable[[str, Path], list[Path]], folder: Path
) -> list[Path]:
    """Serve ``console`` on 127.0.0.1 while ``walk`` browses it; the screenshots taken."""
    await console.start()
    runner = web.AppRunner(build_app(Metrics(), lambda: {}, [console.add_routes]))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        return await asyncio.to_thread(walk, f"http://127.0.0.1:{bound_port(site)}", folder)
    finally:
        await runner.cleanup()
        await console.stop()


def log_in_as(driver: WebDriver, name: str) -> None:
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()


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
        log_in_as(driver, "quinn")
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


async def test_a_designer_labels_an_inbox_item_and_rewords_it_on_the_wording_page_in_chromium(
    records_url: str, tmp_path: Path
) -> None:
    """The label lands in the draft's ``data/nlu`` as one line under its intent; reworded on
    the Caller wording page, that line changes."""
    await write_calls(records_url)
    workspace = copy_workspace(tmp_path / "design")
    project = draft_nlu(workspace)
    before = nlu_files(project)
    add_user(records_url, tmp_path, "dana", "designer")
    tools = CallTools(nlu=project, workspace=workspace)
    console = Console(load_config(environ={}).console, records_url, Clock(), tools)
    shots = await serve_and_browse(console, label_in_inbox, tmp_path)
    assert [shot.name for shot in shots] == [
        "7-inbox.png",
        "8-inbox-labelled.png",
        "9-wording.png",
        "10-wording-changed.png",
        "11-wording-intents.png",
    ]
    assert all(shot.stat().st_size > 5_000 for shot in shots)
    after = nlu_files(project)
    assert [name for name in after if after[name] != before[name]] == ["accounts.yml"]
    added = set(after["accounts.yml"].decode().splitlines()) - set(
        before["accounts.yml"].decode().splitlines()
    )
    assert added == {"      - what's the balance on my [savings](account_type) please"}


def label_in_inbox(base: str, folder: Path) -> list[Path]:
    """A designer opens the inbox, labels "balance on my savings" as check_balance with its
    account type marked, and sees it leave the inbox for the pending list (blocking)."""
    driver = start_chromium(folder)
    wait = WebDriverWait(driver, 20)
    shots: list[Path] = []
    try:
        driver.get(f"{base}/console/inbox")
        wait.until(expected_conditions.title_contains("Log in"))
        log_in_as(driver, "dana")
        wait.until(expected_conditions.title_contains("NLU inbox"))
        item = driver.find_element(By.ID, "item-inbox04-1")
        assert "balance on my savings" in item.text and "branch_hours (0.91)" in item.text
        assert "the caller corrected the bot next" in item.text
        shots.append(folder / "7-inbox.png")
        assert driver.save_screenshot(str(shots[-1]))
        Select(item.find_element(By.NAME, "intent")).select_by_value("check_balance")
        Select(item.find_element(By.NAME, "entity_1")).select_by_value("account_type")
        item.find_element(By.NAME, "span_1").send_keys("savings")
        item.find_element(By.CSS_SELECTOR, "form.label button").click()
        wait.until(replaced(item))
        wait.until(expected_conditions.title_contains("NLU inbox"))
        assert not driver.find_elements(By.ID, "item-inbox04-1")
        pending = driver.find_element(By.CSS_SELECTOR, "table.pending").text
        assert "balance on my [savings](account_type)" in pending and "accounts.yml" in pending
        assert "ivr train" in driver.find_element(By.CSS_SELECTOR, ".pending").text
        shots.append(folder / "8-inbox-labelled.png")
        assert driver.save_screenshot(str(shots[-1]))
        shots += reword_the_label(driver, wait, folder)
        assert severe_errors(driver) == []
    finally:
        driver.quit()
    return shots


def reword_the_label(driver: WebDriver, wait: WebDriverWait, folder: Path) -> list[Path]:
    """The designer finds the label marked among check_balance's examples on the Caller
    wording page and rewords it there (blocking); the screenshots taken."""
    driver.find_element(By.LINK_TEXT, "Caller wording").click()
    wait.until(expected_conditions.title_contains("Caller wording"))
    driver.find_element(By.LINK_TEXT, "check_balance").click()
    wait.until(expected_conditions.title_contains("check_balance"))
    labelled = driver.find_element(
        By.XPATH, "//ol[@class='examples']/li[contains(., 'from the inbox')]"
    )
    assert labelled.text.startswith("balance on my savingsaccount_type accounts.yml")
    assert "labelled by dana" in labelled.text
    labelled.find_element(By.TAG_NAME, "summary").click()
    text = labelled.find_element(By.CSS_SELECTOR, "form.wording-edit input[name=text]")
    wait.until(expected_conditions.visibility_of(text))
    shots = [folder / "9-wording.png"]
    assert driver.save_screenshot(str(shots[-1]))
    text.clear()
    text.send_keys("What's the balance on my [savings](account_type), please?")
    labelled.find_element(By.CSS_SELECTOR, "form.wording-edit button").click()
    wait.until(replaced(labelled))
    main = driver.find_element(By.TAG_NAME, "main").text
    assert "Changed in the draft." in main
    assert "what's the balance on my savingsaccount_type please" in main
    shots.append(folder / "10-wording-changed.png")
    assert driver.save_screenshot(str(shots[-1]))
    driver.find_element(By.LINK_TEXT, "All intents").click()
    wait.until(expected_conditions.title_contains("Caller wording"))
    assert "check_balance 63 0 accounts.yml" in driver.find_element(By.TAG_NAME, "table").text
    shots.append(folder / "11-wording-intents.png")
    assert driver.save_screenshot(str(shots[-1]))
    return shots
