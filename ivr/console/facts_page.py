"""The FAQ facts page (``/console/facts``): the knowledge the bot reads aloud, one form per file.

Designers and admins edit; QA reads the same forms without a save button. A save writes only
the values changed into the draft's file (``facts_edit``), refuses values the voice or the bot
could not use (shown next to their fields), shows both values when someone else changed the
same fact meanwhile, and is audited (``design.edit``: the file, and the fields and rows changed).
The facts are not training data: a published draft that changes only them reaches running
bots on their next call without training.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ivr.console import audit
from ivr.console.facts_edit import Edit, FactConflict, save
from ivr.console.facts_form import FormState, edit_of, from_file, posted
from ivr.console.facts_groups import GROUPS, MAX_PERIODS, PERIOD_PARTS, SAID, FactGroup, Input
from ivr.console.facts_speech import DAYS, parse_hours
from ivr.console.html import Markup, element, hidden_token, join, link, render, table
from ivr.console.layout import message, page, redirect
from ivr.console.params import BadRequest
from ivr.console.roles import DESIGN_EDITORS
from ivr.console.state import ConsoleState, session_of, state_of
from ivr.versions.draft import Draft, DraftError

FACTS = "/console/facts"
MAX_FORM_BYTES = 512 * 1024
"""A group's whole form: 200 cities with a few branches each is about 100 kB."""
TITLE = "FAQ facts"
NO_DRAFT = "The FAQ facts page needs the designers' draft, which this server could not make."
SAVED = (
    "Saved to the draft. Calls hear it once the draft is published (Test and publish);"
    " no training is needed for facts."
)


async def facts(request: web.Request) -> web.StreamResponse:
    """``/console/facts``: the groups, each with what it answers."""
    rows = [
        (link(f"{FACTS}/{group.key}", group.title), group.purpose, element("code", group.file))
        for group in GROUPS.values()
    ]
    body = join(
        [
            element(
                "p",
                "The facts the bot reads aloud. Edits go to the designers' draft; publishing"
                " it needs no training when only facts changed.",
                class_="message",
            ),
            table(("facts", "answers", "file"), rows, class_="facts"),
        ]
    )
    return page(request, TITLE, body)


async def group_page(request: web.Request) -> web.StreamResponse:
    """``/console/facts/{group}``: the group's form as the draft holds it."""
    group, draft = _group(request), _draft(request)
    if draft is None:
        return message(request, TITLE, NO_DRAFT, 200)
    state = await asyncio.to_thread(_fresh, draft, group)
    status = element("p", SAVED, class_="message") if "saved" in request.query else ""
    return _form_page(request, state, status)


async def save_group(request: web.Request) -> web.StreamResponse:
    """POST ``/console/facts/{group}``: add a row to the form, or save it into the draft."""
    group, console = _group(request), state_of(request)
    draft = _draft(request)
    if draft is None:
        return message(request, TITLE, NO_DRAFT, 404)
    form = await request.post()
    state = posted(group, form)
    action = form.get("action")
    if action == "add":
        state.add_row()
        return _form_page(request, state, "")
    if action != "save":
        raise BadRequest("action is save or add")
    edit = edit_of(state)
    if edit is None:
        return _form_page(
            request, state, _error("Nothing was saved: correct the fields marked."), 400
        )
    changed = edit.summary()
    if not changed:
        return _form_page(request, state, element("p", "Nothing was changed.", class_="message"))
    author = session_of(request).user.name
    try:
        await asyncio.to_thread(record_save, console, draft, edit, author, changed)
    except FactConflict as exc:
        fresh = await asyncio.to_thread(_fresh, draft, group)
        return _form_page(request, fresh, _conflict(exc), 409)
    except DraftError as exc:
        return _form_page(request, state, _error(f"Nothing was saved: {exc}."), 400)
    return redirect(f"{FACTS}/{group.key}?saved=1")


