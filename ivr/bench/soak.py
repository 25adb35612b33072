"""``ivr bench soak`` (``make soak``): many talking calls for a long time, watching for growth.

An ``ivr serve`` subprocess on 127.0.0.1 takes ``calls`` concurrent bench callers (each hangs
up after ``turns_per_call`` lines and dials again) for ``minutes``. Every ``sample_s`` the
bot's resident memory, open files and its /metrics underrun and error counters are sampled and
printed; at the end a least-squares slope per hour of memory and open files says whether
anything grows (the first sample, taken while the calls ramp up, is left out of the fit).
Bounded in time, loopback only.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ivr.bench.bot import BotProcess, Footprint, UsageMeter
from ivr.bench.caller import CallerLine, CallResult, place_call
from ivr.bench.report import machine, percentiles, wire_latencies
from ivr.bench.run import CALL_STAGGER_S
from ivr.bench.voice import caller_lines
from ivr.config import Config
from speech.blas import limit_blas_threads

WATCHED = ("sip.rtp_underruns", "sip.internal_errors", "sip.calls_failed", "sip.callback_errors")
"""Counters printed with each sample (the ``event.error.*`` counts are added to them)."""


@dataclass
class SoakPlan:
    calls: int = 12
    minutes: float = 30.0
    turns_per_call: int = 12
    """Each call hangs up after this many lines and dials again: set-up and tear-down are
    soaked too, not only long calls."""
    sample_s: float = 60.0
    out_dir: Path = Path("bench/results")
    overrides: list[str] = field(default_factory=list)


@dataclass
class Sample:
    minute: float
    rss_mb: float
    open_files: int
    cpu_percent: float
    """The bot's CPU over the last interval, in percent of one core."""
    calls_up: int
    counters: dict[str, float]


async def run_soak(
    config: Config, plan: SoakPlan, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the soak; returns samples, slopes and errors (also written as soak.json)."""
    limit_blas_threads()
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ivr-soak-") as tmp:
        workdir = Path(tmp)
        echo("synthesising the caller's lines ...")
        lines = await asyncio.to_thread(caller_lines, config)
        process = BotProcess("soak", workdir, [*plan.overrides, f"tts.cache_dir={workdir}/prompts"])
        echo("starting the bot ...")
        try:
            await process.start()
            results = await _soak(process, plan, lines, echo)
        finally:
            await process.stop()
    results["machine"] = machine(load_at_start)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    (plan.out_dir / "soak.json").write_text(json.dumps(results, indent=2))
    return results


async def _soak(
    process: BotProcess, plan: SoakPlan, lines: list[CallerLine], echo: Callable[[str], None]
) -> dict[str, Any]:
    bot = process.bot
    loop = asyncio.get_running_loop()
    start = loop.time()
    until = start + plan.minutes * 60
    finished: list[CallResult] = []
    up = [0]

    async def caller(index: int) -> None:
        await asyncio.sleep(index * CALL_STAGGER_S)
        while loop.time() < until:
            up[0] += 1
            try:
                call = await place_call(
                    ("127.0.0.1", bot.sip_port),
                    lines,
                    plan.turns_per_call,
                    until,
                    first_line=index + len(finished),
                )
            finally:
                up[0] -= 1
            finished.append(call)
            if call.error:
                await asyncio.sleep(1.0)  # a refused call is not re-dialled in a tight loop

    before = await bot.counters()
    meter = UsageMeter(bot.pid)
    callers = [asyncio.create_task(caller(i)) for i in range(plan.calls)]
    samples: list[Sample] = []
    echo(f"{'minute':>6} {'RSS MB':>8} {'files':>6} {'CPU %':>6} {'calls':>5}  counters")
    try:
        while loop.time() < until:
            meter.start()
            await asyncio.sleep(min(plan.sample_s, max(until - loop.time(), 0.0)))
            process.check_alive()
            footprint = Footprint.of(bot.pid)
            now = await bot.counters()
            moved = {
                name: now.get(name, 0.0) - before.get(name, 0.0)
                for name in sorted(set(now) | set(before))
                if name in WATCHED or name.startswith("event.error")
            }
            sample = Sample(
                minute=round((loop.time() - start) / 60, 2),
                rss_mb=footprint.rss_mb,
                open_files=footprint.open_files,
                cpu_percent=meter.usage().cpu_percent,
                calls_up=up[0],
                counters=moved,
            )
            samples.append(sample)
            shown = ", ".join(f"{k} {v:g}" for k, v in moved.items() if v) or "-"
            echo(
                f"{sample.minute:>6.1f} {sample.rss_mb:>8.1f} {sample.open_files:>6}"
                f" {sample.cpu_percent:>6.0f} {sample.calls_up:>5}  {shown}"
            )
    finally:
        await asyncio.gather(*callers, return_exceptions=True)
    return summarise(plan, samples, finished)


def slope_per_hour(minutes: list[float], values: list[float]) -> float | None:
    """Least-squares slope of ``values`` against time, per hour (None with under 2 points)."""
    if len(minutes) < 2:
        return None
    slope_per_minute = np.polyfit(np.asarray(minutes), np.asarray(values, dtype=float), 1)[0]
    return round(float(slope_per_minute) * 60, 2)


def summarise(plan: SoakPlan, samples: list[Sample], calls: list[CallResult]) -> dict[str, Any]:
    fitted = samples[1:] if len(samples) >= 3 else samples
    minutes = [s.minute for s in fitted]
    last = samples[-1].counters if samples else {}
    turns = [t for c in calls for t in c.turns]
    return {
        "settings": {**asdict(plan), "out_dir": str(plan.out_dir)},
        "samples": [asdict(s) for s in samples],
        "rss_mb_per_hour": slope_per_hour(minutes, [s.rss_mb for s in fitted]),
        "open_files_per_hour": slope_per_hour(minutes, [s.open_files for s in fitted]),
        "fitted_from_minute": fitted[0].minute if fitted else None,
        "calls": len(calls),
        "turns": len(turns),
        "missing_replies": sum(1 for t in turns if t.latency_ms is None),
        "wire_ms": percentiles(wire_latencies(calls, missing_as_timeout=False)),
        "failed_calls": [c.error for c in calls if c.error],
        "bot_hangups": sum(1 for c in calls if c.bot_hangup),
        "errors": {name: value for name, value in last.items() if value},
    }


def format_soak(results: dict[str, Any]) -> str:
    samples = results["samples"]
    first, last = (samples[0], samples[-1]) if samples else ({}, {})
    lines = [
        f"{results['settings']['calls']} concurrent calls for "
        f"{results['settings']['minutes']:g} min: {results['calls']} calls, "
        f"{results['turns']} turns, {results['missing_replies']} without reply, "
        f"wire latency {results['wire_ms']}",
        f"RSS {first.get('rss_mb')} -> {last.get('rss_mb')} MB, slope "
        f"{results['rss_mb_per_hour']} MB/h; open files {first.get('open_files')} -> "
        f"{last.get('open_files')}, slope {results['open_files_per_hour']} /h "
        f"(fitted from minute {results['fitted_from_minute']})",
        f"failed calls: {len(results['failed_calls'])}"
        + "".join(f"\n  {error}" for error in sorted(set(results["failed_calls"]))),
        "errors and underruns: "
        + (", ".join(f"{k} {v:g}" for k, v in results["errors"].items()) or "none"),
    ]
    return "\n".join(lines)
