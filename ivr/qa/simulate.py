"""Scripted callers: each script is spoken, keyed and waited through on a real call to the bot.

The caller's words are synthesised (``CallerVoice``) and sent over the chosen bridge; after each
step the runner waits for the bot's turn to be recorded (or the call to end), then checks the
step's expectations against what was recorded. Every recorded turn keeps its reference text (what
the script said) and expected intent, so ``ivr eval`` can score recognition and understanding.
"""

from __future__ import annotations

import re
import time

from ivr.logs import mask_digits
from ivr.qa.lines import CallerLine, QaBridge
from ivr.qa.observe import CallLog, ObservedRecords
from ivr.qa.results import CallResult, Check, handoff_reason, masked_turn, recording_seconds
from ivr.qa.script import Script, Step
from ivr.qa.voice import CallerMouth, CallerVoice
from ivr.records import TurnRecord

SPEECH_TAIL_MS = 400
"""Silence after each utterance beyond the endpointer's hangover, so the utterance closes."""
END_WAIT_S = 15.0
"""After the last step, how long the bot may take to end the call itself (goodbye, handoff)."""


async def run_script(
    script: Script,
    bridge: QaBridge,
    records: ObservedRecords,
    *,
    voice: CallerVoice | None = None,
    turn_timeout_s: float = 60.0,
) -> CallResult:
    """Call the bot once and play ``script`` as the caller; never raises for a failed call."""
    started = time.monotonic()
    result = CallResult(script.name, str(script.path), "simulate")
    mouth = CallerMouth()
    tail_ms = bridge.services.config.vad.end_of_speech_ms + SPEECH_TAIL_MS
    voice = voice or script.voice
    log: CallLog | None = None
    caused: dict[int, Step] = {}
    """The step each recorded turn answered (by turn index), for references and intents."""
    try:
        async with bridge.call() as caller:
            log = caller.log
            if not await records.wait(lambda: bool(caller.log.turns) or caller.log.ended, 60):
                raise TimeoutError("the bot did not greet within 60 s")
            greeting = log.turns[:1]
            if script.greeting:
                said = " ".join(t.bot_text for t in greeting)
                result.checks.append(_match("greeting", script.greeting, said, 0))
            for index, step in enumerate(script.steps):
                if log.ended:
                    result.checks.append(
                        Check(f"step {step.shown}", "the call still open", "call ended", False)
                    )
                    break
                before = len(log.turns)
                deadline = await _act(
                    caller, records, mouth, voice, step, index, tail_ms, turn_timeout_s
                )
                answer = log.turns_from(before, deadline)
                if answer:
                    caused[before] = step
                result.checks.extend(_step_checks(step, answer, before))
            if not log.ended:
                await records.wait(lambda: caller.log.ended, END_WAIT_S if not caller.fast else 1)
        await records.wait(lambda: log is not None and log.ended, 30)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    if log is not None:
        _fill(result, script, log, caused)
    result.wall_s = round(time.monotonic() - started, 2)
    return result


async def _act(
    caller: CallerLine,
    records: ObservedRecords,
    mouth: CallerMouth,
    voice: CallerVoice,
    step: Step,
    index: int,
    tail_ms: int,
    timeout_s: float,
) -> float:
    """Do one step, then wait for what it causes: the bot's next turn, or nothing owed.

    Returns the step's deadline: ``timeout_s`` after the caller's last word or key, the moment
    a person on the line starts waiting. A turn recorded later is not the step's answer.
    """
    log = caller.log
    before = len(log.turns)
    if step.action == "say":
        pcm = await mouth.speak(voice, step.value, seed=index)
        await caller.say(pcm)
        deadline = time.monotonic() + timeout_s
        await caller.pause(tail_ms / 1000)
    elif step.action in ("press", "pin"):
        await caller.press(step.value)
        deadline = time.monotonic() + timeout_s
    elif step.action == "wait":
        await caller.pause(float(step.value))
        await records.wait(lambda: not log.owed or log.ended, timeout_s)
        return time.monotonic()
    else:
        await caller.hang_up()
        await records.wait(lambda: log.ended, timeout_s)
        return time.monotonic()
    await records.wait(
        lambda: log.ended or (len(log.turns) > before and not log.owed),
        max(0.0, deadline - time.monotonic()),
    )
    return deadline


def _step_checks(step: Step, turns: list[TurnRecord], before: int) -> list[Check]:
    """``turns``: the step's answer, the first of them at index ``before``."""
    checks = []
    if step.intent is not None:
        got = turns[0].intent or "-" if turns else "no turn"
        checks.append(
            Check(f"intent after {step.shown}", step.intent, got, got == step.intent, before)
        )
    if step.bot is not None:
        said = " ".join(t.bot_text for t in turns) if turns else ""
        checks.append(_match(f"bot after {step.shown}", step.bot, said, before))
    return checks


def _match(what: str, pattern: str, said: str, turn: int) -> Check:
    ok = re.search(pattern, said, re.IGNORECASE) is not None
    return Check(what, f"/{pattern}/", said or "(nothing)", ok, turn)


def _fill(result: CallResult, script: Script, log: CallLog, caused: dict[int, Step]) -> None:
    """Copy the call's turns (masked); the first turn after each step gets its expectations."""
    result.call_id = log.call_id
    result.outcome = log.outcome or "in_progress"
    result.reason = log.reason
    result.recording = log.recording
    result.turns = [masked_turn(t) for t in log.turns]
    for index, turn in enumerate(result.turns):
        step = caused.get(index)
        if step is None or step.action in ("wait", "hang_up"):
            continue
        turn["step"] = step.shown
        turn["expected_intent"] = step.intent
        if step.action == "say" and turn["input_kind"] == "speech":
            # Redacted as the transcript is, so a PIN said out of turn is neither shown nor
            # counted as a recognition error.
            turn["reference"] = mask_digits(step.value)
    result.handoff = handoff_reason(result.turns)
    if script.outcome is not None:
        result.checks.append(
            Check("outcome", script.outcome, result.outcome, result.outcome == script.outcome)
        )
    if script.handoff is not None:
        got = result.handoff or "none"
        result.checks.append(Check("handoff", script.handoff, got, got == script.handoff))
    result.line_s = recording_seconds(log.recording)
