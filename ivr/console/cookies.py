"""The console's cookies: HttpOnly, SameSite=Strict, Path=/console, and Secure when they must be.

Secure is set when the request came over TLS or ``console.secure_cookie`` says a TLS proxy sits
in front (the server then sees plain HTTP). No cookie has a lifetime of its own: the server
decides when a session is over, and the browser forgets the cookie when it closes.
"""

from __future__ import annotations

from aiohttp import web

PATH = "/console"
SESSION = "ivr_console_session"
LOGIN_CSRF = "ivr_console_login"
"""The log-in form's double-submit token (``csrf``), before there is a session."""


def set_cookie(response: web.StreamResponse, name: str, value: str, secure: bool) -> None:
    response.set_cookie(
        name, value, path=PATH, httponly=True, samesite="Strict", secure=secure or None
    )


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=PATH)
