"""The talk page's text chat: typed messages to the assistant, answered as JSON for the page.

Each message is a CSRF-protected form POST (``text``, at most ``MAX_MESSAGE`` characters); the
answer carries the turns it made (the greeting too when it started the chat) with the intents
understood. The chat is a call of transport ``text`` (``ivr.text_call``); starting one is
audited with its call id.
"""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web

from ivr.console import audit, params
from ivr.console.chats import ChatsBusy
from ivr.console.state import session_of, state_of
from ivr.text_call import TextCallOver

MAX_MESSAGE = 300
"""Longest message: what a caller says in one turn, with room to spare."""


async def send_text(request: web.Request) -> web.StreamResponse:
    desk = state_of(request).tools.talk
    if desk is None:
        return web.json_response({"error": "this server has no bot to talk to"}, status=503)
    text = params.one(await request.post(), "text", MAX_MESSAGE)
    if text is None or not text.strip():
        raise params.BadRequest("text is empty")
    session = session_of(request)
    try:
        done = await desk.chats.say(session.id_hash, session.user.name, text)
    except ChatsBusy as exc:
        return web.json_response({"error": str(exc)}, status=503)
    except TextCallOver as exc:
        return web.json_response({"error": str(exc)}, status=502)
    if done.started:
        console = state_of(request)
        user, call_id = session.user.name, done.call.call_id
        await asyncio.to_thread(console.audit.record, user, audit.TALK_TEXT, call_id, "text chat")
    return web.json_response(
        {
            "call_id": done.call.call_id,
            "outcome": done.call.outcome,
            "turns": [dataclasses.asdict(turn) for turn in done.turns],
        }
    )


async def end_text(request: web.Request) -> web.StreamResponse:
    desk = state_of(request).tools.talk
    ended = await desk.chats.end(session_of(request).id_hash) if desk is not None else None
    return web.json_response({"call_id": ended.call_id if ended is not None else None})
