"""A throw-away PostgreSQL cluster for tests, on a free port of 127.0.0.1, that a test can stop
and start again (a database going away mid-call)."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from ivr.cluster.postgres import PostgresServer, PostgresUnavailable


class PostgresCluster(PostgresServer):
    """A server in a new temporary folder with database ``bank`` made; skips the test where
    PostgreSQL is not installed."""

    def __init__(self) -> None:
        # Not under pytest's private tmp dir: the postgres user must be able to reach it.
        base = Path(tempfile.mkdtemp(prefix="bank-pg-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            super().__init__(base, port)
        except PostgresUnavailable as exc:
            shutil.rmtree(base)
            pytest.skip(str(exc))
        try:
            self.create()
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
