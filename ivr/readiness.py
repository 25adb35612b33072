"""Waiting for a process just started (a bot, a Rasa server, a cluster node) to answer on HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import aiohttp


async def wait_http(
    url: str, check_alive: Callable[[], None], timeout: float, name: str, log_path: Path
) -> None:
    """Poll ``url`` until it answers 200. ``check_alive`` raises when the process has exited;
    running out of time raises RuntimeError with the end of the process's log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while loop.time() < deadline:
            check_alive()
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{name} not ready at {url} within {timeout:.0f} s:\n{tail}")
