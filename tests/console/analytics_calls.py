"""A few calls with known outcomes, intents, replies, survey scores and latencies, written
through the real call record store at chosen times: the dashboard tests count them by hand.

The period is 2026-03-02 to 2026-03-04 (UTC). Two calls fall just outside it (the day before,
and the midnight after its last day) with figures that would show if they were counted.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest

import ivr.records
from ivr.console.analytics import Period
from ivr.records import CallRecordStore, InputKind, Outcome, TurnRecord

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))
ASK_ACCOUNT = "First, I need to verify you. Please say or key in your 8-digit account number."
ASK_PIN = "Now please enter your 4-digit PIN on your keypad."
SURVEY = "Before you go: how satisfied were you with this call, from 1 to 5?"
THANKS = "Thank you for your feedback. Thank you for calling City Bank. Goodbye."
FALLBACK = "Sorry, I didn't get that. Could you say it another way?"
INJECTION = '=HYPERLINK("http://evil.example","click")'
RESPONSE_MS = (700.0, 800.0, 900.0, 1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 1500.0, 5000.0)
"""The response time of the first ten spoken turns in the period, in the order written:
p50 (nearest rank, 5th of 10) is 1100 ms, p95 (10th) 5000 ms; no other turn has one. Every
spoken turn in the period took 200 ms of ASR, outside it 30 s; every turn 100 ms of dialogue."""


@dataclass
class Turn:
    kind: InputKind
    said: str = ""
    intent: str | None = None
    bot: str = ""
    confidence: float = 0.9


@dataclass
class Call:
    at: str
    """Start, ISO UTC."""
    outcome: Outcome | None
    reason: str
    turns: list[Turn] = field(default_factory=list)


def speech(said: str, intent: str, bot: str, confidence: float = 0.9) -> Turn:
    return Turn("speech", said, intent, bot, confidence)


def survey_keyed(score: str) -> list[Turn]:
    """Nothing else, the survey question, a score on the keypad."""
    return [speech("no thanks", "deny", SURVEY), Turn("dtmf", score, "dtmf", THANKS)]


START = Turn("start", bot="Thanks for calling City Bank. How can I help you today?")
VERIFY = [
    speech("five five five oh one two three four", "inform", ASK_PIN),
    Turn("secure_dtmf", intent="dtmf", bot="Thank you, Maria. You're verified."),
]
CALLS = [
    Call(
        "2026-03-02T09:15:00",
        "self_served",
        "survey_done",
        [
            START,
            speech("what's my balance", "check_balance", ASK_ACCOUNT),
            *VERIFY,
            speech(
                "checking",
                "inform",
                "Your checking account ending 1234 has a balance of $2,417.09. "
                "Is there anything else I can help with?",
            ),
            *survey_keyed("5"),
        ],
    ),
    Call(
        "2026-03-02T09:40:00",
        "abandoned",
        "caller hung up (bye)",
        [START, speech("balance please", "check_balance", ASK_ACCOUNT)],
    ),
    Call(
        "2026-03-02T00:00:00",
        "failed",
        "transport failure: media timeout",
        [START, speech("hello", "greet", "How can I help you today?", 0.95)],
    ),
    Call(
        "2026-03-03T14:05:00",
        "self_served",
        "survey_done",
        [
            START,
            speech("move some money", "transfer_money", ASK_ACCOUNT),
            speech("five five five oh one two three four", "inform", ASK_PIN),
            Turn("secure_dtmf", intent="dtmf", bot="Thanks, Bob. You're all set."),
            speech("two hundred dollars", "inform", "Which account should the money come from?"),
            speech(
                "from savings to checking",
                "inform",
                "To confirm: move $200.00 from your savings to your checking. Shall I go ahead?",
            ),
            speech(
                "yes go ahead",
                "affirm",
                "Done. I've moved $200.00 from your savings to your checking. Your reference "
                "number is TRF-1187. Is there anything else I can help with?",
            ),
            speech("no", "deny", SURVEY),
            speech("I'd give it a four", "rate_service", THANKS),
        ],
    ),
    Call(
        "2026-03-03T14:30:00",
        "handed_off",
        "caller_request",
        [
            START,
            speech("transfer money", "transfer_money", ASK_ACCOUNT),
            *VERIFY,
            speech("fifty", "inform", "Which account should the money come from?"),
            speech(
                "savings to checking",
                "inform",
                "To confirm: move $50.00 from your savings to your checking. Shall I go ahead?",
            ),
            speech("no", "deny", "OK, I've cancelled the transfer. No money was moved."),
            speech("agent please", "talk_to_agent", "I'm transferring you to an agent now.", 0.55),
        ],
    ),
    Call(
        "2026-03-04T20:10:00",
        "handed_off",
        "repeated_fallback",
        [
            START,
            speech("uh my card got eaten by the machine", "nlu_fallback", FALLBACK, 0.31),
            speech("my card got eaten by the machine", "nlu_fallback", FALLBACK, 0.40),
            speech("agent", "talk_to_agent", "I'm transferring you to an agent now."),
        ],
    ),
    Call(
        "2026-03-04T20:45:00",
        "self_served",
        "survey_done",
        [
            START,
            speech(INJECTION, "out_of_scope", FALLBACK, 0.2),
            speech(
                "I lost my card",
                "report_lost_card",
                "I'm sorry to hear that. Let's block the card so no one can use it.",
            ),
            Turn("dtmf", "4411", "dtmf", "Please key in the 5-digit ZIP code."),
            Turn("dtmf", "94110", "dtmf", "That's the card ending 4411. Shall I block it now?"),
            speech(
                "yes",
                "affirm",
                "Done. Your card ending 4411 is blocked, so no one can use it. Your reference "
                "number is BLK-4821.",
            ),
            *survey_keyed("2"),
        ],
    ),
    Call(
        "2026-03-04T21:00:00",
        None,
        "",
        [START, speech("what are your hours", "branch_hours", "Our branches are open 9 to 5.")],
    ),
    Call(
        "2026-03-01T12:00:00",
        "self_served",
        "outside_before",
        [
            START,
            speech("zzz outside", "nlu_fallback", SURVEY, 0.1),
            Turn("dtmf", "1", "dtmf", THANKS),
        ],
    ),
    Call(
        "2026-03-05T00:00:00",
        "abandoned",
        "outside_after",
        [START, speech("what's my balance", "check_balance", ASK_ACCOUNT)],
    ),
]
"""Calls in the period: 3 on 03-02, 2 on 03-03, 3 on 03-04 (one still in progress)."""


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp()


async def write_calls(url: str) -> None:
    """Write ``CALLS`` into the records database at ``url`` through ``CallRecordStore``, its
    clock set to each call's start (the turns follow five seconds apart)."""
    now = [0.0]
    clock = types.SimpleNamespace(time=lambda: now[0], strftime=time.strftime, gmtime=time.gmtime)
    store = CallRecordStore(url)
    response_ms = iter(RESPONSE_MS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ivr.records, "time", clock)
        for index, call in enumerate(CALLS):
            call_id = f"analytics{index:02d}"
            now[0] = epoch(call.at)
            inside = PERIOD.start <= now[0] < PERIOD.end
            await store.start_call(call_id, "sip", f"sip:+1555000{index:04d}@pbx")
            for number, turn in enumerate(call.turns):
                spoken = turn.kind == "speech"
                await store.add_turn(
                    TurnRecord(
                        call_id,
                        number,
                        now[0] + 5 * number,
                        turn.kind,
                        transcript=turn.said,
                        intent=turn.intent,
                        intent_confidence=turn.confidence if turn.intent else None,
                        bot_text=turn.bot,
                        dialogue_ms=100.0,
                        response_ms=next(response_ms, None) if spoken and inside else None,
                        asr_ms=(30_000.0 if not inside else 200.0) if spoken else None,
                    )
                )
            if call.outcome is not None:
                await store.end_call(call_id, call.outcome, call.reason)
    store.close()
