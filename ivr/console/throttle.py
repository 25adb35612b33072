"""Failed log-ins counted per user name and per client address, in tables of bounded size.

A name or an address with too many failures inside the window is refused before its password
is checked, whether or not the name exists, so a refusal says nothing about who has an account.
Each attempt counts as a failure from before its check (parallel guesses get no free tries)
until it succeeds: then the name's failures are forgiven, and the address's one attempt.
The tables forget their least recently seen key when full (``telephony.lru``), so a flood of
names or addresses costs bounded memory.

Behind a reverse proxy every request comes from the proxy's address: the per-address limit
then counts everybody together (raise ``console.max_failures_per_address``), while the
per-name limit still holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial

from telephony.lru import LruTable

MAX_TRACKED = 10_000
"""Names, and separately addresses, remembered at once."""


class LoginThrottle:
    """Failure counts in a sliding window, per name and per address."""

    def __init__(
        self,
        per_name: int,
        per_address: int,
        window_s: float,
        clock: Callable[[], float],
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self._limits = {"name": per_name, "address": per_address}
        self._failures: dict[str, LruTable[deque[float]]] = {
            kind: LruTable(max_tracked) for kind in self._limits
        }

    def retry_after(self, name: str, address: str) -> float:
        """0 when this name may try from this address now, else the seconds to wait."""
        now = self.clock()
        wait = 0.0
        for kind, key in (("name", name), ("address", address)):
            times = self._failures[kind].get(key)
            if times is None:
                continue
            recent = [t for t in times if now - t < self.window_s]
            if len(recent) >= self._limits[kind]:
                wait = max(wait, recent[-self._limits[kind]] + self.window_s - now)
        return wait

    def attempt(self, name: str, address: str) -> None:
        """Count an attempt as a failure until ``succeeded`` says otherwise."""
        now = self.clock()
        for kind, key in (("name", name), ("address", address)):
            make = partial(deque[float], maxlen=self._limits[kind])
            self._failures[kind].touch(key, make).append(now)

    def succeeded(self, name: str, address: str) -> None:
        """The attempt was right: the name starts afresh, the address gets its try back."""
        times = self._failures["name"].get(name)
        if times is not None:
            times.clear()
        times = self._failures["address"].get(address)
        if times:
            times.pop()
