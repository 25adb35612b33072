"""A designer edits a prompt in headless chromium: "Hear it" plays the typed text under the
form (``static/prompts.js``, allowed by the console's CSP), and saving puts it in the draft."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from ivr.config import load_config
from ivr.console.app import Console
from ivr.console.flow_store import FlowStore
from ivr.console.prompt_preview import PromptVoice
from ivr.console.state import CallTools
from speech.tts import create_tts_engine
from tests.console.chromium import needs_chromium, replaced, severe_errors, start_chromium
from tests.console.conftest import Clock, copy_workspace
from tests.console.test_browser import add_user, log_in_as, serve_and_browse
from tests.versions.conftest import REPO

pytestmark = needs_chromium

NEW_TEXT = "Hi there. What can I do for you today?"
HEARD = "return document.querySelector('#utter_greet_again-1 audio.hear-it').duration"


async def test_a_designer_hears_an_edit_then_saves_it_to_the_draft_in_chromium(
    records_url: str, tmp_path: Path
) -> None:
    workspace = copy_workspace(tmp_path / "design")
    draft = workspace.draft
    config = load_config(environ={})
    tools = CallTools(
        flows=FlowStore(draft.root, code=REPO),
        prompt_voice=PromptVoice(create_tts_engine(config.tts, use_cache=False)),
        workspace=workspace,
    )
    add_user(records_url, tmp_path, "dana", "designer")
    console = Console(config.console, records_url, Clock(), tools)
    shots = await serve_and_browse(console, edit_a_prompt, tmp_path)
    assert [shot.name for shot in shots] == ["9-prompt-heard.png"]
    assert f'- text: "{NEW_TEXT}"' in draft.read("dialogue/domain.yml")


def edit_a_prompt(base: str, folder: Path) -> list[Path]:
    """Open the second variation of utter_greet_again, type, hear it, save (blocking)."""
    driver = start_chromium(folder, "--autoplay-policy=no-user-gesture-required")
    wait = WebDriverWait(driver, 60)
    shots: list[Path] = []
    try:
        driver.get(f"{base}/console/prompts")
        log_in_as(driver, "dana")
        wait.until(expected_conditions.title_contains("Prompts"))
        variation = driver.find_element(By.ID, "utter_greet_again-1")
        variation.find_element(By.CSS_SELECTOR, "details.prompt-edit summary").click()
        text = variation.find_element(By.NAME, "text")
        text.clear()
        text.send_keys(NEW_TEXT)
        variation.find_element(By.CSS_SELECTOR, "button.hear").click()
        wait.until(lambda _: (driver.execute_script(HEARD) or 0) > 1.0)
        player = variation.find_element(By.CSS_SELECTOR, "audio.hear-it")
        assert player.is_displayed() and player.get_attribute("src").startswith("blob:")
        assert driver.current_url.endswith("/console/prompts")  # heard in place, not navigated
        shots.append(folder / "9-prompt-heard.png")
        assert driver.save_screenshot(str(shots[-1]))
        variation.find_element(By.CSS_SELECTOR, "form.prompt-text-form button[type=submit]").click()
        wait.until(replaced(variation))
        wait.until(expected_conditions.title_contains("Prompts"))
        saved = driver.find_element(By.ID, "utter_greet_again-1")
        assert NEW_TEXT in saved.find_element(By.CSS_SELECTOR, "p.prompt-text").text
        assert severe_errors(driver) == []
    finally:
        driver.quit()
    return shots
