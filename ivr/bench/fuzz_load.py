"""``python -m ivr.bench.fuzz_load SPEC OUT``: the live fuzz's load generator, in its own process.

It sends :mod:`ivr.bench.mutate` inputs at one bot on 127.0.0.1 (SIP over UDP and TCP, RTP to
the calls' ports and the RTP range, the /media WebSockets, AudioSocket), from its own loopback
address so the bot tells it apart from the real callers. Every way in gets its share of
``count`` inputs, spread evenly over ``span_s`` seconds (a modest, steady rate rather than a
burst), and everything stops at ``span_s`` whatever was sent. Being a separate process keeps the
real callers' 20 ms pacing off its event loop and its CPU time measurable on its own.

SPEC and OUT are JSON files: the targets and budget in, what was sent (by way in and by
mutation) and what came back out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ivr.bench.mutate import (
    audiosocket_input,
    audiosocket_uuid,
    rtp_input,
    sip_input,
    stream_start,
    websocket_input,
)

WAYS_IN = {"sip_udp": 40, "sip_tcp": 12, "rtp": 30, "websocket": 10, "audiosocket": 8}
"""Share of the inputs per way in (percent). Datagrams are cheap to send; the connection-based
ways in cost a TCP handshake (and for WebSockets an HTTP upgrade) every few inputs."""
WORKERS = {"sip_udp": 1, "sip_tcp": 2, "rtp": 1, "websocket": 2, "audiosocket": 2}
"""Concurrent senders per way in (the connection-based ones keep a connection each)."""
INPUTS_PER_CONNECTION = 25
"""A connection-based sender reconnects after at most this many inputs."""
MAIN_PHASE = 0.85
"""Share of the span every way in sends in; what fell short is sent in the rest."""
IO_TIMEOUT_S = 3.0
WS_CLOSE_TIMEOUT_S = 0.5
"""How long closing a WebSocket waits for the bot's close frame (aiohttp's default is 10 s)."""
WS_FORMATS = ("twilio", "asterisk", "pcm")


@dataclass
class FuzzSpec:
    """What to send where: the bot's ports and the budget."""

    host: str
    sip_port: int
    http_port: int
    audiosocket_port: int
    rtp_range: tuple[int, int]
    call_media: list[tuple[str, int]]
    """The real calls' RTP addresses at the bot: half the RTP inputs go there."""
    source: str
    """Loopback address the inputs come from (127.0.0.2: not the real callers' 127.0.0.1)."""
    count: int
    span_s: float
    seed: int


@dataclass
class Tally:
    """What one way in sent, and what it saw back."""

    sent: int = 0
    bytes: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    """SIP status codes, or what became of a connection (``closed_by_bot``, ``refused``, ...)."""

    def add(self, kind: str, size: int) -> None:
        self.sent += 1
        self.bytes += size
        self.kinds[kind] += 1


class Pacer:
    """Spreads ``quota`` sends evenly over ``span_s``; ``next`` is False once either runs out."""

    def __init__(self, quota: int, span_s: float, deadline: float) -> None:
        self.quota = quota
        self.interval = span_s / max(quota, 1)
        self.deadline = deadline
        self.start = time.monotonic()
        self.issued = 0

    @property
    def running(self) -> bool:
        return self.issued < self.quota and time.monotonic() < self.deadline

    async def next(self) -> bool:
        if self.issued >= self.quota or time.monotonic() >= self.deadline:
            return False
        due = self.start + self.issued * self.interval
        ahead = due - time.monotonic()
        if ahead > 0.005:  # sleep in coarse steps: a timer per datagram would cost more than it
            await asyncio.sleep(ahead)
        self.issued += 1
        return time.monotonic() < self.deadline


class _Sink(asyncio.DatagramProtocol):
    """A UDP socket that counts what comes back (SIP responses by status, the bot's RTP)."""

    def __init__(self, tally: Tally, sip: bool) -> None:
        self.tally = tally
        self.sip = sip
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.tally.replies[_status(data) if self.sip else "rtp_from_bot"] += 1

    def error_received(self, exc: Exception) -> None:
        self.tally.replies["icmp_error"] += 1


def _status(data: bytes) -> str:
    """A SIP response's status code, or ``request`` for requests the bot sent us."""
    if data.startswith(b"SIP/2.0 "):
        return data[8:11].decode("ascii", errors="replace")
    return "request"


