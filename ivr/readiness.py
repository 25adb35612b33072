"""Waiting for a process just started (a bot, a Rasa server, a cluster node, Redis) to answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp


async def wait_until(
    ready: Callable[[], Awaitable[bool]],
    check_alive: Callable[[], None],
    timeout: float,
    name: str,
    log_path: Path,
    where: str,
) -> None:
    """Poll ``ready`` until it says True. ``check_alive`` raises when the process has exited;
    running out of time raises RuntimeError with the end of the process's log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        check_alive()
        if await ready():
            return
        await asyncio.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{name} not ready at {where} within {timeout:.0f} s:\n{tail}")


async def wait_http(
    url: str, check_alive: Callable[[], None], timeout: float, name: str, log_path: Path
) -> None:
    """Until ``url`` answers 200 (see :func:`wait_until`)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:

        async def answers() -> bool:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(url) as response:
                    return response.status == 200
            return False

        await wait_until(answers, check_alive, timeout, name, log_path, url)


async def wait_redis(
    url: str,
    password: str,
    check_alive: Callable[[], None],
    timeout: float,
    name: str,
    log_path: Path,
) -> None:
    """Until the Redis at ``url`` answers PING with this password (see :func:`wait_until`)."""
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = aioredis.Redis.from_url(url, password=password, socket_timeout=2)
    try:

        async def pongs() -> bool:
            with contextlib.suppress(RedisConnectionError):
                return bool(await client.ping())
            return False

        await wait_until(pongs, check_alive, timeout, name, log_path, url)
    finally:
        await client.close()
