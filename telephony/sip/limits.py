"""Bounds on what SIP peers may make the server hold or send: the limits and a flood detector.

``SipLimits`` gathers the configurable bounds as plain values (the application fills them from
its config). ``Pike`` is a per-source flood detector in the manner of Kamailio's pike module:
each source address gets a sampling window of ``window_s`` seconds; a source that sends more
than ``requests`` messages, or more than ``invites`` INVITEs, within one window is banned for
``ban_s`` seconds, during which everything it sends is dropped unanswered (answering would
reflect the flood at whoever's address it forged). When the ban ends the source starts a fresh
window: a flood that goes on is banned again at once. The table of sources is bounded
(``max_sources``); the least recently heard source is forgotten first, so a flooder, heard
constantly, stays tracked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from telephony.lru import LruTable
from telephony.sip.transport import TCP_IDLE_TIMEOUT


@dataclass(frozen=True)
class SipLimits:
    """Every bound the SIP server enforces; 0 switches a pike threshold off."""

    pike_requests: int = 500
    """Messages one source may send per pike window before it is banned."""
    pike_invites: int = 50
    """INVITEs one source may send per pike window before it is banned."""
    pike_window_s: float = 2.0
    """The pike sampling window."""
    pike_ban_s: float = 60.0
    """How long a banned source's messages are dropped."""
    pike_max_sources: int = 10000
    """Sources the pike table tracks at once (least recently heard forgotten first)."""
    max_transactions: int = 4096
    """Server transactions held at once; a request beyond gets 503 without one."""
    max_dialogs: int = 256
    """Dialogs (calls set up, up, or ending) held at once; an INVITE beyond gets 503."""
    max_unconfirmed_per_source: int = 4
    """Calls one source may have ringing or answered-but-not-ACKed; an INVITE beyond gets 486.
    This bounds what an INVITE with a forged source makes us send to its victim."""
    tcp_max_connections: int = 256
    """Accepted SIP TCP connections open at once; more are closed on accept."""
    tcp_max_per_source: int = 16
    """Accepted SIP TCP connections one source address may hold open."""
    tcp_idle_s: float = TCP_IDLE_TIMEOUT
    """A TCP connection without a complete message for this long is closed (unless a call
    uses it)."""
    audio_burst_s: float = 1.0
    """Caller audio (RTP) taken ahead of real time (network jitter); more is dropped."""
    dtmf_per_s: float = 10.0
    """Caller keypad digits (RFC 4733 and SIP INFO together) taken per second; more dropped."""

    def __post_init__(self) -> None:
        for name in (
            "max_transactions",
            "max_dialogs",
            "max_unconfirmed_per_source",
            "tcp_max_connections",
            "tcp_max_per_source",
            "pike_max_sources",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.pike_requests < 0 or self.pike_invites < 0:
            raise ValueError("pike_requests and pike_invites must be >= 0 (0: off)")
        for name in ("pike_window_s", "pike_ban_s", "tcp_idle_s", "audio_burst_s", "dtmf_per_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


@dataclass
class _Rate:
    window_start: float
    requests: int = 0
    invites: int = 0
    banned_until: float = 0.0


class Pike:
    """Per-source message and INVITE density with a temporary ban (see the module docstring)."""

    def __init__(self, limits: SipLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._sources: LruTable[_Rate] = LruTable(limits.pike_max_sources)
        self.bans = 0
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return bool(self.limits.pike_requests or self.limits.pike_invites)

    def admit(self, host: str, invite: bool) -> bool:
        """Count one message from ``host``; False if the source is (now) banned."""
        if not self.enabled:
            return True
        now = self._clock()
        rate = self._sources.touch(host, lambda: _Rate(now))
        if rate.banned_until > now:
            self.dropped += 1
            return False
        if now - rate.window_start >= self.limits.pike_window_s:
            rate.window_start, rate.requests, rate.invites = now, 0, 0
        rate.requests += 1
        rate.invites += invite
        limits = self.limits
        if (limits.pike_requests and rate.requests > limits.pike_requests) or (
            limits.pike_invites and rate.invites > limits.pike_invites
        ):
            rate.banned_until = now + limits.pike_ban_s
            rate.window_start, rate.requests, rate.invites = rate.banned_until, 0, 0
            self.bans += 1
            self.dropped += 1
            return False
        return True

    def banned(self, host: str) -> bool:
        rate = self._sources.get(host)
        return rate is not None and rate.banned_until > self._clock()

    def stats(self) -> dict[str, int]:
        now = self._clock()
        return {
            "pike_bans": self.bans,
            "pike_dropped": self.dropped,
            "pike_sources_forgotten": self._sources.forgotten,
            "pike_sources_tracked": len(self._sources),
            "pike_sources_banned": sum(1 for r in self._sources.values() if r.banned_until > now),
        }
