"""The pages for logged-in users: home, the calls list, one call, and the audit log.

A call's page adds, for the roles that may use them, its recording and the replay and
save-as-script tools (``callpage``).

The calls list and a call are also JSON (``/console/calls.json``, ``/console/calls/ID.json``)
for QA tools, with the same access. Opening a call, as a page or JSON, writes an audit row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from aiohttp import web

from ivr.console import audit, params
from ivr.console.auth import wants_json
from ivr.console.callpage import CallExtras, call_extras
from ivr.console.html import (
    Markup,
    element,
    fields,
    join,
    link,
    number,
    render,
    table,
    when,
)
from ivr.console.layout import message, page
from ivr.console.paging import Cursor
from ivr.console.queries import OUTCOMES, CallDetail, CallSummary
from ivr.console.roles import sections_for
from ivr.console.state import session_of, state_of
from ivr.records import TurnRecord

CALLS = "/console/calls"
CALL_COLUMNS = (
    "started (UTC)",
    "call",
    "transport",
    "caller",
    "turns",
    "length",
    "outcome",
    "reason",
)
TIMINGS = (
    ("endpoint", "endpoint_ms"),
    ("asr", "asr_ms"),
    ("dialogue", "dialogue_ms"),
    ("tts first audio", "tts_first_ms"),
    ("response", "response_ms"),
)
"""The per-stage timings a turn records (``ivr.records.TurnRecord``), as the page names them."""


async def home(request: web.Request) -> web.StreamResponse:
    user = session_of(request).user
    sections = [
        element("li", join([link(section.path, section.title), ": ", section.purpose], ""))
        for section in sections_for(user.role)
    ]
    body = render("home.html", name=user.name, role=user.role, sections=join(sections))
    return page(request, "Console", body)


async def calls(request: web.Request) -> web.StreamResponse:
    asked = params.call_list(request.query)
    console = state_of(request)
    found = await asyncio.to_thread(console.calls.calls, asked.wanted, asked.before, asked.limit)
    if wants_json(request):
        return web.json_response(
            {
                "calls": [dataclasses.asdict(call) for call in found.rows],
                "next": None if found.next is None else str(found.next),
            }
        )
    rows = [_summary(call) for call in found.rows]
    listing = (
        table(CALL_COLUMNS, rows, class_="calls")
        if rows
        else element("p", "No calls match.", class_="message")
    )
    form: dict[str, object] = {
        name: asked.given.get(name, "") for name in params.CALL_FILTER_FIELDS
    }
    form["outcome"] = _options(("", *OUTCOMES), asked.given.get("outcome"))
    form["handed_off"] = _options(("", "yes", "no"), asked.given.get("handed_off"))
    more = _older(CALLS, "Older calls", found.next, asked.limit, asked.given)
    return page(request, "Calls", render("calls.html", listing=listing, more=more, **form))


async def call(request: web.Request) -> web.StreamResponse:
    call_id = params.call_id(request.match_info["call_id"])
    console = state_of(request)
    detail = await asyncio.to_thread(console.calls.call, call_id)
    as_json = wants_json(request)
    if detail is None:
        if as_json:
            return web.json_response({"error": "no such call"}, status=404)
        return message(request, "No such call", f"There is no call {call_id}.", 404)
    user = session_of(request).user
    how = "json" if as_json else "page"
    await asyncio.to_thread(console.audit.record, user.name, audit.CALL_VIEW, call_id, how)
    if as_json:
        return web.json_response(_call_data(detail))
    extras = await call_extras(request, detail)
    return page(request, f"Call {call_id}", _call_page(detail, extras))


async def audit_log(request: web.Request) -> web.StreamResponse:
    before, limit = params.cursor(request.query), params.limit(request.query)
    entries = await asyncio.to_thread(state_of(request).audit.page, before, limit)
    rows = [
        (
            when(entry.at),
            entry.actor,
            entry.action,
            link(f"{CALLS}/{entry.target}", entry.target)
            if entry.action in audit.CALL_ACTIONS
            else entry.target,
            entry.detail,
        )
        for entry in entries.rows
    ]
    more = _older("/console/audit", "Older entries", entries.next, limit, {})
    listing = table(("time (UTC)", "user", "action", "target", "detail"), rows, class_="audit")
    return page(request, "Audit log", render("audit.html", listing=listing, more=more))


def _summary(call: CallSummary) -> tuple[object, ...]:
    length = None if call.ended_at is None else call.ended_at - call.started_at
    return (
        when(call.started_at),
        link(f"{CALLS}/{call.call_id}", call.call_id),
        call.transport,
        call.caller,
        call.turns,
        number(length, 0, " s"),
        element("span", call.outcome, class_=f"outcome {call.outcome}"),
        call.reason,
    )


def _options(choices: tuple[str, ...], chosen: str | None) -> Markup:
    """A select's options; the empty choice reads "any"."""
    return join(
        element(
            "option", value or "any", value=value, selected="" if value == (chosen or "") else None
        )
        for value in choices
    )


