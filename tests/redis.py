"""A throw-away Redis for tests, on a free port of 127.0.0.1, with a password, that a test
can kill (a store going away mid-call)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.bench.bot import free_port
from ivr.cluster.redis import RedisServer, RedisUnavailable

READY_S = 10.0


class RedisProcess(RedisServer):
    """A running server in a new temporary folder; skips the test where Redis is missing."""

    def __init__(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="ivr-redis-"))
        try:
            super().__init__(base, free_port())
        except RedisUnavailable as exc:
            shutil.rmtree(base)
            pytest.skip(str(exc))
        self._process = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            self._wait_ready()
        except BaseException:
            self.remove()
            raise

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + READY_S
        while True:
            try:
                redis.Redis.from_url(self.url, password=self.password).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise
                time.sleep(0.05)

    def remove(self) -> None:
        self._process.kill()
        self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess()
    try:
        yield server
    finally:
        server.remove()
