"""The Caller wording pages as HTML: the intents with their counts and warnings, and one intent's
examples (entity marks shown as marked words, inbox labels marked) with the forms to change them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.console.example_text import MAX_EXAMPLE_CHARS, Part, example_parts
from ivr.console.html import (
    Markup,
    element,
    escape,
    hidden,
    hidden_token,
    join,
    link,
    render,
    table,
    when,
)
from ivr.console.inbox_labels import Decision
from ivr.console.wording import (
    FEW_EXAMPLES,
    MAX_DUPLICATES_SHOWN,
    Duplicate,
    Example,
    IntentWording,
    Wording,
)

WORDING = "/console/wording"
MAX_GENERATED_SHOWN = 200


@dataclass(frozen=True)
class Notice:
    """What the page says above the examples after a change: notes, or why it was refused."""

    text: str = ""
    kind: str = "message"
    """``message`` (a note), ``error`` (refused) or ``conflict`` (someone else changed it)."""

    def html(self) -> Markup:
        if not self.text:
            return Markup("")
        role = None if self.kind == "message" else "alert"
        return element("p", self.text, class_=f"{self.kind} notice", role=role)


@dataclass(frozen=True)
class IntentView:
    """One intent's page: a page of its written examples and what to show with them."""

    intent: IntentWording
    start: int
    page_size: int
    labels: dict[str, Decision]
    """Inbox labels that wrote a shown example, by the example's line."""
    targets: list[str]
    """Intents an example may be moved to."""
    entities: list[str]
    editable: bool
    """The user may change the examples, and there is a draft to change."""
    token: str
    notice: Notice
    lines: str = ""
    """The add form's text again (after a refusal)."""

    @property
    def shown(self) -> list[Example]:
        return self.intent.written[self.start : self.start + self.page_size]


def list_body(wording: Wording, source: str) -> Markup:
    """The intents, their counts and the warnings."""
    duplicates = wording.duplicates()
    clashing: dict[str, set[str]] = {}
    for duplicate in duplicates:
        for intent in duplicate.intents:
            clashing.setdefault(intent, set()).update(duplicate.intents)
    rows = [
        (
            link(f"{WORDING}/{intent.name}", intent.name),
            len(intent.written),
            len(intent.generated),
            ", ".join(intent.files) or "none",
            "; ".join(_intent_warnings(intent, clashing.get(intent.name, set()))),
        )
        for intent in wording.intents.values()
    ]
    headings = ("intent", "written examples", "ASR variants", "files", "warnings")
    return render(
        "wording.html",
        source=element("p", source, class_="note"),
        warnings=_warnings(wording, duplicates),
        listing=table(headings, rows, class_="wording"),
    )


def intent_body(view: IntentView) -> Markup:
    """One intent's page."""
    intent = view.intent
    action = f"{WORDING}/{intent.name}"
    query = f"?start={view.start}" if view.start else ""
    rows = [_example_row(view, example, action + query) for example in view.shown]
    add = (
        render(
            "wording_add.html",
            action=action,
            token=hidden_token(view.token),
            lines=view.lines,
            entities=", ".join(view.entities) or "none",
        )
        if view.editable
        else Markup("")
    )
    return render(
        "wording_intent.html",
        summary=_summary(intent),
        notice=view.notice.html(),
        add=add,
        written_count=len(intent.written),
        pager=_pager(view),
        examples=element("ol", join(rows), class_="examples", start=view.start + 1)
        if rows
        else element("p", "No written examples.", class_="note"),
        generated_count=len(intent.generated),
        generated=_generated(intent.generated),
    )


def readable(line: str) -> Markup:
    """An example line with its entity marks shown as marked words naming their entity."""
    return join((_part(part) for part in example_parts(line)), "")


def _part(part: Part) -> Markup:
    if not part.marked:
        return escape(part.text)
    label = element("small", _entity_label(part.entity, part.value))
    return element("mark", join([part.text, label], ""), class_="entity")


def _entity_label(entity: str, value: str) -> str:
    return f"{entity or '?'} = {value}" if value else entity or "?"


def _intent_warnings(intent: IntentWording, clashing: set[str]) -> list[str]:
    warnings = []
    if not intent.in_domain:
        warnings.append("not an intent of the domain")
    elif intent.too_few:
        warnings.append(f"fewer than {FEW_EXAMPLES} examples")
    others = sorted(clashing - {intent.name})
    if others:
        warnings.append(f"shares words with {', '.join(others)}")
    return warnings


