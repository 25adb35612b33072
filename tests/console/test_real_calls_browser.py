"""The console in headless chromium over calls the real bot made in the test: each role logs in
and sees its menu, the recording player or not, and a 403 page for a URL it may not use; QA
lists and filters the calls, opens one and plays its sealed recording; the dashboard's numbers
are the calls'. A screenshot of every page visited lands in the test's tmp dir, and the
browser log holds no error (a CSP violation would be one).

README's screenshots come from here too: with ``CONSOLE_SCREENSHOTS=FOLDER`` (``make
console-screenshots``: ``docs/console``) an admin visits every page at 1280x800 over these calls
plus generated ones for volume (``ivr.bench.generated_calls``: a dashboard and an inbox with
data), and each page's PNG is written there; without it, into the test's tmp dir."""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path

import pytest
import pytest_asyncio
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ivr.bench.generated_calls import generate
from ivr.console.app import Console
from ivr.qa.run import RunFolder
from ivr.services import Services
from tests.calls.conftest import call_dirs, services  # noqa: F401 (the engines, loaded once)
from tests.console.chromium import needs_chromium, severe_errors, start_chromium
from tests.console.real_calls import ROLES, console_of, make_calls, records_copy
from tests.console.test_browser import log_in_as, serve_and_browse

pytestmark = [needs_chromium, pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

DESIGN_MENU = [
    "Home",
    "Calls",
    "Analytics",
    "NLU inbox",
    "Flows",
    "Prompts",
    "FAQ facts",
    "Caller wording",
    "Versions",
    "Talk",
]
"""The menu of the roles that read the design (designers and QA)."""
MENUS = {
    "designer": DESIGN_MENU,
    "qa": DESIGN_MENU,
    "supervisor": ["Home", "Calls", "Analytics", "Versions", "Talk"],
    "admin": [*DESIGN_MENU, "Audit log", "Users"],
}
"""What each role's menu lists, as README's table of roles says."""
FORBIDDEN = {
    "designer": "/console/audit",
    "qa": "/console/users",
    "supervisor": "/console/inbox",
}
"""A page each role may not use, typed in directly."""
FORBIDDEN_403 = "the server responded with a status of 403 (Forbidden)"
"""The browser's log line for that page: the one error expected."""
LISTENERS = {"qa", "supervisor", "admin"}
FIRST_INTENTS = {"check_balance", "branch_hours", "report_lost_card"}
"""What each script's caller opens with."""
GENERATED_CALLS = 20_000
"""Volume behind README's screenshots: about 780 calls in the dashboard's default week."""
MAX_SCREENSHOT_BYTES = 200_000


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def made(services: Services, tmp_path_factory: pytest.TempPathFactory) -> RunFolder:  # noqa: F811
    return await make_calls(services, tmp_path_factory.mktemp("made"))


@pytest.fixture
def copied(
    services: Services,  # noqa: F811
    made: RunFolder,
    tmp_path: Path,
) -> tuple[Console, str, dict[str, dict]]:
    """The console over this test's copy of the records (a user per role), the copy and its
    calls by first intent."""
    url = records_copy(made, tmp_path / "records")
    return console_of(services, made, url), url, recorded_calls_of(url)


async def test_each_role_browses_the_calls_the_bot_made_in_chromium(
    copied: tuple[Console, str, dict[str, dict]], tmp_path: Path
) -> None:
    console, url, calls = copied
    shots = await serve_and_browse(console, functools.partial(browse_as_each_role, calls), tmp_path)
    assert [shot.stem for shot in shots if shot.stem.startswith("qa-")] == [
        "qa-1-login",
        "qa-2-home",
        "qa-3-forbidden",
        "qa-4-call",
        "qa-5-calls",
        "qa-6-calls-by-intent",
        "qa-7-calls-by-outcome",
        "qa-8-call-playing",
        "qa-9-analytics",
    ]
    assert [shot.stem for shot in shots if shot.stem.endswith(("flows", "prompts"))] == [
        "designer-5-flows",
        "designer-6-prompts",
    ]
    assert len(shots) == 23 and all(shot.stat().st_size > 5_000 for shot in shots)
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    played = db.execute(
        "SELECT actor FROM console_audit WHERE action = 'recording.play' AND target = ?",
        (calls["report_lost_card"]["call_id"],),
    ).fetchall()
    db.close()
    assert ("qa",) in played, "playing the recording is audited"


def recorded_calls_of(url: str) -> dict[str, dict]:
    """The calls in the records by the intent of their first caller turn (said or keyed)."""
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    db.row_factory = sqlite3.Row
    rows = db.execute(
        "SELECT c.call_id, c.outcome, t.intent FROM calls c JOIN turns t ON t.call_id = c.call_id"
        " WHERE t.turn = (SELECT MIN(turn) FROM turns WHERE call_id = c.call_id"
        " AND input_kind IN ('speech', 'dtmf'))"
    ).fetchall()
    db.close()
    calls = {row["intent"]: dict(row) for row in rows}
    assert set(calls) == FIRST_INTENTS, calls
    return calls


def browse_as_each_role(calls: dict[str, dict], base: str, folder: Path) -> list[Path]:
    """Every role in a browser of its own, one after the other (blocking: selenium)."""
    shots: list[Path] = []
    for role in ROLES:
        driver = start_chromium(folder / role, "--autoplay-policy=no-user-gesture-required")
        try:
            shots += Walk(driver, base, folder, role).through(calls)
            refused = f"{base}{FORBIDDEN.get(role)} - Failed to load resource: {FORBIDDEN_403}"
            errors = [e for e in severe_errors(driver) if e["message"] != refused]
            assert errors == [], role
        finally:
            driver.quit()
    return shots


class Walk:
    """One role's visit: what it sees, each page screenshot as ``ROLE-N-PAGE.png``."""

    def __init__(
        self, driver: WebDriver, base: str, folder: Path, role: str, numbered: bool = True
    ) -> None:
        self.driver, self.base, self.folder, self.role = driver, base, folder, role
        self.numbered = numbered
        self.wait = WebDriverWait(driver, 20)
        self.shots: list[Path] = []

    def through(self, calls: dict[str, dict]) -> list[Path]:
        self.open("/console/", "Log in", "login")
        log_in_as(self.driver, self.role)
        self.wait.until(expected_conditions.title_contains("Console"))
        menu = [link.text for link in self.driver.find_elements(By.CSS_SELECTOR, "nav a")]
        assert menu == MENUS[self.role], self.role
        self.shot("home")
        if self.role in FORBIDDEN:
            self.open(FORBIDDEN[self.role], "Not allowed", "forbidden")
        self.call_page(calls["report_lost_card"]["call_id"])
        if self.role == "designer":
            design_pages(self)
        if self.role == "qa":
            self.filter_calls(calls)
            self.play_recording()
            self.analytics(calls)
        if self.role == "admin":
            self.open("/console/audit", "Audit log", "audit")
            assert "recording.play" in self.driver.find_element(By.TAG_NAME, "main").text
        return self.shots

    def open(self, path: str, title: str, name: str) -> None:
        self.driver.get(f"{self.base}{path}")
        self.wait.until(expected_conditions.title_contains(title))
        self.shot(name)

    def shot(self, name: str) -> None:
        numbered = f"{self.role}-{len(self.shots) + 1}-{name}"
        self.shots.append(self.folder / f"{numbered if self.numbered else name}.png")
        assert self.driver.save_screenshot(str(self.shots[-1]))

    def call_page(self, call_id: str) -> None:
        """The call's turns for everyone; its player only for those who hear recordings."""
        self.open(f"/console/calls/{call_id}", f"Call {call_id}", "call")
        turns = self.driver.find_elements(By.CSS_SELECTOR, "section.turn")
        assert any("report_lost_card" in turn.text for turn in turns)
        players = self.driver.find_elements(By.CSS_SELECTOR, "audio#recording")
        waveforms = self.driver.find_elements(By.CSS_SELECTOR, "svg.waveform")
        hears = self.role in LISTENERS
        assert (len(players), len(waveforms)) == ((1, 1) if hears else (0, 0)), self.role

    def filter_calls(self, calls: dict[str, dict]) -> None:
        """All three calls listed, then only the lost card one by its intent, then by outcome."""
        self.open("/console/calls", "Calls", "calls")
        listed = self.driver.find_element(By.CSS_SELECTOR, "table.calls").text
        assert all(call["call_id"] in listed for call in calls.values())
        form = self.driver.find_element(By.CSS_SELECTOR, "form.filters")
        form.find_element(By.NAME, "intent").send_keys("report_lost_card")
        form.find_element(By.CSS_SELECTOR, "button").click()
        self.wait.until(expected_conditions.url_contains("intent=report_lost_card"))
        self.shot("calls-by-intent")
        assert self.listed_ids() == [calls["report_lost_card"]["call_id"]]
        outcome = calls["check_balance"]["outcome"]
        self.open(f"/console/calls?outcome={outcome}", "Calls", "calls-by-outcome")
        expected = sorted(c["call_id"] for c in calls.values() if c["outcome"] == outcome)
        assert sorted(self.listed_ids()) == expected

    def listed_ids(self) -> list[str]:
        rows = self.driver.find_elements(By.CSS_SELECTOR, "table.calls tbody tr")
        return [row.find_element(By.CSS_SELECTOR, "a").text for row in rows]

    def play_recording(self) -> None:
        """The second turn's "play from here": the player seeks there and plays on."""
        self.driver.find_element(By.LINK_TEXT, self.listed_ids()[0]).click()
        self.wait.until(expected_conditions.title_contains("Call"))
        button = self.driver.find_elements(By.CSS_SELECTOR, "button.play-from")[1]
        start = float(button.get_attribute("data-at") or "0")
        button.click()
        self.wait.until(
            lambda driver: driver.execute_script(
                "const a = document.getElementById('recording');"
                "return !a.paused && a.currentTime > arguments[0] + 0.5;",
                start,
            )
        )
        state = self.driver.execute_script(
            "const a = document.getElementById('recording');"
            "return {error: a.error && a.error.code, duration: a.duration};"
        )
        assert state["error"] is None and state["duration"] > start, state
        self.shot("call-playing")

    def analytics(self, calls: dict[str, dict]) -> None:
        """The default week holds the test's calls and nothing else."""
        self.open("/console/analytics", "Analytics", "analytics")
        headline = self.driver.find_element(By.CSS_SELECTOR, ".headline").text
        served = sum(call["outcome"] == "self_served" for call in calls.values())
        assert f"calls\n{len(calls)}" in headline
        assert f"containment (self_served)\n{100 * served / len(calls):.1f} %" in headline
        mix = self.driver.find_element(By.ID, "first_intents").find_element(By.TAG_NAME, "table")
        rows = [row.text for row in mix.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert sorted(row.split()[0] for row in rows) == sorted(FIRST_INTENTS), rows
        assert all(row.split()[1] == "1" for row in rows), rows


async def test_readme_screenshots_of_every_page(
    copied: tuple[Console, str, dict[str, dict]], tmp_path: Path
) -> None:
    console, url, calls = copied
    lost_card = calls["report_lost_card"]["call_id"]
    generate(url, GENERATED_CALLS, seed=17, progress=False)
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    shots = await serve_and_browse(
        console,
        functools.partial(every_page, lost_card, tmp_path / "browser"),
        folder,
    )
    assert [shot.stem for shot in shots] == [
        "login",
        "home",
        "calls",
        "call",
        "analytics",
        "inbox",
        "flows",
        "prompts",
        "talk",
        "audit",
        "users",
    ]
    sizes = {shot.name: shot.stat().st_size for shot in shots}
    assert all(10_000 < size < MAX_SCREENSHOT_BYTES for size in sizes.values()), sizes


def every_page(call_id: str, profile: Path, base: str, folder: Path) -> list[Path]:
    """An admin's visit to every page at README's window size, the browser's profile kept in
    ``profile`` (blocking: selenium)."""
    driver = start_chromium(profile, "--autoplay-policy=no-user-gesture-required")
    driver.set_window_size(1280, 800)
    walk = Walk(driver, base, folder, "admin", numbered=False)
    try:
        walk.open("/console/", "Log in", "login")
        log_in_as(driver, "admin")
        walk.wait.until(expected_conditions.title_contains("Console"))
        walk.shot("home")
        walk.open("/console/calls", "Calls", "calls")
        driver.get(f"{base}/console/calls/{call_id}")
        walk.wait.until(expected_conditions.title_contains("Call"))
        driver.execute_script("document.querySelector('div.recording').scrollIntoView()")
        walk.shot("call")
        walk.open("/console/analytics", "Analytics", "analytics")
        walk.open("/console/inbox", "NLU inbox", "inbox")
        assert driver.find_elements(By.CSS_SELECTOR, "section.inbox-item")
        design_pages(walk)
        talk_by_text(walk)
        walk.open("/console/audit", "Audit log", "audit")
        walk.open("/console/users", "Users", "users")
        assert severe_errors(driver) == []
    finally:
        driver.quit()
    return walk.shots


def design_pages(walk: Walk) -> None:
    """The Flows page with its diagrams drawn, and the Prompts page after a prompt is heard."""
    walk.driver.get(f"{walk.base}/console/flows#flow-auth_form")
    walk.wait.until(expected_conditions.title_contains("Flows"))
    drawn = "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    walk.wait.until(lambda driver: driver.execute_script(drawn))
    walk.shot("flows")
    walk.driver.get(f"{walk.base}/console/prompts#prompts-report_lost_card")
    walk.wait.until(expected_conditions.title_contains("Prompts"))
    player = walk.driver.find_element(By.CSS_SELECTOR, "#prompts-report_lost_card ~ * audio")
    walk.driver.execute_script("arguments[0].play()", player)
    heard = "return arguments[0].ended || arguments[0].currentTime > 0.5"
    walk.wait.until(lambda driver: driver.execute_script(heard, player))
    walk.shot("prompts")


def talk_by_text(walk: Walk) -> None:
    """The talk page after a question typed in its chat and the bot's answer."""
    walk.driver.get(f"{walk.base}/console/talk")
    walk.wait.until(expected_conditions.title_contains("Talk"))
    walk.driver.find_element(By.ID, "chat-text").send_keys("When is the branch open?")
    walk.driver.find_element(By.CSS_SELECTOR, "#chat-form button[type=submit]").click()
    walk.wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "chat-log"), "Bot: "))
    walk.shot("talk")
