"""Headless Debian chromium under selenium (chromium-driver), as the console's browser tests
drive it; a browser log without SEVERE entries means no script error and no CSP violation."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="chromium and chromium-driver (Debian packages) are installed by `make setup`",
)


def replaced(element: WebElement) -> Callable[[object], bool]:
    """A wait condition: ``element``'s page has been replaced (a form posted and answered).

    selenium's ``staleness_of`` only knows the stale-element error; chromedriver, asked about an
    element while its document is being replaced, can instead fail with "Node with given id does
    not belong to the document", which says the same and failed a run."""

    def gone(_: object) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone


def start_chromium(folder: Path, *arguments: str) -> webdriver.Chrome:
    """A headless chromium with its profile in ``folder``, plus ``arguments`` (blocking)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={folder / 'profile'}",
        *arguments,
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def severe_errors(driver: webdriver.Chrome) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
