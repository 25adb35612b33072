"""The QA caller's phone line over a chosen bridge: in-process (virtual clock or real time), SIP
or a Twilio media-stream WebSocket.

A ``QaBridge`` opens calls to the bot; each call is a ``CallerLine`` that can say audio, press
keys, stay silent and hang up, with the ``CallLog`` the bot writes as it goes. Adding a bridge
is one more ``QaBridge`` subclass registered in ``BRIDGES``; a bridge that dials the bot's real
server subclasses ``ServerBridge``, which runs that server on 127.0.0.1 for the run.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import itertools
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from ivr.qa.observe import CallLog, ObservedRecords
from ivr.server import BotServer
from ivr.services import Services
from ivr.session import CallSession
from speech.audio import Audio, write_wav
from telephony.baresip import Baresip
from telephony.bridge import CALL_RATE
from telephony.fastline import FastLine
from telephony.loopback import LoopbackCall
from telephony.websocket.client import TwilioCaller

CONNECT_TIMEOUT_S = 15.0
KEY_GAP_S = 0.15
SIP_MIC_TAIL_S = 120
"""Silence after each utterance in the microphone WAV, so baresip never reaches its end."""


class LineError(RuntimeError):
    """The bridge could not set up the call."""


class CallerLine(Protocol):
    """What a scripted or replayed caller can do on a live call."""

    log: CallLog
    fast: bool
    """True on a virtual-clock line, where the bot owes a reply until its turn is recorded."""

    @property
    def elapsed_s(self) -> float:
        """Seconds of line time so far."""

    async def say(self, pcm: bytes) -> None: ...

    async def pause(self, seconds: float) -> None: ...

    async def press(self, keys: str) -> None: ...

    async def hang_up(self) -> None: ...


@dataclasses.dataclass
class _LocalCaller:
    """A caller on an in-process line (``FastLine`` or the real-time ``LoopbackCall``)."""

    line: FastLine | LoopbackCall
    log: CallLog
    fast: bool

    @property
    def elapsed_s(self) -> float:
        return self.line.elapsed_s

    async def say(self, pcm: bytes) -> None:
        await self.line.say(pcm)

    async def pause(self, seconds: float) -> None:
        await self.line.pause(seconds)

    async def press(self, keys: str) -> None:
        await self.line.press(keys)

    async def hang_up(self) -> None:
        self.line.hang_up()


class QaBridge(abc.ABC):
    """Opens calls to the bot for a QA run."""

    name: str

    def __init__(self, services: Services, records: ObservedRecords, fast: bool) -> None:
        self.services = services
        self.records = records
        self.fast = fast

    async def start(self) -> None:
        """Bring up whatever the bridge needs for the run (a server, a peer)."""
        return None

    async def close(self) -> None:
        """Release what ``start`` brought up."""
        return None

    @abc.abstractmethod
    def call(self) -> contextlib.AbstractAsyncContextManager[CallerLine]:
        """One call; hung up and finished when the block ends."""


class InProcessBridge(QaBridge):
    """The CallSession in this process, over a virtual-clock line (fast) or a real-time one."""

    name = "inprocess"

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[CallerLine]:
        line = FastLine(rate=CALL_RATE) if self.fast else LoopbackCall(rate=CALL_RATE)
        bot = CallSession(line.bridge, self.services)
        if isinstance(line, FastLine):
            # Engines are infinitely fast on line time: the line waits for the reply and for
            # a recognition started in the hangover (which may end the turn early).
            line.hold = lambda: self._owed(bot.call_id) or bot.recognising
        known = len(self.records.order)
        line.start()
        session = asyncio.create_task(bot.run())
        log = await self.records.next_call(known, CONNECT_TIMEOUT_S)
        try:
            if log is None:
                raise LineError("the in-process session did not start a call record")
            yield _LocalCaller(line, log, self.fast)
        finally:
            line.hang_up()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session, 60)
            if isinstance(line, FastLine):
                await line.close()

    def _owed(self, call_id: str) -> bool:
        log = self.records.calls.get(call_id)
        return log is not None and log.owed


@dataclasses.dataclass
class _SipCaller:
    """A caller on a real SIP call: baresip's microphone is switched to each utterance's WAV."""

    phone: Baresip
    log: CallLog
    folder: Path
    rate: int
    fast: bool = False
    _said: itertools.count[int] = dataclasses.field(default_factory=itertools.count)
    _started: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    async def say(self, pcm: bytes) -> None:
        wav = self.folder / f"say-{next(self._said):03d}.wav"
        tail = bytes(self.rate * 2 * SIP_MIC_TAIL_S)
        await asyncio.to_thread(write_wav, wav, Audio.from_pcm(pcm + tail, self.rate))
        await self.phone.use_microphone(wav)
        await asyncio.sleep(len(pcm) / 2 / self.rate)

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def press(self, keys: str) -> None:
        for key in keys:
            await self.phone.command("sndcode", key)
            await asyncio.sleep(KEY_GAP_S)

    async def hang_up(self) -> None:
        with contextlib.suppress(Exception):
            await self.phone.command("hangup")


class ServerBridge(QaBridge):
    """Calls to the bot's real server, started on 127.0.0.1 with only this bridge's transport.

    Runs in real time (media is paced by both ends); ``fast`` does not apply. The server is
    private to the run (loopback, a free port), so the production ways-in proofs are replaced
    by the loopback itself: SIP from 127.0.0.1 only, no tokens the QA callers cannot send.
    """

    sip = False
    websocket = False

    def __init__(self, services: Services, records: ObservedRecords, fast: bool) -> None:
        super().__init__(services, records, fast=False)
        self._server: BotServer | None = None

    async def start(self) -> None:
        config = self.services.config
        config = dataclasses.replace(
            config,
            sip=dataclasses.replace(
                config.sip,
                enabled=self.sip,
                host="127.0.0.1",
                port=0,
                trusted_sources="127.0.0.1/32",
                digest_user="",
                digest_password_file="",
            ),
            http=dataclasses.replace(config.http, host="127.0.0.1", port=0, api_token_file=""),
            websocket=dataclasses.replace(
                config.websocket,
                enabled=self.websocket,
                token_file="",
                twilio_auth_token_file="",
                public_url="",
            ),
            audiosocket=dataclasses.replace(config.audiosocket, enabled=False),
        )
        server = BotServer(config, self.services)
        await server.start()
        self._server = server

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop()

    @property
    def server(self) -> BotServer:
        if self._server is None:
            raise LineError(f"{type(self).__name__}.start() was not called")
        return self._server


class SipBridge(ServerBridge):
    """Real SIP calls to the bot's SIP server, a headless baresip phone per call."""

    name = "sip"
    sip = True

    def __init__(self, services: Services, records: ObservedRecords, fast: bool) -> None:
        super().__init__(services, records, fast)
        self._folder = Path(tempfile.mkdtemp(prefix="ivr-qa-sip-"))
        self._calls = itertools.count(1)

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[CallerLine]:
        server = self.server
        rate = CALL_RATE
        name = f"caller{next(self._calls)}"
        quiet = self._folder / f"{name}-quiet.wav"
        await asyncio.to_thread(write_wav, quiet, Audio.from_pcm(bytes(rate * 2 * 60), rate))
        phone = Baresip(self._folder, name, source_wav=quiet)
        await phone.start()
        try:
            known = len(self.records.order)
            await phone.command("dial", f"sip:bot@127.0.0.1:{server.sip_port}")
            if not await phone.wait_event("CALL_ESTABLISHED", CONNECT_TIMEOUT_S):
                raise LineError(f"baresip could not call the bot: {phone.log()}")
            log = await self.records.next_call(known, CONNECT_TIMEOUT_S)
            if log is None:
                raise LineError("the SIP call reached no CallSession")
            yield _SipCaller(phone, log, phone.dir, rate)
            await self.records.wait(lambda: log.ended, 15)
        finally:
            with contextlib.suppress(Exception):
                await phone.command("hangup")
            await phone.stop()


