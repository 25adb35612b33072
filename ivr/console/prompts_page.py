"""The Prompts page (``/console/prompts``): every response of the domain by flow, each
variation with its placeholders, voice payload, ear check, a player of how a caller hears it
(``/console/prompts/{response}/{variation}.wav``, sample values in the placeholders) and its
recording if one was uploaded. Designers and admins edit the draft's prompts here: each
variation has a form for its text (saved by ``prompt_forms``) with "Hear it" before saving, and
one to upload or remove its recording. Others, and a server without the draft, read only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ivr.console.ear_check import PLACEHOLDER, ear_check
from ivr.console.flow_store import FlowStore
from ivr.console.flows import FlowModel
from ivr.console.html import Markup, element, hidden_token, join, link, render
from ivr.console.layout import message, page
from ivr.console.listen import CACHE_CONTROL
from ivr.console.prompt_edit import MAX_PROMPT_CHARS, text_digest
from ivr.console.prompt_groups import prompt_groups
from ivr.console.prompt_preview import with_samples
from ivr.console.prompt_upload import MAX_UPLOAD_BYTES
from ivr.console.roles import DESIGN_EDITORS
from ivr.console.state import session_of, state_of
from ivr.versions.recordings import MAX_RECORDING_S, Recording, read_recordings
from speech.tts.recorded import prompt_key

PROMPTS = "/console/prompts"
VOICE_HINTS = ("hints", "expect_digits", "interruptible", "public")
"""The custom payload keys the call layer reads that the page shows."""
NO_PROJECT = "The Prompts page needs the assistant's project (dialogue.project_dir) on this server."
EDIT_NOTE = (
    "Edits go to the draft only: the bot on the line keeps its published prompts until the"
    " draft is tested and published."
)
SCRIPT = element("script", "", src="/console/static/prompts.js", defer="")
"""Plays "Hear it" under the form (``static/prompts.js``)."""
READ_ONLY_NOTE = "Read-only: designers and admins edit the prompts of the designers' draft."


async def prompts(request: web.Request) -> web.StreamResponse:
    """``/console/prompts``: every response, grouped by flow."""
    tools = state_of(request).tools
    if tools.flows is None:
        return message(request, "Prompts", NO_PROJECT, 200)
    store = tools.flows
    model, recordings = await asyncio.to_thread(
        lambda: (store.model(), read_recordings(store.root))
    )
    session = session_of(request)
    editing = session.user.role in DESIGN_EDITORS and tools.workspace is not None
    view = PromptsView(
        model,
        {(r.response, r.variation): r for r in recordings},
        tools.prompt_voice is not None,
        session.csrf_token if editing else None,
    )
    responses = model.domain.get("responses") or {}
    groups = prompt_groups(model)
    sections = join(
        element(
            "section",
            join(
                [element("h2", group.title, id=f"prompts-{group.title}")]
                + [view.response(name, responses[name]) for name in group.responses]
            ),
            class_="prompts",
        )
        for group in groups
    )
    contents = join((link(f"#prompts-{group.title}", group.title) for group in groups), " · ")
    voice = "" if tools.prompt_voice else "Hearing a prompt needs the bot's voice on this server."
    body = render(
        "prompts.html",
        where="in the designers' draft" if tools.workspace else "as the files hold it now",
        editing=EDIT_NOTE if editing else READ_ONLY_NOTE,
        contents=contents,
        groups=sections,
        voice=voice,
    )
    return page(request, "Prompts", join([body, SCRIPT]) if editing else body)


async def prompt_wav(request: web.Request) -> web.StreamResponse:
    """``/console/prompts/{response}/{variation}.wav``: one variation as a caller hears it."""
    tools = state_of(request).tools
    store, voice = tools.flows, tools.prompt_voice
    if store is None or voice is None:
        return message(request, "No audio", "The bot's voice is not on this server.", 404)
    text = await asyncio.to_thread(
        _sample_text, store, request.match_info["response"], int(request.match_info["n"])
    )
    if text is None:
        return message(request, "No audio", "There is no such prompt.", 404)
    wav = await asyncio.to_thread(voice.wav, text)
    return web.Response(
        body=wav, content_type="audio/wav", headers={"Cache-Control": CACHE_CONTROL}
    )


def _sample_text(store: FlowStore, response: str, index: int) -> str | None:
    domain = store.model().domain
    variations = (domain.get("responses") or {}).get(response) or []
    if index >= len(variations) or not variations[index].get("text"):
        return None
    return with_samples(str(variations[index]["text"]), domain.get("slots") or {})


def known_placeholders(model: FlowModel, response: str) -> frozenset[str]:
    """What fills a placeholder of ``response``: the domain's slots and what the actions
    saying it pass."""
    return frozenset({*(model.domain.get("slots") or {}), *model.fills.get(response, ())})


def variation_path(response: str, index: int) -> str:
    return f"{PROMPTS}/{response}/{index}"


def anchor(response: str, index: int) -> str:
    return f"{response}-{index}"


def edit_form(
    response: str, index: int, text: str, seen: str, token: str, recorded: bool, *, open_: bool
) -> Markup:
    """The forms editing one variation: its text (with "Hear it") and its recording."""
    action = variation_path(response, index)
    remove = (
        render("prompt_remove.html", action=action, token=hidden_token(token)) if recorded else ""
    )
    return render(
        "prompt_edit.html",
        open=Markup(" open") if open_ else "",
        action=action,
        hear=f"{PROMPTS}/hear.wav",
        token=hidden_token(token),
        seen=seen,
        text=text,
        max_chars=MAX_PROMPT_CHARS,
        max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        max_s=f"{MAX_RECORDING_S:g}",
        remove=remove,
    )


@dataclass(frozen=True)
class PromptsView:
    """What the page shows of each response: the model, the recordings by response and
    variation, whether prompts can be heard, and the session's CSRF token when it may edit."""

    model: FlowModel
    recordings: Mapping[tuple[str, int], Recording]
    audible: bool
    token: str | None

    def response(self, name: str, variations: list[Mapping[str, Any]]) -> Markup:
        known = known_placeholders(self.model, name)
        rows = join(
            self._variation(name, index, variation, known)
            for index, variation in enumerate(variations)
        )
        return element(
            "article", join([element("h3", name), element("ol", rows)]), class_="response"
        )

    def _variation(
        self, name: str, index: int, variation: Mapping[str, Any], known: Collection[str]
    ) -> Markup:
        text = str(variation.get("text") or "")
        custom = variation.get("custom") or {}
        facts = {
            "placeholders": ", ".join(dict.fromkeys(PLACEHOLDER.findall(text))) or "none",
            **{key: str(custom[key]) for key in VOICE_HINTS if key in custom},
        }
        if variation.get("condition"):
            facts["when"] = str(variation["condition"])
        warnings = ear_check(text, known)
        check = (
            element(
                "ul", join(element("li", f"{w.kind}: {w.text}") for w in warnings), class_="ear"
            )
            if warnings
            else element("p", "ear check: nothing to warn about", class_="note")
        )
        wav = f"{variation_path(name, index)}.wav"
        player = (
            element("audio", "", controls="", preload="none", src=wav, title="hear it")
            if self.audible and text
            else Markup("")
        )
        recording = self.recordings.get((name, index))
        parts = [
            element("p", text, class_="prompt-text"),
            _facts(facts),
            check,
            player,
            _recording(name, index, recording, text),
        ]
        if self.token is not None and text:
            parts.append(
                edit_form(
                    name,
                    index,
                    text,
                    text_digest(text),
                    self.token,
                    recording is not None,
                    open_=False,
                )
            )
        return element("li", join(parts), id=anchor(name, index))


def _recording(name: str, index: int, recording: Recording | None, text: str) -> Markup:
    if recording is None:
        return Markup("")
    src = f"{variation_path(name, index)}/recording.wav"
    note = (
        "recording: callers hear it instead of the voice"
        if prompt_key(recording.text) == prompt_key(text)
        else f"recording of an earlier wording (“{recording.text}”): callers hear the voice"
        " until this text is recorded again"
    )
    return join(
        [
            element("p", note, class_="note recorded"),
            element("audio", "", controls="", preload="none", src=src, title="hear the recording"),
        ]
    )


def _facts(facts: Mapping[str, str]) -> Markup:
    return element("p", "; ".join(f"{key}: {value}" for key, value in facts.items()), class_="note")
