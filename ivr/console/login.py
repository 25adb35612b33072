"""Log-in and log-out pages.

A failed log-in says only "wrong user name or password", whether the name exists or not, in
about the same time (``users.UserStore.authenticate``). Failures count per name and per address
(``throttle``); over the limit the form says when to try again (429) without checking the
password. A successful log-in makes a new session id (one the browser held before is ended),
drops the form's pre-session token and goes back to the page that sent the user here.
"""

from __future__ import annotations

import asyncio
import math

from aiohttp import web

from ivr.console import cookies, csrf
from ivr.console.auth import LOG_IN
from ivr.console.html import element, hidden_token, render
from ivr.console.layout import page, redirect
from ivr.console.params import MAX_NEXT, next_path, one
from ivr.console.passwords import MAX_LENGTH
from ivr.console.state import session_of, state_of
from ivr.logs import get_logger
from logfields import fields

log = get_logger(__name__)
MAX_NAME = 64
WRONG = "Wrong user name or password."


async def login_form(request: web.Request) -> web.StreamResponse:
    console = state_of(request)
    target = next_path(one(request.query, "next", MAX_NEXT))
    held = request.cookies.get(cookies.SESSION)
    if await asyncio.to_thread(console.sessions.find, held) is not None:
        return redirect(target)
    return _form(request, target, name="", error="", status=200)


async def log_in(request: web.Request) -> web.StreamResponse:
    console = state_of(request)
    form = await request.post()
    target = next_path(one(form, "next", MAX_NEXT))
    typed = one(form, "name", MAX_NAME) or ""
    password = one(form, "password", MAX_LENGTH) or ""
    name = typed.strip().casefold()
    address = request.remote or "unknown"
    wait = console.throttle.retry_after(name, address)
    if wait > 0:
        log.warning("console.login_throttled", extra=fields(source=address))
        minutes = math.ceil(wait / 60)
        response = _form(
            request,
            target,
            typed,
            f"Too many failed log-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            status=429,
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    console.throttle.attempt(name, address)
    async with console.password_checks:
        user = await asyncio.to_thread(console.users.authenticate, name, password, address)
    if user is None:
        log.warning("console.login_failed", extra=fields(source=address))
        return _form(request, target, typed, WRONG, status=401)
    console.throttle.succeeded(name, address)
    session_id, _ = await asyncio.to_thread(
        console.sessions.start, user, request.cookies.get(cookies.SESSION), address
    )
    log.info("console.login", extra=fields(user=user.name, role=user.role, source=address))
    response = redirect(target)
    cookies.set_cookie(response, cookies.SESSION, session_id, console.secure_cookie(request))
    cookies.clear_cookie(response, cookies.LOGIN_CSRF)
    return response


async def log_out(request: web.Request) -> web.StreamResponse:
    console = state_of(request)
    session = session_of(request)
    await asyncio.to_thread(console.sessions.end, session, request.remote or "unknown")
    log.info("console.logout", extra=fields(user=session.user.name))
    response = redirect(LOG_IN)
    cookies.clear_cookie(response, cookies.SESSION)
    return response


def _form(request: web.Request, target: str, name: str, error: str, status: int) -> web.Response:
    """The log-in form with its double-submit token, also set as the pre-session cookie."""
    token = csrf.login_token(request)
    notice = element("p", error, class_="error", role="alert") if error else ""
    body = render("login.html", token=hidden_token(token), next=target, name=name, error=notice)
    response = page(request, "Log in", body, status)
    cookies.set_cookie(
        response, cookies.LOGIN_CSRF, token, state_of(request).secure_cookie(request)
    )
    return response
