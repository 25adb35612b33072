"""CLI commands for the application as a whole: effective configuration, demo, benchmarks."""

from __future__ import annotations

import click
import yaml

from ivr.commands import config_of
from ivr.config import ConfigError


@click.command("config")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Print the effective configuration (defaults, file, environment and flags merged) as YAML."""
    click.echo(yaml.safe_dump(config_of(ctx).as_dict(), sort_keys=False).rstrip())


@click.command("serve")
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Answer calls: SIP on sip.port (UDP+TCP), HTTP /healthz, /metrics and the media-stream
    WebSockets /media/{twilio,asterisk,pcm} on http.port, AudioSocket on audiosocket.port.

    Trains the assistant first if its data, domain or config changed. SIGTERM or Ctrl-C drains:
    new calls are refused, running calls go on for up to server.drain_s, then the server exits
    (a second signal ends the wait). Calls a crash left in progress are marked interrupted.
    """
    import asyncio

    from dialogue.training import Project, train
    from ivr.qa.console_replay import replay_for_console
    from ivr.qa.draft_testing import draft_test_for_console
    from ivr.server import read_secrets, serve_forever

    config = config_of(ctx)
    try:
        read_secrets(config)  # a missing or exposed secret file stops us before training
        try:
            train(Project.from_config(config.dialogue), progress=click.echo)
        except FileNotFoundError as exc:  # no project where the settings point
            raise click.ClickException(str(exc)) from exc
        asyncio.run(serve_forever(config, replay_for_console, draft_test_for_console))
    except ConfigError as exc:  # a setting found wrong once the server starts reading it
        raise click.UsageError(f"configuration: {exc}") from exc


@click.group("calls", invoke_without_command=True)
@click.option("--limit", default=20, show_default=True, help="How many recent calls to list.")
@click.pass_context
def calls(ctx: click.Context, limit: int) -> None:
    """List recent calls (newest first); `ivr calls show ID` prints one call's turns."""
    if ctx.invoked_subcommand is not None:
        return
    from ivr.records import CallRecordStore

    store = CallRecordStore(config_of(ctx).call.records_db)
    try:
        rows = store.recent_calls(limit)
    finally:
        store.close()
    if not rows:
        click.echo("no calls recorded yet")
        return
    click.echo(
        f"{'call id':<28} {'started':<19} {'secs':>5} {'turns':>5}  {'outcome':<12} "
        f"{'node':<12} caller"
    )
    for row in rows:
        seconds = (row["ended_at"] or row["started_at"]) - row["started_at"]
        click.echo(
            f"{row['call_id'][:28]:<28} {_clock(row['started_at'])} {seconds:>5.0f} "
            f"{row['turns']:>5}  {row['outcome']:<12} {row['node_id'][:12] or '-':<12} "
            f"{row['caller']}"
        )


@calls.command("show")
@click.argument("call_id")
@click.pass_context
def show_call(ctx: click.Context, call_id: str) -> None:
    """Print one call and its turns: the bot's call id (a prefix is enough) or the peer's id
    (SIP Call-ID, Twilio callSid, ...; the newest call with it)."""
    from ivr.records import CallRecordStore

    store = CallRecordStore(config_of(ctx).call.records_db)
    try:
        call = store.call(call_id)
        if call is None:
            raise click.ClickException(f"no call with id {call_id!r}")
        turns = store.turns(call["call_id"])
    finally:
        store.close()
    click.echo(
        f"call {call['call_id']} via {call['transport']} from {call['caller']}, "
        f"started {_clock(call['started_at'])}, {call['outcome']}"
        + (f" ({call['reason']})" if call["reason"] else "")
    )
    if call["peer_call_id"]:
        click.echo(f"peer call id: {call['peer_call_id']}")
    if call["recording"]:
        click.echo(f"recording (encrypted; `ivr recordings export`): {call['recording']}")
    for turn in turns:
        said = turn["transcript"] or f"[{turn['input_kind']}]"
        intent = f"{turn['intent']} {turn['intent_confidence'] or 0:.2f}" if turn["intent"] else "-"
        timing = ", ".join(
            f"{name} {turn[key]:.0f} ms"
            for name, key in (
                ("asr", "asr_ms"),
                ("dialogue", "dialogue_ms"),
                ("tts", "tts_first_ms"),
                ("response", "response_ms"),
            )
            if turn[key] is not None
        )
        click.echo(f"#{turn['turn']:<3} caller: {said}")
        click.echo(f"     intent: {intent}" + ("  (barged in)" if turn["barged_in"] else ""))
        click.echo(f"     bot:    {turn['bot_text']}")
        if timing:
            click.echo(f"     timing: {timing}")


@click.group("bench")
def bench() -> None:
    """Benchmarks that print figures (not tests: timings on a shared machine are noisy)."""


