"""Click commands of the ``ivr`` CLI, one module per area; heavy imports stay inside commands."""

from __future__ import annotations

import click

from ivr.config import Config


def config_of(ctx: click.Context) -> Config:
    """The effective configuration loaded by the ``ivr`` group."""
    config = ctx.find_root().obj
    if not isinstance(config, Config):
        raise click.UsageError("no configuration loaded")
    return config
