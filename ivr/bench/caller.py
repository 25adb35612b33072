"""The load generator's caller: one SIP call that speaks G.711 in real time and times the bot.

The caller sends one PCMU packet every 20 ms for the whole call (silence between its lines, as a
phone does), says a line, and notes the moment the packet carrying its last voiced frame left.
The turn's latency is measured on the wire: from that moment to the arrival of the first RTP
packet of the bot's reply (the talkspurt start, marker bit set, RFC 3551 section 4.1). It then
listens until the bot has been quiet for a moment (or for at most ``listen_cap_s``, after which
it talks over the bot) and says its next line. Callers wait for the bot to finish: talking
over it (barge-in) clips the caller's first words in the echo canceller, which would measure a
different conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.bench.uac import SipCallError, SipUac
from speech.g711 import ulaw_encode
from telephony.rtp import PT_PCMU, RTP_HEADER_LENGTH, is_rtcp, pack_rtp

FRAME_S = 0.02
FRAME_SAMPLES = 160
SILENCE_PAYLOAD = ulaw_encode(bytes(FRAME_SAMPLES * 2))
"""The bot's filler between replies is digital silence: this exact payload."""
REPLY_TIMEOUT_S = 5.0
"""A reply that has not started this long after the caller stopped counts as missing."""
QUIET_S = 0.6
"""The bot's reply is over when no audio has arrived for this long (longer than the pause
between two messages of one reply)."""
THINK_S = 0.2
"""Pause between the end of the bot's reply and the caller's next line."""
GREETING_CAP_S = 20.0


@dataclass(frozen=True)
class CallerLine:
    """One thing the caller says: 20 ms PCMU payloads and the index of its last voiced frame."""

    text: str
    payloads: tuple[bytes, ...]
    last_voiced: int


@dataclass
class TurnTiming:
    """One caller turn as seen on the wire."""

    text: str
    latency_ms: float | None
    """Caller's last voiced frame sent -> first RTP packet of the bot's reply; None: no reply."""


@dataclass
class CallResult:
    """What one call did: its turns, and whether it ended as planned."""

    call_id: str
    turns: list[TurnTiming] = field(default_factory=list)
    error: str = ""
    bot_hangup: bool = False
    rx_packets: int = 0
    tx_packets: int = 0
    node: str = ""
    """The address the bot's media came from: which node answered, behind a SIP front."""


