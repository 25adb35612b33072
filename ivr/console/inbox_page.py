"""The NLU inbox's handlers: the page, a turn's audio snippet, labelling and dismissing.

The page and the snippet read (``inbox``, ``snippets``); labelling checks the example
(``example_text``), refuses one the NLU data already holds under any intent (``nlu_examples``)
and writes it into the designers' draft with its decision and audit rows (``inbox_labels``,
``nlu_files``): locked, conflict-checked, and the draft's test report dropped, as every design
edit is. Without a draft (the server could not make one) nothing is labelled. Every blocking
step runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from multidict import MultiMapping

from ivr.console import audit, params
from ivr.console.auth import SECURITY_HEADERS
from ivr.console.example_text import EntityMark, labelled_example
from ivr.console.inbox import REASONS, InboxCursor, InboxFilter, InboxItem
from ivr.console.inbox_labels import AlreadyDecided
from ivr.console.inbox_view import InboxView, inbox_body
from ivr.console.layout import message, page, redirect
from ivr.console.listen import CACHE_CONTROL
from ivr.console.nlu_files import NluFileError, add_example
from ivr.console.nlu_project import NOT_LEARNED_INTENTS, NluProject
from ivr.console.recordings import RecordingUnavailable
from ivr.console.roles import LABELLERS, RECORDING_LISTENERS
from ivr.console.snippets import caller_wav, turn_stretch
from ivr.console.state import ConsoleState, session_of, state_of
from ivr.sealed import RecordingError
from ivr.versions.draft import DraftConflict, DraftError

INBOX = "/console/inbox"
ENTITY_ROWS = 2
"""Entities one label may mark (the form's rows)."""
NO_PROJECT = "The NLU inbox needs the assistant's project (dialogue.project_dir) on this server."
NO_DRAFT = (
    "Labels are written into the designers' draft, which this server could not make (its log"
    " says why): nothing was labelled."
)


@dataclass(frozen=True)
class InboxRequest:
    """What the page was asked for."""

    wanted: InboxFilter
    new_only: bool
    before: InboxCursor | None
    limit: int


async def inbox(request: web.Request) -> web.StreamResponse:
    """``/console/inbox``: the items of a period, why each is there, and the labels since the
    last model."""
    console = state_of(request)
    project = console.tools.nlu
    if project is None:
        return message(request, "NLU inbox", NO_PROJECT, 200)
    asked = _inbox_request(request.query, console)
    view = await asyncio.to_thread(_view, console, project, asked)
    session = session_of(request)
    labeller = session.user.role in LABELLERS
    body = inbox_body(view, session, labeller, request.path_qs)
    return page(request, "NLU inbox", body)


async def snippet(request: web.Request) -> web.StreamResponse:
    """``/console/inbox/{call}/{turn}/snippet.wav``: the caller's audio of an inbox turn."""
    console = state_of(request)
    project = console.tools.nlu
    shelf = console.tools.recordings
    if project is None or shelf is None:
        return message(request, "No snippet", "Recordings are not configured.", 404)
    call_id, turn = _turn_of(request)
    item = await asyncio.to_thread(console.inbox.item, call_id, turn, project.bands())
    if item is None:
        return message(request, "No snippet", "That turn is not in the NLU inbox.", 404)
    user = session_of(request).user
    if user.role not in RECORDING_LISTENERS and "*" in item.transcript:
        return message(
            request,
            "Not allowed",
            "This turn holds a masked number the caller said: its audio is for QA. Label it"
            " from the transcript.",
            403,
        )
    try:
        audio = await asyncio.to_thread(_snippet_wav, console, item)
    except RecordingUnavailable as exc:
        return message(request, "Recording unavailable", str(exc), 404)
    except RecordingError:
        return message(request, "Recording unavailable", "The recording is damaged.", 404)
    detail = f"turn {turn}, {len(audio)} bytes"
    await asyncio.to_thread(console.audit.record, user.name, audit.INBOX_SNIPPET, call_id, detail)
    response = web.Response(body=audio, content_type="audio/wav")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


async def label(request: web.Request) -> web.StreamResponse:
    """POST: write the turn's example under the chosen intent, then back to the inbox."""
    return await _decide(request, _write_label)


async def dismiss(request: web.Request) -> web.StreamResponse:
    """POST: take the turn out of the inbox without an example."""
    return await _decide(request, _dismiss)


@dataclass(frozen=True)
class Deciding:
    """A decision being made: on which item, by whom, with what form."""

    console: ConsoleState
    project: NluProject
    item: InboxItem
    form: MultiMapping[object]
    actor: str


Decide = Callable[[web.Request, Deciding], Awaitable[web.StreamResponse | None]]
"""Makes a decision; a response when it refuses, None when done."""


async def _decide(request: web.Request, decide: Decide) -> web.StreamResponse:
    """What labelling and dismissing share: the item must be in the inbox and undecided; once
    decided, back to the inbox page the form came from."""
    console = state_of(request)
    project = console.tools.nlu
    if project is None:
        return message(request, "NLU inbox", NO_PROJECT, 404)
    call_id, turn = _turn_of(request)
    form = await request.post()
    item = await asyncio.to_thread(console.inbox.item, call_id, turn, project.bands())
    if item is None:
        return message(request, "Not in the inbox", "That turn is not in the NLU inbox.", 404)
    deciding = Deciding(console, project, item, form, session_of(request).user.name)
    try:
        refusal = await decide(request, deciding)
    except AlreadyDecided:
        return message(request, "Already decided", "Someone labelled or dismissed it first.", 409)
    return redirect(_back(form)) if refusal is None else refusal


async def _write_label(request: web.Request, deciding: Deciding) -> web.StreamResponse | None:
    project, form, item = deciding.project, deciding.form, deciding.item
    workspace = deciding.console.tools.workspace
    if workspace is None:
        return message(request, "Not written", NO_DRAFT, 409)
    intents, entities = await asyncio.to_thread(lambda: (project.intents(), project.entities()))
    intent = params.one(form, "intent", 100)
    if intent not in intents:
        raise params.BadRequest("intent is one of the domain's intents")
    example = labelled_example(params.one(form, "text", 200) or "", _marks(form), entities)
    index = await asyncio.to_thread(project.examples.index)
    clash = next((f for f in index.flags(example.plain, intent) if f.kind != "near"), None)
    if clash is not None:
        known = clash.example
        return message(
            request,
            "Already an example",
            f"'{known.text}' is already an example of {known.intent} in {known.file}"
            + (
                ": nothing to add; dismiss the item."
                if clash.kind == "duplicate"
                else f". The same words under {intent} too would teach the model a"
                " contradiction: change that file first, or dismiss the item."
            ),
            409,
        )

    def write() -> str:
        return add_example(workspace.draft, intent, example.annotated, author=deciding.actor)

    labels = deciding.console.labels
    try:
        await asyncio.to_thread(
            labels.label, deciding.actor, item.call_id, item.turn, intent, example.annotated, write
        )
    except (NluFileError, DraftError, DraftConflict) as exc:
        return message(request, "Not written", f"The example was not written: {exc}", 409)
    return None


async def _dismiss(_: web.Request, deciding: Deciding) -> web.StreamResponse | None:
    item = deciding.item
    await asyncio.to_thread(
        deciding.console.labels.dismiss, deciding.actor, item.call_id, item.turn
    )
    return None


def _view(console: ConsoleState, project: NluProject, asked: InboxRequest) -> InboxView:
    """Everything the page shows (blocking: database and project files)."""
    bands, trained_at = project.bands(), project.trained_at()
    wanted = asked.wanted
    if asked.new_only:
        wanted = InboxFilter(wanted.period, wanted.reason, trained_at or 0.0)
    found = console.inbox.items(wanted, bands, asked.before, asked.limit)
    pending, pending_total = console.labels.labelled_since(trained_at)
    index = project.examples.index()
    return InboxView(
        asked=wanted,
        new_only=asked.new_only,
        limit=asked.limit,
        bands=bands,
        trained_at=trained_at,
        items=found,
        counts=console.inbox.counts(wanted, bands, trained_at),
        flags={
            (i.call_id, i.turn): index.flags(i.transcript, _learned(i.intent)) for i in found.rows
        },
        pending=pending,
        pending_total=pending_total,
        intents=project.intents(),
        entities=project.entities(),
        audible=console.tools.recordings is not None,
    )


def _learned(intent: str | None) -> str | None:
    """The intent understood, if it is one examples teach (a flag is relative to it)."""
    return None if intent in NOT_LEARNED_INTENTS else intent


def _snippet_wav(console: ConsoleState, item: InboxItem) -> bytes:
    detail = console.calls.call(item.call_id)
    shelf = console.tools.recordings
    if detail is None or shelf is None:
        raise RecordingUnavailable("The call is no longer there.")
    before = [turn.started_at for turn in detail.turns if turn.turn < item.turn]
    stretch = turn_stretch(detail.call.started_at, before[-1] if before else None, item.started_at)
    with shelf.open(detail.call.recording) as reader:
        return caller_wav(reader, stretch)


def _inbox_request(query: MultiMapping[str], console: ConsoleState) -> InboxRequest:
    reason = params.one(query, "reason", 40)
    if reason is not None and reason not in REASONS:
        raise params.BadRequest(f"reason is one of {', '.join(REASONS)}")
    new = params.one(query, "new", 3)
    if new not in (None, "yes"):
        raise params.BadRequest("new is yes or left out")
    before = params.one(query, "before", 140)
    try:
        cursor = None if before is None else InboxCursor.parse(before)
    except ValueError:
        raise params.BadRequest("before is not a page cursor from this console") from None
    wanted = InboxFilter(params.period(query, console.today()), reason)
    return InboxRequest(wanted, new == "yes", cursor, params.limit(query))


def _turn_of(request: web.Request) -> tuple[str, int]:
    """The call id and turn number of an item's path (the route's pattern checks digits)."""
    turn = request.match_info["turn"]
    if len(turn) > 6:
        raise params.BadRequest("not a turn number")
    return params.call_id(request.match_info["call_id"]), int(turn)


def _marks(form: MultiMapping[object]) -> list[EntityMark]:
    """The entity rows the designer filled in (an entity and its words, both or neither)."""
    marks = []
    for row in range(1, ENTITY_ROWS + 1):
        entity = params.one(form, f"entity_{row}", 100)
        span = params.one(form, f"span_{row}", 200)
        if (entity is None) != (span is None):
            raise params.BadRequest(f"entity row {row} needs both an entity and its words")
        if entity is not None and span is not None:
            marks.append(EntityMark(entity, span))
    return marks


def _back(form: MultiMapping[object]) -> str:
    """Where the form came from: an inbox page, else the inbox."""
    back = params.next_path(params.one(form, "back", params.MAX_NEXT))
    return back if back.startswith(INBOX) else INBOX
