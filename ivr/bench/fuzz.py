"""``ivr bench fuzz`` (``make fuzz``): hostile traffic at a running bot while two real calls talk.

An ``ivr serve`` subprocess on 127.0.0.1 (SIP over UDP and TCP, HTTP with the /media WebSockets,
AudioSocket, a small RTP port range) has its open files taken when idle, is warmed up with two calls
(every line of the script between them) and a short fuzz, and its resident memory is then the
baseline. Two bench callers dial in and work through their scripts (FAQ questions, each of which
must get a reply) while the load generator (:mod:`ivr.bench.fuzz_load`, its own process, from
127.0.0.2) sends ``count`` mutated inputs over at most ``seconds``. Afterwards the bot must be
alive, its open files back near the idle bot's (given ``settle_s`` for SIP transactions to expire)
and its memory near the baseline, both calls must have finished their scripts, and a new call must
be answered. Everything is bounded (count, seconds, turns) and stays on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from ivr.bench.bot import BotProcess, Footprint, UsageMeter, free_port
from ivr.bench.caller import CallerLine, CallResult, place_call
from ivr.bench.report import machine, percentiles, wire_latencies
from ivr.bench.voice import SCRIPT, caller_lines
from ivr.config import Config
from speech.blas import limit_blas_threads

RTP_PORTS = 128
"""Size of the bot's RTP port range in a fuzz run: small, so sprayed RTP finds live sockets."""
NEW_CALL_TURNS = 1
WARM_UP_SHARE = 20
"""The warm-up fuzz sends this fraction (1/n) of the run's count ..."""
WARM_UP_S = 10.0
"""... over this long."""
LOAD_START_TIMEOUT_S = 30.0
"""Longest wait for both real calls to be answered before the fuzz starts anyway."""
REFUSAL = re.compile(
    r"refus|reject|drop|malformed|bad|busy|ban|limit|oversized|unknown|closed|"
    r"timeout|error|fail|overflow|full"
)
"""Counter names printed in the table: the bot's refusals, drops and errors."""


@dataclass
class FuzzPlan:
    """How much to send and what counts as "back near the baseline"."""

    count: int = 100_000
    seconds: float = 150.0
    """Upper bound on the fuzz; the inputs are spread over this span."""
    turns: int = len(SCRIPT)
    """Lines each real call must say and get a reply to (its script); it goes on talking
    until the fuzz is over."""
    seed: int = 15
    source: str = "127.0.0.2"
    """Loopback address the hostile inputs come from; the real callers use 127.0.0.1."""
    settle_s: float = 40.0
    """Longest wait after the warm-up and after the fuzz for open files to come back to the
    idle bot's (SIP transaction timers run 32 s)."""
    fd_slack: int = 10
    rss_slack_mb: float = 64.0
    out_dir: Path = Path("bench/results")
    overrides: list[str] = field(default_factory=list)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


