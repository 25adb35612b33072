"""``ivr users``: add, list, disable, set-password on the records database, each audited with
the operator's login; passwords asked twice without echo or read from an owner-only file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.console.audit import AuditLog
from ivr.console.schema import open_console_db
from ivr.console.sessions import SessionPolicy, SessionStore
from ivr.console.users import UserStore
from ivr.secretfile import write_secret
from tests.console.conftest import PASSWORD, Clock


def ivr(url: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        main, ["--set", f"call.records_db={url}", "users", *args], input=input
    )


def test_add_from_an_owner_only_file_then_list_and_disable(
    records_url: str, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = write_secret(tmp_path / "password", PASSWORD)
    caplog.set_level(logging.DEBUG)
    added = ivr(records_url, "add", "alice", "--role", "admin", "--password-file", str(secret))
    assert added.exit_code == 0 and added.stdout == "added alice (admin)\n"
    assert (
        ivr(records_url, "add", "bob", "--role", "qa", "--password-file", str(secret)).exit_code
        == 0
    )

    listing = ivr(records_url, "list").stdout.splitlines()
    assert listing[0].split() == ["user", "role", "created", "(UTC)", "status"]
    assert [line.split()[:2] + line.split()[-1:] for line in listing[1:]] == [
        ["alice", "admin", "active"],
        ["bob", "qa", "active"],
    ]
    assert ivr(records_url, "disable", "bob").stdout == "disabled bob\n"
    bob = ivr(records_url, "list").stdout.splitlines()[-1].split()
    assert bob[:2] == ["bob", "qa"] and bob[4] == "disabled"
    again = ivr(records_url, "disable", "bob")
    assert again.exit_code == 1 and "user 'bob' is already disabled" in again.output

    db = open_console_db(records_url)
    entries = AuditLog(db, clock).page(None, 10).rows
    assert [(e.action, e.target) for e in reversed(entries)] == [
        ("user.add", "alice"),
        ("user.add", "bob"),
        ("user.disable", "bob"),
    ]
    assert all(e.actor.startswith("cli:") for e in entries)
    users = UserStore(db, clock)
    assert users.authenticate("alice", PASSWORD, "test") is not None
    assert users.authenticate("bob", PASSWORD, "test") is None, "disabled"
    db.close()
    assert PASSWORD not in caplog.text and PASSWORD not in added.output


def test_a_password_is_asked_twice_without_echo(records_url: str) -> None:
    typed = ivr(
        records_url, "add", "carol", "--role", "designer", input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert typed.exit_code == 0, typed.output
    assert PASSWORD not in typed.output and "Repeat for confirmation" in typed.output
    short = ivr(records_url, "add", "dave", "--role", "qa", input="short\nshort\n")
    assert short.exit_code == 1 and "a password needs at least 12 characters" in short.output
    differ = ivr(records_url, "add", "dave", "--role", "qa", input=f"{PASSWORD}\nsomething else\n")
    assert differ.exit_code == 1 and "do not match" in differ.output
    assert [line.split()[0] for line in ivr(records_url, "list").stdout.splitlines()[1:]] == [
        "carol"
    ]


def test_a_password_file_others_can_read_is_refused(records_url: str, tmp_path: Path) -> None:
    exposed = tmp_path / "password"
    exposed.write_text(PASSWORD)
    exposed.chmod(0o644)
    result = ivr(records_url, "add", "erin", "--role", "qa", "--password-file", str(exposed))
    assert (
        result.exit_code == 1
        and "--password-file" in result.output
        and "chmod 600" in result.output
    )
    assert "no console users yet" in ivr(records_url, "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Frank", "--role", "qa"], "a user name is 1-64 lower-case letters"),
        (["add", "frank", "--role", "root"], "'root' is not one of"),
        (["disable", "nobody"], "no user 'nobody'"),
        (["set-password", "nobody"], "no user 'nobody'"),
    ],
)
def test_refused_changes_say_why(
    records_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    secret = write_secret(tmp_path / "password", PASSWORD)
    needs_password = args[0] in ("add", "set-password")
    result = ivr(records_url, *args, *(["--password-file", str(secret)] if needs_password else []))
    assert result.exit_code != 0 and message in result.output


def test_set_password_replaces_it_and_ends_the_users_sessions(
    records_url: str, tmp_path: Path, clock: Clock
) -> None:
    first = write_secret(tmp_path / "first", PASSWORD)
    second = write_secret(tmp_path / "second", "another long passphrase")
    ivr(records_url, "add", "gina", "--role", "supervisor", "--password-file", str(first))
    db = open_console_db(records_url)
    users = UserStore(db, clock)
    sessions = SessionStore(db, SessionPolicy(1800, 43200), clock)
    user = users.authenticate("gina", PASSWORD, "test")
    assert user is not None
    session_id, _ = sessions.start(user, None, "test")
    assert sessions.find(session_id) is not None

    changed = ivr(records_url, "set-password", "gina", "--password-file", str(second))
    assert changed.exit_code == 0 and changed.stdout == "new password set for gina\n"
    assert sessions.find(session_id) is None
    assert users.authenticate("gina", PASSWORD, "test") is None
    assert users.authenticate("gina", "another long passphrase", "test") is not None
    db.close()
