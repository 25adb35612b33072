"""A private event loop in its own thread, where the in-process Rasa agent does its work.

Rasa's per-turn work (NLU featurisation, policy prediction, tracker updates) is mostly Python
and lasts many 20 ms audio frames. Run on the call's event loop it stalls every other call's
audio pacing for that long; on this thread the interpreter switches between it
and the call loop every few milliseconds, so paced audio keeps flowing. All agent work runs on
this one loop, so Rasa itself still sees a single-threaded asyncio program.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class RasaThread:
    """Runs coroutines on a dedicated loop thread; ``run`` awaits them from any other loop."""

    def __init__(self, name: str = "rasa") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the Rasa loop; cancelling the caller cancels it there too."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        """Stop the loop and wait for the thread (idempotent)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
