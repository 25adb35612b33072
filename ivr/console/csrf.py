"""CSRF: a synchronizer token per session in every form, and a double-submit pair before log-in.

Every POST under /console is checked (``auth``) before its handler runs; without the right
token it gets 403. A session's token is made at log-in and kept server-side with the session.
The log-in form has no session yet: its token is also set as a cookie (``cookies.LOGIN_CSRF``),
and a post counts only when the two match; another site can neither read that cookie nor make
the browser send it (SameSite=Strict). Comparisons take constant time.
"""

from __future__ import annotations

import hmac
import re
import secrets

from aiohttp import web

from ivr.console import cookies

FIELD = "csrf_token"
"""The hidden form field that carries the token."""
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(presented: object, expected: str) -> bool:
    """Whether a form value is the expected token (constant time, any type refused)."""
    if not isinstance(presented, str) or not TOKEN.fullmatch(presented):
        return False
    return hmac.compare_digest(presented.encode("ascii"), expected.encode("ascii"))


def login_token(request: web.Request) -> str:
    """The log-in form's token: the browser's cookie if it holds a well-formed one, else new."""
    held = request.cookies.get(cookies.LOGIN_CSRF, "")
    return held if TOKEN.fullmatch(held) else new_token()


def genuine_login_post(request: web.Request, presented: object) -> bool:
    """Whether a log-in post carries the same token in its form as in its cookie."""
    held = request.cookies.get(cookies.LOGIN_CSRF, "")
    return bool(TOKEN.fullmatch(held)) and same_token(presented, held)