def record_save(
    console: ConsoleState, draft: Draft, edit: Edit, author: str, changed: list[str]
) -> None:
    """Save and audit (blocking). The detail names the fields and rows changed, not their
    values: the values are in the draft's file, and a list of names stays within the audit
    row's bound however long the sentences are."""
    save(draft, edit, author=author)
    console.audit.record(
        author, audit.DESIGN_EDIT, edit.group.file, f"facts {edit.group.key}: {', '.join(changed)}"
    )


def _fresh(draft: Draft, group: FactGroup) -> FormState:
    return from_file(group, draft.read(group.file))


def _group(request: web.Request) -> FactGroup:
    group = GROUPS.get(request.match_info["group"])
    if group is None:
        raise web.HTTPNotFound()
    return group


def _draft(request: web.Request) -> Draft | None:
    workspace = state_of(request).tools.workspace
    return workspace.draft if workspace else None


def _error(text: str) -> Markup:
    return element("p", text, class_="error", role="alert")


def _conflict(exc: FactConflict) -> Markup:
    rows = [(clash.where, clash.theirs, clash.yours) for clash in exc.clashes]
    return join(
        [
            _error(
                "Someone else changed these facts since you opened the page. Nothing was saved."
                " The form now shows the file as it is: make your change again if it should"
                " still be made."
            ),
            table(("fact", "their value (saved)", "your value (not saved)"), rows, "conflict"),
        ]
    )


# -- the form ---------------------------------------------------------------------------------


def _form_page(
    request: web.Request, state: FormState, status: object, code: int = 200
) -> web.Response:
    session = session_of(request)
    group = state.group
    editable = session.user.role in DESIGN_EDITORS
    parts = [_hours(state, editable)] if group.extra_single_names() else []
    parts += [
        _field(state, i.name, i, state.single.get(i.name, ""), editable)
        for i in group.single_inputs
    ]
    if group.rows is not None:
        parts.append(_rows(state, editable))
    body = render(
        "facts_group.html",
        status=status,
        purpose=f"{group.title}: {group.purpose}.",
        file=group.file,
        note=element("p", group.note, class_="note") if group.note else "",
        readonly=""
        if editable
        else element("p", "Read-only: designers and admins edit the facts.", class_="note"),
        action=f"{FACTS}/{group.key}",
        token=hidden_token(session.csrf_token),
        shown=json.dumps(state.single_shown),
        count=str(len(state.rows)),
        fields=join(parts),
        buttons=_buttons(group, editable),
    )
    return page(request, f"{TITLE}: {group.title}", body, code)


def _buttons(group: FactGroup, editable: bool) -> Markup:
    if not editable:
        return Markup("")
    buttons = [element("button", "Save", type="submit", name="action", value="save")]
    if group.rows is not None and not group.fixed_rows:
        buttons.append(
            element("button", f"Add a {group.row_noun}", type="submit", name="action", value="add")
        )
    return element("p", join(buttons, " "), class_="buttons")


def _field(state: FormState, name: str, spec: Input, value: str, editable: bool) -> Markup:
    """A labelled input with its error beside it."""
    return element(
        "p",
        join(
            [
                element(
                    "label", join([spec.label, " ", _widget(name, spec, value, state, editable)])
                ),
                _hint(spec),
                _field_error(state, name),
            ]
        ),
        class_="fact",
    )


def _widget(name: str, spec: Input, value: str, state: FormState, editable: bool) -> Markup:
    error = name in state.errors
    common = {
        "name": name,
        "disabled": None if editable else "",
        "aria_invalid": "true" if error else None,
        "aria_describedby": f"error-{name}" if error else None,
    }
    if spec.widget == "textarea":
        return element(
            "textarea", value, rows="4", cols="60", maxlength=str(spec.max_length), **common
        )
    if spec.widget == "day":
        options = [element("option", "", value="")] + [
            element("option", day, value=day, selected="" if day == value else None) for day in DAYS
        ]
        return element("select", join(options), **common)
    kind = {"time": "time", "percent": "number"}.get(spec.widget, "text")
    extra = {"min": "0", "max": "100", "step": "0.001"} if spec.widget == "percent" else {}
    return _input(type=kind, value=value, maxlength=str(spec.max_length), **extra, **common)


