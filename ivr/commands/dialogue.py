"""CLI commands for the dialogue layer: ``ivr train``, ``ivr actions``, ``ivr action-router``,
``ivr chat``, ``ivr bank``.

Rasa, TensorFlow and the bank backend are imported inside the commands so that
``ivr --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ivr.commands import config_of
from ivr.logs import get_logger, mask_digits
from logfields import fields

if TYPE_CHECKING:
    from dialogue.action_routes import ActionRoutes
    from dialogue.reply import Reply
    from ivr.config import Config

log = get_logger(__name__)


@click.command("train")
@click.option("--force", is_flag=True, help="Train even if nothing changed since the last model.")
@click.option(
    "--validate",
    "run_validate",
    is_flag=True,
    help="Run `rasa data validate` first; stop on errors.",
)
@click.option("--dry-run", is_flag=True, help="Only report whether the model is up to date.")
@click.pass_context
def train_command(ctx: click.Context, force: bool, run_validate: bool, dry_run: bool) -> None:
    """Train the Rasa model if its domain, config or training data changed."""
    from dialogue.training import Project, is_stale, train

    config = config_of(ctx)
    project = Project.from_config(config.dialogue)
    if run_validate:
        _validate(project)
    if dry_run:
        stale = is_stale(project)
        click.echo(f"{project.model_path}: {'needs training' if stale else 'up to date'}")
        ctx.exit(1 if stale else 0)
    try:
        outcome = train(project, force=force, progress=click.echo)
    except (FileNotFoundError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    log.info(
        "dialogue.train",
        extra=fields(
            model=str(outcome.model_path), trained=outcome.trained, s=round(outcome.seconds, 1)
        ),
    )


def _validate(project: Any) -> None:
    import subprocess

    from dialogue.training import validate_command

    command = validate_command(project)
    click.echo("validating: rasa " + " ".join(command[3:]))
    if subprocess.run(command, check=False).returncode != 0:
        raise click.ClickException("rasa data validate found errors")


@click.command("actions")
@click.option("--host", default=None, help="Bind address (default: dialogue.action_server_host).")
@click.option("--port", type=int, default=None, help="Port (default: dialogue.action_server_port).")
@click.pass_context
def actions_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the custom action server on its own, for a separate `rasa shell` or `rasa run`.

    Requests must carry the shared secret from $IVR_ACTION_TOKEN (as dialogue/endpoints.yml
    sends it). The PIN vault lives in the bot's own process, so this server verifies nobody:
    use `ivr chat` to try PIN entry.
    """
    import os

    from dialogue.action_server import TOKEN_ENV, serve_forever
    from dialogue.actions import runtime

    config = config_of(ctx)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise click.UsageError(
            f"set {TOKEN_ENV} to the shared secret Rasa sends (see dialogue/endpoints.yml)"
        )
    settings = config.dialogue
    served = runtime.from_config(settings, config.bank)
    bind_host = host or settings.action_server_host
    bind_port = settings.action_server_port if port is None else port
    asyncio.run(serve_forever(bind_host, bind_port, token, served))


