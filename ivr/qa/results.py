"""What a QA run produced per call: turns as recorded (masked), checks, diffs and the verdict.

The same shapes serve simulations and replays, so ``ivr eval`` and the reports read either. A
result is built only from masked data: transcripts, bot texts and entities go through the same
masking as the call record store, keyed secrets are never copied in, and script steps are shown
with PINs hidden.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivr.logs import mask_digits
from ivr.records import TurnRecord
from ivr.sealed import RecordingError, probe

RunKind = Literal["simulate", "replay"]


@dataclass
class Check:
    """One expectation of a script and whether the call met it."""

    what: str
    expected: str
    got: str
    ok: bool
    turn: int | None = None


@dataclass
class Diff:
    """One difference between the original call and its replay."""

    field: str
    original: str
    replay: str
    turn: int | None = None


@dataclass
class CallResult:
    """One simulated or replayed call."""

    name: str
    source: str
    kind: RunKind
    call_id: str = ""
    outcome: str = ""
    reason: str = ""
    handoff: str | None = None
    """The handoff reason, when the bot transferred the caller."""
    turns: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    diffs: list[Diff] = field(default_factory=list)
    compared: bool = False
    """A replay had its original record to compare with."""
    notes: list[str] = field(default_factory=list)
    recording: str = ""
    line_s: float = 0.0
    """Seconds of call (line time)."""
    wall_s: float = 0.0
    """Seconds it took to run."""
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and all(c.ok for c in self.checks) and not self.diffs

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallResult:
        values = {k: v for k, v in data.items() if k != "passed"}
        values["checks"] = [Check(**c) for c in data.get("checks", [])]
        values["diffs"] = [Diff(**d) for d in data.get("diffs", [])]
        return cls(**values)


def masked_turn(record: TurnRecord) -> dict[str, Any]:
    """A turn as a report may show it: the record store's masking, plus QA annotations to fill."""
    turn = asdict(record)
    turn["transcript"] = mask_digits(record.transcript)
    turn["bot_text"] = mask_digits(record.bot_text)
    turn["entities"] = json.loads(mask_digits(json.dumps(record.entities, default=str)))
    turn["payloads"] = json.loads(mask_digits(json.dumps(record.payloads, default=str)))
    turn.update(reference=None, expected_intent=None, step=None)
    return turn


def recording_seconds(path: str) -> float:
    """Length of a call's recording: its line time, whatever clock the line ran on."""
    try:
        rate, _, frames = probe(path)
    except RecordingError:
        return 0.0
    return round(frames / rate, 1)


def handoff_reason(turns: list[dict[str, Any]]) -> str | None:
    """The reason of the first handoff the bot asked for, if any."""
    for turn in turns:
        for payload in turn.get("payloads") or []:
            handoff = payload.get("handoff") if isinstance(payload, dict) else None
            if isinstance(handoff, dict):
                return str(handoff.get("reason") or "unspecified")
    return None


def load_results(path: Path) -> tuple[RunKind, list[CallResult], dict[str, Any]]:
    """Read a run's results.json (``ivr.qa.report.write_json``); a clear error for anything else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such results file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a results file (invalid JSON: {exc})") from exc
    if not isinstance(data, dict) or data.get("kind") not in ("simulate", "replay"):
        raise ValueError(f"{path}: not a results file of ivr simulate or ivr replay")
    try:
        calls = [CallResult.from_dict(c) for c in data["calls"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed call entry ({exc})") from exc
    meta = {k: v for k, v in data.items() if k not in ("kind", "calls", "scores")}
    return data["kind"], calls, meta
