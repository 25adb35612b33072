""" "Replay through the current bot" from a call's page: the form's POST starts the replay in the
background (``replays.ReplayDesk``) and sends the browser back to the page, which shows it
running and then its turn-by-turn differences. The request is audited; its keys and PIN are not.
"""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web

from ivr.console import audit, params
from ivr.console.layout import message, redirect
from ivr.console.recordings import RecordingUnavailable
from ivr.console.replays import ReplayBusy, ReplayOrder
from ivr.console.state import session_of, state_of


async def start_replay(request: web.Request) -> web.StreamResponse:
    call_id = params.call_id(request.match_info["call_id"])
    form = await request.post()
    keys, pin = params.key_entries(form), params.test_pin(form)
    console = state_of(request)
    desk, shelf = console.tools.replays, console.tools.recordings
    if desk is None or shelf is None:
        text = (
            "Replays need the bot's engines and recordings: the server `ivr serve` runs has them."
        )
        return message(request, "Replay unavailable", text, 503)
    detail = await asyncio.to_thread(console.calls.call, call_id)
    if detail is None:
        return message(request, "No such call", f"There is no call {call_id}.", 404)
    try:
        recording = await asyncio.to_thread(shelf.locate, detail.call.recording)
    except RecordingUnavailable as exc:
        return message(request, "Nothing to replay", str(exc), 404)
    order = ReplayOrder(
        call_id,
        recording,
        dataclasses.asdict(detail.call),
        [dataclasses.asdict(turn) for turn in detail.turns],
        keys,
        pin,
    )
    user = session_of(request).user
    try:
        desk.start(order, user.name)
    except ReplayBusy as exc:
        return message(request, "Replays busy", str(exc), 503)
    given = f"{len(keys)} keyed entries, test PIN {'given' if pin else 'not given'}"
    await asyncio.to_thread(console.audit.record, user.name, audit.CALL_REPLAY, call_id, given)
    return redirect(f"/console/calls/{call_id}#replay")
