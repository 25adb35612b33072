"""CLI commands for QA: ``ivr simulate`` scripted callers, ``ivr replay`` recorded calls and
``ivr eval`` scores of a run. Each run writes results.json and a self-contained report.html."""

from __future__ import annotations

from pathlib import Path

import click

from ivr.commands import config_of
from ivr.config import QA_BRIDGES

_bridge = click.option(
    "--bridge",
    type=click.Choice(QA_BRIDGES),
    default=None,
    help="inprocess: the CallSession in this process; sip: baresip calls the bot's SIP server "
    "(real time); websocket: a Twilio media stream to the bot's /media/twilio (real time). "
    "Default: qa.bridge.",
)
_speed = click.option(
    "--fast/--realtime",
    default=None,
    help="In-process only: virtual clock, faster than real time (default: qa.fast).",
)
_out = click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for this run (default: a new folder under qa.reports_dir).",
)
_quiet = click.option("--no-progress", is_flag=True, help="No progress bar.")


@click.command("simulate")
@click.argument("scripts", nargs=-1, type=click.Path())
@_bridge
@_speed
@click.option(
    "--voice", type=click.Choice(["piper", "espeak", "festival"]), help="Caller TTS engine."
)
@click.option(
    "--voice-name", default=None, help="espeak-ng voice (en-gb+f2) or Festival voice (ked_diphone)."
)
@click.option("--speaking-rate", type=click.FloatRange(0.5, 2.0), help="Caller pace (1.0).")
@click.option("--noise", "snr_db", type=click.FloatRange(0, 60), help="Line noise, SNR in dB.")
@_out
@_quiet
@click.pass_context
def simulate(
    ctx: click.Context,
    scripts: tuple[str, ...],
    bridge: str | None,
    fast: bool | None,
    voice: str | None,
    voice_name: str | None,
    speaking_rate: float | None,
    snr_db: float | None,
    out: str | None,
    no_progress: bool,
) -> None:
    """Call the bot with scripted callers (default: every script in qa.scripts_dir).

    Exits 1 when any script's expectations are not met.
    """
    import asyncio

    from ivr.qa.script import ScriptError, load_scripts
    from ivr.qa.voice import CallerVoice, configured_voice

    config = config_of(ctx)
    default = configured_voice(config.qa)
    try:
        loaded = load_scripts(list(scripts) or [config.qa.scripts_dir], default)
    except ScriptError as exc:
        raise click.ClickException(str(exc)) from exc
    chosen: CallerVoice | None = None
    if voice or voice_name or speaking_rate or snr_db is not None:
        chosen = CallerVoice(
            engine=voice or ("espeak" if voice_name else default.engine),  # type: ignore[arg-type]
            voice=voice_name or "en-us",
            rate=speaking_rate or default.rate,
            snr_db=snr_db if snr_db is not None else default.snr_db,
        )
    from ivr.qa.run import simulate_run

    ok = asyncio.run(
        simulate_run(
            config,
            loaded,
            bridge or config.qa.bridge,
            config.qa.fast if fast is None else fast,
            chosen,
            out,
            progress=not no_progress,
            echo=click.echo,
        )
    )
    ctx.exit(0 if ok else 1)


@click.command("replay")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--keys",
    "keys",
    multiple=True,
    metavar="DIGITS",
    help="Digits the caller keyed, in order (records mask them); repeat for each entry.",
)
@click.option(
    "--pin",
    default=None,
    metavar="PIN",
    help="A test PIN for the call's secure entry (never stored); without it the replay is "
    "compared up to the PIN prompt.",
)
@_speed
@_out
@_quiet
@click.pass_context
def replay(
    ctx: click.Context,
    paths: tuple[str, ...],
    keys: tuple[str, ...],
    pin: str | None,
    fast: bool | None,
    out: str | None,
    no_progress: bool,
) -> None:
    """Replay recorded calls (WAVs or folders of them) through the current bot.

    A recording named by its call id is compared turn by turn with the call's record in
    call.records_db; exits 1 when anything changed (a regression).
    """
    import asyncio

    from ivr.qa.replay import ReplayError, find_recordings
    from ivr.qa.run import replay_run

    config = config_of(ctx)
    try:
        recordings = find_recordings([Path(p) for p in paths])
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from exc
    if pin is not None and not pin.isdigit():
        raise click.BadParameter("a PIN is digits only", param_hint="--pin")
    ok = asyncio.run(
        replay_run(
            config,
            recordings,
            list(keys),
            pin,
            config.qa.fast if fast is None else fast,
            out,
            progress=not no_progress,
            echo=click.echo,
        )
    )
    ctx.exit(0 if ok else 1)


@click.command("eval")
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.pass_context
def evaluate(ctx: click.Context, run: str, as_json: bool) -> None:
    """Scores of a replay or simulation run (its folder or results.json): WER, intent accuracy,
    task success, containment, handoff and abandonment rates, turn latency, per call."""
    import json

    from ivr.qa.evaluate import evaluate as score_run
    from ivr.qa.evaluate import format_scores
    from ivr.qa.results import load_results

    path = Path(run)
    if path.is_dir():
        path = path / "results.json"
    try:
        kind, results, _ = load_results(path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    evaluation = score_run(results)
    if as_json:
        click.echo(json.dumps({"kind": kind, **evaluation.as_dict()}, indent=2))
    else:
        click.echo(f"{kind} run {path}")
        click.echo(format_scores(evaluation))


COMMANDS: list[click.Command] = [simulate, replay, evaluate]
