"""CLI commands for the dialogue layer."""

import click

COMMANDS: list[click.Command] = []
