"""Scores of a QA run, computed from the run's own turns: WER, intents, success, outcomes, latency.

- WER: each speech turn's transcript against its reference (the script's words in a simulation,
  the original call's transcript in a replay), after the shared normalisation of
  ``speech.asr.scoring``.
- Intent accuracy: turns with an expected intent (the script's, or the original call's).
- Task success: calls that passed (every expectation met; for a replay, no difference).
- Containment: calls that ended without a handoff; handoff and abandonment rates.
- Turn latency: end of caller speech to the bot's first audio (``response_ms``), p50 and p95.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ivr.qa.results import CallResult
from speech.asr.scoring import word_error_rate


@dataclass
class Scores:
    """Figures for a set of calls (one call or a whole run)."""

    calls: int
    wer: float | None
    wer_words: int
    intent_accuracy: float | None
    intent_turns: int
    task_success: float | None
    containment: float | None
    handoff_rate: float | None
    abandonment_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_turns: int
    outcome: str = ""
    """The call's outcome, for the scores of a single call."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evaluation:
    """The run's scores and the same scores per call."""

    overall: Scores
    per_call: dict[str, Scores] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.as_dict(),
            "per_call": {name: s.as_dict() for name, s in self.per_call.items()},
        }


def evaluate(results: list[CallResult]) -> Evaluation:
    per_call = {f"{i + 1:02d} {r.name}": score(r) for i, r in enumerate(results)}
    return Evaluation(score(*results), per_call)


def score(*results: CallResult) -> Scores:
    turns = [t for r in results for t in r.turns]
    pairs = [(t["reference"], t["transcript"] or "") for t in turns if t.get("reference")]
    wer = None
    words = 0
    if pairs:
        measured = word_error_rate([r for r, _ in pairs], [h for _, h in pairs])
        wer, words = round(measured.wer, 4), measured.words
    judged = [t for t in turns if t.get("expected_intent")]
    right = sum(1 for t in judged if t["intent"] == t["expected_intent"])
    latencies = [t["response_ms"] for t in turns if t.get("response_ms") is not None]
    count = len(results)
    finished = [r for r in results if not r.error]
    handed = sum(1 for r in finished if r.outcome == "handed_off")
    abandoned = sum(1 for r in finished if r.outcome == "abandoned")
    return Scores(
        calls=count,
        wer=wer,
        wer_words=words,
        intent_accuracy=_share(right, len(judged)),
        intent_turns=len(judged),
        task_success=_share(sum(1 for r in results if r.passed), count),
        containment=_share(len(finished) - handed, len(finished)),
        handoff_rate=_share(handed, len(finished)),
        abandonment_rate=_share(abandoned, len(finished)),
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
        latency_turns=len(latencies),
        outcome=results[0].outcome if count == 1 else "",
    )


def format_scores(evaluation: Evaluation) -> str:
    """The figures as a plain-text table: the run first, then one line per call."""
    header = (
        f"{'call':<28} {'WER':>6} {'intent':>7} {'ok':>4} {'outcome':<12} "
        f"{'p50 ms':>7} {'p95 ms':>7}"
    )
    lines = [header, "-" * len(header)]
    for name, s in evaluation.per_call.items():
        lines.append(_row(name[:28], s))
    lines.append("-" * len(header))
    lines.append(_row("all calls", evaluation.overall))
    o = evaluation.overall
    lines.append(
        f"task success {_pct(o.task_success)}, containment {_pct(o.containment)}, "
        f"handoff {_pct(o.handoff_rate)}, abandonment {_pct(o.abandonment_rate)}, "
        f"WER {_pct(o.wer)} over {o.wer_words} words, "
        f"intent accuracy {_pct(o.intent_accuracy)} over {o.intent_turns} turns"
    )
    return "\n".join(lines)


def _row(name: str, s: Scores) -> str:
    return (
        f"{name:<28} {_pct(s.wer):>6} {_pct(s.intent_accuracy):>7} {_pct(s.task_success):>4} "
        f"{s.outcome:<12} {_num(s.latency_p50_ms):>7} {_num(s.latency_p95_ms):>7}"
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: list[float], q: int) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
