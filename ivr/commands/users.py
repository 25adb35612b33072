"""CLI commands for console users: ``ivr users add|list|disable|set-password``.

They work on the records database (``call.records_db``) directly, server running or not, and
write the same audit rows as the console's users page, with ``cli:<login>`` as the actor.
A password is asked twice without echo, or read from an owner-only file for scripts; it is
never an argument (arguments show in ``ps`` and shell history).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from ivr.commands import config_of, shell_actor
from ivr.console.roles import ROLES

if TYPE_CHECKING:
    from ivr.console.users import UserStore

_password_file = click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="Owner-only file holding the password (for scripts); default: asked twice, hidden.",
)


@click.group("users")
def users() -> None:
    """Console users: who may log in to /console, and with which role."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may see.")
@_password_file
@click.pass_context
def add(ctx: click.Context, name: str, role: str, password_file: str | None) -> None:
    """Add a console user NAME (lower case) with a password of at least 12 characters."""
    password = _password(password_file)
    with _store(ctx) as store:
        store.add(name, role, password, shell_actor())
    click.echo(f"added {name} ({role})")


@users.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """List console users, active ones first."""
    with _store(ctx) as store:
        everyone = store.all()
    if not everyone:
        click.echo("no console users yet: `ivr users add NAME --role admin`")
        return
    click.echo(f"{'user':<24} {'role':<11} {'created (UTC)':<19}  status")
    for user in everyone:
        status = "active" if user.active else f"disabled {_utc(user.disabled_at)}"
        click.echo(f"{user.name:<24} {user.role:<11} {_utc(user.created_at)}  {status}")


@users.command("disable")
@click.argument("name")
@click.pass_context
def disable(ctx: click.Context, name: str) -> None:
    """Disable user NAME: no more log-ins, and their sessions end now."""
    with _store(ctx) as store:
        store.disable(name, shell_actor())
    click.echo(f"disabled {name}")


@users.command("set-password")
@click.argument("name")
@_password_file
@click.pass_context
def set_password(ctx: click.Context, name: str, password_file: str | None) -> None:
    """Give user NAME a new password; their sessions end now."""
    password = _password(password_file)
    with _store(ctx) as store:
        store.set_password(name, password, shell_actor())
    click.echo(f"new password set for {name}")


@contextmanager
def _store(ctx: click.Context) -> Iterator[UserStore]:
    """The user store on the configured records database; a refused change is a CLI error."""
    from ivr.console.schema import open_console_db
    from ivr.console.users import UserError, UserStore

    db = open_console_db(config_of(ctx).call.records_db)
    try:
        yield UserStore(db, time.time)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()


def _password(password_file: str | None) -> str:
    if password_file is None:
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    from ivr.config import ConfigError
    from ivr.secretfile import read_secret

    try:
        return read_secret(password_file, "--password-file")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _utc(epoch: float | None) -> str:
    return "" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


COMMANDS: list[click.Command] = [users]
