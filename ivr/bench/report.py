"""Bench figures: percentiles of turn latency, the bot's per-stage timings, JSON and the table."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ivr.bench.caller import REPLY_TIMEOUT_S, CallResult

STAGES = (
    ("endpoint", "endpoint_ms"),
    ("asr", "asr_ms"),
    ("dialogue", "dialogue_ms"),
    ("tts_first", "tts_first_ms"),
    ("response", "response_ms"),
)
"""The bot's own per-turn timings (call records): endpointer hangover, recognition, assistant,
first synthesised audio, and its internal end-of-speech-to-first-audio figure."""
NOT_UNDERSTOOD = {None, "", "nlu_fallback", "out_of_scope"}
SPECULATION_COUNTERS = {
    "early_ends": "event.turn_end.early",
    "guesses_kept": "event.asr_speculation.kept",
    "taken_back": "event.asr_speculation.voided",
}
"""The bot's /metrics counts behind a scenario's speculation figures: turns ended before the
full hangover, guesses made in the pause that became the transcript, and guesses thrown away
because the caller spoke again (each a recognition spent for nothing)."""


def speculation(before: dict[str, float], after: dict[str, float], turns: int) -> dict[str, Any]:
    """How a scenario's turns ended and what the guesses taken back cost, from the bot's
    counters before and after it (an empty dict: no counters, a ``--target`` bot)."""
    if not after:
        return {}
    counts: dict[str, Any] = {
        name: int(after.get(counter, 0) - before.get(counter, 0))
        for name, counter in SPECULATION_COUNTERS.items()
    }
    counts["taken_back_per_turn"] = round(counts["taken_back"] / turns, 2) if turns else None
    return counts


def percentiles(values: Iterable[float]) -> dict[str, float] | None:
    """p50, p95 and max (None when there are no values)."""
    ordered = np.asarray(sorted(values), dtype=float)
    if not len(ordered):
        return None
    return {
        "p50": round(float(np.percentile(ordered, 50)), 1),
        "p95": round(float(np.percentile(ordered, 95)), 1),
        "max": round(float(ordered.max()), 1),
        "n": len(ordered),
    }


def wire_latencies(calls: Sequence[CallResult], missing_as_timeout: bool = True) -> list[float]:
    """Every turn's on-the-wire latency; a reply that never came counts as the reply timeout."""
    out = []
    for call in calls:
        for turn in call.turns:
            if turn.latency_ms is not None:
                out.append(turn.latency_ms)
            elif missing_as_timeout:
                out.append(REPLY_TIMEOUT_S * 1000)
    return out


def summarise_calls(calls: Sequence[CallResult], records_db: Path | None) -> dict[str, Any]:
    """The caller-side figures of some calls plus the bot's stage timings of the same calls
    (none without the bot's records: a ``--target`` the bench did not start)."""
    turns = [t for c in calls for t in c.turns]
    summary: dict[str, Any] = {
        "calls": len(calls),
        "turns": len(turns),
        "missing_replies": sum(1 for t in turns if t.latency_ms is None),
        "failed_calls": [c.error for c in calls if c.error],
        "wire_ms": percentiles(wire_latencies(calls)),
    }
    if records_db is not None:
        summary.update(bot_stages(records_db, [c.call_id for c in calls]))
    return summary


def bot_stages(records_db: Path, call_ids: Sequence[str]) -> dict[str, Any]:
    """Per-stage percentiles of the calls' speech turns, from the bot's call record store.

    ``call_ids`` are the bench's SIP Call-IDs: the bot keeps them as each call's peer id."""
    if not records_db.is_file() or not call_ids:
        return {"stages_ms": {}, "understood": None}
    columns = ", ".join(column for _, column in STAGES)
    marks = ", ".join("?" for _ in call_ids)
    with sqlite3.connect(records_db) as db:
        rows = db.execute(
            f"SELECT {columns}, intent FROM turns "
            "WHERE input_kind = 'speech' AND call_id IN "
            f"(SELECT call_id FROM calls WHERE peer_call_id IN ({marks}))",
            list(call_ids),
        ).fetchall()
    stages = {
        name: percentiles(row[index] for row in rows if row[index] is not None)
        for index, (name, _) in enumerate(STAGES)
    }
    understood = sum(1 for row in rows if row[-1] not in NOT_UNDERSTOOD)
    return {
        "stages_ms": stages,
        "understood": round(understood / len(rows), 3) if rows else None,
    }


