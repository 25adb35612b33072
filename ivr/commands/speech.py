"""CLI commands for the speech layer."""

import click

COMMANDS: list[click.Command] = []
