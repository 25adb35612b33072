"""Made-up calls, as the bot records them, in bulk: the console benchmark's records database.

Each call follows one of the conversations a bank's callers have (balance, transactions, a lost
card, a transfer, branch hours, an agent, fraud, a complaint, silence, a caller who hangs up, a
line that fails), with the bot's replies and payloads, confidences and per-stage timings drawn
around what ``make bench`` measures; starts are spread over months. Texts pass through the
masking ``CallRecordStore`` applies and caller ids through ``mask_caller``; a PIN is only ever a
``secure_dtmf`` turn with no transcript. So the rows look like the bot's, and the tables and
indexes are the ones ``ivr.records`` creates. Rows go in with bulk inserts, a few thousand calls
per transaction, so 100,000 calls take seconds, not the hours one write per turn would.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from dialogue import payloads
from ivr.logs import mask_digits
from ivr.records import CallRecordStore, InputKind, Outcome, TurnRecord
from ivr.retention import DAY_S
from ivr.sealed import SUFFIX
from masking import mask_caller
from storage.db import Database

BATCH_CALLS = 5_000
"""Calls (with their turns) per transaction."""
SPAN_DAYS = 180
"""Calls start over this many days before the end of generation."""
CALL_COLUMNS = (
    "call_id",
    "transport",
    "caller",
    "called",
    "started_at",
    "ended_at",
    "outcome",
    "reason",
    "turns",
    "recording",
    "details",
    "peer_call_id",
    "node_id",
)
TURN_COLUMNS = tuple(f.name for f in dataclasses.fields(TurnRecord))
TRANSPORTS = (("sip", 6), ("websocket", 3), ("audiosocket", 1))
"""Transports and how many calls in ten come over each."""
DETAILS = {
    "sip": {"source": "10.20.0.7"},
    "websocket": {"peer": "10.20.0.9", "source": "10.20.0.9"},
    "audiosocket": {"peer": "10.20.0.11", "source": "10.20.0.11"},
}
"""What each transport puts in a call's details (``CallInfo.extra``)."""
NODES = ("ivr-a", "ivr-b")
RECORDED = 0.4
"""The share of calls with a recording."""
BARGE_IN = 0.05
"""The share of spoken turns that interrupted the bot."""


@dataclass(frozen=True)
class Step:
    """One turn: what the caller did (phrasings to pick from) and what the bot replied."""

    kind: InputKind
    said: tuple[str, ...]
    intent: str | None
    bot: str
    entities: tuple[dict[str, Any], ...] = ()
    payloads: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Conversation:
    """A kind of call: its turns, how it ends, and how many calls in a hundred are like it."""

    name: str
    share: int
    outcome: Outcome
    reason: str
    steps: tuple[Step, ...]


GREETING = Step(
    "start",
    ("",),
    None,
    "Thanks for calling City Bank. This call may be recorded for quality purposes. "
    "How can I help you today?",
)
ACCOUNT = Step(
    "speech",
    ("five five five oh one two three four", "55501234", "it's 5 5 5 0 1 2 3 4"),
    "inform",
    "Now please enter your 4-digit PIN on your keypad.",
    ({"entity": "account_number", "value": "55501234"},),
    (payloads.expect_digits(4, secure=True),),
)
PIN = Step("secure_dtmf", ("",), "dtmf", "Thank you, Maria. You're verified.")
ASK_ACCOUNT = (
    "First, I need to verify you. Please say or key in your 8-digit account number.",
    (payloads.expect_digits(8, identifier=True),),
)
ANYTHING_ELSE = "Is there anything else I can help with?"
FAREWELL = (
    Step(
        "speech",
        ("no that's all thanks", "no thank you", "that's it bye"),
        "deny",
        "Before you go: how satisfied were you with this call, from 1 to 5? "
        "You can say it or press a key.",
        payloads=(payloads.expect_digits(1),),
    ),
    Step(
        "dtmf",
        ("5", "4", "3"),
        "dtmf",
        "Thank you for your feedback. Thank you for calling City Bank. Goodbye.",
        payloads=(payloads.hangup("survey_done"),),
    ),
)
"""The end of a call that got what it came for: nothing else, the survey, goodbye."""


def _asks_account(said: tuple[str, ...], intent: str) -> Step:
    return Step("speech", said, intent, ASK_ACCOUNT[0], payloads=ASK_ACCOUNT[1])


def _handoff(reason: str, priority: payloads.Priority, intent: str, summary: str) -> dict[str, Any]:
    context = {"intent": intent, "authenticated": False, "in_progress": None, "summary": summary}
    return payloads.handoff(reason, priority, {**context, "customer_id": None})


