"""Who may use what: the four staff roles and the console sections each of them sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["designer", "qa", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("designer", "qa", "supervisor", "admin")
EVERYONE: frozenset[str] = frozenset(ROLES)
CALL_READERS: frozenset[str] = EVERYONE
"""Designers need transcripts as much as QA does; no PIN is ever stored, so none is shown."""
ADMINS: frozenset[str] = frozenset({"admin"})
ANALYSTS: frozenset[str] = EVERYONE
"""Supervisors watch the hotline's figures, QA its completion and latency, designers what
callers were not understood in; admins run it. The dashboard shows totals and at most a few
misunderstood utterances, masked as stored: less than the call pages every role already reads."""
RECORDING_LISTENERS: frozenset[str] = frozenset({"qa", "supervisor", "admin"})
"""Who hears recordings: QA and supervisors review calls by ear; admins, who answer for the
console and read its audit log, too. Designers work from transcripts. Every listen is audited."""
QA_TOOLS: frozenset[str] = frozenset({"qa", "supervisor", "admin"})
"""Who replays a call through the current bot and saves one as a QA script: both open the
recording (a replay feeds its audio to the bot) or keep a caller's words."""

INBOX_READERS: frozenset[str] = frozenset({"designer", "qa", "admin"})
"""Who reads the NLU inbox (turns the bot may have misunderstood): designers fix them, QA
checks understanding, admins run the hotline. Supervisors watch the figures instead."""
LABELLERS: frozenset[str] = frozenset({"designer", "admin"})
"""Who labels or dismisses an inbox item, writing an example into ``data/nlu``: the people who
own the training data."""
SNIPPET_LISTENERS: frozenset[str] = RECORDING_LISTENERS | {"designer"}
"""Who hears an inbox item's snippet: the recording's listeners, and designers, who label from
it: a misheard turn's transcript is the recogniser's mistake, and only the caller's voice says
what was meant. A snippet is the caller's side only, of one turn that is in the inbox, at most
10 s, audited like a recording. Designers still hear no whole call, and no turn whose transcript
holds a masked number (the caller said an account or card number: they get the transcript)."""
DESIGN_READERS: frozenset[str] = frozenset({"designer", "qa", "admin"})
"""Who reads the flows, prompts and caller wording (and hears a prompt): designers own them, QA
tests against them, admins run the hotline. Supervisors watch the figures. The only caller data
there is the words of examples labelled from the inbox, which these roles read in calls anyway."""
DESIGN_EDITORS: frozenset[str] = frozenset({"designer", "admin"})
"""Who edits the draft: its prompts (text, recordings, hearing a text before saving it), its
FAQ facts (hours, branches, rates, fees, complaint categories, frustration phrases) and its
caller wording (each intent's examples: the same people as ``LABELLERS``, who own the training
data). Designers own what the bot says; admins, who answer for the hotline, may mend it. QA
reads what it tests against (``DESIGN_READERS``) and never changes it. The same people test the
draft, publish it, roll back to an earlier version and discard the draft; publishing a draft
whose tests have not passed is for admins alone (an override, recorded in the version and the
audit log)."""
VERSION_READERS: frozenset[str] = EVERYONE
"""Who reads the Versions page (what the draft changes, its test report, which version runs and
who published what): supervisors answer for what callers hear, QA for what was tested."""
TALKERS: frozenset[str] = EVERYONE
"""Who calls or chats with the bot from the browser: designers try their dialogue, QA and
supervisors check it, admins see the hotline work; each call is their own, recorded and audited."""


@dataclass(frozen=True)
class Section:
    """A part of the console, listed on the home page for the roles that may use it."""

    title: str
    path: str
    roles: frozenset[str]
    purpose: str


SECTIONS = (
    Section(
        "Calls",
        "/console/calls",
        CALL_READERS,
        "find calls by date, outcome, transport, intent, caller or words said; read each "
        "call's turns",
    ),
    Section(
        "Analytics",
        "/console/analytics",
        ANALYSTS,
        "calls per day and hour, containment, handoffs and abandonment with their reasons, "
        "intents, task funnels, the survey, latency and what callers said that was not "
        "understood; as CSV too",
    ),
    Section(
        "NLU inbox",
        "/console/inbox",
        INBOX_READERS,
        "caller turns understood with low confidence, not understood, corrected or before a "
        "handoff: hear them, label them as examples for the next model",
    ),
    Section(
        "Flows",
        "/console/flows",
        DESIGN_READERS,
        "a diagram of each flow: its forms, slots and validations, rules and stories",
    ),
    Section(
        "Prompts",
        "/console/prompts",
        DESIGN_READERS,
        "everything the bot says, by flow: hear each as a caller would, with an ear check; "
        "designers edit the draft's prompts and upload recordings",
    ),
    Section(
        "FAQ facts",
        "/console/facts",
        DESIGN_READERS,
        "the facts the bot reads aloud: opening hours, branches by city, rates, fees, complaint"
        " categories and frustration phrases; designers edit them in the draft",
    ),
    Section(
        "Caller wording",
        "/console/wording",
        DESIGN_READERS,
        "the examples that teach the bot each intent: add, change, move and delete them in the"
        " draft; warnings for intents with few examples and words under two intents",
    ),
    Section(
        "Versions",
        "/console/versions",
        VERSION_READERS,
        "what the designers' draft changes, its test (data, model, QA scripts, replayed "
        "calls), publishing it, and every version with roll-back",
    ),
    Section(
        "Talk",
        "/console/talk",
        TALKERS,
        "call the bot from the browser's microphone, or chat with it by text",
    ),
    Section(
        "Audit log", "/console/audit", ADMINS, "who logged in, viewed a call or changed a user"
    ),
    Section("Users", "/console/users", ADMINS, "add console users and disable them"),
)


def sections_for(role: str) -> list[Section]:
    """The sections this role may use, in menu order."""
    return [section for section in SECTIONS if role in section.roles]