@bench.command("speech")
@click.pass_context
def bench_speech(ctx: click.Context) -> None:
    """Speech engines: ASR RTF and latency, TTS first audio and RTF, per-frame cost, memory."""
    from ivr.bench_speech import format_table, run

    results = run(config_of(ctx), echo=click.echo)
    click.echo(format_table(results))


@bench.command("understanding")
@click.option(
    "--voices",
    default="",
    help="Comma-separated voice families (piper, espeak, festival) or voices "
    "(piper@0.9, espeak:en-gb+f2, festival:kal_diphone); default: all.",
)
@click.option("--limit", type=int, help="At most this many phrasings, spread over the intents.")
@click.option("--digit-limit", type=int, help="At most this many account numbers.")
@click.option(
    "--condition",
    "conditions",
    type=click.Choice(["clean", "noise"]),
    multiple=True,
    help="Line condition (repeatable; default both: clean, and noise at 20 dB SNR).",
)
@click.option("--out", type=click.Path(file_okay=False), help="Folder for understanding.json.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--seed",
    type=int,
    default=21,
    show_default=True,
    help="Seeds the voices' and the recogniser's sampling: same seed, same transcripts.",
)
@click.pass_context
def bench_understanding(
    ctx: click.Context,
    voices: str,
    limit: int | None,
    digit_limit: int | None,
    conditions: tuple[str, ...],
    out: str | None,
    quiet: bool,
    seed: int,
) -> None:
    """Spoken understanding: held-out caller phrasings and account numbers spoken by piper,
    espeak-ng and Festival voices, clean and with line noise, over G.711, each heard in the
    context of the bot message it answers (that message's hints), as in a call; WER, intent
    accuracy and 8-digit accuracy per voice family.

    Figures are printed and written to bench/results/understanding.json with every transcript.
    """
    from pathlib import Path

    from ivr.bench.understanding import BenchPlan, format_table, run, select_voices

    try:
        chosen = select_voices(voices.split(","))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--voices") from exc
    plan = BenchPlan(
        voices=chosen, limit=limit, digit_limit=digit_limit, progress=not quiet, seed=seed
    )
    if conditions:
        plan.conditions = tuple(dict.fromkeys(conditions))
    if out:
        plan.out_dir = Path(out)
    results = run(config_of(ctx), plan, echo=click.echo)
    click.echo(format_table(results))


@bench.command("calls")
@click.option("--turns", type=int, help="Turns of the single long call (default 50).")
@click.option("--variant-turns", type=int, help="Turns per engine variant (default 5).")
@click.option("--levels", help="Concurrent calls to ramp, e.g. 2,4,8 (default 2,4,8,12,16,20).")
@click.option("--level-seconds", type=float, help="Length of a load level (default 40).")
@click.option("--no-variants", is_flag=True, help="Skip the engine variants.")
@click.option("--no-capacity", is_flag=True, help="Skip the concurrency ramp.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for calls.json.")
@click.option(
    "--target",
    metavar="sip:HOST:PORT",
    help="Call a bot (or a front such as `ivr cluster up`'s Kamailio) already running there "
    "instead of starting one: single call and ramp only.",
)
@click.pass_context
def bench_calls(
    ctx: click.Context,
    turns: int | None,
    variant_turns: int | None,
    levels: str | None,
    level_seconds: float | None,
    no_variants: bool,
    no_capacity: bool,
    out: str | None,
    target: str | None,
) -> None:
    """Real SIP calls on 127.0.0.1: turn latency, engine variants, concurrent-call capacity.

    The bots run as subprocesses with this command's --set settings. Figures are printed and
    written to bench/results/calls.json (calls-target.json with --target).
    """
    import asyncio
    from pathlib import Path
    from typing import Any

    from ivr.bench.report import format_table
    from ivr.bench.run import BenchPlan, run_bench
    from telephony.sip.message import SipUri

    given: dict[str, Any] = {
        "single_turns": turns,
        "variant_turns": variant_turns,
        "levels": tuple(int(n) for n in levels.split(",") if n.strip()) if levels else None,
        "level_s": level_seconds,
        "out_dir": Path(out) if out else None,
    }
    address = None
    if target:
        try:
            uri = SipUri.parse(target if target.startswith("sip:") else f"sip:{target}")
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--target") from exc
        address = (uri.host_address, uri.port or 5060)
    plan = BenchPlan(
        target=address,
        variants=not no_variants and address is None,
        capacity=not no_capacity,
        overrides=list(ctx.find_root().params.get("overrides") or ()),
        **{key: value for key, value in given.items() if value is not None},
    )
    results = asyncio.run(run_bench(config_of(ctx), plan, echo=click.echo))
    click.echo(format_table(results))


