"""The ``ivr`` command line: one group, commands registered from ivr.commands.*."""

from __future__ import annotations

import click

from ivr.commands import (
    app,
    cluster,
    dialogue,
    nlu,
    qa,
    recordings,
    speech,
    talk,
    users,
    versions,
)
from ivr.config import ConfigError, load_config
from ivr.logs import configure_logging
from ivr.loop import keep_asyncio_loop


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", "config_path", type=click.Path(), help="YAML config file (default ./ivr.yaml)."
)
@click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a setting."
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log at DEBUG, libraries included (Rasa, Sanic, TensorFlow): --set logging.level=DEBUG.",
)
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, overrides: tuple[str, ...], verbose: bool
) -> None:
    """Bank hotline voice bot."""
    keep_asyncio_loop()
    if verbose:
        overrides = (*overrides, "logging.level=DEBUG")
    try:
        config = load_config(config_path, overrides)
    except ConfigError as exc:
        raise click.UsageError(f"configuration: {exc}") from exc
    configure_logging(config.logging.level, config.logging.format)
    ctx.obj = config


for _command in (
    *app.COMMANDS,
    *speech.COMMANDS,
    *dialogue.COMMANDS,
    *nlu.COMMANDS,
    *talk.COMMANDS,
    *qa.COMMANDS,
    *recordings.COMMANDS,
    *users.COMMANDS,
    *versions.COMMANDS,
    *cluster.COMMANDS,
):
    main.add_command(_command)
