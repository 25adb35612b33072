"""A Redis server of our own: the Rasa servers' lock store and the nodes' conversation routes.

It binds one loopback address, asks for a password (random, made with the cluster and kept
in an owner-only file, never on a command line) and keeps nothing on disk: locks and routes
are live state of calls in progress. ``maxmemory`` with ``noeviction`` bounds it: full, it
refuses new keys rather than silently dropping a lock a turn holds.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from ivr.secretfile import read_secret, write_secret

MAX_MEMORY = "128mb"


class RedisUnavailable(RuntimeError):
    """``redis-server`` is not on this machine (Debian's ``redis-server`` package)."""


class RedisServer:
    """One server whose configuration, password and log live in ``folder``."""

    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1") -> None:
        program = shutil.which("redis-server")
        if program is None:
            raise RedisUnavailable("redis-server is missing (Debian package redis-server)")
        self._program = program
        self.folder = folder.resolve()
        self.host = host
        self.port = port
        self.password_file = self.folder / "redis.pass"

    @property
    def url(self) -> str:
        """Where clients connect; database 0 holds the routes, Rasa's locks take 1."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def password(self) -> str:
        return read_secret(self.password_file, "redis password")

    def argv(self) -> list[str]:
        """``redis-server`` with a configuration written now (a password made on first use)."""
        if not self.password_file.is_file():
            write_secret(self.password_file, secrets.token_urlsafe(32))
        settings = {
            "bind": self.host,
            "port": str(self.port),
            "protected-mode": "yes",
            "requirepass": self.password,
            "dir": str(self.folder),
            "save": '""',
            "appendonly": "no",
            "maxmemory": MAX_MEMORY,
            "maxmemory-policy": "noeviction",
            "daemonize": "no",
        }
        config = write_secret(
            self.folder / "redis.conf", "".join(f"{k} {v}\n" for k, v in settings.items())
        )
        return [self._program, str(config)]
