"""One answered SIP call: the UAS side of its INVITE dialog, and the CallBridge over it.

``SipCall`` runs the call's signalling (RFC 3261 sections 13-15): ringing and answering with
SDP, retransmitting the 2xx until the ACK, re-INVITE and hold, BYE both ways, INFO DTMF, and
the REFER/NOTIFY exchange of a handoff (RFC 3515). ``SipCallBridge`` is what the CallSession
sees: caller audio and DTMF in, paced bot audio out, ``transfer`` and ``hangup``.

The call does not know the server's insides: it reads a frozen ``CallSettings`` taken when the
call is set up, and asks for the few things only the server can do (answer on a transaction,
send a request in the dialog, count, forget the dialog) through the ``CallHost`` protocol,
which ``SipServer`` implements. The call owns its ``RtpSession`` and the media timeout hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from logfields import fields
from telephony.bridge import AudioIn, BridgeEvent, CallBridge, CallInfo, DtmfIn, Hangup
from telephony.dtmf import event_code, parse_dtmf_relay
from telephony.events import EventChannel
from telephony.media import RtpSession
from telephony.pacing import FillerKind
from telephony.policing import InputRate
from telephony.sdp import (
    MediaParameters,
    NegotiationError,
    SdpError,
    SessionDescription,
    accept_answer,
    answer_offer,
    make_offer,
)
from telephony.sip.dialog import Dialog
from telephony.sip.message import (
    NameAddress,
    SipRequest,
    SipResponse,
    SipUri,
    bad_request_reason,
)
from telephony.sip.transaction import ServerTransaction, Timers

if TYPE_CHECKING:
    from telephony.sip.transport import Source

log = logging.getLogger(__name__)

BYE_WAIT = 2.0
"""How long ``hangup`` waits for the 200 to our BYE (retransmissions go on in the background)."""
TRANSFER_GRACE = 2.0
"""After the caller's BYE, how long a pending transfer still waits for its final NOTIFY."""
MAX_CONTEXT_BYTES = 4096
"""Largest handoff context header; bigger contexts are cut (and the full one logged)."""


