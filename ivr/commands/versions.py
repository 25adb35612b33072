"""CLI commands for the assistant's versions: ``ivr versions list|show|test|publish|rollback``.

They work on ``design.dir`` directly, server running or not; a running bot notices a publish
within ``design.watch_s`` and switches without dropping a call (``ivr.versions.live``). Every
publish and roll-back is also written to the console's audit log, with ``cli:<login>`` as the
actor, as the console's versions page writes it.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from ivr.commands import config_of, shell_actor
from ivr.config import Config

if TYPE_CHECKING:
    from ivr.versions.store import Publication, VersionStore
    from ivr.versions.workspace import Workspace


@click.group("versions")
def versions() -> None:
    """Published versions of the assistant (designers' drafts, made in the console)."""


@versions.command("list")
@click.pass_context
def list_versions(ctx: click.Context) -> None:
    """Every version, newest first; * marks the published one."""
    store = _workspace(config_of(ctx)).store
    published = store.published()
    every = store.all()
    if not every:
        click.echo("no versions yet: the bot runs the project's files (dialogue/, data/)")
        return
    click.echo(f"  {'version':<8} {'created (UTC)':<17} {'author':<18} {'tests':<9} message")
    for version in reversed(every):
        mark = "*" if published and published.version == version.number else " "
        click.echo(
            f"{mark} {version.number:<8} {_when(version.created_at):<17} {version.author:<18} "
            f"{_tests(version.tests, version.override):<9} {version.message}"
        )


@versions.command("show")
@click.argument("number", type=int)
@click.pass_context
def show(ctx: click.Context, number: int) -> None:
    """Version NUMBER: who made it, why, its tests, and the files it changed."""
    from ivr.versions.files import changed_files
    from ivr.versions.store import VersionError

    store = _workspace(config_of(ctx)).store
    try:
        version = store.get(number)
        parent = store.get(version.parent) if version.parent is not None else None
    except VersionError as exc:
        raise click.ClickException(str(exc)) from None
    published = store.published()
    is_published = published is not None and published.version == number
    click.echo(f"version {version.number}" + (" (published)" if is_published else ""))
    click.echo(f"  folder   {version.path}")
    click.echo(f"  created  {_when(version.created_at)} UTC by {version.author}")
    click.echo(f"  message  {version.message}")
    click.echo(f"  tests    {_tests(version.tests, version.override)}")
    if version.override:
        click.echo(f"  published without passing tests by {version.override}")
    if parent is None:
        click.echo("  the first version")
        return
    changes = changed_files(parent.path, version.path)
    click.echo(f"  changes against version {parent.number}: {len(changes) or 'none'}")
    for change in changes:
        click.echo(f"    {change.status:<9} {change.path}")


@versions.command("test")
@click.pass_context
def test_draft(ctx: click.Context) -> None:
    """Test the draft as the console's Versions page does: validate its data, train it if it
    changed the model's inputs, run the QA scripts (design.test_scripts) and replay recent calls
    (design.test_replays) against it. Exits 1 when the test fails.

    The report is kept with the draft (``ivr versions publish`` needs a passing one) unless the
    draft changed while it was tested.
    """
    import asyncio

    from ivr.console import audit
    from ivr.qa.draft_testing import own_engines, run_draft_test
    from ivr.versions.store import VersionError
    from ivr.versions.testing import DraftTest

    config = config_of(ctx)
    actor = shell_actor()
    draft = _workspace(config).draft
    try:
        draft.ensure(author=actor)
    except VersionError as exc:
        raise click.ClickException(str(exc)) from None
    run = DraftTest.start(actor, time.time(), echo=click.echo)
    _audit(config, actor, audit.DESIGN_TEST, "draft", "from the shell")
    asyncio.run(run_draft_test(config, draft, run, own_engines, config.design.test_timeout_s))
    click.echo(("PASSED" if run.passed else "FAILED") + f": {run.summary}")
    if run.error:
        click.echo(f"error: {run.error}")
    if not run.kept:
        click.echo("the draft changed while it was tested: this report does not count; test again")
    ctx.exit(0 if run.passed and run.kept else 1)


@versions.command("publish")
@click.option("--message", "-m", required=True, help="What the draft changes, for the history.")
@click.option(
    "--override",
    is_flag=True,
    help="Publish although the draft's tests have not passed (recorded in the version).",
)
@click.pass_context
def publish(ctx: click.Context, message: str, override: bool) -> None:
    """Make the tested draft a new version and publish it."""
    from ivr.console import audit
    from ivr.versions.store import VersionError

    config = config_of(ctx)
    actor = shell_actor()
    try:
        version = _workspace(config).draft.publish(author=actor, message=message, override=override)
    except VersionError as exc:
        raise click.ClickException(str(exc)) from None
    action = audit.VERSION_OVERRIDE if version.override else audit.VERSION_PUBLISH
    _audit(config, actor, action, f"version {version.number}", message)
    click.echo(f"published version {version.number}; {_switch_note(config)}")


@versions.command("rollback")
@click.argument("number", type=int, required=False)
@click.pass_context
def rollback(ctx: click.Context, number: int | None) -> None:
    """Publish version NUMBER again (default: the one published before the current one, or the
    one it was made from when nothing was published before it)."""
    from ivr.console import audit
    from ivr.versions.store import VersionError

    config = config_of(ctx)
    store = _workspace(config).store
    current = store.published()
    target = number if number is not None else _before(store, current)
    if target is None:
        raise click.ClickException("nothing to roll back to: name a version (`ivr versions list`)")
    actor = shell_actor()
    try:
        done = store.roll_back(target, by=actor)
    except VersionError as exc:
        raise click.ClickException(str(exc)) from None
    _audit(config, actor, audit.VERSION_ROLLBACK, f"version {target}", done.detail)
    click.echo(f"version {target} published again; {_switch_note(config)}")


def _before(store: VersionStore, current: Publication | None) -> int | None:
    if current is None:
        return None
    if current.previous is not None:
        return current.previous
    return store.get(current.version).parent


def _workspace(config: Config) -> Workspace:
    from ivr.versions.workspace import Workspace

    return Workspace.of_config(config)


def _audit(config: Config, actor: str, action: str, target: str, detail: str) -> None:
    from ivr.console.audit import AuditLog
    from ivr.console.schema import open_console_db

    db = open_console_db(config.call.records_db)
    try:
        AuditLog(db, time.time).record(actor, action, target, detail)
    finally:
        db.close()


def _switch_note(config: Config) -> str:
    return (
        f"running bots switch within {config.design.watch_s:g} s;"
        " calls in progress finish on the version they began on"
    )


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _tests(summary: dict[str, Any] | None, override: str) -> str:
    if override:
        return "override"
    if not summary:
        return "-"
    return "passed" if summary.get("passed") else "failed"


COMMANDS = [versions]
