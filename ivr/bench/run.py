"""The call bench's scenarios: one long call, engine variants side by side, a concurrency ramp.

Every bot under test is started first (the default bot, and the variants in one shared process,
load in parallel, then sit idle), so each scenario runs against a warm bot. The run's length is
bounded: a fixed number of turns per call, a fixed time per load level, and the ramp stops at
the first level that misses the target.

With a ``target`` (a running bot, or a SIP front such as Kamailio before several nodes) no bot
is started: the single call and the ramp go there, each level says which node answered how
many calls, and CPU and memory are the whole machine's (the load generator's own share apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.bench.bot import (
    BotEndpoint,
    BotProcess,
    MachineMeter,
    RasaServer,
    UsageMeter,
    VariantHost,
    free_port,
)
from ivr.bench.caller import CallerLine, CallResult, place_call
from ivr.bench.report import (
    machine,
    percentiles,
    speculation,
    summarise_calls,
    wire_latencies,
)
from ivr.bench.voice import caller_lines
from ivr.bench_speech import vosk_model_dir
from ivr.config import Config
from speech.blas import limit_blas_threads

P95_LIMIT_MS = 1500.0
"""A load level passes while p95 turn latency stays at or under this and nothing underruns."""
CALL_STAGGER_S = 0.7
"""Calls of a load level start this far apart, so callers do not speak in lock-step..."""
STAGGER_SPAN_S = 4.0
"""... but all within this span, so every call of a level gets its share of the level's time."""


GROUPS = ("turn end", "asr", "tts", "prompts", "dialogue")
"""The side-by-side comparisons (early turn end, recognition, synthesis, prompt cache, Rasa), in
table order."""


@dataclass
class BenchPlan:
    """How much to run: bounded in turns and seconds, so a run always stops by itself."""

    single_turns: int = 50
    variant_turns: int = 5
    levels: tuple[int, ...] = (2, 4, 8, 12, 16, 20)
    level_s: float = 40.0
    variants: bool = True
    capacity: bool = True
    call_timeout_s: float = 600.0
    """Bound on any one scenario call (turns x a generous turn length)."""
    out_dir: Path = Path("bench/results")
    overrides: list[str] = field(default_factory=list)
    """Extra ``--set`` settings for every bot (e.g. to try a tuning)."""
    target: tuple[str, int] | None = None
    """Call this SIP address (host, port) instead of starting a bot: no variants, no stage
    timings, machine-wide CPU."""


@dataclass(frozen=True)
class Called:
    """Where a scenario's calls go, and the bot there if this bench started it (its process,
    counters and records can then be read)."""

    address: tuple[str, int]
    bot: BotEndpoint | None = None

    @classmethod
    def started(cls, bot: BotEndpoint) -> Called:
        return cls(("127.0.0.1", bot.sip_port), bot)


EARLY_END_VARIANT_MS = 300
"""The early turn end measured side by side when it is off in the configuration."""


@dataclass
class _Variant:
    group: str
    name: str
    overrides: list[str]
    note: str = ""


def _variants(config: Config, rasa: RasaServer) -> list[_Variant]:
    """Each variant changes one setting from the bot's configuration: where the default is one of
    two choices (turn end, whisper's encoder), the variant is the other one; the HTTP dialogue
    variant talks to ``rasa``."""
    turn_end = (
        _Variant("turn end", "hangover only", ["vad.early_end_ms=0"])
        if config.vad.early_end_ms
        else _Variant(
            "turn end",
            f"early at {EARLY_END_VARIANT_MS} ms when finished",
            [f"vad.early_end_ms={EARLY_END_VARIANT_MS}"],
        )
    )
    encoder = "full" if config.asr.whisper_encoder == "fitted" else "fitted"
    variants = [
        turn_end,
        _Variant("asr", f"whisper, {encoder} encoder", [f"asr.whisper_encoder={encoder}"]),
        _Variant("asr", "whisper, no speculation", ["asr.speculate_after_ms=0"]),
        _Variant("asr", "whisper, the beam on every turn", ["asr.whisper_greedy_first=false"]),
        _Variant("tts", "pyttsx3 (espeak-ng)", ["tts.engine=pyttsx3"]),
        _Variant("prompts", "uncached", ["tts.cache_dir="]),
        _Variant("dialogue", "Rasa over HTTP", rasa.client_settings),
    ]
    model = vosk_model_dir(config)
    if model:
        korean = not config.asr.vosk_model
        variants.insert(
            0,
            _Variant(
                "asr",
                "vosk streaming" + (" (Korean model)" if korean else ""),
                ["asr.engine=vosk", f"asr.vosk_model={model}"],
                "Korean model: latency only; transcripts and intents are meaningless for English"
                if korean
                else "",
            ),
        )
    return variants


