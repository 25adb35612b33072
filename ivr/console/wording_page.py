"""The Caller wording page (``/console/wording``): the training examples of each intent in the
designers' draft, with warnings; one intent's page (``/console/wording/{intent}``) adds, edits,
moves and deletes its examples.

Designers and admins change the examples (``DESIGN_EDITORS``, the people who own the training
data, as for the inbox's labels), QA reads them. Every change is written into the draft by
``wording_edits`` (locked, conflict-checked, the draft's test report dropped) and audited as a
design edit of the intent. A change that someone else's got ahead of shows the page as it is now
with the conflict said; a refused one says why and writes nothing. Every blocking step runs in a
thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from multidict import MultiMapping

from ivr.console import audit, params
from ivr.console.example_text import MAX_EXAMPLE_CHARS, LabelledExample, written_example
from ivr.console.layout import message, page, redirect
from ivr.console.nlu_files import NLU_DIR
from ivr.console.nlu_project import NluProject
from ivr.console.roles import DESIGN_EDITORS
from ivr.console.state import CallTools, ConsoleState, session_of, state_of
from ivr.console.wording import Wording, read_wording
from ivr.console.wording_edits import Done, Seen, WordingEditor, WordingRefused
from ivr.console.wording_view import WORDING, IntentView, Notice, intent_body, list_body
from ivr.versions.draft import DraftConflict

TITLE = "Caller wording"
PAGE_SIZE = 100
"""Written examples per page (the largest intent has about 130)."""
MAX_LINES = 20
"""Examples one add may bring."""
MAX_SEEN_CHARS = 1000
"""The longest example line a form may name as the one it changes (files may hold longer
lines than the page writes)."""
MAX_INTENT_CHARS = 100
NO_PROJECT = "The Caller wording page needs the assistant's project (dialogue.project_dir)."
NO_DRAFT = (
    "Examples are changed in the designers' draft, which this server could not make (its log"
    " says why): the page is read-only."
)
DONE = {
    "added": "Added to the draft.",
    "changed": "Changed in the draft.",
    "moved": "Moved in the draft.",
    "deleted": "Deleted from the draft.",
}
"""What a change that went through says on the page it redirects to."""


async def wording(request: web.Request) -> web.StreamResponse:
    """``/console/wording``: every intent with its example counts, and the warnings."""
    tools = state_of(request).tools
    project = tools.nlu
    if project is None:
        return message(request, TITLE, NO_PROJECT, 200)
    found = await asyncio.to_thread(lambda: _read(tools, project, project.intents()))
    source = (
        "Read from the designers' draft."
        if tools.workspace is not None
        else "Read from the project's files: there is no draft on this server, so nothing can"
        " be changed here."
    )
    return page(request, TITLE, list_body(found, source))


async def intent_page(request: web.Request) -> web.StreamResponse:
    """``/console/wording/{intent}``: a page of the intent's examples and their forms."""
    done = params.one(request.query, "done", 10)
    if done is not None and done not in DONE:
        raise params.BadRequest(f"done is one of {', '.join(DONE)}")
    return await _intent_response(request, Notice(DONE[done] if done else ""), 200)


async def add(request: web.Request) -> web.StreamResponse:
    """POST: add one example a line to the intent."""

    async def act(change: Changing) -> Done:
        examples = [written_example(line, change.entities) for line in _lines(change.form)]
        return await asyncio.to_thread(change.editor.add, change.intent, examples, change.actor)

    return await _change(request, act, "added")


async def edit(request: web.Request) -> web.StreamResponse:
    """POST: replace an example's text."""

    async def act(change: Changing) -> Done:
        new = _text(change)
        return await asyncio.to_thread(change.editor.edit, change.seen(), new, change.actor)

    return await _change(request, act, "changed")


async def move(request: web.Request) -> web.StreamResponse:
    """POST: move an example to another intent."""

    async def act(change: Changing) -> Done:
        target = params.one(change.form, "target", MAX_INTENT_CHARS)
        if target is None or target not in change.intents:
            raise params.BadRequest("Choose the intent to move the example to.")
        return await asyncio.to_thread(change.editor.move, change.seen(), target, change.actor)

    return await _change(request, act, "moved")


async def delete(request: web.Request) -> web.StreamResponse:
    """POST: delete an example."""

    async def act(change: Changing) -> Done:
        return await asyncio.to_thread(change.editor.delete, change.seen(), change.actor)

    return await _change(request, act, "deleted")


@dataclass(frozen=True)
class Changing:
    """A change being made: to which intent, by whom, with what form."""

    editor: WordingEditor
    intent: str
    form: MultiMapping[object]
    actor: str
    intents: list[str]
    """The domain's learned intents (where an example may go)."""
    entities: list[str]
    files: list[str]
    """The hand-written files an example may be named in."""

    def seen(self) -> Seen:
        """The example the form names, as the designer saw it."""
        name = params.one(self.form, "file", 200)
        if name not in self.files:
            raise params.BadRequest("file is one of the hand-written NLU files")
        text = params.one(self.form, "example", MAX_SEEN_CHARS)
        if text is None:
            raise params.BadRequest("example is missing")
        return Seen(self.intent, name, text)


Act = Callable[[Changing], Awaitable[Done]]