def machine(started_load: Sequence[float]) -> dict[str, Any]:
    """What the figures were measured on, with the load average before and after."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "load_avg_start": [round(x, 2) for x in started_load],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    path = Path("/proc/cpuinfo")
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _fmt(figures: dict[str, float] | None) -> str:
    if not figures:
        return "-"
    return f"{figures['p50']:.0f} / {figures['p95']:.0f} / {figures['max']:.0f}"


def _speculated(row: dict[str, Any]) -> str:
    figures = row.get("speculation")
    if not figures or not row["turns"]:
        return "-"
    return f"{figures['early_ends']}/{figures['taken_back']}"


def _stage(row: dict[str, Any], name: str) -> str:
    figures = (row.get("stages_ms") or {}).get(name)
    return f"{figures['p50']:.0f}" if figures else "-"


def format_table(results: dict[str, Any]) -> str:
    """The printed summary: single call, variants side by side, capacity ramp."""
    lines = []
    info = results["machine"]
    lines.append(
        f"machine: {info['cpus']} CPUs ({info['cpu_model']}), load average "
        f"{info['load_avg_start']} at start, {info['load_avg_end']} at end; "
        f"end-of-speech hangover {results['settings']['end_of_speech_ms']} ms"
    )
    rows = [("single call (default engines)", results["single_call"])]
    rows += [(f"{v['group']}: {v['name']}", v) for v in results["variants"]]
    width = max(len(name) for name, _ in rows)
    header = (
        f"{'scenario':<{width}} {'turns':>5} {'miss':>4}  {'wire p50/p95/max ms':<20}"
        f" {'endpt':>6} {'asr':>5} {'dlg':>5} {'tts1':>5} {'underst':>7} {'early/back':>10}"
    )
    lines += [
        "",
        "turn latency: caller's last voiced frame -> first RTP packet of the reply;"
        " early/back: turns ended before the full hangover / guesses taken back",
        header,
    ]
    rows = [("single call (default engines)", results["single_call"])]
    rows += [(f"{v['group']}: {v['name']}", v) for v in results["variants"]]
    for name, row in rows:
        understood = row.get("understood")
        lines.append(
            f"{name:<{width}} {row['turns']:>5} {row['missing_replies']:>4}"
            f"  {_fmt(row['wire_ms']):<20}"
            f" {_stage(row, 'endpoint'):>6} {_stage(row, 'asr'):>5} {_stage(row, 'dialogue'):>5}"
            f" {_stage(row, 'tts_first'):>5} "
            f"{'-' if understood is None else f'{understood:.0%}':>7} {_speculated(row):>10}"
        )
    notes = sorted({f"{v['name']}: {v['note']}" for v in results["variants"] if v.get("note")})
    lines += [f"  note - {note}" for note in notes]
    capacity = results.get("capacity")
    if capacity:
        lines += [
            "",
            "capacity (default engines): concurrent talking calls",
            f"{'calls':>5} {'turns':>5} {'miss':>4}  {'wire p50/p95/max ms':<20} {'underruns':>9}"
            f" {'CPU %':>6} {'CPU %/call':>10} {'RSS MB':>7} {'MB/call':>7}"
            f" {'early/back':>10}  result",
        ]
        for level in capacity["levels"]:
            underruns = "-" if level["underruns"] is None else level["underruns"]
            lines.append(
                f"{level['calls']:>5} {level['turns']:>5} {level['missing_replies']:>4}  "
                f"{_fmt(level['wire_ms']):<20} {underruns:>9} {level['cpu_percent']:>6.0f}"
                f" {level['cpu_percent_per_call']:>10.1f} {level['rss_mb']:>7.0f}"
                f" {level['rss_mb_per_call']:>7.1f} {_speculated(level):>10}"
                f"  {'ok' if level['passed'] else level['why']}"
            )
            if "target" in results["settings"]:
                spread = ", ".join(f"{node} {n}" for node, n in level["per_node"].items())
                lines.append(
                    f"{'':>5} calls per node: {spread or 'none answered'}; CPU and RSS are the "
                    f"machine's, the load generator took {level['generator_cpu_percent']:.0f}%"
                )
        lines.append(
            f"largest sustained: {capacity['sustained_calls']} calls "
            f"(limit: p95 <= {capacity['p95_limit_ms']:.0f} ms, no underrun)"
        )
    return "\n".join(lines)
