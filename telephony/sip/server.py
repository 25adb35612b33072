"""The SIP server: a user agent server (RFC 3261) on UDP and TCP that answers calls.

``SipServer`` listens for SIP, answers each acceptable INVITE with SDP (PCMU/PCMA and
telephone-event on an RTP port of its own), and hands every confirmed call to ``on_call`` as a
``SipCallBridge``. The call stays up until the callback returns (then we send BYE) or either
side hangs up. Everything else a UAS meets gets its proper answer: retransmissions the same
response, OPTIONS 200 (503 while draining or full; both with the calls held, ``X-Calls``),
CANCEL 200 plus 487, unknown dialogs 481, busy 486, no common codec 488, unknown methods 501.
Malformed SIP is answered 400 when a response can be formed (else dropped), SDP that does not
parse 400 and SDP we cannot use 488; every refusal releases what
was allocated for it (RTP socket, dialog, the max_calls slot) and is counted, never fatal.

Hostile traffic meets the bounds of ``SipLimits`` (``telephony.sip.limits``): a source sending
too densely is banned and dropped unanswered (pike); the transaction and dialog tables, the
calls one source may have unconfirmed (which bounds the 2xx retransmissions a forged INVITE
draws at its victim) and the TCP connections, per source and in total, are capped, and a TCP
connection delivering no whole message for ``tcp_idle_s`` is closed. ``stats`` counts each.

Who may call: with ``trusted_sources`` set (the trunk or SBC), a UDP datagram from any other
address is dropped unanswered, and a request over TCP from one is answered 403 Forbidden
(RFC 3261 section 26.1.5: UDP sources are forged at will, so answering them would make us a
reflector; a TCP peer proved its address in the handshake and learns why). With a digest
user set, an INVITE without valid credentials is challenged (401) or refused (403) before
anything is allocated for it (section 22). Each refusal is counted and logged with the source;
refusals, bans and a full transaction table, which a hostile peer can cause per packet, are
logged through a ``LogThrottle`` (the first at once, then a line per interval with a count).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from logfields import fields
from masking import mask_caller
from telephony.access import AllowList
from telephony.bridge import CallBridge
from telephony.logthrottle import LogThrottle
from telephony.pacing import FillerKind
from telephony.policing import InputRate
from telephony.sdp import SUPPORTED_CODECS, NegotiationError
from telephony.sip.call import (
    CallSettings,
    CallState,
    SipCall,
    SipCallBridge,
    warning_header,
)
from telephony.sip.dialog import Dialog
from telephony.sip.digest import DigestAuthenticator, Verdict
from telephony.sip.limits import Pike, SipLimits
from telephony.sip.message import (
    KNOWN_METHODS,
    MAX_MESSAGE_SIZE,
    MessageTooLarge,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    bad_request_reason,
    check_request,
    make_response,
    parse_message,
)
from telephony.sip.route import in_dialog_hop, parse_outbound_proxy
from telephony.sip.transaction import (
    ClientTransaction,
    ClientTransactions,
    ServerTransaction,
    ServerTransactions,
    Timers,
    new_branch,
    new_tag,
)
from telephony.sip.transport import Source, TcpConnection, UdpTransport

log = logging.getLogger(__name__)

OnCall = Callable[[CallBridge], Awaitable[None]]

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY"
"""Methods we accept (RFC 3261 section 20.5)."""
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf, message/sipfrag"
"""Bodies we understand (RFC 3261 section 20.1)."""
NO_DIALOG_METHODS = frozenset({"BYE", "INFO", "NOTIFY", "PRACK", "UPDATE"})
"""Methods that only make sense inside a dialog: 481 without one (section 12.2.2)."""
STOP_GRACE = 2.0
"""How long ``stop`` waits for BYEs to be answered and callbacks to finish."""
TCP_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True, eq=False)
class Destination:
    """Where a request we originate goes (RFC 3263 reduced to IP literals and local names)."""

    transport: str
    address: tuple[str, int]
    connection: TcpConnection | None = None

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


class SipServer:
    """A SIP UAS on UDP and/or TCP that produces one ``SipCallBridge`` per answered call.

    It is the ``CallHost`` of its calls: they reach it only through that protocol.
    """

    def __init__(
        self,
        host: str,
        port: int,
        on_call: OnCall,
        *,
        udp: bool = True,
        tcp: bool = True,
        public_host: str | None = None,
        rtp_host: str | None = None,
        rtp_port_range: tuple[int, int] = (10000, 20000),
        max_calls: int = 100,
        user: str = "bot",
        codecs: Sequence[str] = SUPPORTED_CODECS,
        ring: bool = True,
        answer_delay: float = 0.0,
        filler: FillerKind = "silence",
        timer_t1: float = 0.5,
        timer_t2: float = 4.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        transfer_timeout: float = 30.0,
        rtp_timeout: float = 60.0,
        handoff_header: str = "X-Handoff-Context",
        server_name: str = "bank-ivr",
        trusted_sources: str | Sequence[str] = (),
        digest_user: str = "",
        digest_password: str = "",
        digest_realm: str = "",
        outbound_proxy: str = "",
        limits: SipLimits | None = None,
    ) -> None:
        """
        ``public_host`` is the address put in SDP, Contact and Via (default: ``host``, which
        must then be a concrete address); ``rtp_host`` is where RTP sockets bind (default:
        ``host``). ``answer_delay`` keeps the call ringing that long before the 200 OK.
        ``timer_t1``/``timer_t2`` are RFC 3261's T1/T2 (64*T1 bounds every wait for an ACK or
        a response). The handoff context of ``transfer`` travels in ``handoff_header``.
        ``rtp_timeout`` ends a call whose caller sent no RTP for that long (0: never).
        ``trusted_sources`` (CIDR blocks) limits who may send requests at all; with
        ``digest_user`` and ``digest_password`` INVITEs must carry digest credentials for
        ``digest_realm`` (default: ``server_name``). Requests inside a dialog go back where its
        signalling came from, or to ``outbound_proxy`` (host:port) if set (``route``).
        ``limits`` bounds every table and what one source may make us hold or send; sources
        in ``trusted_sources`` (when it is set) are exempt from the per-source ones.
        """
        if not udp and not tcp:
            raise ValueError("enable at least one of UDP and TCP")
        unknown = [c for c in codecs if c.upper() not in SUPPORTED_CODECS]
        if unknown or not codecs:
            raise ValueError(f"codecs must be a non-empty subset of {SUPPORTED_CODECS}")
        self.host = host
        self.port = port
        self.on_call = on_call
        self.use_udp = udp
        self.use_tcp = tcp
        self.public_host = public_host or host
        if self.public_host in ("0.0.0.0", "::", ""):
            raise ValueError("listening on a wildcard address needs an explicit public_host")
        self.rtp_host = rtp_host or host
        self.rtp_port_range = rtp_port_range
        self.max_calls = max_calls
        self.user = user
        self.codecs = tuple(c.upper() for c in codecs)
        self.ring = ring
        self.answer_delay = answer_delay
        self.filler: FillerKind = filler
        self.timers = Timers(t1=timer_t1, t2=timer_t2)
        self.max_message_size = max_message_size
        self.transfer_timeout = transfer_timeout
        self.rtp_timeout = rtp_timeout
        self.handoff_header = handoff_header
        self.server_name = server_name
        self.allow = ALLOW
        self.trusted_sources = AllowList.parse(trusted_sources)
        self.outbound_proxy = parse_outbound_proxy(outbound_proxy) if outbound_proxy else None
        self.digest: DigestAuthenticator | None = None
        if digest_user or digest_password:
            self.digest = DigestAuthenticator(
                digest_user, digest_password, digest_realm or server_name
            )

        self.limits = limits or SipLimits()
        self.input_rate = InputRate(
            audio_burst_s=self.limits.audio_burst_s, dtmf_per_s=self.limits.dtmf_per_s
        )
        """How fast a caller's audio and digits are taken (read by each call's settings)."""
        self.pike = Pike(self.limits)
        self._log = LogThrottle(log)
        self.transactions = ServerTransactions(self.timers, self.send)
        self.client_transactions = ClientTransactions()
        self._udp: UdpTransport | None = None
        self._tcp_server: asyncio.AbstractServer | None = None
        self._connections: set[TcpConnection] = set()
        self._dialogs: dict[tuple[str, str, str], SipCall] = {}
        self._by_invite: dict[tuple[str, ...], SipCall] = {}
        self._calls: set[SipCall] = set()
        self._setting_up = 0
        self._setting_up_from: Counter[str] = Counter()
        self._bans_logged = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.draining = False
        """Set while the server drains before a restart: INVITE and OPTIONS get 503."""
        self.node_full: Callable[[], bool] | None = None
        """Asked before an INVITE is answered (None: only ``max_calls`` applies): True while the
        server as a whole holds as many calls as it may (every way in together); the INVITE
        then gets 503 with Retry-After, so a proxy tries another node."""
        self.node_calls: Callable[[], int] | None = None
        """Calls the server as a whole holds now (every way in), reported on OPTIONS as
        ``X-Calls``; None: this SIP server's own."""
        self._counters: Counter[str] = Counter()
        self._media_totals: Counter[str] = Counter()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the UDP socket and the TCP listener (on the same port; port 0 picks one)."""
        loop = asyncio.get_running_loop()
        for attempt in range(20):
            port = self.port
            udp: UdpTransport | None = None
            try:
                if self.use_udp:
                    protocol = UdpTransport(
                        self._deliver, self._on_oversized, self.max_message_size
                    )
                    udp = protocol
                    await loop.create_datagram_endpoint(
                        _constant(protocol), local_addr=(self.host, port)
                    )
                    port = udp.local_address[1]
                if self.use_tcp:
                    self._tcp_server = await loop.create_server(
                        self._new_connection, self.host, port, reuse_address=True
                    )
                    port = self._tcp_server.sockets[0].getsockname()[1]
            except OSError:
                if udp is not None and udp.transport is not None:
                    udp.transport.close()
                if self.port != 0 or attempt == 19:
                    raise
                continue
            self._udp = udp
            self.port = port
            break
        log.info(
            "sip.server.started",
            extra=fields(
                host=self.host,
                port=self.port,
                transports="+".join(
                    t for t, on in (("UDP", self.use_udp), ("TCP", self.use_tcp)) if on
                ),
                codecs="/".join(self.codecs),
                rtp_ports="{}-{}".format(*self.rtp_port_range),
            ),
        )

    async def stop(self) -> None:
        """Politely end every call (BYE, or 503 if still ringing), then close the sockets."""
        self._stopping = True
        hangups = []
        for call in list(self._calls):
            if call.state is CallState.RINGING:
                call.reject_unanswered(503, "Service Unavailable")
            else:
                hangups.append(asyncio.ensure_future(call.hangup("server shutdown")))
        if hangups:
            await asyncio.wait(hangups, timeout=STOP_GRACE)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self.client_transactions.close()
        self.transactions.close()
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
            for connection in list(self._connections):
                connection.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp_server.wait_closed(), 1.0)
        log.info("sip.server.stopped", extra=fields(port=self.port))

    # -- statistics ------------------------------------------------------------------------

    def stats_add(self, name: str, count: int = 1) -> None:
        self._counters[name] += count

    def stats(self) -> dict[str, int]:
        """Counters for /metrics: messages, drops, calls, and media totals (rtp_*)."""
        media = Counter(self._media_totals)
        for call in self._calls:
            media.update(call.rtp.stats())
        out = dict(self._counters)
        out.update({f"rtp_{k}": v for k, v in media.items()})
        out["active_calls"] = sum(1 for c in self._calls if c.state is not CallState.ENDED)
        out["tcp_connections"] = len(self._connections)
        out["transactions"] = len(self.transactions)
        out["dialogs"] = len(self._dialogs)
        out.update(self.pike.stats())
        for key in (
            "messages_received",
            "malformed_dropped",
            "bad_requests",
            "oversized_dropped",
            "calls_offered",
            "calls_answered",
            "calls_rejected",
            "calls_cancelled",
            "refused_untrusted_source",
            "auth_challenged",
            "refused_bad_credentials",
            "refused_transactions_full",
            "calls_rejected_dialogs_full",
            "calls_rejected_node_full",
            "calls_rejected_unconfirmed",
            "tcp_refused_limit",
            "tcp_idle_closed",
        ):
            out.setdefault(key, 0)
        return out

    # -- sending ---------------------------------------------------------------------------

    def send(self, data: bytes, source: Source) -> None:
        """Send bytes back the way a message came (responses, 2xx retransmissions)."""
        if source.transport == "UDP":
            if self._udp is not None:
                self._udp.send(data, source.address)
        elif source.connection is not None and not source.connection.send(data):
            log.debug(
                "sip.response_dropped",
                extra=fields(peer=_peer(source.address), reason="TCP connection closed"),
            )

    def via_for(self, transport: str) -> str:
        return f"SIP/2.0/{transport} {self._host_port()};branch={new_branch()};rport"

    def contact_for(self, transport: str) -> str:
        suffix = ";transport=tcp" if transport == "TCP" else ""
        return f"<sip:{self.user}@{self._host_port()}{suffix}>"

    def _host_port(self) -> str:
        host = self.public_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"

    def common_headers(self, request: bool = False) -> list[tuple[str, str]]:
        return [("User-Agent" if request else "Server", self.server_name)]

    def capability_headers(self) -> list[tuple[str, str]]:
        """What OPTIONS answers with (RFC 3261 section 11.2)."""
        return [("Allow", self.allow), ("Accept", ACCEPT), ("Accept-Language", "en")]

    async def destination_for(self, uri: SipUri, source: Source) -> Destination:
        """Where to send a request for ``uri``; reuses the call's TCP connection when open."""
        transport = uri.transport
        if source.transport == "TCP" and source.connection is not None:
            if not source.connection.closed:
                return Destination("TCP", source.connection.peer, source.connection)
            transport = "TCP"
        if transport not in ("UDP", "TCP"):
            raise ValueError(f"transport {transport} is not supported")
        if transport == "UDP" and not self.use_udp:
            transport = "TCP"
        port = uri.port or 5060
        address = await self._resolve(uri.host_address, port)
        if transport == "UDP":
            return Destination("UDP", address)
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(
                lambda: self._new_connection(accepted=False), address[0], address[1]
            ),
            TCP_CONNECT_TIMEOUT,
        )
        assert isinstance(connection, TcpConnection)
        return Destination("TCP", connection.peer, connection)

    async def _resolve(self, host: str, port: int) -> tuple[str, int]:
        try:
            ipaddress.ip_address(host)
            return (host, port)
        except ValueError:
            pass
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM
        )
        if not infos:
            raise OSError(f"cannot resolve {host}")
        address = infos[0][4]
        return (str(address[0]), int(address[1]))

    async def send_request(
        self, request: SipRequest, destination: Destination
    ) -> SipResponse | None:
        """Send a request as a client transaction; its final response, or None on timeout."""

        def send_bytes(data: bytes) -> None:
            if destination.connection is not None:
                destination.connection.send(data)
            elif self._udp is not None:
                self._udp.send(data, destination.address)

        transaction = ClientTransaction(request, send_bytes, destination.reliable, self.timers)
        self.client_transactions.add(transaction)
        transaction.start()
        return await transaction.future

    async def request_in_dialog(
        self,
        dialog: Dialog,
        source: Source,
        method: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> SipResponse | None:
        """Send a request inside a call's dialog (``route``); its final response, or None.

        ``source`` is where the dialog's INVITE came from. None also when the caller cannot
        be reached (no route, no connection).
        """
        try:
            hop, via = in_dialog_hop(source, dialog, self.outbound_proxy)
            destination = await self.destination_for(hop, via)
        except (OSError, ValueError) as exc:
            log.warning(
                "sip.call.unreachable",
                extra=fields(call_id=dialog.call_id, method=method, error=str(exc)),
            )
            return None
        request = dialog.new_request(
            method,
            self.via_for(destination.transport),
            contact=self.contact_for(destination.transport),
            headers=self.common_headers(request=True) + headers,
            body=body,
        )
        return await self.send_request(request, destination)

    # -- receiving -------------------------------------------------------------------------

    def _new_connection(self, accepted: bool = True) -> TcpConnection:
        connection = TcpConnection(
            self._deliver,
            self._on_tcp_garbage,
            self.max_message_size,
            self._connection_closed,
            admit=self._admit_connection if accepted else None,
            idle_timeout=self.limits.tcp_idle_s,
        )
        self._connections.add(connection)
        return connection

    def _admit_connection(self, connection: TcpConnection) -> bool:
        """Whether an accepted connection fits ``tcp_max_connections``/``tcp_max_per_source``."""
        host = connection.peer[0]
        others = [c for c in self._connections if c is not connection and not c.closed]
        exempt = bool(self.trusted_sources) and self.trusted_sources.allows(host)
        if len(others) >= self.limits.tcp_max_connections or (
            not exempt
            and sum(1 for c in others if c.peer[0] == host) >= self.limits.tcp_max_per_source
        ):
            self.stats_add("tcp_refused_limit")
            log.debug(
                "sip.tcp.refused",
                extra=fields(peer=_peer(connection.peer), reason="connection limit"),
            )
            return False
        return True

    def _connection_closed(self, connection: TcpConnection) -> None:
        self._connections.discard(connection)
        if connection.closed_idle:
            self.stats_add("tcp_idle_closed")

    def _on_tcp_garbage(self, connection: TcpConnection, error: ValueError) -> None:
        if isinstance(error, MessageTooLarge):
            self.stats_add("oversized_dropped")
        else:
            self.stats_add("malformed_dropped")
        self.stats_add("tcp_connections_closed_on_garbage")
        log.debug(
            "sip.tcp.closed_on_garbage", extra=fields(peer=_peer(connection.peer), error=str(error))
        )

    def _on_oversized(self, source: Source) -> None:
        self.stats_add("oversized_dropped")
        log.debug("sip.udp.oversized_dropped", extra=fields(peer=_peer(source.address)))

    def _deliver(self, data: bytes, source: Source) -> None:
        self.stats_add("messages_received")
        trusted = self.trusted_sources.allows(source.address[0])
        if not trusted and source.transport == "UDP":
            self._refuse(source, "untrusted_source", "not in sip.trusted_sources; dropped")
            return
        if not self._exempt(source) and not self.pike.admit(
            source.address[0], data.startswith(b"INVITE ")
        ):
            self._flooding(source)
            return
        try:
            message = parse_message(data)
        except SipParseError as exc:
            partial = exc.partial
            if partial is not None and partial.method != "ACK" and _answerable(partial):
                self.stats_add("bad_requests")
                self._reply_stateless(partial, source, 400, bad_request_reason(str(exc)))
            else:
                self.stats_add("malformed_dropped")
            log.debug("sip.malformed", extra=fields(peer=_peer(source.address), error=str(exc)))
            return
        if not trusted:
            self._refuse(source, "untrusted_source", "not in sip.trusted_sources; 403")
            if isinstance(message, SipRequest) and message.method != "ACK":
                self._reply_stateless(message, source, 403)
            return
        try:
            if isinstance(message, SipResponse):
                self._handle_response(message)
            else:
                self._handle_request(message, source)
        except Exception:  # one bad message must never take the server down
            self.stats_add("internal_errors")
            log.exception("sip.message_failed", extra=fields(peer=_peer(source.address)))

    def _exempt(self, source: Source) -> bool:
        """Sources named in ``trusted_sources`` (when set) skip the per-source limits."""
        return bool(self.trusted_sources) and self.trusted_sources.allows(source.address[0])

    def _flooding(self, source: Source) -> None:
        """A message from a source pike has banned: drop it unanswered (and its TCP link)."""
        if self.pike.bans > self._bans_logged:  # once per ban, not per dropped message
            self._bans_logged = self.pike.bans
            self._log.warning(
                ("banned", source.transport),
                "SIP %s from %s banned for %.0f s: more than %d messages or %d INVITEs in %.1f s",
                source.transport,
                source.address[0],
                self.limits.pike_ban_s,
                self.limits.pike_requests,
                self.limits.pike_invites,
                self.limits.pike_window_s,
            )
        if source.connection is not None:
            source.connection.close()

    def _handle_response(self, response: SipResponse) -> None:
        transaction = self.client_transactions.match(response)
        if transaction is None:
            self.stats_add("stray_responses")
            return
        transaction.on_response(response)

    def _reply_stateless(
        self,
        request: SipRequest,
        source: Source,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        response = make_response(
            request,
            status,
            reason,
            to_tag=new_tag(),
            received_from=source.address,
            headers=self.common_headers() + (headers or []),
        )
        self.send(bytes(response), source)

    def reply(
        self,
        transaction: ServerTransaction,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        to_tag: str | None = None,
        body: bytes = b"",
    ) -> SipResponse:
        """Respond on a transaction: a call's answers, OPTIONS, errors, rejections.

        An INVITE's 1xx/2xx (a call's ringing and answer) carries our Contact and Allow.
        """
        extra = self.common_headers()
        if transaction.request.method == "INVITE" and 100 < status < 300:
            extra += [
                ("Contact", self.contact_for(transaction.source.transport)),
                ("Allow", self.allow),
            ]
        response = make_response(
            transaction.request,
            status,
            reason,
            to_tag=to_tag or new_tag(),
            received_from=transaction.source.address,
            headers=extra + (headers or []),
            body=body,
        )
        self.transactions.respond(transaction, response)
        return response

    def reject_method(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """405 for methods we know but do not accept here, 501 for unknown ones (8.2.1)."""
        if request.method in KNOWN_METHODS:
            self.reply(transaction, 405, headers=[("Allow", self.allow)])
        else:
            self.stats_add("unknown_methods")
            self.reply(transaction, 501, headers=[("Allow", self.allow)])

    def _handle_request(self, request: SipRequest, source: Source) -> None:
        problem = check_request(request)
        if problem is not None:
            if request.method == "ACK" or not _answerable(request):
                self.stats_add("malformed_dropped")
            else:
                self.stats_add("bad_requests")
                self._reply_stateless(request, source, *problem)
            status, reason = problem
            log.debug(
                "sip.request_rejected",
                extra=fields(
                    method=request.method,
                    peer=_peer(source.address),
                    status=status,
                    reason=reason,
                ),
            )
            return
        if request.method == "ACK":
            self._handle_ack(request)
            return
        existing = self.transactions.match(request)
        if existing is not None:
            self.stats_add("retransmissions_absorbed")
            self.transactions.retransmit(existing)
            return
        if len(self.transactions) >= self.limits.max_transactions:
            self.stats_add("refused_transactions_full")
            self._log.warning(
                ("transactions_full",),
                "SIP transaction table full (%d): 503 to %s",
                len(self.transactions),
                source.address,
            )
            self._reply_stateless(request, source, 503, headers=[("Retry-After", "5")])
            return
        if request.method == "CANCEL":
            self._handle_cancel(request, source)
            return
        transaction = self.transactions.create(request, source)
        try:
            self._dispatch(request, transaction)
        except Exception:
            if not transaction.final:  # never leave a request without a final response
                self.reply(transaction, 500)
            raise

    def _dispatch(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """Answer a new request that passed ``check_request`` and has its transaction."""
        required = [r for r in request.values("Require") if r]
        if required:
            # We support no extensions (section 8.2.2.3).
            self.reply(transaction, 420, headers=[("Unsupported", ", ".join(required))])
            return
        to_tag = request.to.tag
        if to_tag:
            call = self._dialogs.get((request.call_id, to_tag, request.from_.tag or ""))
            if call is None:
                self.stats_add("unknown_dialog")
                self.reply(transaction, 481, to_tag=to_tag)
            else:
                call.handle_request(request, transaction)
            return
        method = request.method
        if method == "INVITE":
            self._handle_invite(request, transaction)
        elif method == "OPTIONS":
            self._answer_options(transaction)
        elif method in NO_DIALOG_METHODS:
            self.stats_add("unknown_dialog")
            self.reply(transaction, 481)
        else:
            self.reject_method(request, transaction)

    def _answer_options(self, transaction: ServerTransaction) -> None:
        """OPTIONS outside a dialog (RFC 3261 section 11.2), as a dispatcher probes its nodes:
        200 with the capabilities while an INVITE would be taken, 503 with Retry-After while
        draining or full, so the proxy sends new calls elsewhere until a probe gets 200 again.
        Both carry the calls held now (``X-Calls``, as jambonz's feature servers report it)."""
        held = self.node_calls() if self.node_calls is not None else self.calls_held
        load = [("X-Calls", str(held))]
        if self._stopping or self.draining or self._full():
            self.reply(transaction, 503, headers=[("Retry-After", "5"), *load])
        else:
            self.reply(transaction, 200, headers=[*self.capability_headers(), *load])

    def _full(self) -> bool:
        """This server or the node as a whole holds all the calls it may."""
        return self.calls_held >= self.max_calls or (
            self.node_full is not None and self.node_full()
        )

    def _handle_ack(self, request: SipRequest) -> None:
        invite = self.transactions.match(request, method="INVITE")
        last = invite.last_response if invite is not None else None
        if invite is not None and last is not None and last.status >= 300:
            self.transactions.ack(invite)  # ACK of our error response (section 17.2.1)
            return
        to_tag = request.to.tag
        call = self._dialogs.get((request.call_id, to_tag or "", request.from_.tag or ""))
        if call is not None:
            call.handle_ack(request)

    def _handle_cancel(self, request: SipRequest, source: Source) -> None:
        transaction = self.transactions.create(request, source)
        invite = self.transactions.match(request, method="INVITE")
        if invite is None:
            self.reply(transaction, 481)
            return
        call = self._by_invite.get(invite.key)
        self.reply(transaction, 200, to_tag=call.dialog.local_tag if call else None)
        if call is not None:
            call.cancel()
        elif not invite.final:
            self.stats_add("calls_cancelled")
            self.reply(invite, 487)  # still setting up: the setup task sees the final response

    # -- calls -----------------------------------------------------------------------------

    def _refuse(self, source: Source, why: str, detail: str) -> None:
        """Count and log a refused request; ``detail`` never holds credentials."""
        self.stats_add(f"refused_{why}")
        self._log.warning(
            ("refused", source.transport, why),
            "SIP %s from %s:%d refused (%s): %s",
            source.transport,
            *source.address,
            why,
            detail,
        )

    def _authenticated(self, request: SipRequest, transaction: ServerTransaction) -> bool:
        """Whether an INVITE may go on; else it has been challenged (401) or refused (403)."""
        if self.digest is None:
            return True
        check = self.digest.check(request.method, request.uri, request.get_all("Authorization"))
        if check.verdict is Verdict.ACCEPTED:
            return True
        if check.verdict is Verdict.REJECTED:
            self._refuse(transaction.source, "bad_credentials", check.reason)
            self.reply(transaction, 403)
            return False
        self.stats_add("auth_challenged")
        log.info(
            "sip.invite_challenged",
            extra=fields(source=transaction.source.address[0], reason=check.reason),
        )
        stale = check.verdict is Verdict.STALE
        challenges = [("WWW-Authenticate", str(c)) for c in self.digest.challenges(stale)]
        self.reply(transaction, 401, headers=challenges)
        return False

    def _handle_invite(self, request: SipRequest, transaction: ServerTransaction) -> None:
        if not self._authenticated(request, transaction):
            return
        self.stats_add("calls_offered")
        if self._stopping or self.draining:
            self.stats_add("calls_rejected")
            self.reply(transaction, 503, headers=[("Retry-After", "5")])
            return
        if self.calls_held >= self.max_calls:
            self.stats_add("calls_rejected")
            self.stats_add("calls_rejected_busy")
            self.reply(transaction, 486)
            return
        if self.node_full is not None and self.node_full():
            self.stats_add("calls_rejected")
            self.stats_add("calls_rejected_node_full")
            self.reply(transaction, 503, headers=[("Retry-After", "5")])
            return
        if len(self._dialogs) + self._setting_up >= self.limits.max_dialogs:
            self.stats_add("calls_rejected")
            self.stats_add("calls_rejected_dialogs_full")
            self.reply(transaction, 503, headers=[("Retry-After", "5")])
            return
        host = transaction.source.address[0]
        if (
            not self._exempt(transaction.source)
            and self._unconfirmed_from(host) >= self.limits.max_unconfirmed_per_source
        ):
            # Until a caller ACKs, its address is unproven: bound what we send there.
            self.stats_add("calls_rejected")
            self.stats_add("calls_rejected_unconfirmed")
            self.reply(transaction, 486)
            return
        if request.body and request.content_type != "application/sdp":
            self.stats_add("calls_rejected")
            self.reply(transaction, 415, headers=[("Accept", "application/sdp")])
            return
        for call in self._calls:
            if (
                call.state is CallState.RINGING
                and call.call_id == request.call_id
                and call.dialog.remote_tag == (request.from_.tag or "")
            ):
                # The same request arrived by another path (merged request, section 8.2.2.2).
                self.reply(transaction, 482)
                return
        self.transactions.respond(
            transaction,
            make_response(
                request,
                100,
                received_from=transaction.source.address,
                headers=self.common_headers(),
            ),
        )
        self._setting_up += 1
        self._setting_up_from[host] += 1
        self.spawn(self._setup_call(request, transaction))

    def _unconfirmed_from(self, host: str) -> int:
        """Calls from ``host`` being set up, ringing, or answered but not yet ACKed."""
        waiting = (CallState.RINGING, CallState.ANSWERED)
        calls = sum(1 for c in self._calls if c.state in waiting and c.source.address[0] == host)
        return calls + self._setting_up_from[host]

    def spawn(self, coroutine: Awaitable[None]) -> None:
        """Run a coroutine as a task the server tracks (and cancels at ``stop``)."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _call_settings(self) -> CallSettings:
        """This server's settings as a new call reads them: each field of ``CallSettings``
        is the server attribute of the same name, as it is when the call is set up."""
        return CallSettings(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(CallSettings)}
        )

    async def _setup_call(self, request: SipRequest, transaction: ServerTransaction) -> None:
        call: SipCall | None = None
        registered = False
        try:
            local_tag = new_tag()
            try:
                dialog = Dialog.from_invite(request, local_tag)
            except ValueError as exc:
                self.stats_add("calls_rejected")
                self.reply(transaction, 400, bad_request_reason(str(exc)))
                return
            call = SipCall(self, self._call_settings(), request, transaction, dialog)
            try:
                await call.rtp.open(self.rtp_host, self.rtp_port_range)
            except OSError as exc:
                log.error("sip.call.no_rtp_port", extra=fields(error=str(exc)))
                self.stats_add("calls_rejected")
                self.reply(transaction, 503, headers=[("Retry-After", "5")])
                return
            if transaction.final:  # cancelled while we were binding
                return
            try:
                sdp, params = call.negotiate_offer(request.body)
            except NegotiationError as exc:
                log.info(
                    "sip.call.refused",
                    extra=fields(call_id=dialog.call_id, status=exc.status, reason=str(exc)),
                )
                self.stats_add("calls_rejected")
                warning = [warning_header(self.public_host, str(exc))]
                self.reply(
                    transaction,
                    exc.status,
                    headers=warning if exc.status == 488 else [],
                    to_tag=local_tag,
                )
                return
            self._calls.add(call)
            self._dialogs[dialog.key] = call
            self._by_invite[transaction.key] = call
            registered = True
        except Exception:  # an input nobody foresaw: refuse this call, keep serving the rest
            self.stats_add("calls_rejected")
            self.stats_add("internal_errors")
            log.exception(
                "sip.call.setup_failed", extra=fields(peer=_peer(transaction.source.address))
            )
            if not transaction.final:
                self.reply(transaction, 500)
            return
        finally:
            self._setting_up -= 1
            host = transaction.source.address[0]
            self._setting_up_from[host] -= 1
            if self._setting_up_from[host] <= 0:
                del self._setting_up_from[host]
            if not registered and call is not None:
                call.rtp.close()  # every refusal and error path releases the RTP socket
        log.info(
            "sip.call.answering",
            extra=fields(
                call_id=call.call_id,
                caller=mask_caller(call.info.caller),
                transport=transaction.source.transport,
            ),
        )
        await call.answer(sdp, params)
        if not await call.wait_confirmed():
            return
        bridge = SipCallBridge(call)
        try:
            await self.on_call(bridge)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats_add("callback_errors")
            log.exception("sip.call.callback_failed", extra=fields(call_id=call.call_id))
        finally:
            if call.state is not CallState.ENDED:
                await call.hangup("bot finished")

    def forget_dialog(self, call: SipCall) -> None:
        self._dialogs.pop(call.dialog.key, None)
        self._by_invite.pop(call.invite_transaction.key, None)

    def call_ended(self, call: SipCall) -> None:
        if call in self._calls:
            self._calls.discard(call)
            self._media_totals.update(call.rtp.stats())
            self.stats_add("calls_ended")
            if call.failed:
                self.stats_add("calls_failed")

    @property
    def active_calls(self) -> int:
        return sum(1 for c in self._calls if c.state is not CallState.ENDED)

    @property
    def calls_held(self) -> int:
        """Calls that hold a place: live ones and those being set up."""
        return self.active_calls + self._setting_up


def _peer(address: tuple[str, int]) -> str:
    """A peer's address as a log field: ``host:port``."""
    return f"{address[0]}:{address[1]}"


def _constant(protocol: UdpTransport) -> Callable[[], UdpTransport]:
    return lambda: protocol


def _answerable(request: SipRequest) -> bool:
    """Whether a response can be formed: a Via to copy and headers that split (8.2.6.2)."""
    if not request.get("Via"):
        return False
    try:
        make_response(request, 400)
    except ValueError:
        return False
    return True