@dataclasses.dataclass
class _StreamCaller:
    """A caller on a Twilio media stream: the peer's mouth sends paced 20 ms mu-law media."""

    peer: TwilioCaller
    log: CallLog
    fast: bool = False
    _started: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    async def say(self, pcm: bytes) -> None:
        await self.peer.say(pcm)

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def press(self, keys: str) -> None:
        await self.peer.press(keys, KEY_GAP_S)

    async def hang_up(self) -> None:
        await self.peer.hang_up()


class MediaStreamBridge(ServerBridge):
    """Twilio Media Streams calls over a real WebSocket to the server's ``/media/twilio``."""

    name = "websocket"
    websocket = True

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[CallerLine]:
        url = f"ws://127.0.0.1:{self.server.http_port}/media/twilio"
        peer = TwilioCaller(url, parameters={"campaign": "qa"})
        known = len(self.records.order)
        try:
            await peer.dial()
            log = await self.records.next_call(known, CONNECT_TIMEOUT_S)
            if log is None:
                raise LineError(f"the media stream reached no CallSession ({peer.close_reason})")
            yield _StreamCaller(peer, log)
            await self.records.wait(lambda: log.ended, 15)
        finally:
            if not peer.ended.is_set():
                await peer.hang_up()
            await peer.close()


BRIDGES: dict[str, type[QaBridge]] = {
    "inprocess": InProcessBridge,
    "sip": SipBridge,
    "websocket": MediaStreamBridge,
}
"""Bridges a QA run can use, by the name ``--bridge`` and ``qa.bridge`` take (``QA_BRIDGES``)."""