def _older(path: str, text: str, after: Cursor | None, limit: int, given: dict[str, str]) -> object:
    """The link to the next page (the same filters, after this page's last row), if any."""
    if after is None:
        return ""
    return link(path, text, **given, before=str(after), limit=str(limit))


def _call_page(detail: CallDetail, extras: CallExtras) -> Markup:
    call = detail.call
    length = None if call.ended_at is None else call.ended_at - call.started_at
    summary = {
        "call id": call.call_id,
        "peer call id": call.peer_call_id,
        "transport": call.transport,
        "caller": call.caller,
        "called": call.called,
        "started (UTC)": when(call.started_at),
        "ended (UTC)": when(call.ended_at),
        "length": number(length, 1, " s"),
        "outcome": call.outcome,
        "reason": call.reason,
        "turns": call.turns,
        "node": call.node_id,
        "recording": "kept (encrypted)" if call.recording else "none",
    }
    handoffs = join(
        element(
            "section",
            join([element("h3", f"Turn {turn}"), fields(_flat(handoff))]),
            class_="handoff",
        )
        for turn, handoff in detail.handoffs
    )
    timeline = join(_turn(turn, call.started_at, extras.playable) for turn in detail.turns)
    return render(
        "call.html",
        recording=extras.recording,
        tools=extras.tools,
        script=extras.script,
        summary=fields({name: value for name, value in summary.items() if value != ""}),
        details=fields(_flat(call.details)) if call.details else "none",
        handoffs=handoffs or "none",
        timeline=timeline or element("p", "No turns recorded.", class_="message"),
    )


def _turn(turn: TurnRecord, call_start: float, playable: bool) -> Markup:
    said = turn.transcript or f"[{turn.input_kind}]"
    intent = (
        f"{turn.intent} ({number(turn.intent_confidence, 2)})" if turn.intent is not None else ""
    )
    entities = ", ".join(
        f"{entity.get('entity', '?')}={entity.get('value', '')}" for entity in turn.entities
    )
    timings = ", ".join(
        f"{name} {number(getattr(turn, key), 0, ' ms')}"
        for name, key in TIMINGS
        if getattr(turn, key) is not None
    )
    rows = {
        "at": f"+{number(turn.started_at - call_start, 1, ' s')}",
        "input": turn.input_kind + (" (barged in)" if turn.barged_in else ""),
        "caller": said,
        "asr confidence": number(turn.asr_confidence, 2),
        "intent": intent,
        "entities": entities,
        "bot": turn.bot_text,
        "timings": timings,
    }
    offset = max(0.0, turn.started_at - call_start)
    play = (
        element(
            "button", "▶ play from here", type="button", class_="play-from", data_at=f"{offset:.2f}"
        )
        if playable
        else ""
    )
    heading = element("h3", join([f"Turn {turn.turn}", play], " "))
    return element(
        "section",
        join([heading, fields({k: v for k, v in rows.items() if v})]),
        class_="turn",
    )


def _flat(values: dict[str, Any]) -> dict[str, object]:
    """A mapping for a definition list: nested values as compact JSON text."""
    return {
        str(key): value if isinstance(value, (str, int, float)) else json.dumps(value)
        for key, value in values.items()
    }


def _call_data(detail: CallDetail) -> dict[str, Any]:
    return {
        "call": dataclasses.asdict(detail.call),
        "turns": [dataclasses.asdict(turn) for turn in detail.turns],
        "handoffs": [{"turn": turn, **handoff} for turn, handoff in detail.handoffs],
    }
