"""One recorded call replayed for the web console's call page: the live bot's engines, a fresh
assistant over a demo bank of its own, and a run folder like ``ivr replay`` writes.

Why not the live assistant itself: its custom actions work on the bank the hotline serves. A
replay keys the operator's test PIN against whatever account the recording names (said aloud)
or the operator keys; on the live bank a wrong PIN would count a failure against a real
customer (enough of them lock the customer's telephone banking) and a right one would move real
money. ``ivr replay`` runs on a demo bank for the same reason, through the same factory
(``ivr.services.dialogue_client`` with the run's bank). The speech engines hold no customer
data and are shared, so a replay costs one assistant load (tens of seconds) and no engine load.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from dialogue.protocol import DialogueClient
from ivr.config import Config
from ivr.console.replays import ReplayOrder
from ivr.logs import get_logger
from ivr.qa.compare import ResponseCatalog
from ivr.qa.replay import Original, run_replay
from ivr.qa.results import CallResult
from ivr.qa.run import finish_run, new_run_folder, run_calls, run_config, run_keyring
from ivr.services import Services, dialogue_client
from logfields import fields

log = get_logger(__name__)

Assistant = Callable[[Config], contextlib.AbstractAsyncContextManager[DialogueClient]]


@contextlib.asynccontextmanager
async def fresh_assistant(config: Config) -> AsyncIterator[DialogueClient]:
    """The configured assistant, started for one replay and closed after it."""
    client = dialogue_client(config)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def replay_for_console(
    services: Services, order: ReplayOrder, assistant: Assistant = fresh_assistant
) -> CallResult:
    """Replay ``order``'s recording on the virtual-clock line and compare it with its record."""
    config = services.config
    folder = new_run_folder(config.qa.reports_dir, "console-replay")
    own = run_config(config, folder)
    catalog = ResponseCatalog.from_domain(Path(config.dialogue.project_dir) / "dialogue/domain.yml")
    original = Original(order.call, order.turns)
    keyring = run_keyring(services.recording_keys, folder)
    async with assistant(own) as dialogue:
        bot = dataclasses.replace(services, config=own, dialogue=dialogue)
        [result] = await run_calls(
            bot,
            folder,
            "inprocess",
            True,
            [order.recording],
            lambda path, bridge, records: run_replay(
                path,
                original,
                bridge,
                records,
                catalog,
                keys=order.keys,
                pin=order.pin,
                turn_timeout_s=config.qa.turn_timeout_s,
            ),
            keyring,
            progress=False,
        )
    secrets = (order.pin,) if order.pin else ()
    finish_run(
        folder, "replay", [result], {"fast": True, "from": "console"}, secrets, _quiet, keyring
    )
    log.info("qa.console_replay", extra=fields(call_id=order.call_id, folder=str(folder.root)))
    return result


def _quiet(_line: str) -> None:
    """The run's summary lines: the console shows the result itself."""
