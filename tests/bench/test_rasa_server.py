"""The ``rasa run`` command the bench and the cluster start: Rasa's own parser reads it, and
its secrets are in owner-only files, never on the command line (other users see it)."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import yaml

from ivr.bench.bot import RasaServer
from ivr.secretfile import read_secret


def rasa_run_parser() -> argparse.ArgumentParser:
    from rasa.cli import run as rasa_run

    parser = argparse.ArgumentParser()
    rasa_run.add_subparser(parser.add_subparsers(), parents=[])
    return parser


def test_rasa_run_takes_its_secrets_from_owner_only_files(tmp_path: Path) -> None:
    server = RasaServer(tmp_path, tmp_path / "model.tar.gz", action_port=5055, port=5005)
    parsed = rasa_run_parser().parse_args(server.argv[1:])
    assert parsed.port == 5005 and not parsed.enable_api
    rasa_token = read_secret(server.rasa_token_file, "rasa token")
    action_token = read_secret(server.action_token_file, "action token")
    assert not any(rasa_token in arg or action_token in arg for arg in server.argv)
    credentials = Path(parsed.credentials)
    endpoints = Path(parsed.endpoints)
    for secret_file in (credentials, endpoints):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    channel = yaml.safe_load(credentials.read_text())
    assert channel == {"dialogue.rest_channel.TokenRestInput": {"token": rasa_token}}
    actions = yaml.safe_load(endpoints.read_text())["action_endpoint"]
    assert actions == {
        "url": "http://127.0.0.1:5055/webhook",
        "headers": {"Authorization": f"Bearer {action_token}"},
    }
