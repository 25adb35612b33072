"""Caller input no faster than real time: token buckets over audio duration and keypad digits.

A phone line carries one second of audio per second. A peer that sends more (a flood, a replay
at full network speed) would fill a call's queues and make its session work faster than the
call runs, so each stream call polices what it receives: audio passes while its bucket (one
second of audio per second, plus ``audio_burst_s`` of slack for network jitter) has room, and
the excess is dropped; keypad digits pass at most ``dtmf_per_s`` per second; and messages of
any kind at most ``messages_per_s`` (each costs a parse, even those that carry nothing to act
on, so the excess is dropped unparsed). A peer whose dropped excess reaches ``flood_close_s``
worth of input (seconds of audio, or that many seconds of digits or messages at the allowed
rate) is flooding on purpose or broken: the call is closed as bad input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from telephony.lru import LruTable


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; starts full."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._at = clock()

    def available(self) -> float:
        """Tokens in the bucket now (refilled for the time since the last look)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens

    def spend(self, amount: float) -> None:
        """Take ``amount`` tokens (no more than ``available()`` said there were)."""
        self._tokens = max(0.0, self._tokens - amount)


@dataclass(frozen=True)
class InputRate:
    """How fast a caller may send: the settings of a transport, as plain values."""

    audio_burst_s: float = 1.0
    """Audio a caller may send ahead of real time (network jitter) before any is dropped."""
    dtmf_per_s: float = 10.0
    """Keypad digits per second (a person presses about 5; 10 leaves room for dialers)."""
    messages_per_s: float = 500.0
    """Messages (or frames) of any kind per second: 50 in practice, a browser's audio worklet
    sends up to 375."""
    flood_close_s: float = 5.0
    """Dropped excess, in seconds of input, at which the call is closed as bad input."""


class InputPolicer:
    """Polices one call's inbound audio and digits; counts what it drops."""

    def __init__(
        self,
        limits: InputRate,
        bytes_per_s: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``bytes_per_s``: the audio's byte rate (16000 for 16-bit PCM at 8 kHz)."""
        self.limits = limits
        self.bytes_per_s = bytes_per_s
        self._audio = TokenBucket(1.0, limits.audio_burst_s, clock)
        self._dtmf = TokenBucket(limits.dtmf_per_s, limits.dtmf_per_s, clock)
        self._messages = TokenBucket(limits.messages_per_s, limits.messages_per_s, clock)
        self.dropped_audio_bytes = 0
        self.dropped_dtmf = 0
        self.dropped_messages = 0

    def audio(self, pcm: bytes) -> bytes:
        """The part of ``pcm`` (whole 16-bit samples) within the rate; the rest is dropped."""
        room = int(self._audio.available() * self.bytes_per_s) // 2 * 2
        keep = min(len(pcm), room)
        self._audio.spend(keep / self.bytes_per_s)
        self.dropped_audio_bytes += len(pcm) - keep
        return pcm if keep == len(pcm) else pcm[:keep]

    def dtmf(self) -> bool:
        """Whether one more digit is within the rate (else it is dropped)."""
        if _take_one(self._dtmf):
            return True
        self.dropped_dtmf += 1
        return False

    def message(self) -> bool:
        """Whether one more message is within the rate (else it is dropped unparsed)."""
        if _take_one(self._messages):
            return True
        self.dropped_messages += 1
        return False

    @property
    def flooding(self) -> bool:
        """The dropped excess reached ``flood_close_s`` worth of audio or of digits."""
        limit = self.limits.flood_close_s
        return (
            self.dropped_audio_bytes >= limit * self.bytes_per_s
            or self.dropped_dtmf >= limit * self.limits.dtmf_per_s
            or self.dropped_messages >= limit * self.limits.messages_per_s
        )


def _take_one(bucket: TokenBucket) -> bool:
    if bucket.available() >= 1.0:
        bucket.spend(1.0)
        return True
    return False


class SourceRate:
    """New connections per address: ``burst`` at once, then ``per_minute``; the table of
    addresses holds at most ``max_sources`` (the least recently seen is forgotten first)."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        max_sources: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: LruTable[TokenBucket] = LruTable(max_sources)

    def __len__(self) -> int:
        """Addresses tracked now."""
        return len(self._buckets)

    def take(self, host: str) -> bool:
        """Whether ``host`` may open one more connection now (counted if so)."""
        return _take_one(self._buckets.touch(host, self._new_bucket))

    def _new_bucket(self) -> TokenBucket:
        return TokenBucket(self.per_minute / 60.0, self.burst, self._clock)
