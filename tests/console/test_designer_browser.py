"""A designer's whole cycle in a real browser, against the whole bot: change an opening hour in
the FAQ facts, reword the fees summary so a QA script's check fails, see the draft's test fail
and publishing refused, mend it, test again, publish. A SIP call (the project's own user agent)
answered before the publish and a text chat begun before it finish on the old version, while the
next SIP call and chat hear the new hours; roll back and the old hours return. No retraining:
facts are not model inputs. The screenshots are README's designer walkthrough
(``make console-screenshots`` writes them to docs/console/designer)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ivr.bench.caller import CallerLine, CallerRtp
from ivr.bench.uac import SipUac
from ivr.bench.voice import caller_lines
from ivr.console.schema import open_console_db
from ivr.console.users import UserStore
from ivr.qa.draft_testing import draft_test_for_console
from ivr.server import BotServer
from ivr.services import start_services
from ivr.versions.live import VersionedDialogue
from tests.calls.conftest import call_config
from tests.console.chromium import needs_chromium, severe_errors, start_chromium
from tests.console.conftest import PASSWORD
from tests.versions.conftest import REPO

pytestmark = [
    needs_chromium,
    pytest.mark.slow,
    pytest.mark.long,  # six minutes: two tests of the draft, three assistant loads, SIP calls
    pytest.mark.asyncio(loop_scope="module"),
]

QA_SCRIPT = REPO / "data" / "qa" / "rates_and_fees.yml"
"""The one script the draft's test runs: asked about fees, the bot must say "fee"."""
FEES_OK, FEES_BROKEN = "card replacement fees", "card replacement charges"
OLD_HOURS, NEW_HOURS = "9 AM to 5 PM", "9 AM to 6 PM"
SHOTS = [
    "1-hours",
    "2-fees-reworded",
    "3-draft",
    "4-test-failed",
    "5-publish-refused",
    "6-test-passed",
    "7-published",
    "8-chats",
    "9-rolled-back",
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotServer]:
    """The whole bot on 127.0.0.1 with its console (testing drafts as ``ivr serve`` does), a
    design folder of its own and a designer, dana; the draft's test runs the rates and fees
    script and replays nothing."""
    folder = tmp_path_factory.mktemp("designer")
    config = call_config(folder)
    config = dataclasses.replace(
        config,
        sip=dataclasses.replace(config.sip, host="127.0.0.1", port=0),
        # The SIP caller says nothing while Dana publishes: no "are you still there?" meanwhile.
        vad=dataclasses.replace(config.vad, no_input_ms=120_000),
        http=dataclasses.replace(config.http, host="127.0.0.1", port=0),
        design=dataclasses.replace(
            config.design,
            follow_published=True,
            test_scripts=[str(QA_SCRIPT)],
            test_replays=0,
            watch_s=0.5,
        ),
    )
    services = await start_services(config)
    server = BotServer(config, services, tester=draft_test_for_console)
    await server.start()
    db = open_console_db(config.call.records_db)
    UserStore(db, time.time).add("dana", "designer", PASSWORD, "cli:test")
    db.close()
    yield server
    await server.stop()
    await services.close()


@pytest.mark.timeout(1200)  # two tests of the draft, three assistant loads, two SIP calls
async def test_a_designer_edits_tests_publishes_and_rolls_back_in_chromium(
    bot: BotServer, tmp_path: Path
) -> None:
    assert bot.services is not None
    dialogue = bot.services.dialogue
    assert isinstance(dialogue, VersionedDialogue)
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS_DESIGNER") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    (asks,) = await asyncio.to_thread(caller_lines, bot.config, ["When are you open?"])
    driver = await asyncio.to_thread(start_chromium, tmp_path, "--window-size=1280,1000")
    walk = _Walk(driver, f"http://127.0.0.1:{bot.http_port}", folder)
    try:
        await asyncio.to_thread(edit_and_test, walk)
        async with sip_call(bot) as (first, first_line):  # on the line while Dana publishes
            await asyncio.to_thread(publish, walk, lambda: dialogue.version)
            await ask(first_line, asks)
            async with sip_call(bot) as (second, second_line):
                await ask(second_line, asks)
        seen = await asyncio.to_thread(chats_and_roll_back, walk, lambda: dialogue.version)
        refused = "/console/versions/publish - Failed to load resource: the server responded"
        assert [e for e in severe_errors(driver) if refused not in e["message"]] == []
    finally:
        await asyncio.to_thread(driver.quit)

    assert [shot.stem for shot in walk.shots] == SHOTS
    assert all(shot.stat().st_size > 10_000 for shot in walk.shots)
    records = bot.config.call.records_db.removeprefix("sqlite:///")
    assert OLD_HOURS in hours_said(records, first.call_id), "the call began on version 1"
    assert NEW_HOURS in hours_said(records, second.call_id), "the next call runs version 2"
    assert seen["same_chat"], "the chat begun before the publish is the one asked again"
    assert OLD_HOURS in seen["old_chat"] and NEW_HOURS not in seen["old_chat"]
    assert NEW_HOURS in seen["new_chat"] and OLD_HOURS not in seen["new_chat"]
    assert OLD_HOURS in seen["after_rollback"] and NEW_HOURS not in seen["after_rollback"]
    assert dialogue.loaded == [1], "version 2 is let go once rolled back from"
    audit = _audit(records)
    assert ("design.edit", "data/knowledge/hours.yml") in audit
    assert [a for a in audit if a[0] != "design.edit"] == [
        ("design.test", "draft"),
        ("design.test", "draft"),
        ("version.publish", "version 2"),
        ("version.rollback", "version 1"),
    ]


