"""The ``rasa run`` command the bench starts carries its token as Rasa's own parser reads it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ivr.bench import bot
from ivr.bench.bot import RasaServer


def rasa_run_parser() -> argparse.ArgumentParser:
    from rasa.cli import run as rasa_run

    parser = argparse.ArgumentParser()
    rasa_run.add_subparser(parser.add_subparsers(), parents=[])
    return parser


@pytest.mark.parametrize("token", ["-starts-with-a-dash", "plain_Token-123"])
def test_the_auth_token_reaches_rasa_whatever_character_it_starts_with(
    token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL-safe token starts with "-" one time in 64: as an argument of its own, argparse
    read it as an option and `rasa run` exited ("expected one argument")."""
    monkeypatch.setattr(bot, "new_token", lambda: token)
    server = RasaServer(tmp_path, tmp_path / "model.tar.gz", action_port=5055, port=5005)
    assert server.argv[1] == "run"
    parsed = rasa_run_parser().parse_args(server.argv[1:])
    assert parsed.auth_token == token
    assert parsed.credentials == str(tmp_path / "rasa-credentials.yml")
