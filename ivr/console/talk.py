"""The talk page: call the bot from the browser's microphone, and follow the call's turns.

The page (``static/talk.js``) captures the microphone in an AudioWorklet
(``static/talk-worklet.js``) that downsamples it to ``MEDIA_RATE`` 16-bit PCM, and streams it
over a WebSocket to ``/console/talk/media``, which hands the connection to the bot's plain-PCM
media stream (``WebSocketMediaServer.handle_vouched``): the same framing, limits and
CallSession as ``/media/pcm``, with the bot's audio, its ``clear`` on barge-in and its hang-up
coming back on the socket. The socket lives under ``/console`` rather than at ``/media/pcm`` so
that it is served wherever the console is (its own listener too), and is proven by what proves
the console: the upgrade must carry the session's cookie, come from the console's own origin,
and spend a one-time ticket the page got by a CSRF-protected POST (``browser_calls``), so no
long-lived secret reaches the page and ``/media/pcm`` keeps its own token. The call is recorded
as transport ``console``, caller ``console:<user>``, and audited.

The page follows the call's turns by polling ``/console/talk/call.json``: the session's own
latest browser call, found by the peer id the console gave it, read from the records like any
call. It needs no new channel into the bot and shows nobody else's call; the placing of the call
is the audit row, so polling is not audited.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from ivr.console import audit
from ivr.console.auth import refusals
from ivr.console.html import element, hidden_token, join, render
from ivr.console.layout import message, page
from ivr.console.sessions import Session
from ivr.console.state import session_of, state_of
from ivr.console.talk_desk import TalkDesk
from telephony.websocket.server import Vouched

MEDIA_RATE = 16000
"""The rate the page's worklet sends and plays: wide-band speech, one of the PCM stream's."""
MEDIA_PATH = "/console/talk/media"
SCRIPT = element("script", "", src="/console/static/talk.js", defer="")


async def talk_page(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    if desk is None:
        return message(request, "Talk to the bot", "This console runs without the bot.", 200)
    body = render(
        "talk.html",
        token=hidden_token(session_of(request).csrf_token),
        rate=str(MEDIA_RATE),
        voice="on" if desk.media is not None else "off",
    )
    return page(request, "Talk to the bot", join([body, SCRIPT]))


async def ticket(request: web.Request) -> web.StreamResponse:
    """A one-time ticket for this session's next browser call (409 while it has one)."""
    desk = _desk(request)
    if desk is None or desk.media is None:
        return web.json_response({"error": "calls from the browser are off"}, status=503)
    issued = desk.calls.issue(session_of(request).id_hash)
    if issued is None:
        return web.json_response({"error": "this session is already in a call"}, status=409)
    return web.json_response(
        {"url": f"{MEDIA_PATH}?ticket={issued}", "rate": MEDIA_RATE},
        headers={"Cache-Control": "no-store"},
    )


async def media(request: web.Request) -> web.StreamResponse:
    """The browser call's WebSocket: same origin, a valid ticket of this session, then a call."""
    desk = _desk(request)
    if desk is None or desk.media is None:
        raise web.HTTPNotFound(text="calls from the browser are off")
    session = session_of(request)
    if not same_origin(request):
        _refuse(request, "origin")
        raise web.HTTPForbidden(text="a browser call must come from the console's own page")
    peer_call_id = f"console-{secrets.token_hex(8)}"
    if not desk.calls.redeem(request.query.get("ticket"), session.id_hash, peer_call_id):
        _refuse(request, "ticket")
        raise web.HTTPForbidden(text="the ticket is missing, expired, used or not this session's")
    user = session.user.name
    console = state_of(request)
    where = f"voice call from {request.remote}"
    await asyncio.to_thread(console.audit.record, user, audit.TALK_VOICE, peer_call_id, where)
    caller = Vouched(peer_call_id, "console", f"console:{user}", {"console_user": user})
    try:
        return await desk.media.handle_vouched(request, caller)
    finally:
        desk.calls.hung_up(session.id_hash)
        await _audit_end(request, session, peer_call_id)


async def call_feed(request: web.Request) -> web.StreamResponse:
    """The session's latest browser call with its turns so far (``call`` null: none yet)."""
    desk = _desk(request)
    session = session_of(request)
    peer_call_id = desk.calls.latest(session.id_hash) if desk is not None else None
    detail = None
    if peer_call_id is not None:
        calls = state_of(request).calls
        detail = await asyncio.to_thread(calls.call_by_peer_id, peer_call_id)
    if detail is None:
        return web.json_response({"call": None, "live": peer_call_id is not None})
    return web.json_response(
        {
            "call": dataclasses.asdict(detail.call),
            "turns": [dataclasses.asdict(turn) for turn in detail.turns],
            "live": desk is not None and desk.calls.live(session.id_hash),
        }
    )


def same_origin(request: web.Request) -> bool:
    """The request's ``Origin`` (which browsers always send with a WebSocket) names the host it
    was sent to: the console's own page, not another site or port driving the user's browser."""
    origin = urlsplit(request.headers.get("Origin", ""))
    return origin.scheme in ("http", "https") and origin.netloc == request.host


async def _audit_end(request: web.Request, session: Session, peer_call_id: str) -> None:
    """The audit row that names the call's record (the bot's call id) once the call is over."""
    console = state_of(request)
    detail = await asyncio.to_thread(console.calls.call_by_peer_id, peer_call_id)
    if detail is not None:
        await asyncio.to_thread(
            console.audit.record,
            session.user.name,
            audit.TALK_VOICE_END,
            detail.call.call_id,
            f"voice call {peer_call_id}",
        )


def _refuse(request: web.Request, reason: str) -> None:
    refusals.warning(
        f"talk-{reason}",
        "console.refused reason=%s path=%s source=%s origin=%s",
        reason,
        request.path,
        request.remote,
        request.headers.get("Origin", "")[:100],
    )


def _desk(request: web.Request) -> TalkDesk | None:
    return state_of(request).tools.talk