def edit_and_test(walk: _Walk) -> None:
    """New hours, a fees summary a QA check fails on; the test fails and publishing is refused;
    the summary mended, the test passes; a chat asks the hours (blocking: selenium)."""
    walk.log_in("/console/facts/hours")
    walk.set_time("p0.closes", "18:00")
    walk.shot("1-hours")
    walk.save_facts()
    walk.get("/console/facts/fees")
    walk.reword_field(FEES_OK, FEES_BROKEN)
    walk.shot("2-fees-reworded")
    walk.save_facts()

    walk.get("/console/versions")
    walk.shot("3-draft")
    walk.test_draft("failed")
    walk.shot("4-test-failed")
    walk.publish("New weekday hours")
    walk.wait.until(expected_conditions.title_contains("Not published"))
    walk.shot("5-publish-refused")

    walk.get("/console/facts/fees")
    walk.reword_field(FEES_BROKEN, FEES_OK)
    walk.save_facts()
    walk.get("/console/versions")
    walk.test_draft("passed")
    walk.shot("6-test-passed")

    walk.get("/console/talk")
    walk.chat("When are you open?", OLD_HOURS)
    walk.chat_before = walk.chat_id()


def publish(walk: _Walk, running: Callable[[], int | None]) -> None:
    """Publish, and wait until the bot gives new calls version 2 (blocking: selenium)."""
    walk.get("/console/versions")
    walk.publish("New weekday hours")
    walk.wait.until(expected_conditions.title_contains("Versions"))
    _until(lambda: running() == 2, 180)
    walk.shot("7-published")


def chats_and_roll_back(walk: _Walk, running: Callable[[], int | None]) -> dict:
    """The chat begun before the publish asked again, a new chat, then the roll-back and one
    more chat (blocking: selenium); what the chats showed."""
    walk.get("/console/talk")
    walk.chat("And when are you open on weekdays?", OLD_HOURS)
    same_chat = walk.chat_id() == walk.chat_before
    old_chat = walk.end_chat()
    walk.chat("When are you open?", NEW_HOURS)
    walk.shot("8-chats")
    new_chat = walk.end_chat()

    walk.get("/console/versions")
    walk.driver.find_element(By.CSS_SELECTOR, "form.rollback button").click()
    walk.wait.until(expected_conditions.title_contains("Versions"))
    _until(lambda: running() == 1, 180)
    walk.shot("9-rolled-back")
    walk.get("/console/talk")
    walk.chat("When are you open?", OLD_HOURS)
    return {
        "same_chat": same_chat,
        "old_chat": old_chat,
        "new_chat": new_chat,
        "after_rollback": walk.end_chat(),
    }


@asynccontextmanager
async def sip_call(bot: BotServer) -> AsyncIterator[tuple[SipUac, CallerRtp]]:
    """A SIP call by the project's own user agent, answered and its greeting heard out; the
    caller speaks only when told to (``ask``); hung up at the end."""
    uac, rtp = SipUac(("127.0.0.1", bot.sip_port)), CallerRtp()
    await uac.open()
    await rtp.open()
    try:
        media = await uac.invite(rtp.port)
        rtp.start((media.remote_address, media.remote_port))
        answered = asyncio.get_running_loop().time()
        await rtp.audible(30)
        await rtp.quiet(answered, 30)
        yield uac, rtp
    finally:
        await uac.bye()
        await rtp.close()
        uac.close()


