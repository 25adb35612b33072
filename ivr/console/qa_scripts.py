"""A recorded call turned into a QA caller script (``data/qa`` format, ``ivr.qa.script``) that
``ivr simulate`` can run, and written into the scripts folder under a checked name.

Each caller turn becomes a step: speech is said again as it was transcribed, with the intent it
got; keyed digits are pressed; a silence waits out the no-input timer; each step expects the
bot's reply by its response's fixed words (any variation, any amount or date in it). What the
record masks is not made up: an account number (shown as ``****5926`` or all stars) becomes the
QA test account the shipped scripts use, and a secure entry its test PIN, so the script runs
against the demo bank as the shipped suite does and no stars are spoken as digits. Stars
could not be kept (a script's keys are digits, and speech would read them out), and a
placeholder would leave a script that fails until edited: the test account keeps the flow.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.console.params import SCRIPT_NAME
from ivr.console.queries import CallDetail
from ivr.qa.compare import ResponseCatalog, literal_pattern
from ivr.qa.script import OUTCOMES, ScriptError, load_script

TEST_ACCOUNT = "31415926"
TEST_PIN = "2468"
"""The QA test customer of the demo bank (Alice, ``data/bank/seed.yml``), as in
``data/qa/balance.yml``: masked account numbers and secure entries become these."""
MASKED = re.compile(r"\*+\d{0,4}")
PIN_MARK = "[PIN]"
FALLBACK_WORDS = 6
NO_INPUT_MARGIN_S = 1


class ScriptExists(Exception):
    """A script of that name is already in the folder (and overwriting was not asked for)."""


@dataclass(frozen=True)
class DraftScript:
    """The script text made from a call, and what was changed on the way, for the reviewer."""

    text: str
    notes: list[str]


@dataclass(frozen=True)
class QaScripts:
    """The scripts folder and the domain whose responses name the bot's expected replies."""

    folder: Path
    domain: Path

    def draft(self, detail: CallDetail, name: str, no_input_s: float) -> DraftScript:
        """The call as a caller script named ``name`` (blocking: reads the domain)."""
        return draft_script(detail, name, ResponseCatalog.from_domain(self.domain), no_input_s)

    def save(self, name: str, text: str, overwrite: bool) -> Path:
        """Write ``text`` as ``<name>.yml`` after loading it as ``ivr simulate`` will; an existing
        script only with ``overwrite``. Owner-only, like the call data it comes from (a caller's
        words, masked). Raises ScriptExists, ScriptError (blocking)."""
        if not SCRIPT_NAME.fullmatch(name):
            raise ValueError(f"not a script name: {name!r}")
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{name}.yml"
        if target.exists() and not overwrite:
            raise ScriptExists(f"{target.name} exists")
        descriptor, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".yml")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(text)
            load_script(temporary)
            if overwrite:
                os.replace(temporary, target)
            else:
                os.link(temporary, target)  # fails if another save took the name meanwhile
        except FileExistsError:
            raise ScriptExists(f"{target.name} exists") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        return target


def draft_script(
    detail: CallDetail, name: str, catalog: ResponseCatalog, no_input_s: float
) -> DraftScript:
    call = detail.call
    notes: list[str] = []
    data: dict[str, Any] = {
        "name": name,
        "description": f"Call {call.call_id} as the console saved it ({call.outcome}).",
    }
    steps: list[dict[str, Any]] = []
    for turn in detail.turns:
        expected = _expectation(turn.bot_text, catalog) if turn.bot_text else None
        if turn.input_kind == "start":
            if expected and "greeting" not in data:
                data["greeting"] = expected
            continue
        step = _step(turn.turn, turn.input_kind, turn.transcript, no_input_s, notes)
        if step is None:
            continue
        if turn.input_kind == "speech" and turn.intent:
            step["intent"] = turn.intent
        if expected:
            step["bot"] = expected
        steps.append(step)
    if not steps:
        raise ScriptError("the call has no caller turn to make a step of")
    data["steps"] = steps
    if call.outcome in OUTCOMES:
        reasons = [handoff.get("reason") for _, handoff in detail.handoffs]
        data["expect"] = {
            "outcome": call.outcome,
            "handoff": str(reasons[0] or "none") if reasons else "none",
        }
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return DraftScript(text, notes)


def _step(
    turn: int, kind: str, transcript: str, no_input_s: float, notes: list[str]
) -> dict[str, Any] | None:
    if kind == "speech":
        said = _unmasked_speech(transcript)
        if said != transcript:
            notes.append(f"turn {turn}: masked digits said as the QA test account or PIN")
        if not said.strip():
            notes.append(f"turn {turn}: nothing was transcribed; left out")
            return None
        return {"say": said}
    if kind == "dtmf":
        if "*" in transcript or not transcript:
            notes.append(f"turn {turn}: masked keys pressed as the QA test account {TEST_ACCOUNT}")
            return {"press": TEST_ACCOUNT}
        return {"press": transcript}
    if kind in ("secure_dtmf", "secure_speech"):
        notes.append(f"turn {turn}: the PIN (never recorded) is the QA test PIN")
        return {"pin": TEST_PIN}
    if kind == "no_input":
        return {"wait": int(no_input_s) + NO_INPUT_MARGIN_S}
    return None


def _unmasked_speech(transcript: str) -> str:
    spoken_account = " ".join(TEST_ACCOUNT)
    said = MASKED.sub(spoken_account, transcript)
    return said.replace(PIN_MARK, " ".join(TEST_PIN))


def _expectation(bot_text: str, catalog: ResponseCatalog) -> str | None:
    """The reply's response by its fixed words, else its first words before any number."""
    known = catalog.expectation(bot_text)
    if known:
        return known
    plain = itertools.takewhile(
        lambda word: not any(ch.isdigit() or ch == "*" for ch in word), bot_text.split()
    )
    return literal_pattern(" ".join(list(plain)[:FALLBACK_WORDS])) or None