async def run_fuzz(
    config: Config, plan: FuzzPlan, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the fuzz and its checks; returns the results (also written as fuzz.json)."""
    limit_blas_threads()
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ivr-fuzz-") as tmp:
        workdir = Path(tmp)
        echo("synthesising the caller's lines ...")
        lines = await asyncio.to_thread(caller_lines, config)
        rtp_low = random.randrange(40000, 60000, 2)
        audiosocket_port = free_port()
        process = BotProcess(
            "fuzz",
            workdir,
            [
                *plan.overrides,
                f"tts.cache_dir={workdir}/prompts",
                "sip.tcp=true",
                f"audiosocket.port={audiosocket_port}",
                f"sip.rtp_port_min={rtp_low}",
                f"sip.rtp_port_max={rtp_low + RTP_PORTS - 1}",
                "logging.format=json",
            ],
        )
        echo("starting the bot ...")
        try:
            await process.start()
            results = await _fuzz_bot(
                process, plan, lines, audiosocket_port, (rtp_low, rtp_low + RTP_PORTS - 1), echo
            )
        finally:
            await process.stop()
            log_summary = summarise_log(process.log_path)
            plan.out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(process.log_path, plan.out_dir / "fuzz-bot.log")
    results["bot_log"] = log_summary
    results["machine"] = machine(load_at_start)
    (plan.out_dir / "fuzz.json").write_text(json.dumps(results, indent=2))
    return results


async def _fuzz_bot(
    process: BotProcess,
    plan: FuzzPlan,
    lines: list[CallerLine],
    audiosocket_port: int,
    rtp_range: tuple[int, int],
    echo: Callable[[str], None],
) -> dict[str, Any]:
    bot = process.bot
    server = ("127.0.0.1", bot.sip_port)
    loop = asyncio.get_running_loop()
    spec = {
        "host": "127.0.0.1",
        "sip_port": bot.sip_port,
        "http_port": bot.http_port,
        "audiosocket_port": audiosocket_port,
        "rtp_range": list(rtp_range),
        "call_media": [],
        "source": plan.source,
        "count": max(plan.count // WARM_UP_SHARE, 1),
        "span_s": WARM_UP_S,
        "seed": plan.seed + 1,
    }
    # The baseline is taken after the same kind of load on a small scale (two calls, a short
    # fuzz): what a bot holds once its engines, pools and allocator arenas are warm is not a
    # leak. What grows with the number of inputs is. Between them the two warm-up calls say
    # every line of the script, so each reply the measured calls can get has been recognised,
    # understood and synthesised once (a reply heard first after the baseline would count the
    # buffers sized for it as growth).
    halves = [lines[i::2] for i in range(2)]
    echo(f"warm-up: two calls ({len(lines)} lines) and {spec['count']} inputs ...")
    idle = Footprint.of(bot.pid)
    warm_load = asyncio.create_task(_send_load(process, spec, bot.pid))
    warm = await asyncio.gather(
        *(place_call(server, half, len(half), float("inf")) for half in halves)
    )
    await warm_load
    await _settle(bot.pid, idle, plan)
    baseline = Footprint.of(bot.pid)
    before = await bot.counters()
    echo(f"baseline: {baseline.open_files} open files, {baseline.rss_mb} MB resident")

    media: list[tuple[str, int]] = []
    until = loop.time() + plan.seconds
    calls = [
        asyncio.create_task(
            place_call(
                server,
                lines,
                10_000,
                until,
                first_line=index,
                min_turns=plan.turns,
                on_media=media.append,
            )
        )
        for index in range(2)
    ]
    started = loop.time()
    while len(media) < 2 and loop.time() - started < LOAD_START_TIMEOUT_S:
        if all(call.done() for call in calls):
            break
        await asyncio.sleep(0.1)
    echo(f"two calls up; fuzzing: {plan.count} inputs over at most {plan.seconds:.0f} s ...")
    spec.update(
        call_media=[list(address) for address in media],
        count=plan.count,
        span_s=plan.seconds,
        seed=plan.seed,
    )
    load, peak = await _send_load(process, spec, bot.pid)
    echo(f"  sent {sum(w['sent'] for w in load['ways_in'].values())} in {load['duration_s']} s")
    echo("waiting for the calls to finish their scripts ...")
    results_calls: list[CallResult] = list(await asyncio.gather(*calls))

    echo(f"settling (at most {plan.settle_s:.0f} s) ...")
    after = await _settle(bot.pid, idle, plan)
    echo("a new call ...")
    new_call = await place_call(server, lines, NEW_CALL_TURNS, float("inf"))
    alive = process.process is not None and process.process.poll() is None
    counters = _deltas(before, await bot.counters() if alive else before)

    checks = _checks(plan, load, alive, idle, baseline, after, results_calls, new_call)
    records = _records(bot.records_db, [c.call_id for c in [*results_calls, new_call]])
    return {
        "settings": {**asdict(plan), "out_dir": str(plan.out_dir), "rtp_range": list(rtp_range)},
        "passed": all(check.passed for check in checks),
        "checks": [asdict(check) for check in checks],
        "load": load,
        "bot": {
            "baseline": asdict(baseline),
            "peak_during_fuzz": peak,
            "after": asdict(after),
            "delta": {
                "open_files": after.open_files - idle.open_files,
                "rss_mb": round(after.rss_mb - baseline.rss_mb, 1),
            },
            "idle": asdict(idle),
            "warm_up_calls_ok": all(
                _completed(call, len(half)) for call, half in zip(warm, halves, strict=True)
            ),
        },
        "calls": [_call_row(call, plan.turns, records) for call in results_calls],
        "new_call": _call_row(new_call, NEW_CALL_TURNS, records),
        "bot_calls": records["by_outcome"],
        "counters": counters,
    }


async def _send_load(
    process: BotProcess, spec: dict[str, Any], bot_pid: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the load generator to its end; its results, plus the bot's CPU and peak footprint."""
    workdir = process.log_path.parent
    spec_path, out_path = workdir / "fuzz-spec.json", workdir / "fuzz-load.json"
    spec_path.write_text(json.dumps(spec))
    meter = UsageMeter(bot_pid)
    meter.start()
    peak = Footprint.of(bot_pid)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.bench.fuzz_load", str(spec_path), str(out_path)
    )
    while child.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(child.wait(), 2.0)
        if psutil.pid_exists(bot_pid):
            now = Footprint.of(bot_pid)
            peak = Footprint(max(peak.open_files, now.open_files), max(peak.rss_mb, now.rss_mb))
            meter.sample()
    if child.returncode != 0:
        raise RuntimeError(f"the fuzz load generator failed (exit {child.returncode})")
    load = json.loads(out_path.read_text())
    load["bot_cpu_percent"] = meter.usage().cpu_percent if psutil.pid_exists(bot_pid) else None
    return load, asdict(peak)


