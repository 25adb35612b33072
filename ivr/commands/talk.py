"""CLI command ``ivr talk``: talk to the bot with the microphone and speaker."""

from __future__ import annotations

import click

from ivr.commands import config_of


@click.command("talk")
@click.option("--input-device", type=int, help="Microphone device index (default: the system's).")
@click.option("--output-device", type=int, help="Speaker device index (default: the system's).")
@click.option("--list-devices", is_flag=True, help="List audio devices and exit.")
@click.pass_context
def talk(
    ctx: click.Context, input_device: int | None, output_device: int | None, list_devices: bool
) -> None:
    """Talk to the bot as a caller would, with barge-in and endpointing; Ctrl-C hangs up."""
    import asyncio
    import signal

    import pyaudio

    from dialogue.training import Project, train
    from ivr.talk import talk as run_talk
    from telephony.local import NoAudioDevice, pick_devices
    from telephony.local import list_devices as devices_of

    config = config_of(ctx)
    pa = pyaudio.PyAudio()
    try:
        if list_devices:
            for device in devices_of(pa):
                click.echo(
                    f"{device.index:>3}  in {device.inputs}  out {device.outputs}  "
                    f"{device.rate:>6} Hz  {device.name}"
                )
            return
        try:
            pick_devices(pa, input_device, output_device)
        except NoAudioDevice as exc:
            raise click.ClickException(str(exc)) from exc
        train(Project.from_config(config.dialogue), progress=click.echo)

        async def call() -> str:
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
            click.echo("connected: speak after the greeting; Ctrl-C hangs up")
            return await run_talk(config, pa, input_device, output_device, stop=stop)

        click.echo(f"call ended: {asyncio.run(call())}")
    finally:
        pa.terminate()


COMMANDS: list[click.Command] = [talk]