class CallState(enum.Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    """200 OK sent, waiting for the ACK."""
    CONFIRMED = "confirmed"
    ENDED = "ended"


@dataclass(frozen=True)
class CallSettings:
    """The server's configuration as one call reads it, fixed when the call is set up."""

    public_host: str
    """Our address in SDP (and in the Warning of a refused offer)."""
    codecs: tuple[str, ...]
    ring: bool
    """Send 180 Ringing before answering."""
    answer_delay: float
    """Seconds of ringing before the 200 OK."""
    timers: Timers
    transfer_timeout: float
    """How long a REFER waits for the caller's final NOTIFY."""
    handoff_header: str
    """The REFER header carrying the handoff context."""
    filler: FillerKind
    """What the RTP pacer sends while the bot is silent."""
    rtp_timeout: float
    """End the call after this long without caller RTP (0: never)."""
    input_rate: InputRate
    """How fast the caller's audio and digits are taken (the excess is dropped)."""


class CallHost(Protocol):
    """What a call needs from the server that owns it (``SipServer`` implements it)."""

    def reply(
        self,
        transaction: ServerTransaction,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        to_tag: str | None = None,
        body: bytes = b"",
    ) -> SipResponse:
        """Answer on a transaction (with Contact and Allow on an INVITE's 1xx/2xx)."""

    def send(self, data: bytes, source: Source) -> None:
        """Send bytes back the way a message came (2xx retransmissions)."""

    async def request_in_dialog(
        self,
        dialog: Dialog,
        source: Source,
        method: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> SipResponse | None:
        """Send a request inside ``dialog``: its final response, None if none or unroutable."""

    def capability_headers(self) -> list[tuple[str, str]]:
        """What OPTIONS answers with."""

    def reject_method(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """405 or 501 for a method we do not take."""

    def stats_add(self, name: str, count: int = 1) -> None:
        """Count an event in the server's ``stats``."""

    def spawn(self, coroutine: Awaitable[None]) -> None:
        """Run a task the server tracks (and cancels when it stops)."""

    def forget_dialog(self, call: SipCall) -> None:
        """Requests for this call's dialog are no longer routed to it."""

    def call_ended(self, call: SipCall) -> None:
        """The call is over: count it and fold its media counters into the totals."""


class SipCall:
    """The signalling and media of one incoming call, from INVITE to BYE."""

    def __init__(
        self,
        host: CallHost,
        settings: CallSettings,
        invite: SipRequest,
        transaction: ServerTransaction,
        dialog: Dialog,
    ) -> None:
        """The RTP session is built here, not yet bound: the server opens it on its ports."""
        self.host = host
        self.settings = settings
        self.invite = invite
        self.invite_transaction = transaction
        self.source: Source = transaction.source
        self.dialog = dialog
        self.events = EventChannel()
        events = self.events
        self.rtp = RtpSession(
            lambda pcm: events.put(AudioIn(pcm)),
            lambda digit: events.put(DtmfIn(digit)),
            filler=settings.filler,
            on_timeout=self.media_timeout,
            timeout=settings.rtp_timeout,
            input_rate=settings.input_rate,
        )
        self.rtp.signalling_host = self.source.address[0]  # a NATed caller's RTP may latch from it
        self.state = CallState.RINGING
        self.call_id = dialog.call_id
        self.ended = asyncio.Event()
        self.hangup_reason = ""
        self.failed = False
        self._loop = asyncio.get_running_loop()
        self._confirmed: asyncio.Future[bool] = self._loop.create_future()
        self._session_id = str(random.randint(10**9, 10**10 - 1))
        self._session_version = int(self._session_id)
        self._local_sdp: SessionDescription | None = None
        self._offer_pending = False
        """We put an offer in our 2xx and expect the answer in the ACK."""
        self._awaiting_ack: int | None = None
        """CSeq of the INVITE whose 2xx is retransmitted until its ACK."""
        self._retransmit_task: asyncio.Task[None] | None = None
        self._refer_result: asyncio.Future[int | None] | None = None
        self._refer_last_status: int | None = None
        self._bye_sent = False
        self._pinned = False
        caller = invite.from_
        self.caller_uri = caller.uri
        self.info = CallInfo(
            call_id=self.call_id,
            transport="sip",
            caller=_user_of(caller.uri) or caller.display_name or "",
            called=_user_of(invite.uri),
            extra={"source": self.source.address[0]},
        )

    # -- answering -------------------------------------------------------------------------

    def _respond(
        self,
        transaction: ServerTransaction,
        status: int,
        reason: str | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> SipResponse:
        return self.host.reply(
            transaction, status, reason, headers, to_tag=self.dialog.local_tag, body=body
        )

    def negotiate_offer(self, body: bytes) -> tuple[bytes, MediaParameters | None]:
        """Our SDP for an INVITE body: an answer to its offer, or our offer if it had none.

        Raises only NegotiationError: 400 for SDP that does not parse, 488 for an offer
        whose numbers or media we cannot use.
        """
        settings = self.settings
        if not body:
            self._offer_pending = True
            offer = make_offer(
                address=settings.public_host,
                port=self.rtp.local_port,
                session_id=self._session_id,
                session_version=self._next_version(None),
                codecs=settings.codecs,
            )
            self._local_sdp = offer
            return bytes(offer), None
        try:
            remote = SessionDescription.parse(body)
        except SdpError as exc:
            raise NegotiationError(f"unparsable SDP offer: {exc}", status=400) from None
        answer, params = answer_offer(
            remote,
            address=settings.public_host,
            port=self.rtp.local_port,
            session_id=self._session_id,
            session_version=self._session_version,
            codecs=settings.codecs,
        )
        self._offer_pending = False
        answer.origin.session_version = self._next_version(answer)
        self._local_sdp = answer
        return bytes(answer), params

    def _next_version(self, sdp: SessionDescription | None) -> int:
        """Bump o= version only when our description changes (RFC 3264 section 8)."""
        previous = self._local_sdp
        if previous is not None and sdp is not None and previous.media == sdp.media:
            return self._session_version
        if previous is not None:
            self._session_version += 1
        return self._session_version

    async def answer(self, sdp: bytes, params: MediaParameters | None) -> None:
        """Ring, answer with 200 OK and our SDP, and wait for the ACK (sections 13.3.1)."""
        settings = self.settings
        transaction = self.invite_transaction
        if self.source.connection is not None:
            self.source.connection.pinned += 1  # keep the TCP connection while the call lasts
            self._pinned = True
        try:
            if settings.ring:
                self._respond(transaction, 180)
            if settings.answer_delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):  # ringing, unless cancelled
                    await asyncio.wait_for(self.ended.wait(), settings.answer_delay)
            if self.state is not CallState.RINGING:
                return
            if params is not None:
                self.rtp.configure(params)
            response = self._respond(
                transaction,
                200,
                headers=[("Content-Type", "application/sdp")],
                body=sdp,
            )
            self.state = CallState.ANSWERED
            self._record_media()
            self.host.stats_add("calls_answered")
            self._start_2xx_retransmission(response, self.dialog.remote_cseq, initial=True)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not leave the caller ringing forever
            log.exception("sip.call.answer_failed", extra=fields(call_id=self.call_id))
            self._end(Hangup("internal error", failed=True))

    def _record_media(self) -> None:
        params = self.rtp.params
        extra: dict[str, Any] = {
            "source": self.source.address[0],
            "sip_transport": self.source.transport,
            "local_rtp_port": self.rtp.local_port,
            "user_agent": self.invite.get("User-Agent") or "",
        }
        if params is not None:
            extra.update(
                codec=params.codec,
                remote_rtp=f"{params.remote_address}:{params.remote_port}",
                telephone_event=params.telephone_event,
                direction=params.direction,
            )
        self.info = CallInfo(
            call_id=self.info.call_id,
            transport="sip",
            caller=self.info.caller,
            called=self.info.called,
            extra=extra,
        )

    def _start_2xx_retransmission(self, response: SipResponse, cseq: int, initial: bool) -> None:
        self._awaiting_ack = cseq
        if self._retransmit_task is not None:
            self._retransmit_task.cancel()
        self._retransmit_task = asyncio.ensure_future(
            self._retransmit_2xx(bytes(response), cseq, initial)
        )

    async def _retransmit_2xx(self, data: bytes, cseq: int, initial: bool) -> None:
        """Section 13.3.1.4: resend the 2xx from T1 doubling to T2 until ACK; BYE after 64*T1."""
        timers = self.settings.timers
        deadline = self._loop.time() + timers.timeout
        interval = timers.t1
        while self._awaiting_ack == cseq and self.state is not CallState.ENDED:
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(interval, remaining))
            if self._awaiting_ack != cseq or self.state is CallState.ENDED:
                return
            if self._loop.time() >= deadline:
                break
            self.host.send(data, self.source)
            interval = min(2 * interval, timers.t2)
        if self._awaiting_ack == cseq and self.state is not CallState.ENDED:
            log.warning(
                "sip.call.ack_timeout", extra=fields(call_id=self.call_id, timeout_s=timers.timeout)
            )
            self.host.stats_add("calls_ack_timeout")
            self._awaiting_ack = None
            await self._bye_and_end(Hangup("no ACK from caller", failed=True))

    async def wait_confirmed(self) -> bool:
        """True once the ACK arrived; False if the call ended before that."""
        return await self._confirmed

    def cancel(self) -> None:
        """CANCEL before our final response: 487 to the INVITE (section 9.2)."""
        if self.state is not CallState.RINGING:
            return
        self._respond(self.invite_transaction, 487)
        self.host.stats_add("calls_cancelled")
        self._end(Hangup("caller cancelled"))

    def reject_unanswered(self, status: int, reason: str | None = None) -> None:
        """Final non-2xx to an INVITE we had not answered yet (shutdown, bot hangup)."""
        if self.state is not CallState.RINGING:
            return
        self._respond(self.invite_transaction, status, reason)
        self._end(Hangup(reason or "rejected"))

    # -- requests within the dialog ----------------------------------------------------------

    def handle_ack(self, request: SipRequest) -> None:
        try:
            cseq, _ = request.cseq
        except ValueError:
            return
        if self._awaiting_ack is None or cseq != self._awaiting_ack:
            return  # a retransmitted ACK
        self._awaiting_ack = None
        if self._retransmit_task is not None:
            self._retransmit_task.cancel()
            self._retransmit_task = None
        if self._offer_pending:
            self._offer_pending = False
            try:
                params = accept_answer(SessionDescription.parse(request.body), self.settings.codecs)
            except SdpError as exc:
                log.warning(
                    "sip.call.ack_sdp_unusable", extra=fields(call_id=self.call_id, error=str(exc))
                )
                self.host.spawn(self._bye_and_end(Hangup("bad SDP answer", failed=True)))
                return
            self.rtp.configure(params)
            self._record_media()
        if self.state is CallState.ANSWERED:
            self.state = CallState.CONFIRMED
            self.rtp.start()
            if not self._confirmed.done():
                self._confirmed.set_result(True)

    def handle_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """A request inside our dialog (To tag ours), other than ACK and CANCEL."""
        method = request.method
        number, _ = request.cseq
        if number < self.dialog.remote_cseq and method != "ACK":
            # Section 12.2.2: out of order.
            self._respond(transaction, 500, "CSeq Out Of Order", headers=[("Retry-After", "1")])
            return
        self.dialog.remote_cseq = max(self.dialog.remote_cseq, number)
        if method == "BYE":
            self._respond(transaction, 200)
            self._end(Hangup("caller hung up"))
        elif method == "INVITE":
            self._handle_reinvite(request, transaction)
        elif method == "INFO":
            self._handle_info(request, transaction)
        elif method == "NOTIFY":
            self._handle_notify(request, transaction)
        elif method == "OPTIONS":
            self._respond(transaction, 200, headers=self.host.capability_headers())
        else:
            self.host.reject_method(request, transaction)

    def _handle_reinvite(self, request: SipRequest, transaction: ServerTransaction) -> None:
        if self.state is CallState.ENDED:
            self._respond(transaction, 481)
            return
        if self._awaiting_ack is not None:
            # Our previous 2xx is still unacknowledged: the peer must retry (section 14.2).
            self._respond(transaction, 500, headers=[("Retry-After", str(random.randint(0, 10)))])
            return
        content_type = request.content_type
        if request.body and content_type != "application/sdp":
            self._respond(transaction, 415, headers=[("Accept", "application/sdp")])
            return
        try:
            sdp, params = self.negotiate_offer(request.body)
        except NegotiationError as exc:
            log.info(
                "sip.call.reinvite_refused",
                extra=fields(call_id=self.call_id, status=exc.status, reason=str(exc)),
            )
            headers = [warning_header(self.settings.public_host, str(exc))]
            self._respond(transaction, exc.status, headers=headers if exc.status == 488 else [])
            return
        contact = request.contact
        if contact is not None and contact.uri != "*":
            self.dialog.remote_target = contact.uri  # target refresh (section 12.2.2)
        if params is not None:
            self.rtp.configure(params)
            self._record_media()
            log.info(
                "sip.call.reinvite",
                extra=fields(
                    call_id=self.call_id,
                    codec=params.codec,
                    remote_rtp=f"{params.remote_address}:{params.remote_port}",
                    direction=params.direction,
                ),
            )
        response = self._respond(
            transaction, 200, headers=[("Content-Type", "application/sdp")], body=sdp
        )
        self._start_2xx_retransmission(response, request.cseq[0], initial=False)

    def _handle_info(self, request: SipRequest, transaction: ServerTransaction) -> None:
        if not request.body:
            self._respond(transaction, 200)  # an empty INFO is a keep-alive probe
            return
        content_type = request.get("Content-Type") or ""
        try:
            digit = parse_dtmf_relay(request.body, content_type)
        except ValueError as exc:
            self._respond(transaction, 400, bad_request_reason(str(exc)))
            return
        if digit is None:
            self._respond(
                transaction, 415, headers=[("Accept", "application/dtmf-relay, application/dtmf")]
            )
            return
        self._respond(transaction, 200)
        self.host.stats_add("dtmf_info")
        self.rtp.keypad(digit)  # policed with the call's RFC 4733 digits

    def _handle_notify(self, request: SipRequest, transaction: ServerTransaction) -> None:
        event = (request.get("Event") or "").split(";", 1)[0].strip().lower()
        if event != "refer":
            self._respond(transaction, 489)
            return
        self._respond(transaction, 200)
        status = _sipfrag_status(request.body)
        state = (request.get("Subscription-State") or "").split(";", 1)[0].strip().lower()
        log.info(
            "sip.call.transfer_progress",
            extra=fields(call_id=self.call_id, status=status, subscription=state or "?"),
        )
        if status is not None:
            self._refer_last_status = status
        final = (status is not None and status >= 200) or state == "terminated"
        if final and self._refer_result is not None and not self._refer_result.done():
            self._refer_result.set_result(self._refer_last_status)

    # -- our requests ----------------------------------------------------------------------

    async def _send_request(
        self, method: str, headers: list[tuple[str, str]] | None = None, body: bytes = b""
    ) -> SipResponse | None:
        return await self.host.request_in_dialog(
            self.dialog, self.source, method, headers or [], body
        )

    def media_timeout(self) -> None:
        """No RTP from the caller for too long: the far end is gone, end the call."""
        if self.state is CallState.CONFIRMED:
            log.warning("sip.call.media_timeout", extra=fields(call_id=self.call_id))
            self.host.stats_add("calls_media_timeout")
            self.host.spawn(self._bye_and_end(Hangup("media timeout", failed=True)))

    async def _bye_and_end(self, hangup: Hangup) -> None:
        self._end(hangup)
        await self._send_bye()

    async def _send_bye(self) -> None:
        if self._bye_sent:
            return
        self._bye_sent = True
        response = await self._send_request("BYE")
        if response is None:
            log.info("sip.call.bye_unanswered", extra=fields(call_id=self.call_id))

    async def hangup(self, reason: str = "bot") -> None:
        """End the call from our side (BYE, or a final response if still ringing)."""
        if self.state is CallState.ENDED:
            return
        if self.state is CallState.RINGING:
            self.reject_unanswered(480, "Temporarily Unavailable")
            return
        self._end(Hangup(reason))
        bye = asyncio.ensure_future(self._send_bye())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(bye), BYE_WAIT)

    async def send_info_dtmf(self, digits: str) -> None:
        """DTMF as SIP INFO application/dtmf-relay, for peers without telephone-event."""
        for digit in digits:
            event_code(digit)
        for digit in digits:
            if self.state is not CallState.CONFIRMED:
                return
            body = f"Signal={digit.upper()}\r\nDuration=160\r\n".encode()
            await self._send_request("INFO", [("Content-Type", "application/dtmf-relay")], body)

    async def transfer(self, target: str, context: Mapping[str, Any]) -> bool:
        """Blind transfer by REFER (RFC 3515); True once the caller reports the target answered.

        The context goes out as compact JSON in the handoff header of the REFER and is logged
        (the referred INVITE carries it only if the caller's UA copies it); it must hold nothing
        secret. On failure the call stays up with the bot.
        """
        if self.state is not CallState.CONFIRMED or self._refer_result is not None:
            return False
        uri = _target_uri(target)
        context_json = json.dumps(
            dict(context), separators=(",", ":"), ensure_ascii=True, sort_keys=True, default=str
        )
        log.info(
            "sip.call.handoff",
            extra=fields(call_id=self.call_id, target=uri, context=context_json),
        )
        header_value = context_json
        if len(header_value) > MAX_CONTEXT_BYTES:
            header_value = header_value[:MAX_CONTEXT_BYTES]
            log.warning(
                "sip.call.handoff_context_cut",
                extra=fields(call_id=self.call_id, max_bytes=MAX_CONTEXT_BYTES),
            )
        headers = [
            ("Refer-To", f"<{uri}>"),
            ("Referred-By", f"<{self.dialog.local.uri}>"),
            (self.settings.handoff_header, header_value),
        ]
        self._refer_result = self._loop.create_future()
        self._refer_last_status = None
        self.host.stats_add("transfers_attempted")
        try:
            response = await self._send_request("REFER", headers)
            if response is None or not 200 <= response.status < 300:
                log.info(
                    "sip.call.refer_refused",
                    extra=fields(
                        call_id=self.call_id,
                        response=f"{response.status} {response.reason}"
                        if response
                        else "no response",
                    ),
                )
                return False
            status = await self._wait_transfer_outcome(self._refer_result)
            if status is None or not 200 <= status < 300:
                log.info(
                    "sip.call.transfer_failed", extra=fields(call_id=self.call_id, status=status)
                )
                return False
            self.host.stats_add("transfers_completed")
            if self.state is not CallState.ENDED:
                await self.hangup("transferred")
            return True
        finally:
            self._refer_result = None
            if self.state is CallState.ENDED:
                self.host.forget_dialog(self)

    async def _wait_transfer_outcome(self, outcome: asyncio.Future[int | None]) -> int | None:
        """The final sipfrag status of the transfer, or None if none came in time.

        If the caller hangs up first (many UAs BYE as soon as the target answers), the final
        NOTIFY may still be on its way: it gets a short grace period.
        """
        ended: asyncio.Future[Any] = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait(
                [outcome, ended],
                timeout=self.settings.transfer_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not outcome.done() and ended.done():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(outcome), TRANSFER_GRACE)
        finally:
            ended.cancel()
        if outcome.done():
            return outcome.result()
        log.info(
            "sip.call.transfer_unconfirmed",
            extra=fields(call_id=self.call_id, last_status=self._refer_last_status),
        )
        return None

    # -- ending ----------------------------------------------------------------------------

    def _end(self, hangup: Hangup) -> None:
        if self.state is CallState.ENDED:
            return
        self.state = CallState.ENDED
        self.hangup_reason = hangup.reason
        self.failed = hangup.failed
        self._awaiting_ack = None
        if self._retransmit_task is not None:
            self._retransmit_task.cancel()
            self._retransmit_task = None
        self.rtp.close()
        if self._pinned and self.source.connection is not None:
            self.source.connection.pinned -= 1
            self._pinned = False
        self.events.put(hangup)
        if not self._confirmed.done():
            self._confirmed.set_result(False)
        self.ended.set()
        if self._refer_result is None:
            self.host.forget_dialog(self)
        self.host.call_ended(self)
        log.info("sip.call.ended", extra=fields(call_id=self.call_id, reason=hangup.reason))


class SipCallBridge(CallBridge):
    """The CallBridge of one SIP call, handed to the server's ``on_call`` callback."""

    def __init__(self, call: SipCall) -> None:
        super().__init__(call.info)
        self.call = call
        call.rtp.on_frame = self.frame_sent

    async def receive(self) -> BridgeEvent:
        return await self.call.events.get()

    async def play(self, pcm: bytes) -> None:
        if self.call.state is CallState.ENDED:
            return
        self.call.rtp.pacer.play(pcm)

    async def wait_played(self) -> None:
        await self.call.rtp.pacer.wait_played()

    def clear_audio(self) -> None:
        self.call.rtp.pacer.clear()

    @property
    def playing(self) -> bool:
        return self.call.rtp.pacer.playing

    async def send_dtmf(self, digits: str) -> None:
        if self.call.state is not CallState.CONFIRMED:
            return
        if self.call.rtp.can_send_dtmf:
            await self.call.rtp.send_dtmf(digits)
        else:
            await self.call.send_info_dtmf(digits)

    async def transfer(self, target: str, context: Mapping[str, Any]) -> bool:
        return await self.call.transfer(target, context)

    async def hangup(self, reason: str = "bot") -> None:
        await self.call.hangup(reason)

    @property
    def underruns(self) -> int:
        """Times the bot's audio was not produced in time during a playback."""
        return self.call.rtp.pacer.underruns

    def stats(self) -> dict[str, int]:
        """Media counters of this call (packets, losses, pacer underruns)."""
        return self.call.rtp.stats()


def warning_header(host: str, text: str) -> tuple[str, str]:
    """A Warning header with code 305, Incompatible media format (RFC 3261 section 20.43)."""
    cleaned = "".join(c for c in text if c.isprintable() and c not in '"\\')[:150]
    return ("Warning", f'305 {host} "{cleaned}"')


def _user_of(uri: str) -> str:
    try:
        return SipUri.parse(uri).user or ""
    except ValueError:
        scheme, _, rest = uri.partition(":")
        return rest.split(";", 1)[0] if scheme.lower() == "tel" else ""


def _target_uri(target: str) -> str:
    """A SIP URI from a handoff target given as a URI, name-addr or bare user@host."""
    text = target.strip()
    if "<" in text:
        text = NameAddress.parse(text).uri
    if ":" not in text.split("@", 1)[0]:
        text = "sip:" + text
    if text.lower().startswith(("sip:", "sips:")):
        SipUri.parse(text)
    else:
        NameAddress.parse(f"<{text}>")
    return text


def _sipfrag_status(body: bytes) -> int | None:
    """Status code of a message/sipfrag body's status line (RFC 3420), e.g. SIP/2.0 200 OK."""
    first = body.decode("utf-8", errors="replace").strip().split("\n", 1)[0].strip()
    parts = first.split(" ", 2)
    if len(parts) >= 2 and parts[0].upper().startswith("SIP/") and parts[1].isdigit():
        return int(parts[1])
    return None
