"""A stand-alone ``rasa run`` serving the trained model to bot nodes: its files and command line.

Its credentials file enables only our token-checking REST channel
(:mod:`dialogue.rest_channel`: the turn and end routes the bot's client uses); Rasa's HTTP API
stays off, since the client needs none of it. Its endpoints file says where actions go (a
bot's action server, or the action router next to it when several nodes share the server)
with the action token, and, for a shared tier, the tracker store all servers read and write
(PostgreSQL) and the lock store that keeps one conversation's turns in order across them
(Redis). Both files hold secrets and are written owner-only; the command line holds none.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dialogue.token_guard import BEARER
from ivr.secretfile import write_secret

TOKEN_REST_CHANNEL = "dialogue.rest_channel.TokenRestInput"
SHARED_TRACKER_STORE = "dialogue.tracker_store.SharedTrackerStore"
LOCK_LIFETIME_ENV = "TICKET_LOCK_LIFETIME"
"""Seconds a conversation's lock outlives a server that died holding it (Rasa's variable)."""


@dataclass(frozen=True)
class RasaRun:
    """One ``rasa run``: where it listens, where its actions go, what it shares."""

    folder: Path
    """Its credentials and endpoints files."""
    model: Path
    interface: str
    port: int
    rasa_token: str
    """What its REST channel asks of every request (``?token=``)."""
    action_url: str
    action_token: str
    stores: dict[str, Any] = field(default_factory=dict)
    """``tracker_store`` and ``lock_store`` sections of its endpoints file, if shared."""

    @property
    def url(self) -> str:
        return f"http://{self.interface}:{self.port}"

    def argv(self) -> list[str]:
        """The command line, with its two files written now."""
        endpoints = write_secret(
            self.folder / "endpoints.yml",
            yaml.safe_dump(
                {
                    "action_endpoint": {
                        "url": self.action_url,
                        "headers": {"Authorization": BEARER + self.action_token},
                    },
                    **self.stores,
                }
            ),
        )
        credentials = write_secret(
            self.folder / "credentials.yml",
            yaml.safe_dump({TOKEN_REST_CHANNEL: {"token": self.rasa_token}}),
        )
        rasa = str(Path(sys.executable).with_name("rasa"))
        return [
            *(rasa, "run", "--model", str(self.model)),
            *("--credentials", str(credentials), "--endpoints", str(endpoints)),
            *("--interface", self.interface, "--port", str(self.port)),
        ]


def tracker_store(postgres_port: int, database: str, passfile: Path) -> dict[str, Any]:
    """The shared tracker store's settings: PostgreSQL on 127.0.0.1, its password not written
    here but read by libpq from the owner-only ``passfile``."""
    return {
        "dialect": "postgresql",
        "host": "127.0.0.1",
        "port": postgres_port,
        "db": database,
        "username": database,
        "query": {"passfile": str(passfile)},
    }


def make_tracker_table(store: dict[str, Any]) -> None:
    """Create the conversations' table before the servers start: two servers creating it at
    the same moment race on PostgreSQL's catalog, and the loser exits."""
    from rasa.shared.core.domain import Domain

    from dialogue.tracker_store import SharedTrackerStore

    SharedTrackerStore(Domain.empty(), **store)


def shared_stores(store: dict[str, Any], redis_port: int, redis_password: str) -> dict[str, Any]:
    """The endpoints sections of a server sharing conversations with others on this machine.

    Rasa's locks take Redis database 1 (the nodes' routes use 0).
    """
    settings = {("url" if key == "host" else key): value for key, value in store.items()}
    return {
        "tracker_store": {"type": SHARED_TRACKER_STORE, **settings},
        "lock_store": {
            "type": "redis",
            "url": "127.0.0.1",
            "port": redis_port,
            "password": redis_password,
            "db": 1,
        },
    }
