"""What every connection-based transport shares: the StreamBridge and the registry of its calls.

WebSocket media streams, Asterisk AudioSocket and the local sound device each carry one call
over one connection. ``StreamBridge`` does the common work so a transport only says how a frame
goes on its wire: inbound chunks of any size are reframed to 20 ms; outbound audio is paced in
real time by a ``Pacer`` (never queued ahead, so barge-in silences the caller at once) and
handed, frame by frame, to one writer task that awaits the wire; a peer that stops reading is
detected by the writer's backlog and the call is ended as failed with that reason. When the
caller sends nothing for a moment, silence frames keep the session's endpointer clock running.

Caller input is policed (``telephony.policing``): audio no faster than real time plus a burst,
digits and messages at most so many per second; the excess is dropped and counted, and a peer
that keeps flooding is closed as bad input.

``StreamCalls`` keeps a transport's connections, live calls and counters (for ``/metrics``),
runs each call's session callback in isolation, and hangs every call up when the server stops.
Every connection, started or not, holds one of ``max_calls`` places from the moment it is
accepted, and at most ``max_unstarted`` of them may still be waiting for their start message:
a transport asks ``admit`` before the handshake (before reading a byte), so a crowd of silent
connections can neither exhaust the process nor take the places of real calls for long. A
server about to restart calls ``stop_admitting``: from then on every new connection is refused
the same way. Refusals and rejections are counted one by one but logged through a
``LogThrottle``, so a flood of them cannot flood the log.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from logfields import fields
from telephony.bridge import AudioIn, BridgeEvent, CallBridge, CallInfo, DtmfIn, Hangup
from telephony.events import EventChannel
from telephony.handoff import HandoffBoard
from telephony.logthrottle import LogThrottle
from telephony.pacing import Pacer
from telephony.policing import InputPolicer, InputRate, SourceRate

log = logging.getLogger(__name__)

RX_IDLE_TICKS = 10
"""After 200 ms without caller audio, silence frames are delivered in real time."""
MAX_BACKLOG_MS = 2000
"""Outbound audio waiting for a peer that does not read; beyond this the call is failed."""
HANGUP_FLUSH_S = 2.0
"""How long a bot hang-up waits for the last words and the hang-up to reach the wire."""

HANDOFF = "handoff"
"""Hang-up reason when the bot hands the caller back to the platform for an agent."""

OnCall = Callable[[CallBridge], Awaitable[None]]


Command = Callable[[], Awaitable[None]]
"""A control message to put on the wire in order with the audio frames around it."""


@dataclass(frozen=True)
class StreamLimits:
    """What one stream transport allows its peers (its settings, as plain values)."""

    max_calls: int = 32
    """Connections at once, started or not; more are refused before the handshake."""
    max_unstarted: int = 8
    """Connections at once that have not sent their start message yet."""
    max_calls_per_source: int = 4
    """Connections at once from one address that proved nothing (no token, signature or
    allow-list configured): one unverified peer cannot take every line."""
    connections_per_minute_per_source: float = 30.0
    """Connections such an address may open per minute, after a burst of
    ``max_calls_per_source``: every call costs a record, a recording and the assistant's
    greeting, so one peer dropping and redialling in a loop would starve the others."""
    start_timeout_s: float = 10.0
    """How long a new connection may take to send its start message."""
    idle_timeout_s: float = 30.0
    """A live call whose peer sends nothing for this long is closed (peers send constantly)."""
    input_rate: InputRate = field(default_factory=InputRate)


DEFAULT_LIMITS = StreamLimits()


class StreamBridge(CallBridge):
    """A call carried over one connection; subclasses put frames and commands on their wire."""

    send_filler = True
    """Whether silence goes on the wire while the bot is quiet (false when the peer makes it)."""
    handoff_board: HandoffBoard | None = None
    """Where ``transfer`` leaves the handoff for the platform to ask about (set by the server)."""

    def __init__(
        self,
        info: CallInfo,
        *,
        max_backlog_ms: int = MAX_BACKLOG_MS,
        input_rate: InputRate | None = None,
    ) -> None:
        """``input_rate`` polices what the peer sends; None (a local device) trusts it."""
        super().__init__(info)
        self.events = EventChannel()
        self.pacer = Pacer(self._tick, rate=self.rate, frame_ms=self.frame_ms)
        self.frame_bytes = self.pacer.frame_bytes
        self.ended: Hangup | None = None
        self.counters: Counter[str] = Counter()
        self.policer = InputPolicer(input_rate, self.rate * 2) if input_rate is not None else None
        self._rx = bytearray()
        self._rx_idle = 0
        self._outbox: deque[bytes | Command] = deque()
        self._wake = asyncio.Event()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._max_backlog = max(1, max_backlog_ms // self.frame_ms)
        self._writer: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._by_bot = False

    # -- the transport's side -------------------------------------------------------------

    def start(self) -> None:
        """Start the outbound clock and the writer (the call is live). A call that already
        ended keeps its clock stopped (``Pacer.stop`` is final); its writer still closes the
        connection with the reason."""
        self.pacer.start()
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.info.call_id}")

    def audio_in(self, pcm: bytes) -> None:
        """Caller audio of any length (16-bit PCM at the bridge rate), delivered as 20 ms frames."""
        if self.ended is not None:
            return
        self._rx_idle = 0
        self.counters["rx_audio_bytes"] += len(pcm)
        if self.policer is not None:
            pcm = self.policer.audio(pcm)
            self._check_flood()
        self._rx += pcm
        size = self.frame_bytes
        while len(self._rx) >= size:
            self.events.put(AudioIn(bytes(self._rx[:size])))
            del self._rx[:size]

    def message_in(self) -> bool:
        """A message (frame) arrived: whether to parse it, or drop it as over the rate."""
        if self.policer is None or self.policer.message():
            return True
        self._check_flood()
        return False

    def dtmf_in(self, digit: str) -> None:
        if self.ended is not None:
            return
        self.counters["rx_dtmf"] += 1
        if self.policer is not None and not self.policer.dtmf():
            self._check_flood()
            return
        self.events.put(DtmfIn(digit))

    def _check_flood(self) -> None:
        if self.policer is not None and self.policer.flooding:
            self.bad_input("the caller sends faster than real time (flood)")

    def bad_input(self, reason: str) -> None:
        """Bad input on this call: count it and fail the call with the reason."""
        if self.ended is None:
            self.counters["bad_input_closed"] += 1
            self.end(f"bad input: {reason}", failed=True)

    def went_idle(self, timeout_s: float) -> None:
        """The peer sent nothing for ``timeout_s``: fail the call (a live peer always sends)."""
        if self.ended is None:
            self.counters["idle_closed"] += 1
            self.end(f"idle: nothing received for {timeout_s:g} s", failed=True)

    def pause_sending(self, paused: bool) -> None:
        """Peer flow control (MEDIA_XOFF/XON): hold outbound audio; the backlog still counts."""
        if paused:
            self._flowing.clear()
        else:
            self._flowing.set()

    def send_command(self, command: Command) -> None:
        """Queue a control message behind the audio frames already queued."""
        if self.ended is None:
            self._outbox.append(command)
            self._wake.set()

    def end(self, reason: str, failed: bool = False, by_bot: bool = False) -> None:
        """The call is over: peer hang-up, closed connection, bad input (``failed``), or the bot.

        A bot hang-up lets the writer put the last queued frames and the hang-up on the wire;
        otherwise the writer stops at once and the connection is closed.
        """
        if self.ended is not None:
            return
        self.ended = Hangup(reason, failed)
        self.pacer.stop()
        self.events.put(self.ended)
        if failed:
            self.counters["calls_failed"] += 1
            log.warning(
                "stream.call_failed",
                extra=fields(
                    transport=self.info.transport, call_id=self.info.call_id, reason=reason
                ),
            )
        self._by_bot = by_bot
        self._wake.set()
        self._flowing.set()
        if not by_bot and self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()

    # -- what a transport implements ------------------------------------------------------

    @abc.abstractmethod
    async def write_audio(self, frame: bytes) -> None:
        """Put one 20 ms PCM frame on the wire."""

    async def write_clear(self) -> None:
        """Tell the peer to drop audio it buffered (nothing to do if it buffers none)."""

    async def write_hangup(self, reason: str) -> None:
        """Tell the peer the bot ends the call (before the connection closes)."""

    async def close_wire(self) -> None:
        """Close the connection."""

    async def playout_done(self) -> None:
        """After the last frame was sent: wait until the peer played it (e.g. a Twilio mark)."""

    # -- CallBridge -----------------------------------------------------------------------

    async def receive(self) -> BridgeEvent:
        return await self.events.get()

    async def play(self, pcm: bytes) -> None:
        if self.ended is None:
            self.pacer.play(pcm)

    async def wait_played(self) -> None:
        await self.pacer.wait_played()
        if self.ended is None:
            await self.playout_done()

    def clear_audio(self) -> None:
        self.pacer.clear()
        commands = [item for item in self._outbox if not isinstance(item, bytes)]
        self.counters["tx_cleared_frames"] += len(self._outbox) - len(commands)
        self._outbox = deque(commands)
        self.send_command(self.write_clear)

    @property
    def playing(self) -> bool:
        return self.pacer.playing

    async def send_dtmf(self, digits: str) -> None:
        """These transports carry no outbound keypad signalling; the digits are logged only."""
        log.info(
            "stream.dtmf_not_sent",
            extra=fields(transport=self.info.transport, call_id=self.info.call_id),
        )

    async def transfer(self, target: str, context: Mapping[str, Any]) -> bool:
        """Hand the call back to the platform that streamed it to us.

        These wires carry no transfer request. The bot leaves the stream instead, and the
        platform's next step takes the caller on: the dialplan after ``AudioSocket()`` or
        ``Dial(WebSocket/...)``, the TwiML after ``<Connect>``. That step must lead to the
        agent queue: it asks the bot's HTTP server (``GET /calls/{id}/next``, README), which
        answers from ``handoff_board``.
        """
        if self.ended is not None:
            return False
        if self.handoff_board is not None:
            self.handoff_board.post(self.info.call_id, target, str(context.get("reason", "")))
        log.info(
            "stream.handed_back",
            extra=fields(
                transport=self.info.transport,
                call_id=self.info.call_id,
                target=target,
                reason=context.get("reason", ""),
            ),
        )
        await self.hangup(HANDOFF)
        return True

    async def hangup(self, reason: str = "bot") -> None:
        self.end(reason, by_bot=True)
        writer = self._writer
        if writer is None:
            self._closed.set()
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._closed.wait()), HANGUP_FLUSH_S)
        except asyncio.TimeoutError:
            writer.cancel()
            await self._closed.wait()

    def stats(self) -> dict[str, int]:
        dropped = {"rx_events_dropped": self.events.dropped}
        if self.policer is not None:
            dropped["rx_audio_dropped_ms"] = (
                self.policer.dropped_audio_bytes * 1000 // (self.rate * 2)
            )
            dropped["rx_dtmf_dropped"] = self.policer.dropped_dtmf
            dropped["rx_messages_dropped"] = self.policer.dropped_messages
        return {**self.counters, **dropped, **self.pacer.stats()}

    # -- the clock and the writer ---------------------------------------------------------

    def _tick(self, frame: bytes) -> None:
        self.frame_sent(frame)
        self._rx_idle += 1
        if self._rx_idle > RX_IDLE_TICKS:
            self.counters["rx_fill_frames"] += 1
            self.events.put(AudioIn(self.pacer.silence_frame))
        if self.pacer.frame_is_filler and not self.send_filler:
            return
        self._outbox.append(frame)
        self._wake.set()
        if len(self._outbox) > self._max_backlog:
            self._outbox.clear()
            self.end("peer stopped reading (outbound audio backlog)", failed=True)

    async def _write_loop(self) -> None:
        try:
            while self.ended is None or (self._by_bot and self._outbox):
                if not self._outbox:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                item = self._outbox.popleft()
                if not isinstance(item, bytes):
                    await item()
                    continue
                await self._flowing.wait()
                await self.write_audio(item)
                self.counters["tx_frames"] += 1
            if self._by_bot and self.ended is not None:
                await self.write_hangup(self.ended.reason)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the wire broke: this call ends, nothing else
            self.end(f"connection lost while sending: {exc}")
        finally:
            try:
                with contextlib.suppress(Exception):
                    await self.close_wire()
            finally:
                self._closed.set()  # even if closing was cut short by a cancel


@dataclass(eq=False)
class Place:
    """A connection's hold on one of its transport's ``max_calls`` places, until it closes."""

    peer: str
    host: str = ""
    """The peer's address, for the per-source bound ("" for a proven peer: not bounded)."""
    started: bool = False
    """The start message arrived: the connection is a call, not a pending stranger."""


