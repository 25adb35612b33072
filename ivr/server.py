"""The bot server: shared services, every transport and the HTTP endpoints, run as one.

Transports: SIP/RTP, media-stream WebSockets on the HTTP server (``/media/{format}``) and Asterisk
AudioSocket on its own TCP port; each hands its calls to the same CallSession.

Each way in checks who is calling with the proof configured for it (``ivr.config.check_ways_in``
refuses a public bind without one); with none configured, everything listens on loopback and
the server says so at start.

Each answered call runs its own CallSession task; a failure inside one call is contained in that
task. Every way in has its own ``max_calls``, and together they hold at most ``server.max_calls``
(what the machine can serve): a call beyond it is refused before it is answered. Stopping ends
calls politely (BYE), lets their sessions write the final records, then releases the engines and
the assistant.

A restart drains first (``drain``, on SIGTERM): new calls are refused (SIP INVITE and OPTIONS
503 with Retry-After, media WebSocket upgrades and /healthz 503, AudioSocket calls hung up at
once) while running calls go on for up to ``server.drain_s``; those still running then are
apologised to and handed to an agent, recorded as ``interrupted``. A second signal ends the
wait at once.

A background task deletes call data older than ``call.retention_days``, at start and daily.

The web console (``ivr.console``) is mounted under ``/console`` on the HTTP server, or served on
its own listener when ``console.port`` is set; ``console.enabled: false`` leaves it out.

At start, the calls this node (``server.node_id``) left ``in_progress`` when it was killed are
closed as ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

from dialogue.settings import DialogueConfig
from ivr.config import AudioSocketConfig, Config, SipConfig, WebSocketConfig
from ivr.console.app import Console
from ivr.console.draft_tests import DraftTester
from ivr.console.replays import Replayer
from ivr.console.state import CallTools
from ivr.http import HttpProof, bound_port, build_app
from ivr.logs import get_logger
from ivr.platform import platform_routes
from ivr.prompt_warmup import fixed_prompts, prepare_prompts
from ivr.retention import purge_expired
from ivr.secretfile import read_secret
from ivr.services import Services, start_services
from ivr.session import CallSession
from ivr.versions.live import VersionedDialogue
from logfields import fields
from telephony.access import is_loopback_host
from telephony.audiosocket.server import AudioSocketServer
from telephony.bridge import CALL_RATE, CallBridge
from telephony.handoff import HandoffBoard
from telephony.policing import InputRate
from telephony.sip.limits import SipLimits
from telephony.sip.server import SipServer
from telephony.stream import StreamBridge, StreamLimits
from telephony.websocket.server import WebSocketMediaServer

log = get_logger(__name__)

STOP_GRACE_S = 10.0
"""How long stopping waits for sessions to write their last records."""
PURGE_EVERY_S = 86_400.0
"""Expired recordings and records are deleted at start and then once a day."""


class BotServer:
    """Owns the services, the transports and the HTTP site of one running bot."""

    def __init__(
        self,
        config: Config,
        services: Services | None = None,
        replayer: Replayer | None = None,
        tester: DraftTester | None = None,
    ) -> None:
        """``replayer``: how the console replays a call, ``tester``: how it tests the designers'
        draft (``ivr serve`` gives ``ivr.qa.console_replay`` and ``ivr.qa.draft_testing``,
        which this module cannot import: the QA tools dial it)."""
        self.config = config
        self.services = services
        self.replayer = replayer
        self.tester = tester
        self._owns_services = services is None
        self.sip: SipServer | None = None
        self.websocket: WebSocketMediaServer | None = None
        self.audiosocket: AudioSocketServer | None = None
        self._http: web.AppRunner | None = None
        self._sessions: dict[asyncio.Task[None], CallSession] = {}
        self.draining = False
        """Refusing new calls before a restart (``drain``)."""
        self._drain_now = asyncio.Event()
        self.http_proof: HttpProof | None = None
        self._retention: asyncio.Task[None] | None = None
        self.http_port = 0
        self.handoffs = HandoffBoard()
        """Callers handed back to the platform for an agent (stream transports)."""
        self.console: Console | None = None

    async def start(self) -> None:
        secrets = read_secrets(self.config)
        if self.services is None:
            self.services = await start_services(self.config)
        if self.config.tts.prepare_prompts:
            dialogue = self.services.dialogue
            if isinstance(dialogue, VersionedDialogue):
                dialogue.prepare = self._prepare_prompts
                await self._prepare_prompts(dialogue.settings_now())
            else:
                await self._prepare_prompts(self.config.dialogue)
        await self._close_interrupted_calls()
        if not any(secrets.values()) and not _allow_lists(self.config):
            log.info(
                "server.loopback_only",
                extra=fields(reason="no credentials configured: every way in listens on 127.0.0.1"),
            )
        sip_config = self.config.sip
        if sip_config.enabled:
            public = sip_config.public_address or _public_address(sip_config.host)
            self.sip = SipServer(
                sip_config.host,
                sip_config.port,
                self._on_call,
                udp=sip_config.udp,
                tcp=sip_config.tcp,
                public_host=public,
                rtp_port_range=(sip_config.rtp_port_min, sip_config.rtp_port_max),
                max_calls=sip_config.max_calls,
                trusted_sources=sip_config.trusted_sources,
                digest_user=sip_config.digest_user,
                digest_password=secrets["sip.digest_password_file"] or "",
                digest_realm=sip_config.digest_realm,
                outbound_proxy=sip_config.outbound_proxy,
                limits=sip_limits(sip_config),
            )
            self.sip.node_full = self._node_full
            self.sip.node_calls = self._calls_held
            await self.sip.start()
        websocket = self.config.websocket
        twilio_auth_token = secrets["websocket.twilio_auth_token_file"]
        if websocket.enabled:
            self.websocket = WebSocketMediaServer(
                self._on_call,
                limits=stream_limits(websocket),
                max_message_bytes=websocket.max_message_kb * 1024,
                token=secrets["websocket.token_file"],
                twilio_auth_token=twilio_auth_token,
                public_url=websocket.public_url,
            )
            self.websocket.calls.node_full = self._node_full
        if self.config.audiosocket.enabled:
            audiosocket = self.config.audiosocket
            self.audiosocket = AudioSocketServer(
                audiosocket.host,
                audiosocket.port,
                self._on_call,
                stream_limits(audiosocket),
                trusted_sources=audiosocket.trusted_sources,
            )
            self.audiosocket.calls.node_full = self._node_full
            await self.audiosocket.start()
        self.http_proof = HttpProof(
            secrets["http.api_token_file"], twilio_auth_token, websocket.public_url
        )
        routes = [platform_routes(self.handoffs, self.http_proof)]
        if self.websocket is not None:
            routes.append(self.websocket.add_routes)
        if self.config.console.enabled:
            self.console = await self._start_console()
            if self.config.console.port is None:
                routes.append(self.console.add_routes)
        app = build_app(self.services.metrics, self._transport_stats, routes, self.http_proof)
        app.middlewares.append(self._refuse_while_draining)
        self._http = web.AppRunner(app, access_log=None)
        await self._http.setup()
        site = web.TCPSite(self._http, self.config.http.host, self.config.http.port)
        await site.start()
        self.http_port = bound_port(site) or self.config.http.port
        if self.config.call.retention_days > 0:
            self._retention = asyncio.create_task(self._purge_daily(), name="retention")
        log.info(
            "server.ready",
            extra=fields(
                sip_port=self.sip_port,
                http_port=self.http_port,
                audiosocket_port=self.audiosocket_port,
                console_port=self.console.port if self.console is not None else None,
            ),
        )

    async def _start_console(self) -> Console:
        """The console on the records database; a warning when it is reachable from other
        machines while its cookie may travel without TLS."""
        settings = self.config.console
        assert self.services is not None
        tools = await asyncio.to_thread(
            CallTools.of_server, self.services, self.replayer, self.websocket, self.tester
        )
        console = Console(settings, self.config.call.records_db, tools=tools)
        await console.start()
        host = self.config.http.host if settings.port is None else settings.host
        if not is_loopback_host(host) and not settings.secure_cookie:
            log.warning(
                "console.plain_http",
                extra=fields(
                    host=host,
                    advice="serve the console behind a TLS proxy and set console.secure_cookie",
                ),
            )
        return console

    async def _prepare_prompts(self, dialogue: DialogueConfig) -> None:
        """Render the fixed prompts of the assistant ``dialogue`` names into the prompt cache."""
        assert self.services is not None  # started before anything asks for prompts
        prompts = await asyncio.to_thread(fixed_prompts, dialogue)
        await asyncio.to_thread(prepare_prompts, self.services.tts, prompts, CALL_RATE)

    async def _close_interrupted_calls(self) -> None:
        """Before taking calls: the calls this node left ``in_progress`` (it was killed
        mid-call) are closed as ``interrupted``; their finished turns are already recorded."""
        assert self.services is not None
        records = self.services.records
        interrupted = await asyncio.to_thread(records.mark_interrupted)
        if interrupted:
            log.warning(
                "records.interrupted_calls",
                extra=fields(node_id=records.node_id, calls=len(interrupted), call_ids=interrupted),
            )

    @property
    def sip_port(self) -> int:
        return self.sip.port if self.sip is not None else 0

    @property
    def audiosocket_port(self) -> int:
        return self.audiosocket.port if self.audiosocket is not None else 0

    def _calls_held(self) -> int:
        """Calls every way in holds together: SIP calls live or being set up, stream
        connections started or not."""
        held = self.sip.calls_held if self.sip is not None else 0
        for streams in (self.websocket, self.audiosocket):
            if streams is not None:
                held += streams.calls.held
        return held

    def _node_full(self) -> bool:
        """The node holds ``server.max_calls`` calls: a new one anywhere is refused."""
        return self._calls_held() >= self.config.server.max_calls

    async def drain(self) -> None:
        """Refuse new calls, let running ones finish for up to ``server.drain_s`` (or until
        ``end_drain``), then hand the rest to an agent and wait for their records."""
        self.draining = True
        if self.sip is not None:
            self.sip.draining = True
        for streams in (self.websocket, self.audiosocket):
            if streams is not None:
                streams.calls.stop_admitting()
        drain_s = self.config.server.drain_s
        log.info("server.draining", extra=fields(calls=len(self._sessions), drain_s=drain_s))
        if self._sessions:
            ended = asyncio.ensure_future(asyncio.wait(set(self._sessions)))
            told = asyncio.ensure_future(self._drain_now.wait())
            await asyncio.wait({ended, told}, timeout=drain_s, return_when="FIRST_COMPLETED")
            ended.cancel()
            told.cancel()
        if self._sessions:
            log.warning("server.drain_over", extra=fields(calls=len(self._sessions)))
            for session in self._sessions.values():
                session.interrupt(f"server stopped: still in the call after {drain_s:g} s")
            await asyncio.wait(set(self._sessions), timeout=STOP_GRACE_S)

    def end_drain(self) -> None:
        """Stop waiting for running calls (a second stop signal)."""
        self._drain_now.set()

    @web.middleware
    async def _refuse_while_draining(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """While draining: new media streams are refused before their handshake, and /healthz
        says so, so a load balancer sends callers to another node."""
        if self.draining and (request.path == "/healthz" or request.path.startswith("/media/")):
            return web.json_response(
                {"status": "draining"}, status=503, headers={"Retry-After": "5"}
            )
        return await handler(request)

    async def stop(self) -> None:
        """End calls politely, let sessions finish their records, release everything."""
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        if self.sip is not None:
            await self.sip.stop()
        for streams in (self.websocket, self.audiosocket):
            if streams is not None:
                await streams.stop()
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
        if self._http is not None:
            await self._http.cleanup()
        if self.console is not None:
            await self.console.stop()
        if self._owns_services and self.services is not None:
            await self.services.close()
        log.info("server.stopped")

    async def _on_call(self, bridge: CallBridge) -> None:
        assert self.services is not None
        if self.draining:  # a stream call connected before it could be refused
            log.info(
                "call.refused_draining",
                extra=fields(peer_call_id=bridge.info.call_id, transport=bridge.info.transport),
            )
            await bridge.hangup("server draining")
            return
        task = asyncio.current_task()
        session = CallSession(bridge, self.services)
        if task is not None:
            self._sessions[task] = session
        if isinstance(bridge, StreamBridge):
            bridge.handoff_board = self.handoffs
        try:
            await session.run()
        finally:
            if task is not None:
                self._sessions.pop(task, None)

    async def _purge_daily(self) -> None:
        """Delete expired call data now and every ``PURGE_EVERY_S``; a failure waits a day."""
        assert self.services is not None
        call, records = self.config.call, self.services.records
        while True:
            try:
                purged = await asyncio.to_thread(purge_expired, call, records)
            except Exception:
                log.exception("retention.failed")
            else:
                if purged is not None:
                    log.info(
                        "retention.purged",
                        extra=fields(
                            calls=purged.calls,
                            recordings=purged.recordings,
                            older_than_days=call.retention_days,
                        ),
                    )
            await asyncio.sleep(PURGE_EVERY_S)

    def _transport_stats(self) -> Mapping[str, Mapping[str, int]]:
        transports = {
            "sip": self.sip,
            "websocket": self.websocket,
            "audiosocket": self.audiosocket,
            "http": self.http_proof,
            "records": self.services.records if self.services is not None else None,
        }
        return {name: t.stats() for name, t in transports.items() if t is not None}


async def serve_forever(
    config: Config, replayer: Replayer | None = None, tester: DraftTester | None = None
) -> None:
    """Run the bot until SIGINT/SIGTERM, then drain (a second signal cuts it short) and stop."""
    import signal

    server = BotServer(config, replayer=replayer, tester=tester)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            server.end_drain()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    await server.start()
    try:
        await stop.wait()
        await server.drain()
    finally:
        await server.stop()


def read_secrets(config: Config) -> dict[str, str | None]:
    """The secrets named by the ``*_file`` settings, by setting (None where unset).

    Read before anything binds, so a missing or world-readable file stops the start with a
    ConfigError naming its setting.
    """
    files = {
        "sip.digest_password_file": config.sip.digest_password_file,
        "http.api_token_file": config.http.api_token_file,
        "websocket.token_file": config.websocket.token_file,
        "websocket.twilio_auth_token_file": config.websocket.twilio_auth_token_file,
    }
    return {key: read_secret(path, key) if path else None for key, path in files.items()}


def sip_limits(sip: SipConfig) -> SipLimits:
    """The SIP server's limits from the sip section (telephony takes plain values): every
    field of ``SipLimits`` has its setting of the same name."""
    return SipLimits(**{f.name: getattr(sip, f.name) for f in dataclasses.fields(SipLimits)})


def _allow_lists(config: Config) -> bool:
    return bool(config.sip.trusted_sources or config.audiosocket.trusted_sources)


def _public_address(host: str) -> str:
    """The address to advertise when none is configured: the bind address, else loopback."""
    if host not in ("0.0.0.0", "::", ""):
        return host
    log.warning(
        "sip.public_address_unset",
        extra=fields(advice="set sip.public_address to this machine's reachable address"),
    )
    return "127.0.0.1"


def stream_limits(section: WebSocketConfig | AudioSocketConfig) -> StreamLimits:
    """A stream transport's settings as the plain values ``telephony`` takes."""
    return StreamLimits(
        max_calls=section.max_calls,
        max_unstarted=section.max_unstarted,
        max_calls_per_source=section.max_calls_per_source,
        connections_per_minute_per_source=section.connections_per_minute_per_source,
        start_timeout_s=section.start_timeout_s,
        idle_timeout_s=section.idle_timeout_s,
        input_rate=InputRate(
            audio_burst_s=section.audio_burst_s,
            dtmf_per_s=section.dtmf_per_s,
            messages_per_s=section.messages_per_s,
            flood_close_s=section.flood_close_s,
        ),
    )
