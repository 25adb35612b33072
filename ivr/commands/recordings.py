"""CLI commands for stored call data: recording keys, decrypting a recording, retention purge."""

from __future__ import annotations

import click

from ivr.commands import config_of

_key_file = click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Key file (default: call.recording_key_file).",
)


@click.group("recordings")
def recordings() -> None:
    """Encrypted call recordings: keys, export, retention."""


@recordings.command("keygen")
@_key_file
@click.pass_context
def keygen(ctx: click.Context, key_file: str | None) -> None:
    """Create the recording key file with a first key (owner-only; never overwrites one)."""
    from ivr.config import ConfigError
    from ivr.recording_keys import create_key_file

    path = _path(ctx, key_file)
    try:
        keyring = create_key_file(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{path}: key {keyring.newest_id}; set call.recording_key_file to this file")


@recordings.command("rotate")
@_key_file
@click.pass_context
def rotate(ctx: click.Context, key_file: str | None) -> None:
    """Add a new key: new recordings use it, older ones still open with their own key."""
    from ivr.config import ConfigError
    from ivr.logs import get_logger
    from ivr.recording_keys import rotate_key_file
    from logfields import fields

    path = _path(ctx, key_file)
    try:
        keyring = rotate_key_file(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    get_logger(__name__).info(
        "recording.key_rotated", extra=fields(key_id=keyring.newest_id, keys=len(keyring.keys))
    )
    click.echo(f"{path}: new recordings use key {keyring.newest_id} (a running server: restart)")


@recordings.command("export")
@click.argument("call_id")
@click.option(
    "-o", "--out", required=True, type=click.Path(dir_okay=False), help="WAV file to write."
)
@click.pass_context
def export(ctx: click.Context, call_id: str, out: str) -> None:
    """Decrypt one call's recording to a stereo WAV (CALL_ID: the bot's or the peer's id).

    The WAV is plain call audio: it is written owner-only, and the export is logged.
    """
    import os
    import wave

    from ivr.config import ConfigError
    from ivr.logs import get_logger
    from ivr.recording_keys import read_keyring
    from ivr.records import CallRecordStore
    from ivr.sealed import RecordingError, open_recording
    from logfields import fields
    from storage.private import OWNER_ONLY_FILE

    config = config_of(ctx)
    store = CallRecordStore(config.call.records_db)
    try:
        call = store.call(call_id)
    finally:
        store.close()
    if call is None or not call["recording"]:
        raise click.ClickException(f"no recorded call with id {call_id!r}")
    try:
        keyring = (
            read_keyring(config.call.recording_key_file) if config.call.recording_key_file else None
        )
        rate, channels, pcm = open_recording(call["recording"], keyring)
    except (ConfigError, RecordingError) as exc:
        raise click.ClickException(str(exc)) from exc
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY_FILE)
    with os.fdopen(descriptor, "wb") as file, wave.open(file, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    get_logger(__name__).info(
        "recording.exported", extra=fields(call_id=call["call_id"], out=str(out))
    )
    click.echo(f"{out}: call {call['call_id']}, {len(pcm) // (2 * channels) / rate:.1f} s")


@recordings.command("purge")
@click.pass_context
def purge(ctx: click.Context) -> None:
    """Delete recordings and call records older than call.retention_days (the server does this
    daily)."""
    from ivr.records import CallRecordStore
    from ivr.retention import purge_expired

    call = config_of(ctx).call
    store = CallRecordStore(call.records_db)
    try:
        purged = purge_expired(call, store)
    finally:
        store.close()
    if purged is None:
        click.echo("call.retention_days is 0: everything is kept")
        return
    click.echo(
        f"deleted {purged.calls} call records and {purged.recordings} recordings "
        f"older than {call.retention_days} days"
    )


def _path(ctx: click.Context, key_file: str | None) -> str:
    path = key_file or config_of(ctx).call.recording_key_file
    if not path:
        raise click.UsageError("give --key-file or set call.recording_key_file")
    return path


COMMANDS: list[click.Command] = [recordings]