class CallerRtp(asyncio.DatagramProtocol):
    """The caller's RTP socket: paced sending of queued lines, arrival times of bot audio."""

    def __init__(self) -> None:
        self.port = 0
        self.rx_packets = 0
        self.tx_packets = 0
        self.last_audio_at = 0.0
        """Loop time the latest non-silent bot packet arrived."""
        self._transport: asyncio.DatagramTransport | None = None
        self._remote: tuple[str, int] | None = None
        self._queue: deque[tuple[bytes, asyncio.Future[float] | None]] = deque()
        self._talkspurts: list[float] = []
        self._talkspurt = asyncio.Event()
        self._audible = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)

    async def open(self, host: str = "127.0.0.1") -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, 0))
        assert self._transport is not None
        self.port = self._transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < RTP_HEADER_LENGTH or is_rtcp(data):
            return
        if data[1] & 0x7F != PT_PCMU:
            return
        self.rx_packets += 1
        now = asyncio.get_running_loop().time()
        if data[1] & 0x80:
            self._talkspurts.append(now)
            self._talkspurt.set()
        if data[RTP_HEADER_LENGTH:] != SILENCE_PAYLOAD:
            self.last_audio_at = now
            self._audible.set()

    def start(self, remote: tuple[str, int]) -> None:
        self._remote = remote
        self._sender = asyncio.create_task(self._send_loop())

    def say(self, line: CallerLine) -> asyncio.Future[float]:
        """Queue a line; the future gets the loop time its last voiced frame was sent."""
        voiced: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        for index, payload in enumerate(line.payloads):
            self._queue.append((payload, voiced if index == line.last_voiced else None))
        return voiced

    async def reply_after(self, since: float, timeout: float) -> float | None:
        """Arrival time of the first talkspurt start after ``since``; None at timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = next((t for t in self._talkspurts if t > since), None)
            if found is not None:
                return found
            self._talkspurt.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._talkspurt.wait(), remaining)

    async def audible(self, timeout: float) -> None:
        """Wait (at most ``timeout``) for the first bot packet that is not silence.

        The bot's RTP stream starts with silence (and a talkspurt mark) as soon as the call is
        answered, before its greeting is ready: only sound means the greeting has begun.
        """
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._audible.wait(), timeout)

    async def quiet(self, since: float, cap_s: float) -> None:
        """Wait until the bot has sent no audio for ``QUIET_S``, at most ``cap_s`` after since."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if now - max(self.last_audio_at, since) >= QUIET_S or now - since >= cap_s:
                return
            await asyncio.sleep(0.05)

    async def _send_loop(self) -> None:
        """One packet per 20 ms on an absolute schedule, so timing errors never accumulate."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        talking = False
        while self._transport is not None and not self._transport.is_closing():
            payload, voiced = self._queue.popleft() if self._queue else (SILENCE_PAYLOAD, None)
            speech = payload is not SILENCE_PAYLOAD
            packet = pack_rtp(
                PT_PCMU, speech and not talking, self._seq, self._ts, self._ssrc, payload
            )
            talking = speech
            assert self._remote is not None
            self._transport.sendto(packet, self._remote)
            if voiced is not None and not voiced.done():
                voiced.set_result(loop.time())
            self.tx_packets += 1
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * FRAME_S - loop.time()))

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._transport is not None:
            self._transport.close()


async def place_call(
    server: tuple[str, int],
    lines: list[CallerLine],
    turns: int,
    until: float,
    listen_cap_s: float = 12.0,
    first_line: int = 0,
    min_turns: int = 0,
    on_media: Callable[[tuple[str, int]], None] | None = None,
) -> CallResult:
    """Call the bot, wait out its greeting, say ``turns`` lines (cycling), hang up.

    Stops early at loop time ``until`` (but not before ``min_turns`` lines: a script that must
    be completed) or when the bot hangs up; never raises for a failed call (the error is in
    the result), so one bad call does not end a load level. ``on_media`` learns the bot's RTP
    address once the call is answered.
    """
    loop = asyncio.get_running_loop()
    uac = SipUac(server)
    rtp = CallerRtp()
    result = CallResult(call_id=uac.call_id)
    try:
        await uac.open()
        await rtp.open()
        media = await uac.invite(rtp.port)
        rtp.start((media.remote_address, media.remote_port))
        result.node = media.remote_address
        if on_media is not None:
            on_media((media.remote_address, media.remote_port))
        answered = loop.time()
        # Speak only once the greeting has been heard out: a caller talking over a greeting
        # that cannot be interrupted is cut into fragments, and those turns measure nothing.
        await rtp.audible(REPLY_TIMEOUT_S)
        await rtp.quiet(answered, GREETING_CAP_S)
        for turn in range(turns):
            if uac.ended.is_set() or (turn >= min_turns and loop.time() >= until):
                break
            line = lines[(first_line + turn) % len(lines)]
            voiced_at = await rtp.say(line)
            reply = await rtp.reply_after(voiced_at, REPLY_TIMEOUT_S)
            latency = round((reply - voiced_at) * 1000, 1) if reply is not None else None
            result.turns.append(TurnTiming(line.text, latency))
            await rtp.quiet(reply or loop.time(), listen_cap_s)
            await asyncio.sleep(THINK_S)
    except (SipCallError, OSError) as exc:
        result.error = str(exc)
    finally:
        await uac.bye()
        result.bot_hangup = uac.bot_hangup
        result.rx_packets, result.tx_packets = rtp.rx_packets, rtp.tx_packets
        await rtp.close()
        uac.close()
    return result
