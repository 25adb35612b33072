"""A flow as a Graphviz diagram: DOT text built here, drawn to SVG by Debian's ``dot``.

Every label is a quoted DOT string made by :func:`quoted`, and node ids are counters, never
names from the files, so a rule named ``a" -> b`` stays a label. ``dot`` runs as a subprocess
with a timeout; the SVG it writes is served as an image (``flows_page``), where a browser runs
no script whatever the file holds.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterable

from ivr.console.flows import Flow, FlowPath, Form, Step

DOT_TIMEOUT_S = 20.0
GRAPH_STYLE = (
    'graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.25, ranksep=0.3,'
    " labelloc=t, labeljust=l];\n"
    'node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled",'
    ' fillcolor="#ffffff"];\n'
    "edge [arrowsize=0.6];\n"
)
STEP_STYLES = {
    "intent": ("caller: ", 'shape=ellipse, fillcolor="#dbeafe"'),
    "response": ("says ", 'fillcolor="#fef9c3"'),
    "action": ("runs ", 'fillcolor="#e5e7eb"'),
    "form": ("form ", 'fillcolor="#dcfce7", penwidth=2'),
    "form_end": ("", 'shape=plain, style="", fontsize=9'),
    "slots": ("sets ", 'shape=plain, style="", fontsize=9'),
    "other": ("", 'shape=plain, style="", fontsize=9'),
}
"""Per step kind: the words before its name and how it is drawn."""


class DiagramError(RuntimeError):
    """``dot`` is missing, failed or took too long."""


def quoted(text: str) -> str:
    """``text`` as a DOT quoted string, its backslashes, quotes and line breaks escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + escaped.replace("\n", "\\n") + '"'


def flow_dot(flow: Flow) -> str:
    """The DOT text of one flow: its forms, then each rule or story as a chain of steps, each
    form step linked to its form."""
    lines = ["digraph flow {", GRAPH_STYLE, f"label={quoted('flow: ' + flow.key)};"]
    form_ids = {form.name: f"form{index}" for index, form in enumerate(flow.forms)}
    for form in flow.forms:
        lines.extend(_form_lines(form, form_ids[form.name]))
    for index, path in enumerate(flow.paths):
        lines.extend(_path_lines(path, f"p{index}", form_ids))
    lines.append("}")
    return "\n".join(lines)


def render_svg(dot: str) -> bytes:
    """``dot`` drawn as SVG (blocking: runs ``dot -Tsvg``)."""
    try:
        done = subprocess.run(
            ["dot", "-Tsvg"], input=dot.encode(), capture_output=True, timeout=DOT_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiagramError(f"dot cannot draw: {exc}") from exc
    if done.returncode != 0:
        raise DiagramError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _form_lines(form: Form, node: str) -> Iterable[str]:
    rows = [f"form {form.name}"] + [f"asks {slot}" for slot in form.required_slots]
    if form.validation is not None:
        rows.append(f"checked by {form.validation.action} ({form.validation.source}):")
        rows.extend(f"  {method}" for method in form.validation.methods)
    else:
        rows.append("no validate action")
    label = "\\l".join(quoted(row)[1:-1] for row in rows) + "\\l"
    yield f'{node} [label="{label}", shape=box, style="filled", fillcolor="#f0fdf4"];'


def _path_lines(path: FlowPath, prefix: str, form_ids: dict[str, str]) -> Iterable[str]:
    yield f"subgraph cluster_{prefix} {{"
    yield f"label={quoted(f'{path.kind}: {path.name} ({path.source})')};"
    yield 'style="rounded"; color="#9ca3af";'
    nodes = []
    if path.conditions:
        nodes.append(f"{prefix}c")
        when = "when " + "\n".join(path.conditions)
        yield f'{prefix}c [label={quoted(when)}, shape=note, fillcolor="#fff7ed"];'
    for index, step in enumerate(path.steps):
        nodes.append(f"{prefix}s{index}")
        yield _step_line(step, nodes[-1])
    yield "}"
    for before, after in itertools.pairwise(nodes):
        yield f"{before} -> {after};"
    for index, step in enumerate(path.steps):
        if step.kind == "form" and step.name in form_ids:
            yield f'{prefix}s{index} -> {form_ids[step.name]} [style=dashed, color="#16a34a"];'


def _step_line(step: Step, node: str) -> str:
    words, style = STEP_STYLES[step.kind]
    return f"{node} [label={quoted(words + step.name)}, {style}];"