@bench.command("fuzz")
@click.option("--count", type=int, default=100_000, show_default=True, help="Inputs to send.")
@click.option(
    "--seconds", type=float, default=150.0, show_default=True, help="Upper bound on the fuzz."
)
@click.option(
    "--turns", type=int, help="Lines each real call must get replies to (default: the script, 6)."
)
@click.option("--seed", type=int, default=15, show_default=True, help="Seed of the mutations.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for fuzz.json.")
@click.pass_context
def bench_fuzz(
    ctx: click.Context, count: int, seconds: float, turns: int | None, seed: int, out: str | None
) -> None:
    """Mutated SIP (UDP, TCP), RTP, WebSocket and AudioSocket inputs at a bot on 127.0.0.1
    while two real calls talk; then checks the bot is alive, back to its baseline open files
    and memory, the calls finished their scripts and a new call is answered (exit 1 if not).

    Figures are printed and written to bench/results/fuzz.json (the bot's log beside it).
    """
    import asyncio
    from pathlib import Path

    from ivr.bench.fuzz import FuzzPlan, format_fuzz, run_fuzz

    plan = FuzzPlan(
        count=count,
        seconds=seconds,
        seed=seed,
        overrides=list(ctx.find_root().params.get("overrides") or ()),
    )
    if turns is not None:
        plan.turns = turns
    if out:
        plan.out_dir = Path(out)
    results = asyncio.run(run_fuzz(config_of(ctx), plan, echo=click.echo))
    click.echo(format_fuzz(results))
    if not results["passed"]:
        ctx.exit(1)


@bench.command("soak")
@click.option("--calls", type=int, default=12, show_default=True, help="Concurrent calls.")
@click.option("--minutes", type=float, default=30.0, show_default=True, help="Length of the soak.")
@click.option(
    "--sample-seconds", type=float, default=60.0, show_default=True, help="Sampling interval."
)
@click.option("--out", type=click.Path(file_okay=False), help="Folder for soak.json.")
@click.pass_context
def bench_soak(
    ctx: click.Context, calls: int, minutes: float, sample_seconds: float, out: str | None
) -> None:
    """Concurrent talking calls (re-dialled as they end) against a bot on 127.0.0.1, sampling
    its memory, open files, underruns and errors; prints each sample and the slopes per hour.

    Written to bench/results/soak.json.
    """
    import asyncio
    from pathlib import Path

    from ivr.bench.soak import SoakPlan, format_soak, run_soak

    plan = SoakPlan(
        calls=calls,
        minutes=minutes,
        sample_s=sample_seconds,
        overrides=list(ctx.find_root().params.get("overrides") or ()),
    )
    if out:
        plan.out_dir = Path(out)
    results = asyncio.run(run_soak(config_of(ctx), plan, echo=click.echo))
    click.echo(format_soak(results))


@bench.command("console")
@click.option(
    "--calls",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Generated calls.",
)
@click.option(
    "--repetitions",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Timed requests per page (after a warm-up).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="Build the records database here and keep it (a new file); default: a temporary one.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="bench/results/console.json",
    show_default=True,
    help="The JSON file of figures.",
)
@click.option("--seed", type=int, default=17, show_default=True, help="Seeds the generated calls.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def bench_console(
    ctx: click.Context,
    calls: int,
    repetitions: int,
    db: str | None,
    out: str,
    seed: int,
    quiet: bool,
) -> None:
    """The console's pages over generated calls: a records database of --calls calls and their
    turns, the real console on 127.0.0.1, an admin logged in over HTTP, then every page (home,
    calls list first and deep page and each filter, a call, analytics, the NLU inbox over the
    assistant's project, talk, audit log, users, the JSON) timed;
    p50, p95 and max per page, flagged when p95 is over 300 ms (exit 1 if a page is not 200).
    """
    import asyncio
    from pathlib import Path

    from ivr.bench.console import ConsoleBenchPlan, format_console, run_console_bench
    from ivr.console.nlu_project import NluProject
    from ivr.console.state import CallTools

    if db is not None and Path(db).exists():
        raise click.BadParameter(
            f"{db} exists: the benchmark builds a new database", param_hint="--db"
        )
    plan = ConsoleBenchPlan(
        calls=calls,
        repetitions=repetitions,
        seed=seed,
        db=Path(db) if db else None,
        out=Path(out),
        progress=not quiet,
    )
    config = config_of(ctx)
    tools = CallTools(nlu=NluProject.of_config(config.dialogue))
    results = asyncio.run(run_console_bench(config.console, plan, tools, echo=click.echo))
    click.echo(format_console(results))
    if results["not_ok"]:
        ctx.exit(1)


def _clock(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


COMMANDS: list[click.Command] = [show_config, serve, calls, bench]
