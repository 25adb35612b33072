"""The Prompts page's forms: save a variation's text to the draft, hear a text before saving
it, upload or remove a variation's recording, and play a recording.

Every change goes to the designers' draft only (``Draft.edit``), is checked first
(``prompt_edit``, ``prompt_upload``) and audited as ``design.edit`` with the response as target
and the variation as detail (never the text). A refusal shows the designer's text again to
mend; a conflict (someone changed the same prompt since the page was shown) shows theirs and
yours side by side.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from multidict import MultiMapping

from dialogue.training import DOMAIN
from ivr.console import audit, params
from ivr.console.html import render
from ivr.console.layout import message, page, redirect
from ivr.console.listen import CACHE_CONTROL
from ivr.console.prompt_edit import (
    MAX_PROMPT_CHARS,
    PromptConflict,
    PromptRefused,
    check_prompt,
    edit_variation,
    text_digest,
    tidy,
)
from ivr.console.prompt_preview import with_samples
from ivr.console.prompt_recordings import remove_recording, store_recording
from ivr.console.prompt_upload import MAX_UPLOAD_BYTES, UploadRefused, phone_recording
from ivr.console.prompts_page import PROMPTS, anchor, edit_form, known_placeholders
from ivr.console.state import ConsoleState, session_of, state_of
from ivr.console.uploads import read_upload
from ivr.versions.draft import Draft, DraftConflict, DraftError
from ivr.versions.recordings import read_recordings

NO_DRAFT = "Editing prompts needs the designers' draft (design.dir) on this server."
NO_VOICE = "The bot's voice is not on this server."
MAX_TYPED = MAX_PROMPT_CHARS * 2
"""What a text field may bring before it is tidied (line breaks and spaces made one)."""


@dataclass(frozen=True)
class Editing:
    """A form about one variation: where it goes, who sends it."""

    console: ConsoleState
    draft: Draft
    response: str
    index: int
    actor: str
    token: str

    @property
    def back(self) -> str:
        return f"{PROMPTS}#{anchor(self.response, self.index)}"

    def audit(self, detail: str) -> None:
        self.console.audit.record(self.actor, audit.DESIGN_EDIT, self.response, detail)


def _editing(request: web.Request) -> Editing | None:
    console = state_of(request)
    workspace = console.tools.workspace
    if workspace is None or console.tools.flows is None:
        return None
    session = session_of(request)
    return Editing(
        console,
        workspace.draft,
        request.match_info["response"],
        int(request.match_info["n"]),
        session.user.name,
        session.csrf_token,
    )


async def save(request: web.Request) -> web.StreamResponse:
    """POST: the variation says the typed text in the draft, if it may and nobody changed it."""
    editing = _editing(request)
    if editing is None:
        return message(request, "Prompts", NO_DRAFT, 404)
    form = await request.post()
    text = _typed_text(form)
    seen = params.one(form, "seen", 64) or ""
    if text_digest(text) == seen:
        return redirect(editing.back)  # nothing changed: nothing to save or audit
    store = editing.console.tools.flows
    assert store is not None  # _editing checked it
    model = await asyncio.to_thread(store.model)
    try:
        check_prompt(text, known_placeholders(model, editing.response))
        await asyncio.to_thread(
            editing.draft.edit,
            DOMAIN,
            lambda domain: edit_variation(domain, editing.response, editing.index, seen, text),
            author=editing.actor,
        )
    except PromptRefused as exc:
        return _refused(request, editing, str(exc), text, seen)
    except PromptConflict as exc:
        return _conflict(request, editing, exc, text)
    except (DraftError, DraftConflict) as exc:
        return message(request, "Not saved", str(exc), 409)
    await asyncio.to_thread(editing.audit, f"variation {editing.index}")
    return redirect(editing.back)


async def hear(request: web.Request) -> web.StreamResponse:
    """POST: the typed text as a caller would hear it (WAV), sample values in its placeholders."""
    tools = state_of(request).tools
    voice, store = tools.prompt_voice, tools.flows
    if voice is None or store is None:
        return message(request, "No audio", NO_VOICE, 404)
    text = _typed_text(await request.post())
    if not text or len(text) > MAX_PROMPT_CHARS:
        raise params.BadRequest(f"text is between 1 and {MAX_PROMPT_CHARS} characters")
    model = await asyncio.to_thread(store.model)
    wav = await asyncio.to_thread(voice.wav, with_samples(text, model.domain.get("slots") or {}))
    return web.Response(body=wav, content_type="audio/wav")


async def upload(request: web.Request) -> web.StreamResponse:
    """POST (multipart): the uploaded WAV, made 8 kHz mono, becomes the variation's recording."""
    editing = _editing(request)
    if editing is None:
        return message(request, "Prompts", NO_DRAFT, 404)
    sent = await read_upload(request, "audio", MAX_UPLOAD_BYTES)
    if sent.file is None:
        return message(request, "Recording not saved", "Choose a WAV file to upload.", 400)
    try:
        wav = await asyncio.to_thread(phone_recording, sent.file)
        await asyncio.to_thread(
            store_recording,
            editing.draft,
            editing.response,
            editing.index,
            sent.fields.get("seen", ""),
            wav,
            author=editing.actor,
        )
    except UploadRefused as exc:
        return message(request, "Recording not saved", str(exc), 400)
    except PromptConflict as exc:
        now = "is gone" if exc.current is None else f"now says “{exc.current}”"
        return message(
            request,
            "Recording not saved",
            f"Someone changed this prompt since you opened the page: it {now}."
            " Record what it says now and upload again.",
            409,
        )
    except (DraftError, DraftConflict) as exc:
        return message(request, "Recording not saved", str(exc), 409)
    await asyncio.to_thread(editing.audit, f"variation {editing.index} recording uploaded")
    return redirect(editing.back)