async def _datagram(spec: FuzzSpec, tally: Tally, sip: bool) -> _Sink:
    loop = asyncio.get_running_loop()
    _, sink = await loop.create_datagram_endpoint(
        lambda: _Sink(tally, sip), local_addr=(spec.source, 0)
    )
    return sink


async def sip_udp(spec: FuzzSpec, pacer: Pacer, rng: random.Random, tally: Tally) -> None:
    sink = await _datagram(spec, tally, sip=True)
    rtp_sink = await _datagram(spec, Tally(), sip=False)
    assert sink.transport is not None and rtp_sink.transport is not None
    source = (spec.source, sink.transport.get_extra_info("sockname")[1])
    sink_port = rtp_sink.transport.get_extra_info("sockname")[1]
    bot = (spec.host, spec.sip_port)
    try:
        while await pacer.next():
            kind, data = sip_input(rng, bot, source, "UDP", sink_port)
            sink.transport.sendto(data, bot)
            tally.add(kind, len(data))
    finally:
        await asyncio.sleep(0.5)  # the last responses
        sink.transport.close()
        rtp_sink.transport.close()


async def rtp(spec: FuzzSpec, pacer: Pacer, rng: random.Random, tally: Tally) -> None:
    sink = await _datagram(spec, tally, sip=False)
    assert sink.transport is not None
    low, high = spec.rtp_range
    try:
        while await pacer.next():
            kind, data = rtp_input(rng)
            if spec.call_media and rng.random() < 0.5:
                target = rng.choice(spec.call_media)
            else:
                target = (spec.host, rng.randint(low, high))
            sink.transport.sendto(data, target)
            tally.add(kind, len(data))
    finally:
        sink.transport.close()


