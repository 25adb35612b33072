"""``python -m ivr.bench.host SPEC``: several bots in one process for the bench's engine variants.

SPEC is a JSON list of ``--set`` setting lists, one per bot. Bots whose dialogue settings are
equal share one started assistant; each has its own engines, SIP and HTTP ports and stores.
Runs until SIGTERM/SIGINT, then stops every bot politely.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

from dialogue.protocol import DialogueClient
from ivr.config import load_config
from ivr.logs import configure_logging
from ivr.loop import keep_asyncio_loop
from ivr.server import BotServer
from ivr.services import Services, start_services


async def serve(settings: list[list[str]]) -> None:
    servers: list[BotServer] = []
    services: list[Services] = []
    assistants: dict[str, DialogueClient] = {}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for overrides in settings:
            config = load_config(overrides=overrides)
            key = json.dumps(config.as_dict()["dialogue"], sort_keys=True)
            started = await start_services(config, assistants.get(key))
            assistants.setdefault(key, started.dialogue)
            services.append(started)
            server = BotServer(config, started)
            await server.start()
            servers.append(server)
        await stop.wait()
    finally:
        for server in servers:
            await server.stop()
        for assistant in assistants.values():
            with contextlib.suppress(Exception):
                await assistant.close()
        for started in services:
            started.asr.shutdown()
            started.records.close()


def main() -> None:
    keep_asyncio_loop()
    settings = json.loads(Path(sys.argv[1]).read_text())
    config = load_config(overrides=settings[0])
    configure_logging(config.logging.level, config.logging.format)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