async def _change(request: web.Request, act: Act, done: str) -> web.StreamResponse:
    """What every change shares: the draft, the intent, the refusals and conflicts shown on the
    intent's page, the audit row, and back to the page."""
    console = state_of(request)
    tools = console.tools
    form = await request.post()
    if tools.nlu is None or tools.workspace is None:
        return message(request, TITLE, NO_DRAFT if tools.nlu else NO_PROJECT, 409)
    project = tools.nlu
    intents, entities = await asyncio.to_thread(
        lambda: (project.intents(), project.domain_entities())
    )
    editor = WordingEditor(tools.workspace.draft, intents)
    files = await asyncio.to_thread(editor.editable_files)
    intent = _intent_name(request)
    if intent not in intents:
        return message(request, TITLE, f"{intent} is not an intent examples may teach.", 404)
    actor = session_of(request).user.name
    changing = Changing(editor, intent, form, actor, intents, entities, files)
    lines = ""
    try:
        lines = _typed(form)
        outcome = await act(changing)
    except (params.BadRequest, WordingRefused) as exc:
        return await _intent_response(request, Notice(str(exc), "error"), 400, lines)
    except DraftConflict as exc:
        conflict = f"Not saved: {exc}. The examples below are as the draft holds them now."
        return await _intent_response(request, Notice(conflict, "conflict"), 409)
    if not outcome.audit:
        return await _intent_response(request, Notice(" ".join(outcome.notes)), 200)
    await asyncio.to_thread(console.audit.record, actor, audit.DESIGN_EDIT, intent, outcome.audit)
    if outcome.notes:
        return await _intent_response(request, Notice(" ".join([DONE[done], *outcome.notes])), 200)
    start = _start(request.query)
    return redirect(f"{WORDING}/{intent}?done={done}" + (f"&start={start}" if start else ""))


async def _intent_response(
    request: web.Request, notice: Notice, status: int, lines: str = ""
) -> web.Response:
    console = state_of(request)
    if console.tools.nlu is None:
        return message(request, TITLE, NO_PROJECT, status)
    name = _intent_name(request)
    session = session_of(request)
    editable = session.user.role in DESIGN_EDITORS and console.tools.workspace is not None
    shown = Shown(_start(request.query), editable, session.csrf_token, notice, lines)
    view = await asyncio.to_thread(_intent_view, console, name, shown)
    if view is None:
        return message(
            request, TITLE, f"There is no intent {name} in the NLU files or domain.", 404
        )
    return page(request, f"{TITLE}: {name}", intent_body(view), status)


@dataclass(frozen=True)
class Shown:
    """How the intent's page is asked for: where in its examples, for whom, saying what."""

    start: int
    editable: bool
    token: str
    notice: Notice
    lines: str


def _intent_view(console: ConsoleState, name: str, shown: Shown) -> IntentView | None:
    """The intent's page as the files are now (blocking: files and database)."""
    tools = console.tools
    project = tools.nlu
    if project is None:
        return None
    intents = project.intents()
    intent = _read(tools, project, intents).intents.get(name)
    if intent is None:
        return None
    start = shown.start
    if start >= len(intent.written):
        start = max(0, (len(intent.written) - 1) // PAGE_SIZE * PAGE_SIZE)
    examples = intent.written[start : start + PAGE_SIZE]
    return IntentView(
        intent=intent,
        start=start,
        page_size=PAGE_SIZE,
        labels=console.labels.labels_of([example.text for example in examples]),
        targets=[other for other in intents if other != name],
        entities=project.domain_entities(),
        editable=shown.editable and name in intents,
        token=shown.token,
        notice=shown.notice,
        lines=shown.lines,
    )


def _read(tools: CallTools, project: NluProject, intents: list[str]) -> Wording:
    """Every intent's examples, ``intents`` (the domain's) first: the draft's when there is one
    (blocking)."""
    folder: Path = tools.workspace.draft.root / NLU_DIR if tools.workspace else project.nlu_folder
    return read_wording(folder, intents)


def _intent_name(request: web.Request) -> str:
    name = request.match_info["intent"]
    if len(name) > MAX_INTENT_CHARS:
        raise params.BadRequest("not an intent name")
    return name


def _start(query: MultiMapping[str]) -> int:
    value = params.one(query, "start", 6)
    if value is None:
        return 0
    if not value.isdigit():
        raise params.BadRequest("start is a whole number")
    return int(value)


def _text(change: Changing) -> LabelledExample:
    text = params.one(change.form, "text", MAX_EXAMPLE_CHARS)
    return written_example(text or "", change.entities)


def _typed(form: MultiMapping[object]) -> str:
    """The add form's lines as typed (given back on a refusal), bounded."""
    values = form.getall("lines", [])
    if len(values) > 1 or not all(isinstance(value, str) for value in values):
        raise params.BadRequest("lines is one text")
    typed = str(values[0]) if values else ""
    if len(typed) > MAX_LINES * (MAX_EXAMPLE_CHARS + 2):
        raise params.BadRequest(
            f"Add at most {MAX_LINES} examples of {MAX_EXAMPLE_CHARS} characters."
        )
    return typed


def _lines(form: MultiMapping[object]) -> list[str]:
    lines = [line.strip() for line in _typed(form).splitlines() if line.strip()]
    if not lines:
        raise params.BadRequest("Write at least one example.")
    if len(lines) > MAX_LINES:
        raise params.BadRequest(f"Add at most {MAX_LINES} examples at once.")
    return lines