async def _stream_connection(
    spec: FuzzSpec,
    pacer: Pacer,
    tally: Tally,
    port: int,
    make: Callable[[tuple[str, int]], tuple[str, bytes]],
    opening: bytes | None,
) -> bool:
    """One TCP connection: ``opening`` (if any), then mutated inputs until the budget per
    connection, the pacer or the bot ends it. False when the pacer is done."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(spec.host, port, local_addr=(spec.source, 0)), IO_TIMEOUT_S
        )
    except (OSError, asyncio.TimeoutError):
        tally.replies["connect_failed"] += 1
        await asyncio.sleep(0.1)
        return pacer.running
    source = writer.get_extra_info("sockname")
    drain = asyncio.create_task(_drain_stream(reader, tally))
    more = True
    try:
        if opening is not None:
            writer.write(opening)
        for _ in range(INPUTS_PER_CONNECTION):
            if drain.done():
                tally.replies["closed_by_bot"] += 1
                break
            more = await pacer.next()
            if not more:
                break
            kind, data = make(source)
            writer.write(data)
            tally.add(kind, len(data))
            await asyncio.wait_for(writer.drain(), IO_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError):
        tally.replies["write_failed"] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), IO_TIMEOUT_S)
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
    return more


async def _drain_stream(reader: asyncio.StreamReader, tally: Tally) -> None:
    with contextlib.suppress(OSError):
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            for line in chunk.split(b"\r\n"):
                if line.startswith(b"SIP/2.0 "):
                    tally.replies[_status(line)] += 1


async def sip_tcp(spec: FuzzSpec, pacer: Pacer, rng: random.Random, tally: Tally) -> None:
    bot = (spec.host, spec.sip_port)

    def make(source: tuple[str, int]) -> tuple[str, bytes]:
        return sip_input(rng, bot, (source[0], source[1]), "TCP", 9)

    while await _stream_connection(spec, pacer, tally, spec.sip_port, make, None):
        pass


async def audiosocket(spec: FuzzSpec, pacer: Pacer, rng: random.Random, tally: Tally) -> None:
    def make(source: tuple[str, int]) -> tuple[str, bytes]:
        return audiosocket_input(rng)

    while True:
        opening = audiosocket_uuid(rng) if rng.random() < 0.7 else None
        if not await _stream_connection(spec, pacer, tally, spec.audiosocket_port, make, opening):
            return


async def websocket(spec: FuzzSpec, pacer: Pacer, rng: random.Random, tally: Tally) -> None:
    connector = aiohttp.TCPConnector(local_addr=(spec.source, 0), force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, connect=IO_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while await _websocket_connection(spec, pacer, rng, tally, session):
            pass


async def _websocket_connection(
    spec: FuzzSpec,
    pacer: Pacer,
    rng: random.Random,
    tally: Tally,
    session: aiohttp.ClientSession,
) -> bool:
    fmt = rng.choice(WS_FORMATS)
    url = f"http://{spec.host}:{spec.http_port}/media/{fmt}"
    try:
        ws = await session.ws_connect(url, max_msg_size=0, timeout=WS_CLOSE_TIMEOUT_S)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        tally.replies[f"upgrade_refused_{type(exc).__name__}"] += 1
        await asyncio.sleep(0.1)
        return pacer.running
    drain = asyncio.create_task(_drain_ws(ws))
    more = True
    try:
        if rng.random() < 0.5:
            await ws.send_str(stream_start(fmt, rng))
            tally.replies["started"] += 1
        for _ in range(rng.randint(1, INPUTS_PER_CONNECTION)):
            if drain.done():
                tally.replies["closed_by_bot"] += 1
                break
            more = await pacer.next()
            if not more:
                break
            kind, message = websocket_input(fmt, rng)
            if isinstance(message, str):
                await ws.send_str(message)
                tally.add(f"{fmt}:{kind}", len(message))
            else:
                await ws.send_bytes(message)
                tally.add(f"{fmt}:{kind}", len(message))
    except (aiohttp.ClientError, OSError, RuntimeError):
        tally.replies["send_failed"] += 1
    finally:
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(ws.close(), IO_TIMEOUT_S)
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
    return more


async def _drain_ws(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(aiohttp.ClientError, OSError):
        async for _ in ws:
            pass


Sender = Callable[[FuzzSpec, Pacer, random.Random, Tally], Coroutine[Any, Any, None]]
SENDERS: dict[str, Sender] = {
    "sip_udp": sip_udp,
    "sip_tcp": sip_tcp,
    "rtp": rtp,
    "websocket": websocket,
    "audiosocket": audiosocket,
}


async def run(spec: FuzzSpec) -> dict[str, Any]:
    """Send everything; returns the tallies by way in, the duration and this process's CPU."""
    started = time.monotonic()
    deadline = started + spec.span_s
    cpu0 = _cpu_seconds()
    tallies = {name: Tally() for name in SENDERS}
    shares = {name: spec.count * WAYS_IN[name] // 100 for name in SENDERS}
    main_span = spec.span_s * MAIN_PHASE
    outcomes = await _send(spec, shares, main_span, started + main_span, tallies, "")
    # A way in that fell short (the bot closing connections early makes them slow) leaves its
    # remainder to the datagram senders, so the run reaches its count within its bound.
    missing = spec.count - sum(t.sent for t in tallies.values())
    if missing > 0 and time.monotonic() < deadline:
        top_up = {"sip_udp": missing // 2, "rtp": missing - missing // 2}
        span = (deadline - time.monotonic()) * 0.9
        outcomes += await _send(spec, top_up, span, deadline, tallies, "top-up")
    duration = time.monotonic() - started
    return {
        "duration_s": round(duration, 1),
        "cpu_percent": round((_cpu_seconds() - cpu0) / duration * 100, 1),
        "sender_errors": [repr(o) for o in outcomes if isinstance(o, BaseException)],
        "ways_in": {
            name: {
                "sent": t.sent,
                "bytes": t.bytes,
                "rate_per_s": round(t.sent / duration, 1),
                "kinds": dict(t.kinds),
                "replies": dict(t.replies),
            }
            for name, t in tallies.items()
        },
    }


async def _send(
    spec: FuzzSpec,
    shares: dict[str, int],
    span_s: float,
    deadline: float,
    tallies: dict[str, Tally],
    phase: str,
) -> list[BaseException | None]:
    """Each way in's share spread over ``span_s`` by its workers; exceptions are returned."""
    tasks: list[asyncio.Task[None]] = []
    for name, share in shares.items():
        for worker in range(WORKERS[name]):
            quota = share // WORKERS[name] + (worker < share % WORKERS[name])
            rng = random.Random(f"{spec.seed}-{name}-{worker}-{phase}")
            pacer = Pacer(quota, span_s, deadline)
            tasks.append(asyncio.create_task(SENDERS[name](spec, pacer, rng, tallies[name])))
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    raw = json.loads(Path(sys.argv[1]).read_text())
    raw["rtp_range"] = tuple(raw["rtp_range"])
    raw["call_media"] = [tuple(address) for address in raw["call_media"]]
    result = asyncio.run(run(FuzzSpec(**raw)))
    Path(sys.argv[2]).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
