"""The Flows page (``/console/flows``): each flow of the assistant, its forms, rules and stories
and the prompts they use, with its diagram.

A diagram is an ``<img>`` of ``/console/flows/{flow}.svg`` rather than SVG inlined in the
page: a browser runs no script and loads nothing from an SVG shown as an image, so nothing in
the SVG has to be sanitised, and the page keeps its strict CSP (the SVG's own response has the
console's CSP too, which blocks inline scripts if someone opens it directly).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ivr.console.flow_diagram import DiagramError
from ivr.console.flow_store import FlowStore
from ivr.console.flows import Flow, FlowPath, Form
from ivr.console.html import Markup, element, join, link, render
from ivr.console.layout import message, page
from ivr.console.state import state_of

FLOWS = "/console/flows"
NO_PROJECT = "The Flows page needs the assistant's project (dialogue.project_dir) on this server."


async def flows(request: web.Request) -> web.StreamResponse:
    """``/console/flows``: every flow, read from the project files as they are now."""
    store = state_of(request).tools.flows
    if store is None:
        return message(request, "Flows", NO_PROJECT, 200)
    model = await asyncio.to_thread(store.model)
    contents = join((link(f"#flow-{flow.key}", flow.key) for flow in model.flows), " · ")
    sections = join(_flow_section(flow) for flow in model.flows)
    return page(request, "Flows", render("flows.html", contents=contents, flows=sections))


async def flow_svg(request: web.Request) -> web.StreamResponse:
    """``/console/flows/{flow}.svg``: one flow's diagram, drawn by Graphviz."""
    store = _store(request)
    try:
        svg = await asyncio.to_thread(store.svg, request.match_info["flow"])
    except DiagramError as exc:
        return message(request, "No diagram", str(exc), 503)
    if svg is None:
        return message(request, "No diagram", "There is no such flow.", 404)
    return web.Response(body=svg, content_type="image/svg+xml")


def _store(request: web.Request) -> FlowStore:
    store = state_of(request).tools.flows
    if store is None:
        raise web.HTTPNotFound()
    return store


def _flow_section(flow: Flow) -> Markup:
    svg = f"{FLOWS}/{flow.key}.svg"
    return render(
        "flow.html",
        key=flow.key,
        forms=join(_form_item(form) for form in flow.forms) or element("li", "none"),
        paths=join(_path_item(path) for path in flow.paths),
        responses=", ".join(flow.responses()) or "none",
        svg=svg,
        alt=f"Diagram of the flow {flow.key}",
    )


def _form_item(form: Form) -> Markup:
    checked = (
        f"; checked by {form.validation.action} in {form.validation.source}"
        f" ({', '.join(form.validation.methods)})"
        if form.validation
        else "; no validate action"
    )
    return element("li", f"{form.name}: asks {', '.join(form.required_slots)}{checked}")


def _path_item(path: FlowPath) -> Markup:
    return element("li", f"{path.kind} “{path.name}” ({path.source}), {len(path.steps)} steps")