CONVERSATIONS = (
    Conversation(
        "balance",
        30,
        "self_served",
        "survey_done",
        (
            GREETING,
            _asks_account(("what's my balance", "check my balance please"), "check_balance"),
            ACCOUNT,
            PIN,
            Step(
                "speech",
                ("checking", "my checking account"),
                "inform",
                f"Your checking account ending 1234 has a balance of $2,417.09. {ANYTHING_ELSE}",
                ({"entity": "account_type", "value": "checking"},),
            ),
            *FAREWELL,
        ),
    ),
    Conversation(
        "transactions",
        12,
        "self_served",
        "survey_done",
        (
            GREETING,
            _asks_account(("recent transactions", "what did I spend"), "recent_transactions"),
            ACCOUNT,
            PIN,
            Step(
                "speech",
                ("savings",),
                "inform",
                "Here are the last 3 transactions on your savings account ending 1234. "
                "December 2, grocery store, $54.20. November 30, transfer in, $300.00.",
                ({"entity": "account_type", "value": "savings"},),
            ),
            *FAREWELL,
        ),
    ),
    Conversation(
        "lost card",
        10,
        "self_served",
        "survey_done",
        (
            GREETING,
            Step(
                "speech",
                ("I lost my card", "my card was stolen", "block my debit card"),
                "report_lost_card",
                "I'm sorry to hear that. Let's block the card so no one can use it. "
                "Please say or key in the last 4 digits of the card.",
                payloads=(payloads.expect_digits(4),),
            ),
            Step(
                "dtmf",
                ("4411",),
                "dtmf",
                "To check it's your card, please key in the "
                "5-digit ZIP code of your billing address.",
                payloads=(payloads.expect_digits(5),),
            ),
            Step("dtmf", ("94110",), "dtmf", "That's the card ending 4411. Shall I block it now?"),
            Step(
                "speech",
                ("yes please", "yes"),
                "affirm",
                "Done. Your card ending 4411 is blocked, so no one can use it. Your reference "
                "number is BLK-4821. A replacement card will be mailed to you.",
            ),
            *FAREWELL,
        ),
    ),
    Conversation(
        "transfer",
        8,
        "self_served",
        "survey_done",
        (
            GREETING,
            _asks_account(("move some money", "transfer two hundred dollars"), "transfer_money"),
            ACCOUNT,
            PIN,
            Step(
                "speech",
                ("two hundred dollars", "200"),
                "inform",
                "Which account should the money come from: checking or savings?",
                ({"entity": "amount", "value": "200"},),
            ),
            Step(
                "speech",
                ("from savings to checking",),
                "inform",
                "To confirm: move $200.00 from your savings to your checking. Shall I go ahead?",
            ),
            Step(
                "speech",
                ("yes go ahead",),
                "affirm",
                "Done. I've moved $200.00 from your savings to your checking. "
                f"Your reference number is TRF-1187. {ANYTHING_ELSE}",
            ),
            *FAREWELL,
        ),
    ),
    Conversation(
        "branch hours",
        12,
        "self_served",
        "survey_done",
        (
            GREETING,
            Step(
                "speech",
                ("when are you open", "what are your opening hours on saturday"),
                "branch_hours",
                "Our branches are open 9 am to 5 pm, Monday to Friday, and 9 am to 1 pm on "
                "Saturday. They're closed on Sunday. This phone line is open around the clock.",
            ),
            Step(
                "speech",
                ("is there a branch in springfield",),
                "branch_locations",
                "In Springfield, we have 2: Main Street and Oak Avenue.",
                ({"entity": "city", "value": "Springfield"},),
            ),
            *FAREWELL,
        ),
    ),
    Conversation(
        "agent",
        10,
        "handed_off",
        "caller_request",
        (
            GREETING,
            Step(
                "speech",
                ("I want to talk to a person", "agent", "representative please"),
                "talk_to_agent",
                "I'm transferring you to an agent now. Please stay on the line.",
                payloads=(
                    _handoff(
                        "caller_request",
                        "normal",
                        "talk_to_agent",
                        "Caller not verified. Reason: caller request.",
                    ),
                ),
            ),
        ),
    ),
    Conversation(
        "fraud",
        2,
        "handed_off",
        "fraud",
        (
            GREETING,
            Step(
                "speech",
                ("there's a charge I didn't make", "someone used my card"),
                "report_fraud",
                "I'm sorry. I'll treat this as urgent. First, shall I block your card right "
                "now to stop any more charges?",
            ),
            Step(
                "speech",
                ("just put me through to someone",),
                "talk_to_agent",
                "I'm sorry about this. I'm putting you through to an agent right away.",
                payloads=(
                    _handoff(
                        "fraud", "high", "report_fraud", "Caller not verified. Reason: fraud."
                    ),
                ),
            ),
        ),
    ),
    Conversation(
        "complaint",
        3,
        "self_served",
        "survey_done",
        (
            GREETING,
            Step(
                "speech",
                ("I want to make a complaint",),
                "complaint",
                "I'm sorry to hear that. What is it about: fees, a card, a transfer, our "
                "service, online banking, or something else?",
            ),
            Step("speech", ("fees",), "inform", "Please tell me in one sentence what happened."),
            Step(
                "speech",
                ("I was charged twice for the same transfer",),
                "inform",
                "Thank you. I've logged your complaint about fees. Your reference number is "
                f"CMP-5523. {ANYTHING_ELSE}",
            ),
            *FAREWELL,
        ),
    ),
    Conversation(
        "silence",
        3,
        "handed_off",
        "repeated_no_input",
        (
            GREETING,
            Step("no_input", ("",), "no_input", "Sorry, I didn't hear anything."),
            Step(
                "no_input",
                ("",),
                "no_input",
                "I'm sorry about this. I'm putting you through to an agent right away.",
                payloads=(
                    _handoff(
                        "repeated_no_input",
                        "high",
                        "no_input",
                        "Caller not verified. Reason: repeated no input.",
                    ),
                ),
            ),
        ),
    ),
    Conversation(
        "hung up",
        8,
        "abandoned",
        "caller hung up (bye)",
        (GREETING, _asks_account(("what's my balance",), "check_balance")),
    ),
    Conversation(
        "line failed",
        2,
        "failed",
        "transport failure: media timeout",
        (GREETING, Step("speech", ("hello", "hi"), "greet", "How can I help you today?")),
    ),
)