async def _settle(pid: int, reference: Footprint, plan: FuzzPlan) -> Footprint:
    """The footprint once open files are back within the slack of ``reference`` (or when time
    runs out)."""
    deadline = time.monotonic() + plan.settle_s
    while True:
        if not psutil.pid_exists(pid):
            return Footprint(0, 0.0)
        now = Footprint.of(pid)
        if now.open_files <= reference.open_files + plan.fd_slack or time.monotonic() > deadline:
            return now
        await asyncio.sleep(2.0)


def _completed(call: CallResult, turns: int) -> bool:
    return (
        not call.error
        and not call.bot_hangup
        and len(call.turns) >= turns
        and all(turn.latency_ms is not None for turn in call.turns)
    )


def _records(records_db: Path, peer_ids: list[str]) -> dict[str, Any]:
    """From the bot's call records: how the real calls ended (by SIP Call-ID), and how many
    calls of each transport ended with each outcome (the fuzz's calls included)."""
    if not records_db.is_file():
        return {"by_peer": {}, "by_outcome": []}
    marks = ", ".join("?" for _ in peer_ids)
    with sqlite3.connect(records_db) as db:
        ended = db.execute(
            f"SELECT peer_call_id, outcome, reason, turns FROM calls "
            f"WHERE peer_call_id IN ({marks})",
            peer_ids,
        ).fetchall()
        by_outcome = db.execute(
            "SELECT transport, outcome, COUNT(*) FROM calls GROUP BY transport, outcome"
        ).fetchall()
    return {
        "by_peer": {peer: {"outcome": o, "reason": r, "turns": t} for peer, o, r, t in ended},
        "by_outcome": [{"transport": t, "outcome": o, "calls": n} for t, o, n in by_outcome],
    }


def _call_row(call: CallResult, turns: int, records: dict[str, Any]) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "bot_record": records["by_peer"].get(call.call_id),
        "completed_script": _completed(call, turns),
        "turns": len(call.turns),
        "missing_replies": sum(1 for t in call.turns if t.latency_ms is None),
        "wire_ms": percentiles(wire_latencies([call], missing_as_timeout=False)),
        "error": call.error,
        "bot_hangup": call.bot_hangup,
        "rx_packets": call.rx_packets,
    }


