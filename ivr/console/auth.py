"""Who is asking, and may they: the checks every console handler runs behind (``protect``).

In order: security headers on every console response (pages, JSON, errors: no framing, no
resource from elsewhere, no caching of data); a refused value or a read over its budget turned
into a page; then the guard. A POST must be a small form with the right CSRF token (or, on a
route that takes a file, an upload whose first field is that token); pages for
logged-in users need a live session (HTML is sent to the log-in page, JSON gets 401) whose role
the route allows (else 403). The checks wrap each handler rather than sit in the application's
middlewares: the console shares the bot's application and must not touch other routes.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from ivr.console import cookies, csrf
from ivr.console.layout import message, redirect
from ivr.console.params import BadRequest
from ivr.console.state import SESSION, state_of
from ivr.console.uploads import upload_token
from ivr.logs import get_logger
from storage.db import QueryTooSlow
from telephony.logthrottle import LogThrottle

log = get_logger(__name__)
refusals = LogThrottle(log)
"""A client can make refusals at will: their log lines are rate-limited per reason."""

MAX_FORM_BYTES = 16 * 1024
"""The largest form body taken by default (most console forms are a few hundred bytes; a route
that takes a bigger one says so, see ``app.Route``)."""
FORM_TYPE = "application/x-www-form-urlencoded"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'self';"
        " frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
"""``media-src blob:``: the Prompts page plays a text being edited from audio its own script
fetched (``static/prompts.js``); no script from elsewhere can run to make such a blob."""
LOG_IN = "/console/login"


def wants_json(request: web.Request) -> bool:
    """A ``.json`` page, a client that asks for JSON rather than HTML, or a WebSocket upgrade
    (which cannot follow a redirect to the log-in page)."""
    accept = request.headers.get("Accept", "")
    return (
        request.path.endswith(".json")
        or ("application/json" in accept and "text/html" not in accept)
        or request.headers.get("Upgrade", "").lower() == "websocket"
    )


def protect(
    handler: Handler,
    roles: frozenset[str] | None,
    max_form_bytes: int = MAX_FORM_BYTES,
    upload: int = 0,
) -> Handler:
    """``handler`` behind the console's checks; ``roles`` may use it (None: anyone, e.g. the
    log-in page, whose POST is held to the pre-session token instead); a form it takes is at
    most ``max_form_bytes``. ``upload``: the largest file its POST takes
    (``ivr.console.uploads``); 0: it takes a URL-encoded form."""
    guarded = _guard(handler, roles, max_form_bytes, upload)

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            response = await _answer_errors(guarded, request)
        except web.HTTPException as exc:
            _mark(exc)
            raise
        _mark(response)
        return response

    return handle


def _mark(response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")


async def _answer_errors(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=400)
        return message(request, "Not a valid request", str(exc), 400)
    except QueryTooSlow:
        text = "That search took too long; narrow it (dates, outcome) and try again."
        if wants_json(request):
            return web.json_response({"error": text}, status=503)
        return message(request, "Search too slow", text, 503)


def _guard(
    handler: Handler, roles: frozenset[str] | None, max_form_bytes: int, upload: int
) -> Handler:
    async def check(request: web.Request) -> web.StreamResponse:
        token = None
        if request.method == "POST":
            token = await (
                upload_token(request, upload) if upload else _posted_token(request, max_form_bytes)
            )
        if roles is None:
            if request.method == "POST" and not csrf.genuine_login_post(request, token):
                return _refuse(request, "csrf", "The form has expired; load it again.")
            return await handler(request)
        console = state_of(request)
        presented = request.cookies.get(cookies.SESSION)
        session = await asyncio.to_thread(console.sessions.find, presented)
        if session is None:
            return _log_in_first(request, presented is not None)
        request[SESSION] = session
        if session.user.role not in roles:
            return _refuse(request, "role", "Your role does not give access to this page.")
        if request.method == "POST" and not csrf.same_token(token, session.csrf_token):
            return _refuse(request, "csrf", "The form has expired; load the page again.")
        return await handler(request)

    return check


async def _posted_token(request: web.Request, max_form_bytes: int) -> object:
    """The CSRF field of a POST, after checking it is a small URL-encoded form."""
    if request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(text=f"console forms are {FORM_TYPE}")
    if request.content_length is None:
        raise web.HTTPLengthRequired(text="a console form needs a Content-Length")
    if request.content_length > max_form_bytes:
        raise web.HTTPRequestEntityTooLarge(max_form_bytes, request.content_length)
    form = await request.post()
    tokens = form.getall(csrf.FIELD, [])
    return tokens[0] if len(tokens) == 1 else None


def _log_in_first(request: web.Request, expired: bool) -> web.StreamResponse:
    """401 for JSON; for a page, the log-in form, then back here (a GET) or home."""
    if wants_json(request):
        response = web.json_response({"error": "log in first"}, status=401)
    else:
        query = urlencode({"next": request.path_qs}) if request.method == "GET" else ""
        response = redirect(f"{LOG_IN}?{query}" if query else LOG_IN)
    if expired:
        cookies.clear_cookie(response, cookies.SESSION)
    return response


def _refuse(request: web.Request, reason: str, text: str) -> web.Response:
    refusals.warning(
        reason,
        "console.refused reason=%s method=%s path=%s source=%s",
        reason,
        request.method,
        request.path,
        request.remote,
    )
    if wants_json(request):
        return web.json_response({"error": text}, status=403)
    return message(request, "Not allowed", text, 403)