async def remove(request: web.Request) -> web.StreamResponse:
    """POST: the variation has no recording any more (callers hear the voice)."""
    editing = _editing(request)
    if editing is None:
        return message(request, "Prompts", NO_DRAFT, 404)
    try:
        removed = await asyncio.to_thread(
            remove_recording,
            editing.draft,
            editing.response,
            editing.index,
            author=editing.actor,
        )
    except (DraftError, DraftConflict) as exc:
        return message(request, "Recording not removed", str(exc), 409)
    if removed:
        await asyncio.to_thread(editing.audit, f"variation {editing.index} recording removed")
    return redirect(editing.back)


async def recording_wav(request: web.Request) -> web.StreamResponse:
    """``/console/prompts/{response}/{variation}/recording.wav``: the variation's recording in
    the folder the page shows."""
    store = state_of(request).tools.flows
    if store is None:
        return message(request, "No recording", "There is no such recording.", 404)
    response, index = request.match_info["response"], int(request.match_info["n"])
    wav = await asyncio.to_thread(_recording_bytes, store.root, response, index)
    if wav is None:
        return message(request, "No recording", "There is no such recording.", 404)
    return web.Response(
        body=wav, content_type="audio/wav", headers={"Cache-Control": CACHE_CONTROL}
    )


def _typed_text(form: MultiMapping[object]) -> str:
    """The ``text`` field as typed, tidied (a line break typed in the textarea is a space);
    other control characters are refused by ``check_prompt``."""
    values = form.getall("text", [])
    if len(values) != 1 or not isinstance(values[0], str):
        raise params.BadRequest("text is given once, as text")
    if len(values[0]) > MAX_TYPED:
        raise params.BadRequest(f"text is longer than {MAX_TYPED} characters")
    return tidy(values[0])


def _recording_bytes(root: Path, response: str, index: int) -> bytes | None:
    for recording in read_recordings(root):
        if (recording.response, recording.variation) == (response, index):
            try:
                return (root / recording.path).read_bytes()
            except FileNotFoundError:
                return None
    return None


def _refused(
    request: web.Request, editing: Editing, why: str, text: str, seen: str
) -> web.Response:
    form = edit_form(editing.response, editing.index, text, seen, editing.token, False, open_=True)
    body = render("prompt_refused.html", why=why, form=form, back=editing.back)
    return page(request, "Prompt not saved", body, 400)


def _conflict(
    request: web.Request, editing: Editing, conflict: PromptConflict, yours: str
) -> web.Response:
    theirs = conflict.current
    if theirs is None:
        why = f"{editing.response} variation {editing.index + 1} no longer exists in the draft."
        return message(request, "Prompt not saved", why, 409)
    form = edit_form(
        editing.response,
        editing.index,
        yours,
        text_digest(theirs),
        editing.token,
        False,
        open_=True,
    )
    body = render(
        "prompt_conflict.html",
        why="Someone changed this prompt in the draft since you opened the page.",
        theirs=theirs,
        yours=yours,
        form=form,
        back=editing.back,
    )
    return page(request, "Prompt changed meanwhile", body, 409)