def _deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counters that moved during the run (gauges such as active calls included as they are)."""
    out = {}
    for name in sorted(set(before) | set(after)):
        change = after.get(name, 0.0) - before.get(name, 0.0)
        if change:
            out[name] = int(change) if float(change).is_integer() else round(change, 3)
    return out


def _checks(
    plan: FuzzPlan,
    load: dict[str, Any],
    alive: bool,
    idle: Footprint,
    baseline: Footprint,
    after: Footprint,
    calls: list[CallResult],
    new_call: CallResult,
) -> list[Check]:
    sent = sum(way["sent"] for way in load["ways_in"].values())
    fds = after.open_files - idle.open_files
    rss = after.rss_mb - baseline.rss_mb
    checks = [
        Check(
            "inputs sent",
            sent >= plan.count and not load["sender_errors"],
            f"{sent} of {plan.count}"
            + "".join(f"; load generator error {e}" for e in load["sender_errors"]),
        ),
        Check("bot alive", alive, "running" if alive else "the bot process exited"),
        Check(
            "open files back",
            alive and fds <= plan.fd_slack,
            f"{idle.open_files} idle -> {after.open_files} ({fds:+d}, slack {plan.fd_slack})",
        ),
        Check(
            "memory back",
            alive and rss <= plan.rss_slack_mb,
            f"{baseline.rss_mb} -> {after.rss_mb} MB ({rss:+.1f}, slack {plan.rss_slack_mb:.0f})",
        ),
    ]
    for index, call in enumerate(calls, 1):
        checks.append(
            Check(
                f"call {index} finished its script",
                _completed(call, plan.turns),
                _call_detail(call, plan.turns),
            )
        )
    checks.append(
        Check("a new call is answered", _completed(new_call, 1), _call_detail(new_call, 1))
    )
    return checks


def _call_detail(call: CallResult, turns: int) -> str:
    missing = sum(1 for t in call.turns if t.latency_ms is None)
    detail = f"{len(call.turns)} turns (script {turns}), {missing} without reply"
    if call.bot_hangup:
        detail += ", the bot hung up"
    if call.error:
        detail += f", {call.error}"
    return detail


def summarise_log(path: Path, limit: int = 20) -> dict[str, Any]:
    """The bot's warnings and errors, grouped by logger and event (exception type included;
    numbers such as ports and sizes read as N), errors first."""
    if not path.is_file():
        return {"warnings": 0, "errors": 0, "top": []}
    groups: Counter[tuple[str, str]] = Counter()
    levels: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a traceback's lines printed by a library, or start-up output
        level = entry.get("level") if isinstance(entry, dict) else None
        if level not in ("warning", "error", "critical"):
            continue
        levels[entry["level"]] += 1
        error = str(entry.get("error") or "").strip().splitlines()
        event = re.sub(r"\d+", "N", " ".join(str(entry.get("event")).split()))
        what = f"{entry.get('logger')}: {event[:100]}"
        if error:
            what += f" [{error[-1][:100]}]"
        groups[(entry["level"], what)] += 1
    return {
        "warnings": levels["warning"],
        "errors": levels["error"] + levels["critical"],
        "top": [
            {"level": level, "what": what, "count": count}
            for (level, what), count in sorted(
                groups.items(), key=lambda item: (item[0][0] == "warning", -item[1])
            )[:limit]
        ],
    }


def format_fuzz(results: dict[str, Any]) -> str:
    """The printed summary: what was sent, the bot's footprint, the checks, its refusals."""
    load = results["load"]
    lines = [
        f"sent in {load['duration_s']} s; load generator CPU {load['cpu_percent']}% of one core,"
        f" bot CPU {load['bot_cpu_percent']}%",
        f"{'way in':<12} {'inputs':>8} {'per s':>7} {'MB':>7}  mutations / what came back",
    ]
    total = 0
    for name, way in load["ways_in"].items():
        total += way["sent"]
        kinds = ", ".join(f"{k} {n}" for k, n in Counter(way["kinds"]).most_common(6))
        replies = ", ".join(f"{k} {n}" for k, n in Counter(way["replies"]).most_common(6))
        lines.append(
            f"{name:<12} {way['sent']:>8} {way['rate_per_s']:>7.0f} {way['bytes'] / 2**20:>7.1f}"
            f"  {kinds}"
        )
        if replies:
            lines.append(f"{'':<38}back: {replies}")
    lines.append(f"{'total':<12} {total:>8} {total / max(load['duration_s'], 1e-6):>7.0f}")
    bot = results["bot"]
    lines += [
        "",
        f"bot: open files {bot['idle']['open_files']} idle, "
        f"{bot['baseline']['open_files']} after the warm-up, peak "
        f"{bot['peak_during_fuzz']['open_files']}, {bot['after']['open_files']} after "
        f"({bot['delta']['open_files']:+d} from idle); RSS {bot['baseline']['rss_mb']} MB after "
        "the warm-up, peak "
        f"{bot['peak_during_fuzz']['rss_mb']}, {bot['after']['rss_mb']} after "
        f"({bot['delta']['rss_mb']:+.1f} MB)",
        "",
        "counters from /metrics that moved (refusals, drops, errors):",
    ]
    moved = [(k, v) for k, v in results["counters"].items() if REFUSAL.search(k)]
    lines += [f"  {name:<44} {value:>8}" for name, value in moved] or ["  none"]
    log = results.get("bot_log") or {}
    if log.get("top"):
        counts = f"{log['warnings']} warnings, {log['errors']} errors"
        lines += ["", f"bot log: {counts}; the most frequent:"]
        lines += [f"  {row['count']:>6} {row['level']:<7} {row['what']}" for row in log["top"]]
    lines += ["", "how the bot recorded the real calls:"]
    for row in [*results["calls"], results["new_call"]]:
        record = row.get("bot_record") or {}
        lines.append(
            f"  {row['call_id']}: {record.get('outcome', 'no record')}"
            f" {record.get('reason', '')} ({record.get('turns', 0)} turns recorded)"
        )
    lines += ["", "checks:"]
    lines += [
        f"  {'PASS' if c['passed'] else 'FAIL'}  {c['name']:<28} {c['detail']}"
        for c in results["checks"]
    ]
    lines.append("fuzz passed" if results["passed"] else "fuzz FAILED")
    return "\n".join(lines)