class StreamCalls:
    """The connections, live calls and counters of one stream transport."""

    def __init__(self, transport: str, on_call: OnCall, limits: StreamLimits) -> None:
        self.transport = transport
        self.on_call = on_call
        self.limits = limits
        self.counters: Counter[str] = Counter()
        self._places: set[Place] = set()
        self._source_rate = SourceRate(
            limits.connections_per_minute_per_source, limits.max_calls_per_source
        )
        self._bridges: set[StreamBridge] = set()
        self._ended_totals: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._admitting = True
        self.node_full: Callable[[], bool] | None = None
        """Asked before a connection is admitted (None: only ``max_calls`` applies): True while
        the server as a whole holds as many calls as it may (every way in together); the
        connection is then refused like one beyond ``max_calls``."""
        self._log = LogThrottle(log)

    def stop_admitting(self) -> None:
        """Refuse every new connection from now on (the server drains before a restart)."""
        self._admitting = False

    @property
    def held(self) -> int:
        """Connections that hold a place, started or not."""
        return len(self._places)

    @property
    def unstarted(self) -> int:
        return sum(1 for place in self._places if not place.started)

    def admit(self, peer: str, unproven_host: str = "") -> Place | None:
        """A place for a new connection, or None (refused, counted) when the transport is full.

        Asked before the handshake: a refused peer costs no WebSocket and no read.
        ``unproven_host``: the address of a peer that proved nothing (no proof is configured);
        such an address holds at most ``max_calls_per_source`` places and opens at most
        ``connections_per_minute_per_source`` connections a minute after a burst.
        """
        if not self._admitting:
            self.refuse("draining", peer, "the server is draining before a restart")
            return None
        if len(self._places) >= self.limits.max_calls:
            self.refuse("busy", peer, f"{len(self._places)} connections open (max_calls)")
            return None
        if self.node_full is not None and self.node_full():
            self.refuse("node_full", peer, "the server holds all the calls it may (max_calls)")
            return None
        if self.unstarted >= self.limits.max_unstarted:
            self.refuse("unstarted", peer, f"{self.unstarted} connections not started yet")
            return None
        if unproven_host:
            held = sum(1 for place in self._places if place.host == unproven_host)
            if held >= self.limits.max_calls_per_source:
                self.refuse("source_busy", peer, f"{held} connections from this address")
                return None
            if not self._source_rate.take(unproven_host):
                self.refuse("source_rate", peer, "too many new connections from this address")
                return None
        place = Place(peer, unproven_host)
        self._places.add(place)
        return place

    def leave(self, place: Place) -> None:
        """The connection closed: its place is free."""
        self._places.discard(place)

    def reject(self, why: str, peer: str, detail: str) -> None:
        """A connection closed before it became a call (bad first message, timeout)."""
        self.counters[f"connections_rejected_{why}"] += 1
        self._log.warning(
            ("rejected", why),
            "%s connection from %s closed (%s): %s",
            self.transport,
            peer,
            why,
            detail,
        )

    def refuse(self, why: str, peer: str, detail: str) -> None:
        """A connection refused before the handshake (no proof, untrusted source, full).

        ``detail`` says what was missing or wrong, never the secret that was presented.
        """
        self.counters[f"refused_{why}"] += 1
        self._log.warning(
            ("refused", why),
            "%s connection from %s refused (%s): %s",
            self.transport,
            peer,
            why,
            detail,
        )

    def spawn(self, bridge: StreamBridge) -> asyncio.Task[None]:
        """Start the call's session; it runs until the callback returns or the peer leaves."""
        task = asyncio.create_task(self._run(bridge), name=f"call-{bridge.info.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, bridge: StreamBridge) -> None:
        self._bridges.add(bridge)
        self.counters["calls_started"] += 1
        bridge.start()
        try:
            await self.on_call(bridge)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counters["callback_errors"] += 1
            log.exception(
                "stream.callback_failed",
                extra=fields(transport=self.transport, call_id=bridge.info.call_id),
            )
        finally:
            await bridge.hangup("bot finished")
            self._bridges.discard(bridge)
            self._ended_totals.update(bridge.stats())
            self.counters["calls_ended"] += 1

    async def stop(self, grace_s: float = 10.0) -> None:
        """Hang up every call and wait (a bounded time) for their sessions to finish."""
        for bridge in list(self._bridges):
            bridge.end("server shutdown", by_bot=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()

    def stats(self) -> dict[str, int]:
        totals = Counter(self._ended_totals)
        for bridge in self._bridges:
            totals.update(bridge.stats())
        out: dict[str, int] = {
            "calls_started": 0,
            "calls_ended": 0,
            "calls_failed": 0,
            "bad_input_closed": 0,
            "refused_busy": 0,
            "refused_unstarted": 0,
            "refused_source_busy": 0,
            "refused_source_rate": 0,
            "refused_draining": 0,
            "refused_node_full": 0,
            "connections_rejected_start_timeout": 0,
            "idle_closed": 0,
            "rx_audio_dropped_ms": 0,
            "rx_dtmf_dropped": 0,
            "rx_messages_dropped": 0,
            "rx_events_dropped": 0,
            **self.counters,
        }
        out.update(totals)
        out["active_calls"] = len(self._bridges)
        out["open_connections"] = self.held
        out["unstarted_connections"] = self.unstarted
        return out