def _hint(spec: Input) -> Markup:
    return element("span", spec.hint, class_="note") if spec.hint else Markup("")


def _field_error(state: FormState, name: str) -> Markup:
    text = state.errors.get(name)
    return element("span", text, class_="error", id=f"error-{name}") if text else Markup("")


PERIOD_INPUTS = {
    "first": Input("first", "From", "day"),
    "last": Input("last", "To (blank: one day)", "day"),
    "opens": Input("opens", "Opens", "time", 20),
    "closes": Input("closes", "Closes", "time", 20),
}


def _hours(state: FormState, editable: bool) -> Markup:
    rows = []
    for index in range(MAX_PERIODS):
        cells = []
        for part in PERIOD_PARTS:
            name = f"p{index}.{part}"
            spec = PERIOD_INPUTS[part]
            cells.append(
                join(
                    [
                        _widget(name, spec, state.single.get(name, ""), state, editable),
                        _field_error(state, name),
                    ]
                )
            )
        rows.append(cells)
    return join(
        [
            element("h2", "Branch opening hours"),
            element(
                "p",
                "One row per run of days with the same hours; blank rows are left out."
                " The bot says them as one sentence.",
                class_="note",
            ),
            _said(state.single.get(SAID, "")),
            _field_error(state, "periods"),
            table([spec.label for spec in PERIOD_INPUTS.values()], rows, class_="periods"),
        ]
    )


def _said(sentence: str) -> Markup:
    if not sentence:
        return Markup("")
    fits = "" if parse_hours(sentence) else " (not in the form's pattern: saving replaces it)"
    return element("p", f"The bot says now: “{sentence}”{fits}.", class_="note")


def _rows(state: FormState, editable: bool) -> Markup:
    group = state.group
    assert group.rows is not None
    headings = [i.label for i in group.row_inputs]
    if group.fixed_rows:
        headings.insert(0, group.row_noun.capitalize())
    removable = editable and not group.fixed_rows
    if removable:
        headings.append("Remove")
    lines = []
    for index, row in enumerate(state.rows):
        prefix = f"r{index}."
        hidden = Markup(
            _hidden(f"{prefix}was", row.key) + _hidden(f"{prefix}shown", json.dumps(row.shown))
        )
        cells: list[object] = [join([hidden, row.key])] if group.fixed_rows else []
        for spec in group.row_inputs:
            widget = _widget(
                prefix + spec.name, spec, row.inputs.get(spec.name, ""), state, editable
            )
            cells.append(join([widget, _field_error(state, prefix + spec.name)]))
        if not group.fixed_rows:
            cells[0] = join([hidden, cells[0]])
        if removable:
            cells.append(_remove(state, row.key, prefix, row.remove))
        lines.append(cells)
    hints = [element("li", f"{i.label}: {i.hint}") for i in group.row_inputs if i.hint]
    return join(
        [
            element("h2", group.rows_noun.capitalize()),
            element("ul", join(hints), class_="note") if hints else "",
            _field_error(state, "rows"),
            table(headings, lines, class_="fact-rows"),
        ]
    )


def _remove(state: FormState, key: str, prefix: str, checked: bool) -> Markup:
    if key in state.group.kept_rows:
        return _field_error(state, f"{prefix}remove")
    box = _input(
        type="checkbox",
        name=f"{prefix}remove",
        value="yes",
        checked="" if checked else None,
        aria_label=f"remove {key or 'new row'}",
    )
    return join([box, _field_error(state, f"{prefix}remove")])


def _hidden(name: str, value: str) -> Markup:
    return _input(type="hidden", name=name, value=value)


def _input(**attributes: object) -> Markup:
    """An ``<input>`` (a void element: no closing tag)."""
    return Markup(element("input", "", **attributes).removesuffix("</input>"))
