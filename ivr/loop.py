"""Keep the process on the standard asyncio event loop, whatever Rasa's dependencies import.

Importing Rasa's agent imports aiogram and Sanic, and both switch the process-wide asyncio policy
to uvloop as an import side effect. A loop created before that import stays a plain asyncio loop
living under a uvloop policy, which breaks subprocesses and makes later loops a different kind.
``keep_asyncio_loop`` imports those two modules once, up front, and undoes their side effect, so
every loop in the process is the standard one the transports are tested on.
"""

from __future__ import annotations

import asyncio
import importlib

_POLICY_SWITCHERS = ("aiogram", "sanic.server")
"""Modules that set the uvloop policy when first imported (Rasa 3.6's dependency set)."""


def keep_asyncio_loop() -> None:
    """Import the policy-switching modules now and restore the default policy (idempotent)."""
    for name in _POLICY_SWITCHERS:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    asyncio.set_event_loop_policy(None)