@click.command("action-router")
@click.option("--host", default=None, help="Bind address (default: dialogue.action_server_host).")
@click.option("--port", type=int, default=None, help="Port (default: dialogue.action_server_port).")
@click.pass_context
def action_router_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Route a Rasa server's action calls to the bot node that holds each conversation.

    Run one next to each Rasa server shared by several bot nodes, and point that server's
    action_endpoint here. Needs dialogue.action_token_file (the secret Rasa sends, passed on
    to the nodes) and dialogue.routes_url (the Redis where the nodes note their calls).
    """
    from dialogue.action_routes import RoutesUnavailable
    from ivr.config import ConfigError
    from ivr.secretfile import read_secret
    from ivr.services import action_routes

    config = config_of(ctx)
    settings = config.dialogue
    if not settings.action_token_file:
        raise click.UsageError("dialogue.action_token_file must name the action token's file")
    try:
        token = read_secret(settings.action_token_file, "dialogue.action_token_file")
        routes = action_routes(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if routes is None:
        raise click.UsageError("dialogue.routes_url must name the Redis holding the routes")
    bind_host = host or settings.action_server_host
    bind_port = settings.action_server_port if port is None else port
    try:
        asyncio.run(_route_actions(routes, token, bind_host, bind_port))
    except RoutesUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


async def _route_actions(routes: ActionRoutes, token: str, host: str, port: int) -> None:
    from dialogue.action_router import ActionRouter, serve_forever

    try:
        await routes.ping()  # a wrong address or password shows now, not at the first call
        await serve_forever(ActionRouter(routes, token, host, port))
    finally:
        await routes.close()


@click.command("chat")
@click.option("--json", "as_json", is_flag=True, help="Print each turn as one JSON object.")
@click.option(
    "--conversation", "conversation_id", default=None, help="Conversation id (default: random)."
)
@click.pass_context
def chat_command(ctx: click.Context, as_json: bool, conversation_id: str | None) -> None:
    """Talk to the assistant by keyboard, through the same client the call layer uses.

    Reads one caller turn per line from stdin (piped input works). Special lines:
    `/dtmf{"digits": "1234"}` presses keys (secure when the bot asked for a PIN),
    `/no_input` stays silent, `/quit` hangs up.
    """
    config = config_of(ctx)
    conversation = conversation_id or f"chat-{uuid.uuid4().hex[:8]}"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_chat(config, conversation, as_json))


async def _chat(config: Config, conversation: str, as_json: bool) -> None:
    from dialogue.callers import IDENTITY_KEY
    from dialogue.client import DialogueError
    from ivr.config import ConfigError
    from ivr.services import dialogue_client

    try:
        client = dialogue_client(config)
        await client.start()
    except (ConfigError, DialogueError) as exc:
        raise click.ClickException(str(exc)) from exc
    interactive = sys.stdin.isatty()
    turn = 0
    try:
        # The keyboard has no caller id: the user at this console is the caller.
        identity = f"console:{getpass.getuser()}"
        reply = await client.begin(conversation, {IDENTITY_KEY: identity})
        _show(reply, turn, "[call answered]", as_json)
        loop = asyncio.get_running_loop()
        while not (reply.hangup or reply.handoff):
            if interactive and not as_json:
                click.echo("you> ", nl=False)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit", "/hangup"):
                break
            turn += 1
            secure = client.expects_secure_input(conversation)
            if line.startswith("/dtmf"):
                digits = _dtmf_digits(line)
                shown = "[keypad " + ("*" * len(digits) if secure else digits) + "]"
                reply = await client.send_digits(conversation, digits, secure=secure)
            elif line == "/no_input":
                shown = "[silence]"
                reply = await client.no_input(conversation)
            else:
                shown = "[spoken PIN]" if secure and _has_digits(line) else mask_digits(line)
                reply = await client.send(conversation, line)
            _show(reply, turn, shown, as_json, echo=not interactive)
        ended = reply.handoff or reply.hangup
        if ended is not None and not as_json:
            kind = "handoff" if reply.handoff else "hangup"
            click.echo(f"[call ended: {kind} ({ended.reason})]")
    finally:
        await client.close()


def _has_digits(text: str) -> bool:
    from dialogue.spoken import extract_digits

    return bool(extract_digits(text))


def _dtmf_digits(line: str) -> str:
    try:
        data = json.loads(line[len("/dtmf") :] or "{}")
        digits = str(data["digits"])
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException('keypad lines look like /dtmf{"digits": "1234"}') from exc
    return digits


def _show(reply: Reply, turn: int, user: str, as_json: bool, *, echo: bool = False) -> None:
    if as_json:
        click.echo(json.dumps({"turn": turn, "user": user, **reply.as_dict()}, ensure_ascii=False))
        return
    if echo:
        click.echo(f"you: {user}")
    for message in reply.messages:
        notes = []
        expect = message.expect_digits
        if expect is not None:
            span = (
                str(expect.count) if expect.max == expect.count else f"{expect.count}-{expect.max}"
            )
            unit = "digit" if span == "1" else "digits"
            notes.append(f"keypad {span} {unit}" + (", secure" if expect.secure else ""))
        if message.handoff is not None:
            notes.append(f"handoff {message.handoff.reason}, {message.handoff.priority} priority")
        if message.hangup is not None:
            notes.append(f"hangup {message.hangup.reason}")
        if not message.interruptible:
            notes.append("no barge-in")
        suffix = f"  [{'; '.join(notes)}]" if notes else ""
        if message.text or suffix:
            click.echo(f"bot: {message.text or ''}{suffix}")


@click.group("bank")
def bank_group() -> None:
    """The demo bank's database (SQLite by default, PostgreSQL via bank.database)."""


@bank_group.command("init")
@click.pass_context
def bank_init(ctx: click.Context) -> None:
    """Create the tables and load the seed data if the database is empty."""
    _open_bank(ctx, reset=False)


@bank_group.command("reset")
@click.confirmation_option(prompt="Drop every table and reload the seed data?")
@click.pass_context
def bank_reset(ctx: click.Context) -> None:
    """Drop all bank tables and reload the seed data."""
    _open_bank(ctx, reset=True)


def _open_bank(ctx: click.Context, *, reset: bool) -> None:
    from dialogue.bank import open_repository
    from ivr.pepper import bank_pepper

    config = config_of(ctx)
    seed_file = Path(config.dialogue.project_dir) / config.bank.seed_file
    repository = open_repository(
        config.bank.database, seed_file, reset=reset, pepper=bank_pepper(config)
    )
    with repository.transaction() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM customers")
    repository.close()
    click.echo(f"{_safe_url(config.bank.database)}: ready, {row['n'] if row else 0} customers")


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    import re

    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


@bank_group.command("unlock")
@click.argument("account")
@click.pass_context
def bank_unlock(ctx: click.Context, account: str) -> None:
    """Lift the PIN lockout of ACCOUNT's customer (after verifying the caller another way).

    Audited in the bank's audit_log with the operating-system user who ran it.
    """
    from dialogue.bank import open_repository
    from ivr.pepper import bank_pepper
    from masking import mask_number

    if not (account.isdigit() and len(account) == 8):
        raise click.BadParameter("an account number is 8 digits", param_hint="ACCOUNT")
    config = config_of(ctx)
    repository = open_repository(config.bank.database, pepper=bank_pepper(config))
    try:
        was_locked = repository.unlock(account, by=getpass.getuser())
    finally:
        repository.close()
    state = "unlocked" if was_locked else "was not locked; its failure count is cleared"
    log.info("bank.unlock", extra=fields(account=mask_number(account), was_locked=was_locked))
    click.echo(f"account {mask_number(account)}: {state}")


@bank_group.command("hash-pin")
def bank_hash_pin() -> None:
    """Make a salted PIN hash for data/bank/seed.yml (the PIN is read without echo).

    The hash is unpeppered, as the seed is shared; the bank peppers it when it loads it.
    """
    from dialogue.bank.security import hash_pin

    pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True)
    if not (pin.isdigit() and len(pin) == 4):
        raise click.BadParameter("a PIN is 4 digits")
    click.echo(hash_pin(pin))


COMMANDS: list[click.Command] = [
    train_command,
    actions_command,
    action_router_command,
    chat_command,
    bank_group,
]
