""" "Save as QA script" from a call's page: the first POST shows the script made from the call's
turns for review, with a name; the second writes it into the QA scripts folder (an existing
script only when overwriting is ticked) and audits it. The text is made again from the record
when saving: nothing but the name comes from the form.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ivr.console import audit, params
from ivr.console.html import element, hidden_token, join, render
from ivr.console.layout import message, page
from ivr.console.qa_scripts import DraftScript, QaScripts, ScriptExists
from ivr.console.queries import CallDetail
from ivr.console.state import session_of, state_of
from ivr.qa.script import ScriptError


async def preview(request: web.Request) -> web.StreamResponse:
    """The script for review, named after the call."""
    found = await _call_and_scripts(request)
    if isinstance(found, web.StreamResponse):
        return found
    detail, scripts = found
    name = f"call_{detail.call.call_id}"[:64]
    return await _review(request, detail, scripts, name, "")


async def save(request: web.Request) -> web.StreamResponse:
    found = await _call_and_scripts(request)
    if isinstance(found, web.StreamResponse):
        return found
    detail, scripts = found
    form = await request.post()
    name = params.script_name(form)
    overwrite = params.one(form, "overwrite", 3) == "yes"
    try:
        draft = await _draft(request, scripts, detail, name)
        path = await asyncio.to_thread(scripts.save, name, draft.text, overwrite)
    except ScriptExists:
        problem = f"A script named {name} exists: tick “replace it” to overwrite it."
        return await _review(request, detail, scripts, name, problem, status=409)
    except ScriptError as exc:
        return message(request, "No script made", str(exc), 422)
    user = session_of(request).user
    call_id = detail.call.call_id
    detail_text = path.name + (" (replaced)" if overwrite else "")
    record = state_of(request).audit.record
    await asyncio.to_thread(record, user.name, audit.QA_SCRIPT_SAVE, call_id, detail_text)
    body = join(
        [
            element("p", f"Saved as {path}. Run it with: ivr simulate {path}", class_="message"),
            element("p", element("a", "Back to the call", href=f"/console/calls/{call_id}")),
        ]
    )
    return page(request, "QA script saved", body)


async def _review(
    request: web.Request,
    detail: CallDetail,
    scripts: QaScripts,
    name: str,
    problem: str,
    status: int = 200,
) -> web.StreamResponse:
    try:
        draft = await _draft(request, scripts, detail, name)
    except ScriptError as exc:
        return message(request, "No script made", str(exc), 422)
    body = render(
        "script_review.html",
        call_id=detail.call.call_id,
        token=hidden_token(session_of(request).csrf_token),
        name=name,
        problem=element("p", problem, class_="error") if problem else "",
        notes=join(element("li", note) for note in draft.notes),
        script=draft.text,
        folder=str(scripts.folder),
    )
    return page(request, "Save as QA script", body, status)


async def _draft(
    request: web.Request, scripts: QaScripts, detail: CallDetail, name: str
) -> DraftScript:
    no_input_s = state_of(request).tools.no_input_s
    return await asyncio.to_thread(scripts.draft, detail, name, no_input_s)


async def _call_and_scripts(
    request: web.Request,
) -> tuple[CallDetail, QaScripts] | web.StreamResponse:
    call_id = params.call_id(request.match_info["call_id"])
    console = state_of(request)
    scripts = console.tools.scripts
    if scripts is None:
        return message(request, "No scripts folder", "QA scripts are not configured.", 503)
    detail = await asyncio.to_thread(console.calls.call, call_id)
    if detail is None:
        return message(request, "No such call", f"There is no call {call_id}.", 404)
    return detail, scripts
