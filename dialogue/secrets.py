"""A one-time, short-lived, in-memory vault that keeps PINs out of Rasa (tokenisation).

The dialogue client deposits digits the caller typed or spoke at a secure prompt and sends
Rasa only the opaque token (``secret:<32 hex>``). The PIN-checking action redeems the token,
which deletes it, and checks the digits against the salted hash. Nothing here touches disk
or logs: values live in this process's memory for at most ``ttl_s`` seconds.

The vault is per process, so the action server that redeems tokens runs in the same process
as the client that deposits them (see ``dialogue.action_server``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable

TOKEN_PREFIX = "secret:"
TOKEN_PATTERN = re.compile(r"secret:[0-9a-f]{32}")
DEFAULT_TTL_S = 120.0


def is_token(value: object) -> bool:
    """True for a string that is exactly one vault token."""
    return isinstance(value, str) and TOKEN_PATTERN.fullmatch(value) is not None


class SecretVault:
    """Tokens in, secrets out once; expired entries are dropped on every access."""

    def __init__(
        self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def deposit(self, value: str) -> str:
        """Store ``value`` and return a fresh opaque token for it."""
        token = TOKEN_PREFIX + secrets.token_hex(16)
        with self._lock:
            self._purge()
            self._items[token] = (value, self._clock() + self._ttl_s)
        return token

    def redeem(self, token: str) -> str | None:
        """The value behind ``token``, deleting it; ``None`` if unknown, used or expired."""
        with self._lock:
            self._purge()
            item = self._items.pop(token, None)
        return None if item is None else item[0]

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _purge(self) -> None:
        now = self._clock()
        for token in [t for t, (_, expires) in self._items.items() if expires <= now]:
            del self._items[token]

    def __repr__(self) -> str:  # never show values
        return f"<SecretVault {len(self._items)} item(s)>"


default_vault = SecretVault()
"""The process-wide vault shared by the dialogue client and the in-process action server."""
