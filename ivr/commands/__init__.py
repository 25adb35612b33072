"""Click commands of the ``ivr`` CLI, one module per area; heavy imports stay inside commands."""

from __future__ import annotations

import getpass

import click

from ivr.config import Config


def config_of(ctx: click.Context) -> Config:
    """The effective configuration loaded by the ``ivr`` group."""
    config = ctx.find_root().obj
    if not isinstance(config, Config):
        raise click.UsageError("no configuration loaded")
    return config


def shell_actor() -> str:
    """Who ran the command, for the audit log and version history: ``cli:<login>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"
