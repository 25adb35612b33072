"""The transport-neutral call interface the CallSession sees: audio and events in, audio out.

Every transport (SIP/RTP, WebSocket media streams, AudioSocket, the local microphone) presents each
call as a ``CallBridge``. The session never learns which transport it is talking to; bridges never
learn about dialogue or speech recognition.

Audio both ways is 16-bit mono PCM at ``CALL_RATE`` in frames of ``frame_ms``. Outbound audio is
paced by the bridge in real time (``telephony.pacing``), never queued far ahead, so that
``clear_audio()`` on barge-in silences the caller's ear at once.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CALL_RATE = 8000
"""The rate of call audio between every bridge and the session: G.711's 8 kHz, which SIP/RTP,
Twilio and AudioSocket carry by definition (the PCM stream resamples its client's rate to it).
A QA line imitating one of them runs at it too, so QA tests the path production runs."""

Transport = Literal["sip", "websocket", "audiosocket", "local", "console"]
"""Which way a call came in; ``console``: a PCM media stream from the bot's own web console,
whose user the console proved (``telephony.websocket.server.Vouched``)."""


@dataclass(frozen=True)
class AudioIn:
    """One frame of caller audio (16-bit mono PCM at the bridge rate)."""

    pcm: bytes


@dataclass(frozen=True)
class DtmfIn:
    """A keypad digit pressed by the caller: 0-9, *, #, A-D."""

    digit: str


@dataclass(frozen=True)
class Hangup:
    """The call ended from the far side (or the transport failed)."""

    reason: str
    failed: bool = False
    """True when the transport broke (garbage, timeout), not an orderly hang-up."""


BridgeEvent = AudioIn | DtmfIn | Hangup


@dataclass(frozen=True)
class CallInfo:
    """What the transport knows about a new call."""

    call_id: str
    transport: Transport
    caller: str = ""
    """Caller id as the transport gives it (masked before it reaches a log or record)."""
    called: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Transport details worth recording (codec, remote address, custom parameters);
    ``source`` is the network address (host only) the call came from, where there is one."""

    @property
    def identity(self) -> str:
        """Who is calling, as the transport saw it: the key for per-caller limits.

        The caller id when the transport has one (SIP From user, the stream's caller
        parameter), else the network source; ``<transport>:unknown`` when neither is known.
        Only as trustworthy as the way in: a peer that may post any caller id must first be
        authenticated (allow-list, token, signature) for this to mean anything.
        """
        if self.caller:
            return f"caller:{self.caller}"
        source = self.extra.get("source")
        if source:
            return f"source:{source}"
        return f"{self.transport}:unknown"


class CallBridge(abc.ABC):
    """One live call, as the CallSession sees it."""

    rate: int = CALL_RATE
    frame_ms: int = 20

    def __init__(self, info: CallInfo) -> None:
        self.info = info
        self._outbound_taps: list[Callable[[bytes], None]] = []

    def add_outbound_tap(self, tap: Callable[[bytes], None]) -> None:
        """Have ``tap`` called with every frame actually sent to the caller, silence included."""
        self._outbound_taps.append(tap)

    def frame_sent(self, frame: bytes) -> None:
        """Bridges call this for each outbound frame as it goes on the wire (pacer tick)."""
        for tap in self._outbound_taps:
            tap(frame)

    @abc.abstractmethod
    async def receive(self) -> BridgeEvent:
        """Next event from the caller; after a ``Hangup`` it keeps returning that ``Hangup``."""

    @abc.abstractmethod
    async def play(self, pcm: bytes) -> None:
        """Queue bot audio for real-time playout; returns once it is queued (not played)."""

    @abc.abstractmethod
    async def wait_played(self) -> None:
        """Wait until everything queued so far has gone out to the caller (or was cleared)."""

    @abc.abstractmethod
    def clear_audio(self) -> None:
        """Drop queued bot audio at once (barge-in); playout continues with silence."""

    @property
    @abc.abstractmethod
    def playing(self) -> bool:
        """True while queued bot audio remains to be sent."""

    @abc.abstractmethod
    async def send_dtmf(self, digits: str) -> None:
        """Send keypad digits to the far side (e.g. to drive a downstream IVR)."""

    @abc.abstractmethod
    async def transfer(self, target: str, context: Mapping[str, Any]) -> bool:
        """Hand the call to ``target`` (SIP REFER or the transport's equivalent); True if done."""

    @abc.abstractmethod
    async def hangup(self, reason: str = "bot") -> None:
        """End the call from our side; safe to call more than once."""