async def ask(rtp: CallerRtp, line: CallerLine) -> None:
    """Say ``line`` and listen to the whole reply."""
    voiced = await rtp.say(line)
    reply = await rtp.reply_after(voiced, 60)
    assert reply is not None, "the bot answered"
    await rtp.quiet(reply, 40)


def hours_said(records: str, sip_call_id: str) -> str:
    """What the bot said about the hours on the call with this SIP Call-ID (its record)."""
    db = sqlite3.connect(records)
    try:
        rows = db.execute(
            "SELECT t.bot_text FROM turns t JOIN calls c ON c.call_id = t.call_id"
            " WHERE c.peer_call_id = ? AND t.intent = 'branch_hours'",
            (sip_call_id,),
        )
        return " ".join(str(text) for (text,) in rows)
    finally:
        db.close()


class _Walk:
    """The designer's browser and the screenshots taken on the way."""

    def __init__(self, driver: WebDriver, base: str, folder: Path) -> None:
        self.driver = driver
        self.base = base
        self.folder = folder
        self.wait = WebDriverWait(driver, 30)
        self.shots: list[Path] = []
        self.chat_before = ""
        """The chat begun before the publish (its status line, naming it)."""

    def get(self, path: str) -> None:
        self.driver.get(self.base + path)

    def log_in(self, path: str) -> None:
        self.get(path)
        self.wait.until(expected_conditions.title_contains("Log in"))
        self.driver.find_element(By.NAME, "name").send_keys("dana")
        self.driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        self.driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        self.wait.until(expected_conditions.title_contains("FAQ facts"))

    def shot(self, name: str) -> None:
        self.shots.append(self.folder / f"{name}.png")
        assert self.driver.save_screenshot(str(self.shots[-1]))

    def set_time(self, name: str, value: str) -> None:
        """Set a time input (its picker's keys differ by locale: set what it submits)."""
        field = self.driver.find_element(By.NAME, name)
        assert field.get_attribute("type") == "time"
        self.driver.execute_script("arguments[0].value = arguments[1]", field, value)

    def reword_field(self, old: str, new: str) -> None:
        """Replace ``old`` with ``new`` in the one text field of the form that holds it."""
        fields = [
            field
            for field in self.driver.find_elements(By.CSS_SELECTOR, "form.facts input, textarea")
            if old in (field.get_attribute("value") or "")
        ]
        assert fields, f"no field says {old!r}"
        value = fields[0].get_attribute("value") or ""
        fields[0].clear()
        fields[0].send_keys(value.replace(old, new))

    def save_facts(self) -> None:
        self.driver.find_element(By.CSS_SELECTOR, "button[name=action][value=save]").click()
        self.wait.until(expected_conditions.url_contains("saved=1"))

    def test_draft(self, verdict: str) -> None:
        """Start the draft's test and wait for the page to show its ``verdict``."""
        self.driver.find_element(By.CSS_SELECTOR, "form.start-test button").click()
        WebDriverWait(self.driver, 600).until(
            expected_conditions.presence_of_element_located(
                (By.CSS_SELECTOR, f"p.verdict.{verdict}")
            )
        )

    def publish(self, message: str) -> None:
        form = self.driver.find_element(By.CSS_SELECTOR, "form.publish")
        form.find_element(By.NAME, "message").send_keys(message)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def chat(self, text: str, expected: str) -> None:
        """Say ``text`` in the text chat (a chat lives on across pages, per session) and wait
        for a reply holding ``expected``."""
        self.driver.find_element(By.ID, "chat-text").send_keys(text)
        self.driver.find_element(By.CSS_SELECTOR, "form.chat button[type=submit]").click()
        WebDriverWait(self.driver, 90).until(
            lambda driver: expected in driver.find_element(By.ID, "chat-log").text
        )

    def chat_id(self) -> str:
        return self.driver.find_element(By.ID, "chat-status").text

    def end_chat(self) -> str:
        """End the chat; what its log showed."""
        log = self.driver.find_element(By.ID, "chat-log").text
        self.driver.find_element(By.ID, "chat-end").click()
        WebDriverWait(self.driver, 30).until(
            lambda driver: "ended" in driver.find_element(By.ID, "chat-status").text
        )
        self.get("/console/talk")
        return log


def _until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the bot did not switch versions in time"
        time.sleep(0.2)


def _audit(path: str) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT action, target FROM console_audit WHERE actor = 'dana' AND action NOT IN"
            " ('login', 'talk.text') ORDER BY at, id"
        )
        return [(str(action), str(target)) for action, target in rows]
    finally:
        db.close()
