"""What a browser does with the console's forms: read the CSRF token a form carries, log in.

For clients of our own that must pass the same checks a person's browser does (the benchmark,
the tests): the log-in form is loaded first, so its pre-session cookie and hidden field match.
``Browser`` is anything with aiohttp's ``get`` and ``post`` (a ``ClientSession`` with a
``base_url``, a test client).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any, Protocol

from aiohttp import ClientResponse

from ivr.console.auth import LOG_IN
from ivr.console.csrf import FIELD

_TOKEN = re.compile(rf'name="{FIELD}" value="([A-Za-z0-9_-]+)"')


class Browser(Protocol):
    def get(self, url: str, **kwargs: Any) -> Awaitable[ClientResponse]: ...

    def post(self, url: str, **kwargs: Any) -> Awaitable[ClientResponse]: ...


def token_in(page: str) -> str:
    """The CSRF token of the page's (first) form; ValueError if it has none."""
    found = _TOKEN.search(page)
    if found is None:
        raise ValueError(f"no CSRF token in the page: {page[:300]!r}")
    return found.group(1)


async def log_in(browser: Browser, name: str, password: str, target: str = "") -> ClientResponse:
    """Load the log-in form and post it; the response (303 on success) is not followed."""
    form = await browser.get(LOG_IN)
    data = {FIELD: token_in(await form.text()), "name": name, "password": password}
    if target:
        data["next"] = target
    return await browser.post(LOG_IN, data=data, allow_redirects=False)