@dataclass(frozen=True)
class _Turn:
    """A step's columns as the store writes them: masked text, JSON, once per step."""

    kind: InputKind
    said: tuple[str, ...]
    intent: str | None
    entities: str
    bot: str
    payloads: str

    @classmethod
    def of(cls, step: Step) -> _Turn:
        return cls(
            kind=step.kind,
            said=tuple(mask_digits(text) for text in step.said),
            intent=step.intent,
            entities=mask_digits(json.dumps(list(step.entities))),
            bot=mask_digits(step.bot),
            payloads=mask_digits(json.dumps(list(step.payloads))),
        )


@dataclass
class Generated:
    """What was written: counts, time span and how long it took."""

    calls: int = 0
    turns: int = 0
    first_start: float = 0.0
    last_start: float = 0.0
    seconds: float = 0.0
    conversations: dict[str, int] = field(default_factory=dict)


def generate(url: str, calls: int, seed: int, progress: bool) -> Generated:
    """Write ``calls`` generated calls and their turns into the records database at ``url``
    (created with the real schema), newest ending now."""
    started = time.monotonic()
    CallRecordStore(url).close()  # the records tables and indexes, as the server makes them
    rng = random.Random(seed)
    generator = _Generator(rng, calls, end=time.time())
    db = Database(url)
    try:
        with tqdm(total=calls, unit="call", desc="generating", disable=not progress) as bar:
            for batch_calls, batch_turns in generator.batches():
                with db.transaction() as tx:
                    tx.many(_insert("calls", CALL_COLUMNS), batch_calls)
                    tx.many(_insert("turns", TURN_COLUMNS), batch_turns)
                bar.update(len(batch_calls))
    finally:
        db.close()
    summary = generator.summary
    summary.seconds = round(time.monotonic() - started, 2)
    return summary


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class _Generator:
    """Rows of calls in start order, drawn from one seeded random source."""

    def __init__(self, rng: random.Random, calls: int, end: float) -> None:
        self.rng = rng
        self.count = calls
        self.end = end
        self.conversations = [(c, [_Turn.of(step) for step in c.steps]) for c in CONVERSATIONS]
        self.shares = [c.share for c in CONVERSATIONS]
        self.callers = _callers(rng, max(20, calls // 8))
        self.summary = Generated()

    def batches(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(call rows, turn rows) for up to ``BATCH_CALLS`` calls at a time, oldest first."""
        span = (self.end - SPAN_DAYS * DAY_S, self.end)
        starts = sorted(round(self.rng.uniform(*span), 3) for _ in range(self.count))
        if starts:
            self.summary.first_start, self.summary.last_start = starts[0], starts[-1]
        for first in range(0, self.count, BATCH_CALLS):
            calls: list[tuple[Any, ...]] = []
            turns: list[tuple[Any, ...]] = []
            for start in starts[first : first + BATCH_CALLS]:
                call, call_turns = self._call(start)
                calls.append(call)
                turns.extend(call_turns)
            self.summary.calls += len(calls)
            self.summary.turns += len(turns)
            yield calls, turns

    def _call(self, start: float) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        rng = self.rng
        conversation, steps = rng.choices(self.conversations, self.shares)[0]
        counted = self.summary.conversations
        counted[conversation.name] = counted.get(conversation.name, 0) + 1
        transport = rng.choices([t for t, _ in TRANSPORTS], [n for _, n in TRANSPORTS])[0]
        call_id = (
            time.strftime("%Y%m%dt%H%M%Sz", time.gmtime(start)) + f"{rng.getrandbits(48):012x}"
        )
        turns = []
        at = start + rng.uniform(0.2, 0.6)
        for number, step in enumerate(steps):
            turns.append(self._turn(call_id, number, at, step))
            at += rng.uniform(4.0, 12.0)
        day = time.strftime("%Y%m%d", time.gmtime(start))
        recording = f"var/recordings/{day}/{call_id}.wav{SUFFIX}" if rng.random() < RECORDED else ""
        call = (
            call_id,
            transport,
            rng.choice(self.callers[transport]),
            "sip:hotline@citybank.example" if transport == "sip" else "+18005550100",
            start,
            round(at - rng.uniform(1.0, 3.0), 3),
            conversation.outcome,
            conversation.reason,
            len(turns),
            recording,
            json.dumps(DETAILS[transport]),
            _peer_call_id(rng, transport),
            rng.choice(NODES),
        )
        return call, turns

    def _turn(self, call_id: str, number: int, at: float, step: _Turn) -> tuple[Any, ...]:
        rng = self.rng
        spoken = step.kind in ("speech", "secure_speech")
        endpoint, asr, dialogue, tts_first, response = _timings(rng, spoken)
        return (
            call_id,
            number,
            round(at, 3),
            step.kind,
            rng.choice(step.said),
            round(rng.uniform(0.55, 0.98), 3) if spoken else None,
            step.intent,
            round(rng.uniform(0.45, 0.99), 3) if step.intent is not None else None,
            step.entities,
            step.bot,
            step.payloads,
            int(spoken and rng.random() < BARGE_IN),
            endpoint,
            asr,
            dialogue,
            tts_first,
            response,
        )


def _timings(rng: random.Random, spoken: bool) -> tuple[float | None, ...]:
    """endpoint, asr, dialogue, tts first audio and response ms of one turn (spoken turns
    have all five; keypad, silence and the greeting only the assistant's and the voice's)."""
    dialogue = rng.lognormvariate(math.log(90), 0.5)
    tts_first = rng.lognormvariate(math.log(140), 0.3)
    if not spoken:
        return None, None, round(dialogue, 1), round(tts_first, 1), None
    endpoint = rng.gauss(620, 40)
    asr = rng.lognormvariate(math.log(230), 0.3)
    response = endpoint + asr + dialogue + tts_first + rng.uniform(5, 20)
    return tuple(round(ms, 1) for ms in (endpoint, asr, dialogue, tts_first, response))


def _callers(rng: random.Random, count: int) -> dict[str, list[str]]:
    """Each transport's callers as stored (masked), the same customers calling again and again;
    a few withhold their number."""
    numbers = [f"+1{rng.randrange(2_000_000_000, 9_999_999_999)}" for _ in range(count)]
    raw = {
        "sip": [f"sip:{number}@pbx.citybank.example" for number in numbers]
        + ["sip:anonymous@anonymous.invalid"],
        "websocket": [*numbers, "anonymous"],
        "audiosocket": numbers,
    }
    return {transport: [mask_caller(c) for c in callers] for transport, callers in raw.items()}


def _peer_call_id(rng: random.Random, transport: str) -> str:
    """The id the peer gave the call: a SIP Call-ID, a Twilio callSid, an AudioSocket UUID."""
    if transport == "sip":
        return f"{rng.getrandbits(80):020x}@10.20.0.7"
    if transport == "websocket":
        return f"CA{rng.getrandbits(128):032x}"
    text = f"{rng.getrandbits(128):032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
