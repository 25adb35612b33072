"""Calls whose turns are, or are not, NLU inbox items for known reasons, written through the real
call record store (labelled into the designers' draft of ``conftest.copy_workspace``, so no
test writes the repository's files).

Every turn is said at an exact time on the tests' clock (``START``); the store stamps a call's
start with the real time, so it is set afterwards, as ``test_recordings.store_call`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ivr.console.nlu_project import NluProject
from ivr.records import CallRecordStore, InputKind, Outcome, TurnRecord
from storage.db import Database
from tests.console.conftest import START

REPOSITORY = Path(__file__).resolve().parents[2]
HOUR = 3600.0


@dataclass(frozen=True)
class Said:
    """A caller turn: what was said and understood, and the inbox reasons it must get."""

    kind: InputKind
    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    reasons: tuple[str, ...] = ()


def speech(text: str, intent: str, confidence: float, *reasons: str) -> Said:
    return Said("speech", text, intent, confidence, reasons)


@dataclass(frozen=True)
class Call:
    call_id: str
    at: float
    outcome: Outcome
    turns: list[Said] = field(default_factory=list)


CALLS = [
    Call(
        "inbox01",
        START - 24 * HOUR,
        "self_served",
        [
            speech("what's my balance", "check_balance", 0.95),
            speech("uh the thing with my card", "report_lost_card", 0.62, "low_confidence"),
            speech("yes", "affirm", 0.97),  # the same one word next: not a correction
            speech("yes", "affirm", 0.97),
        ],
    ),
    Call(
        "inbox02",
        START - 20 * HOUR,
        "self_served",
        [
            speech(
                "my card got eaten by the machine", "nlu_fallback", 0.55, "fallback", "corrected"
            ),
            speech("My card got eaten by the machine.", "nlu_fallback", 0.55, "fallback"),
            speech("I lost my card", "report_lost_card", 0.96),
        ],
    ),
    Call(
        "inbox03",
        START - 10 * HOUR,
        "self_served",
        [
            speech("how much do i owe", "nlu_confirm", 0.75, "fallback", "corrected"),
            speech("no", "deny", 0.99),
            speech("when is my credit card payment due", "card_payment_due", 0.9),
        ],
    ),
    Call(
        "inbox04",
        START - 4 * HOUR,
        "self_served",
        [
            speech("balance on my savings", "branch_hours", 0.91, "corrected"),
            speech("No, I said my savings balance", "check_balance", 0.93),
        ],
    ),
    Call(
        "inbox05",
        START - 3 * HOUR,
        "handed_off",
        [
            speech("I lost my card", "out_of_scope", 0.88, "handoff"),
            speech("agent", "talk_to_agent", 0.97),
            Said("dtmf", "0", "dtmf", 1.0),
        ],
    ),
    Call(
        "inbox06",
        START - 2 * HOUR,
        "handed_off",
        [
            speech("check my balance", "check_balance", 0.97),
            speech("something about a fee on my account", "fees", 0.9, "handoff"),
        ],
    ),
    Call(
        "inbox07",
        START - 1 * HOUR,
        "self_served",
        [
            speech("my account number is 12345678", "inform", 0.6, "low_confidence"),
            Said("secure_speech", "", "inform", 0.3),
            Said("dtmf", "1", "dtmf", 0.2),
            speech("how much is in savings", "nlu_confirm", 0.75, "fallback"),
            speech("yes", "affirm", 0.98),
        ],
    ),
    Call(
        "inbox08",
        START - 10 * 24 * HOUR,
        "handed_off",
        [speech("zzz outside the week", "nlu_fallback", 0.55, "fallback", "handoff")],
    ),
]
"""``inbox08`` started ten days before the tests' today: outside the default week."""
SPACING_S = 5.0
"""Turn ``n`` of a call is said ``n * SPACING_S`` after its start (turn 0 is the greeting)."""


def expected(*call_ids: str) -> dict[tuple[str, int], tuple[str, ...]]:
    """The inbox items of these calls (all but ``inbox08`` by default) and their reasons."""
    chosen = call_ids or tuple(call.call_id for call in CALLS if call.call_id != "inbox08")
    return {
        (call.call_id, number): said.reasons
        for call in CALLS
        if call.call_id in chosen
        for number, said in enumerate(call.turns, start=1)
        if said.reasons
    }


async def write_call(url: str, call: Call, recording: str = "") -> None:
    """One call through ``CallRecordStore``: a greeting, then its caller turns."""
    store = CallRecordStore(url)
    await store.start_call(call.call_id, "sip", "sip:+15550001234@pbx", recording=recording)
    await store.add_turn(TurnRecord(call.call_id, 0, call.at, "start", bot_text="Hello."))
    for number, said in enumerate(call.turns, start=1):
        await store.add_turn(
            TurnRecord(
                call.call_id,
                number,
                call.at + number * SPACING_S,
                said.kind,
                transcript=said.text,
                intent=said.intent,
                intent_confidence=said.confidence,
                bot_text="OK.",
            )
        )
    await store.end_call(call.call_id, call.outcome)
    store.close()
    db = Database(url)
    with db.transaction() as tx:
        tx.execute("UPDATE calls SET started_at = ? WHERE call_id = ?", (call.at, call.call_id))
    db.close()


async def write_calls(url: str) -> None:
    for call in CALLS:
        await write_call(url, call)


def nlu_files(project: NluProject) -> dict[str, bytes]:
    """Every file of the copied NLU folder, by relative path, as bytes."""
    folder = project.nlu_folder
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