async def _call_batch(
    address: tuple[str, int],
    lines: list[CallerLine],
    count: int,
    turns: int,
    seconds: float,
) -> list[CallResult]:
    """``count`` concurrent calls, started ``CALL_STAGGER_S`` apart, each until time runs out."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    stagger = min(CALL_STAGGER_S, STAGGER_SPAN_S / count)

    async def one(index: int) -> CallResult:
        await asyncio.sleep(index * stagger)
        return await place_call(address, lines, turns, until, first_line=index % len(lines))

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _scenario(
    called: Called, lines: list[CallerLine], turns: int, timeout_s: float
) -> tuple[list[CallResult], dict[str, Any]]:
    """One call of ``turns`` turns, summarised with the bot's stages and speculation figures
    (variants share a process, but they are called one at a time)."""
    bot = called.bot
    before = await bot.counters() if bot is not None else {}
    calls = await _call_batch(called.address, lines, 1, turns, timeout_s)
    after = await bot.counters() if bot is not None else {}
    row = summarise_calls(calls, bot.records_db if bot is not None else None)
    row["speculation"] = speculation(before, after, row["turns"])
    return calls, row


async def _level(
    called: Called, lines: list[CallerLine], calls: int, plan: BenchPlan
) -> dict[str, Any]:
    """One load level: ``calls`` talking at once for ``level_s``; CPU, memory, underruns."""
    bot = called.bot
    meter = UsageMeter(bot.pid) if bot is not None else MachineMeter()
    generator = UsageMeter(os.getpid(), children=False)  # the bots are its children
    before = await bot.counters() if bot is not None else {}
    meter.start()
    generator.start()
    sampler = asyncio.create_task(_sample(meter))
    try:
        results = await _call_batch(called.address, lines, calls, 10_000, plan.level_s)
    finally:
        sampler.cancel()
    usage = meter.usage()
    await asyncio.sleep(1.0)  # the bot writes the last turns' records
    after = await bot.counters() if bot is not None else {}
    underruns = int(after.get("sip.rtp_underruns", 0)) - int(before.get("sip.rtp_underruns", 0))
    row = summarise_calls(results, bot.records_db if bot is not None else None)
    row["speculation"] = speculation(before, after, row["turns"])
    p95 = (row["wire_ms"] or {}).get("p95", float("inf"))
    why = []
    if p95 > P95_LIMIT_MS:
        why.append(f"p95 {p95:.0f} ms > {P95_LIMIT_MS:.0f}")
    if underruns > 0:
        why.append(f"{underruns} underruns")
    if row["failed_calls"]:
        why.append(f"{len(row['failed_calls'])} calls failed")
    row.update(
        calls=calls,
        underruns=underruns if bot is not None else None,
        cpu_percent=usage.cpu_percent,
        cpu_percent_per_call=round(usage.cpu_percent / calls, 1),
        generator_cpu_percent=generator.usage().cpu_percent,
        rss_mb=usage.rss_mb,
        per_node=dict(sorted(Counter(r.node for r in results if r.node).items())),
        passed=not why,
        why="; ".join(why),
    )
    return row


async def _sample(meter: UsageMeter) -> None:
    while True:
        await asyncio.sleep(1.0)
        meter.sample()


async def run_bench(
    config: Config, plan: BenchPlan, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run every scenario of ``plan``; returns the results (also written as JSON)."""
    limit_blas_threads()  # the callers' numpy work must not spin on the bots' cores
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        echo("synthesising the caller's lines ...")
        lines = await asyncio.to_thread(caller_lines, config)
        async with _bots(config, plan, Path(tmp), echo) as (called, host, variants):
            settings = _settings(config, plan)
            if called.bot is None:
                settings["target"] = "sip:{}:{}".format(*called.address)
            results: dict[str, Any] = {
                "settings": settings,
                "machine": {},
                "single_call": {},
                "variants": [],
                "capacity": None,
            }
            echo(f"single call, {plan.single_turns} turns ...")
            single, results["single_call"] = await _scenario(
                called, lines, plan.single_turns, plan.call_timeout_s
            )
            echo(f"  wire latency {results['single_call']['wire_ms']}")
            if variants and called.bot is not None:
                results["variants"] = _baselines(config, single, called.bot, len(lines))
            for variant in variants:
                assert host is not None
                echo(f"variant {variant.group}: {variant.name}, {plan.variant_turns} turns ...")
                _, row = await _scenario(
                    Called.started(host.bots[variant.name]),
                    lines,
                    plan.variant_turns,
                    plan.call_timeout_s,
                )
                row.update(group=variant.group, name=variant.name, note=variant.note)
                results["variants"].append(row)
                echo(f"  wire latency {row['wire_ms']}")
            results["variants"].sort(key=lambda row: GROUPS.index(row["group"]))
            if plan.capacity:
                results["capacity"] = await _capacity(called, lines, plan, echo)
        results["machine"] = machine(load_at_start)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    name = "calls.json" if plan.target is None else "calls-target.json"
    (plan.out_dir / name).write_text(json.dumps(results, indent=2))
    return results