def _warnings(wording: Wording, found: list[Duplicate]) -> Markup:
    parts: list[Markup] = []
    if wording.unreadable:
        parts.append(
            element(
                "p",
                f"Not readable as NLU YAML, left out: {', '.join(wording.unreadable)}.",
                class_="error",
                role="alert",
            )
        )
    few = wording.few()
    if few:
        names = ", ".join(f"{intent.name} ({len(intent.written)})" for intent in few)
        parts.append(
            element(
                "p",
                f"Fewer than {FEW_EXAMPLES} written examples, too few ways of saying it for the"
                f" model to learn: {names}.",
                class_="warning few",
            )
        )
    if found:
        rows = [
            (
                duplicate.words,
                "; ".join(
                    f"{intent}: '{example.text}' ({example.file})"
                    for intent, example in duplicate.examples
                ),
            )
            for duplicate in found[:MAX_DUPLICATES_SHOWN]
        ]
        more = len(found) - MAX_DUPLICATES_SHOWN
        parts.append(
            element(
                "p",
                f"{len(found)} wording(s) written under two or more intents: the model is taught"
                " a contradiction. Keep each under the one intent it means (move or delete the"
                " others)." + (f" The first {MAX_DUPLICATES_SHOWN} are shown." if more > 0 else ""),
                class_="warning duplicates",
            )
        )
        parts.append(table(("words", "written as"), rows, class_="duplicates"))
    return join(parts)


def _summary(intent: IntentWording) -> str:
    files = ", ".join(intent.files) or "no file yet"
    domain = "" if intent.in_domain else " It is not an intent of the domain."
    few = (
        f" Fewer than {FEW_EXAMPLES} written examples: add more ways of saying it."
        if intent.too_few
        else ""
    )
    return (
        f"{intent.name}: {len(intent.written)} written examples in {files},"
        f" {len(intent.generated)} ASR variants.{domain}{few}"
    )


def _example_row(view: IntentView, example: Example, action: str) -> Markup:
    parts: list[object] = [
        readable(example.text),
        element("span", example.file, class_="where"),
    ]
    label = view.labels.get(example.text)
    if label is not None:
        parts.append(_inbox_mark(label))
    if view.editable:
        parts.append(_change_forms(view, example, action))
    return element("li", join(parts, " "))


def _inbox_mark(label: Decision) -> Markup:
    said = link(f"/console/calls/{label.call_id}", f"{label.call_id} turn {label.turn}")
    return join(
        [
            element("span", "from the inbox", class_="badge inbox-label"),
            element(
                "span",
                join(
                    [f"labelled by {label.decided_by} {when(label.decided_at)} UTC from ", said], ""
                ),
                class_="note",
            ),
        ],
        " ",
    )


def _change_forms(view: IntentView, example: Example, action: str) -> Markup:
    seen = join([hidden("file", example.file), hidden("example", example.text)])
    targets = join(
        [element("option", "choose an intent", value="")]
        + [element("option", name, value=name) for name in view.targets]
    )
    base, _, query = action.partition("?")
    return render(
        "wording_example.html",
        action=base,
        query=f"?{query}" if query else "",
        token=hidden_token(view.token),
        seen=seen,
        text=example.text,
        max=MAX_EXAMPLE_CHARS,
        targets=targets,
    )


def _pager(view: IntentView) -> Markup:
    total = len(view.intent.written)
    if total <= view.page_size:
        return Markup("")
    here = f"{WORDING}/{view.intent.name}"
    last = min(view.start + view.page_size, total)
    links: list[object] = [f"Examples {view.start + 1}-{last} of {total}"]
    if view.start > 0:
        links.append(link(here, "Previous", start=str(max(0, view.start - view.page_size))))
    if last < total:
        links.append(link(here, "Next", start=str(last)))
    return element("p", join(links, " · "), class_="pager")


def _generated(examples: list[Example]) -> Markup:
    if not examples:
        return element("p", "None: run ivr nlu variants to make them.", class_="note")
    rows = [(readable(example.text), example.file) for example in examples[:MAX_GENERATED_SHOWN]]
    more = len(examples) - MAX_GENERATED_SHOWN
    note = (
        element("p", f"The first {MAX_GENERATED_SHOWN} of {len(examples)}.", class_="note")
        if more > 0
        else Markup("")
    )
    return join([table(("variant", "file"), rows, class_="generated"), note])
