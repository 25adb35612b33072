"""The Prompts page (``/console/prompts``): every response of the domain by flow, each
variation with its placeholders, voice payload, ear check and a player of how a caller hears
it (``/console/prompts/{response}/{variation}.wav``, sample values in the placeholders).
Read-only: nothing is edited here yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from aiohttp import web

from ivr.console.ear_check import PLACEHOLDER, ear_check
from ivr.console.flow_store import FlowStore
from ivr.console.html import Markup, element, join, link, render
from ivr.console.layout import message, page
from ivr.console.listen import CACHE_CONTROL
from ivr.console.prompt_groups import prompt_groups
from ivr.console.prompt_preview import with_samples
from ivr.console.state import state_of

PROMPTS = "/console/prompts"
VOICE_HINTS = ("hints", "expect_digits", "interruptible", "public")
"""The custom payload keys the call layer reads that the page shows."""
NO_PROJECT = "The Prompts page needs the assistant's project (dialogue.project_dir) on this server."


async def prompts(request: web.Request) -> web.StreamResponse:
    """``/console/prompts``: every response, grouped by flow."""
    tools = state_of(request).tools
    if tools.flows is None:
        return message(request, "Prompts", NO_PROJECT, 200)
    model = await asyncio.to_thread(tools.flows.model)
    responses = model.domain.get("responses") or {}
    slots = model.domain.get("slots") or {}
    groups = prompt_groups(model)
    sections = join(
        element(
            "section",
            join(
                [element("h2", group.title, id=f"prompts-{group.title}")]
                + [
                    _response(
                        name,
                        responses[name],
                        {*slots, *model.fills.get(name, ())},
                        tools.prompt_voice is not None,
                    )
                    for name in group.responses
                ]
            ),
            class_="prompts",
        )
        for group in groups
    )
    contents = join((link(f"#prompts-{group.title}", group.title) for group in groups), " · ")
    voice = "" if tools.prompt_voice else "Hearing a prompt needs the bot's voice on this server."
    body = render("prompts.html", contents=contents, groups=sections, voice=voice)
    return page(request, "Prompts", body)


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


def _response(
    name: str, variations: list[Mapping[str, Any]], known: Collection[str], audible: bool
) -> Markup:
    rows = join(
        _variation(name, index, variation, known, audible)
        for index, variation in enumerate(variations)
    )
    return element("article", join([element("h3", name), element("ol", rows)]), class_="response")


def _variation(
    name: str, index: int, variation: Mapping[str, Any], known: Collection[str], audible: bool
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
        element("ul", join(element("li", f"{w.kind}: {w.text}") for w in warnings), class_="ear")
        if warnings
        else element("p", "ear check: nothing to warn about", class_="note")
    )
    wav = f"{PROMPTS}/{name}/{index}.wav"
    player = (
        element("audio", "", controls="", preload="none", src=wav, title="hear it")
        if audible and text
        else Markup("")
    )
    parts = [element("p", text, class_="prompt-text"), _facts(facts), check, player]
    return element("li", join(parts))


def _facts(facts: Mapping[str, str]) -> Markup:
    return element("p", "; ".join(f"{key}: {value}" for key, value in facts.items()), class_="note")
