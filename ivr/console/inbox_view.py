"""The NLU inbox page as HTML: the model's time and the labels it has yet to learn, the filter,
and each item with its snippet, why it is there, what it repeats, and the label form."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.console.html import (
    Markup,
    element,
    fields,
    hidden_token,
    join,
    link,
    number,
    render,
    table,
    when,
)
from ivr.console.inbox import REASONS, InboxCounts, InboxFilter, InboxItem
from ivr.console.inbox_labels import Decision
from ivr.console.nlu_examples import Flag
from ivr.console.nlu_project import Bands
from ivr.console.paging import Cursor, Page
from ivr.console.roles import RECORDING_LISTENERS, SNIPPET_LISTENERS
from ivr.console.sessions import Session

INBOX = "/console/inbox"
FLAG_TEXT = {
    "duplicate": "already an example of {intent}",
    "conflict": "already an example of another intent than understood, {intent}",
    "near": "near an example of {intent}",
}


@dataclass(frozen=True)
class InboxView:
    """What the page shows, read in one go off the event loop."""

    asked: InboxFilter
    new_only: bool
    limit: int
    bands: Bands
    trained_at: float | None
    items: Page[InboxItem]
    counts: InboxCounts
    flags: dict[tuple[str, int], list[Flag]]
    pending: list[Decision]
    pending_total: int
    intents: list[str]
    entities: list[str]
    audible: bool
    """Recordings are configured: items get their snippet."""


def inbox_body(view: InboxView, session: Session, labeller: bool, here: str) -> Markup:
    """The page's body for ``session``'s user; labelling forms when ``labeller``."""
    period = view.asked.period
    items = [_item(view, item, session, labeller, here) for item in view.items.rows]
    more = "" if view.items.next is None else _next_link(view, view.items.next)
    return render(
        "inbox.html",
        confirm_threshold=f"{view.bands.confirm_threshold:.2f}",
        model=_model(view),
        pending=_pending(view),
        first=period.first.isoformat(),
        last=period.last.isoformat(),
        reasons=_options({"": "any reason", **REASONS}, view.asked.reason or ""),
        new=_options(
            {"": "any time", "yes": "new since the model"}, "yes" if view.new_only else ""
        ),
        counts=_counts(view.counts),
        items=join(items)
        if items
        else element("p", "Nothing in the inbox here.", class_="message"),
        more=more,
    )


def _model(view: InboxView) -> str:
    if view.trained_at is None:
        return "No model has been trained yet: every item is new."
    return (
        f"The current model was trained {when(view.trained_at)} UTC; items after it are marked new."
    )


def _pending(view: InboxView) -> Markup:
    if not view.pending_total:
        return Markup("")
    rows = [
        (when(d.decided_at), d.decided_by, d.intent, d.example, d.data_file) for d in view.pending
    ]
    return join(
        [
            element(
                "p",
                f"{view.pending_total} example(s) labelled since the current model, not learned"
                " yet: run `ivr train` (or `make train`) to train a model with them, then"
                " restart the bot.",
                class_="message pending",
            ),
            table(("labelled (UTC)", "by", "intent", "example", "file"), rows, class_="pending"),
        ]
    )


def _counts(counts: InboxCounts) -> str:
    parts = ", ".join(f"{n} {REASONS[name]}" for name, n in counts.by_reason.items() if n)
    return f"{counts.total} in this period ({counts.new} new since the model)" + (
        f": {parts}." if parts else "."
    )


def _item(view: InboxView, item: InboxItem, session: Session, labeller: bool, here: str) -> Markup:
    new = view.trained_at is None or item.started_at > view.trained_at
    heading = join(
        [item.transcript, element("span", "new since the model", class_="badge") if new else ""],
        " ",
    )
    understood = (
        f"{item.intent} ({number(item.intent_confidence, 2)})" if item.intent is not None else ""
    )
    facts = fields(
        {
            "call": link(f"/console/calls/{item.call_id}", item.call_id),
            "turn": f"{item.turn}, at +{number(item.started_at - item.call_started_at, 1, ' s')}",
            "said (UTC)": when(item.started_at),
            "understood": understood,
            "why": "; ".join(REASONS[name] for name in item.reasons),
        }
    )
    action = f"{INBOX}/{item.call_id}/{item.turn}"
    forms = (
        render(
            "inbox_label.html",
            action=action,
            token=hidden_token(session.csrf_token),
            back=here,
            text=item.transcript,
            intents=_options(
                {"": "choose the intent meant", **{name: name for name in view.intents}},
                item.intent or "",
            ),
            entities=_options({"": "none", **{name: name for name in view.entities}}, ""),
        )
        if labeller
        else ""
    )
    return render(
        "inbox_item.html",
        anchor=f"item-{item.call_id}-{item.turn}",
        heading=heading,
        facts=facts,
        snippet=_snippet(item, session, action) if view.audible else "",
        flags=_flags(view.flags.get((item.call_id, item.turn), [])),
        forms=forms,
    )


def _snippet(item: InboxItem, session: Session, action: str) -> Markup:
    role = session.user.role
    if role not in SNIPPET_LISTENERS:
        return Markup("")
    if role not in RECORDING_LISTENERS and "*" in item.transcript:
        return element("p", "The caller said a number here: its audio is for QA.", class_="note")
    return element("audio", "", controls="", preload="none", src=f"{action}/snippet.wav")


def _flags(flags: list[Flag]) -> Markup:
    if not flags:
        return Markup("")
    entries = [
        element(
            "li",
            f"{FLAG_TEXT[flag.kind].format(intent=flag.example.intent)}: "
            f"'{flag.example.text}' ({flag.example.file}"
            + (f", {flag.similarity:.0%} alike)" if flag.kind == "near" else ")"),
            class_=flag.kind,
        )
        for flag in flags
    ]
    return element("ul", join(entries), class_="flags")


def _options(choices: dict[str, str], chosen: str) -> Markup:
    return join(
        element("option", text, value=value, selected="" if value == chosen else None)
        for value, text in choices.items()
    )


def _next_link(view: InboxView, after: Cursor) -> Markup:
    given = {
        "from": view.asked.period.first.isoformat(),
        "to": view.asked.period.last.isoformat(),
        "reason": view.asked.reason or "",
        "new": "yes" if view.new_only else "",
        "before": str(after),
        "limit": str(view.limit),
    }
    return link(INBOX, "Older items", **{name: value for name, value in given.items() if value})
