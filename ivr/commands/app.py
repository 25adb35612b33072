"""CLI commands for the application as a whole: effective configuration, demo, benchmarks."""

from __future__ import annotations

import click
import yaml

from ivr.commands import config_of


@click.command("config")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Print the effective configuration (defaults, file, environment and flags merged) as YAML."""
    click.echo(yaml.safe_dump(config_of(ctx).as_dict(), sort_keys=False).rstrip())


COMMANDS: list[click.Command] = [show_config]