@contextlib.asynccontextmanager
async def _bots(
    config: Config, plan: BenchPlan, workdir: Path, echo: Callable[[str], None]
) -> AsyncIterator[tuple[Called, VariantHost | None, list[_Variant]]]:
    """Where the scenarios call: ``plan.target`` as it is, or the bots started here (the
    default one, and the variants in one shared process), stopped again afterwards."""
    if plan.target is not None:
        yield Called(plan.target), None, []
        return
    common = [*plan.overrides, f"tts.cache_dir={workdir}/prompts"]
    default = BotProcess("default", workdir, common)
    rasa = (
        RasaServer(workdir, _model_path(config), free_port(), free_port())
        if plan.variants
        else None
    )
    variants = _variants(config, rasa) if rasa is not None else []
    host = (
        VariantHost(workdir, {v.name: [*common, *v.overrides] for v in variants})
        if variants
        else None
    )
    echo(f"starting the bots ({1 + len(variants)}, in {1 + (host is not None)} processes) ...")
    try:
        await _start_all(default, host, rasa)
        yield Called.started(default.bot), host, variants
    finally:
        await asyncio.gather(*(p.stop() for p in (default, host, rasa) if p is not None))


async def _start_all(
    default: BotProcess, host: VariantHost | None, rasa: RasaServer | None
) -> None:
    """Load every bot at once; the HTTP-dialogue bot needs its Rasa server up first."""

    async def variants() -> None:
        if rasa is not None:
            await rasa.start()
        if host is not None:
            await host.start()

    await asyncio.gather(default.start(), variants())


def _baselines(
    config: Config, single: list[CallResult], bot: BotEndpoint, script_len: int
) -> list[dict[str, Any]]:
    """The default engines' rows of the side-by-side table, taken from the single call.

    Cached prompts: the turns after the script's first pass, when every fixed reply is cached.
    """
    whole = summarise_calls(single, bot.records_db)
    asr = (
        "vosk streaming"
        if config.asr.engine == "vosk"
        else f"whisper {config.asr.whisper_encoder} encoder, beam "
        f"{config.asr.whisper_beam_size}, speculation {config.asr.speculate_after_ms} ms"
    )
    later = [CallResult(c.call_id, c.turns[script_len:], c.error, c.bot_hangup) for c in single]
    cached = dict(whole, wire_ms=percentiles(wire_latencies(later)), turns=len(later[0].turns))
    cached["missing_replies"] = sum(1 for t in later[0].turns if t.latency_ms is None)
    early = config.vad.early_end_ms
    rows = [
        dict(
            whole,
            group="turn end",
            name=f"early at {early} ms when finished (default)" if early else "hangover (default)",
            note="",
        ),
        dict(whole, group="asr", name=f"{asr} (default)", note=""),
        dict(whole, group="tts", name=f"{config.tts.engine} (default)", note=""),
        dict(
            cached,
            group="prompts",
            name="cached (default)",
            note="wire figures: the single call after its first pass through the script",
        ),
        dict(whole, group="dialogue", name=f"Rasa {config.dialogue.mode} (default)", note=""),
    ]
    return rows


async def _capacity(
    called: Called, lines: list[CallerLine], plan: BenchPlan, echo: Callable[[str], None]
) -> dict[str, Any]:
    """Ramp concurrent calls until a level misses p95 or underruns; the last good level wins."""
    idle = UsageMeter(called.bot.pid) if called.bot is not None else MachineMeter()
    idle.start()
    idle_rss = idle.usage().rss_mb
    levels = []
    sustained = 0
    for calls in plan.levels:
        echo(f"capacity: {calls} concurrent calls for {plan.level_s:.0f} s ...")
        row = await _level(called, lines, calls, plan)
        row["rss_mb_per_call"] = round((row["rss_mb"] - idle_rss) / calls, 1)
        levels.append(row)
        nodes = f", per node {row['per_node']}" if called.bot is None else ""
        echo(
            f"  wire latency {row['wire_ms']}, underruns {row['underruns']}, "
            f"CPU {row['cpu_percent']}% (load generator {row['generator_cpu_percent']}%), "
            f"RSS {row['rss_mb']} MB{nodes}: " + ("ok" if row["passed"] else row["why"])
        )
        if not row["passed"]:
            break
        sustained = calls
        await asyncio.sleep(2.0)  # the last calls' BYEs and records settle
    return {
        "levels": levels,
        "sustained_calls": sustained,
        "p95_limit_ms": P95_LIMIT_MS,
        "idle_rss_mb": idle_rss,
    }


def _settings(config: Config, plan: BenchPlan) -> dict[str, Any]:
    return {
        "end_of_speech_ms": config.vad.end_of_speech_ms,
        "early_end_ms": config.vad.early_end_ms,
        "whisper_encoder": config.asr.whisper_encoder,
        "asr_engine": config.asr.engine,
        "whisper_beam_size": config.asr.whisper_beam_size,
        "speculate_after_ms": config.asr.speculate_after_ms,
        "tts_engine": config.tts.engine,
        "dialogue_mode": config.dialogue.mode,
        "overrides": plan.overrides,
        "single_turns": plan.single_turns,
        "variant_turns": plan.variant_turns,
        "levels": list(plan.levels),
        "level_s": plan.level_s,
    }


def _model_path(config: Config) -> Path:
    from dialogue.training import Project

    return Project.from_config(config.dialogue).model_path
