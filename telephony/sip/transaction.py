"""SIP transactions as a user agent server needs them (RFC 3261 section 17, RFC 6026).

Server side: requests are matched to transactions by their top Via branch and sent-by (section
17.2.3, with the RFC 2543 fallback), so a retransmitted request gets the same response again;
non-2xx final responses to INVITE are retransmitted over UDP until the ACK (timers G and H).
Client side: our BYE, REFER and INFO are non-INVITE client transactions, retransmitted over UDP
from T1 doubling to T2 until a final response or timer F (section 17.1.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from telephony.sip.message import MAGIC_COOKIE, SipRequest, SipResponse
from telephony.sip.transport import Source

T1 = 0.5
"""RTT estimate: the first retransmission interval (RFC 3261 section 17.1.1.1, table 4)."""
T2 = 4.0
"""Maximum retransmission interval for non-INVITE requests and INVITE responses."""
T4 = 5.0
"""Maximum time a message remains in the network."""


@dataclass(frozen=True)
class Timers:
    """The RFC 3261 timer base values (section 17.1.1.1, table 4); shorter ones speed up tests."""

    t1: float = T1
    t2: float = T2
    t4: float = T4

    @property
    def timeout(self) -> float:
        """64*T1: timers B, F, H and J, and the wait for the ACK of a 2xx (section 13.3.1.4)."""
        return 64 * self.t1


def new_branch() -> str:
    """A unique branch for a request we send (RFC 3261 section 8.1.1.7)."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A random From/To tag (RFC 3261 section 19.3)."""
    return secrets.token_hex(6)


TransactionKey = tuple[str, ...]


def server_key(request: SipRequest, method: str | None = None) -> TransactionKey:
    """The key matching a request to its server transaction (RFC 3261 section 17.2.3).

    ACK and CANCEL pass ``method="INVITE"`` to find the INVITE transaction they refer to.
    Raises ValueError if the request has no usable Via.
    """
    via = request.top_via
    method = method or request.method
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE):
        return ("3261", branch, via.sent_by, method)
    # RFC 2543 peers: match on the request's identifying fields instead.
    number, _ = request.cseq
    return (
        "2543",
        request.uri,
        request.from_.tag or "",
        request.call_id,
        str(number),
        str(via),
        method,
    )


class ServerTransaction:
    """One received request and the responses we sent to it."""

    def __init__(self, key: TransactionKey, request: SipRequest, source: Source) -> None:
        self.key = key
        self.request = request
        self.source = source
        self.last_response: SipResponse | None = None
        self.last_bytes: bytes | None = None
        self.acked = False
        self._retransmit: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def final(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    def cancel_timers(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None


class ServerTransactions:
    """The table of live server transactions."""

    def __init__(self, timers: Timers, send: Callable[[bytes, Source], None]) -> None:
        self.timers = timers
        self._send = send
        self._table: dict[TransactionKey, ServerTransaction] = {}

    def __len__(self) -> int:
        return len(self._table)

    def match(self, request: SipRequest, method: str | None = None) -> ServerTransaction | None:
        try:
            return self._table.get(server_key(request, method))
        except ValueError:
            return None

    def create(self, request: SipRequest, source: Source) -> ServerTransaction:
        key = server_key(request)
        transaction = ServerTransaction(key, request, source)
        self._table[key] = transaction
        # Safety net: no transaction outlives 64*T1 after its creation plus its final response.
        transaction._expiry = asyncio.get_running_loop().call_later(
            self.timers.timeout * 2, self._remove, key
        )
        return transaction

    def _remove(self, key: TransactionKey) -> None:
        transaction = self._table.pop(key, None)
        if transaction is not None:
            transaction.cancel_timers()

    def respond(self, transaction: ServerTransaction, response: SipResponse) -> None:
        """Send a response and remember it for retransmitted requests."""
        data = bytes(response)
        transaction.last_response = response
        transaction.last_bytes = data
        self._send(data, transaction.source)
        if response.status < 200:
            return
        loop = asyncio.get_running_loop()
        if transaction._expiry is not None:
            transaction._expiry.cancel()
        reliable = transaction.source.reliable
        if transaction.request.method == "INVITE" and response.status >= 300:
            # Timers G and H (section 17.2.1): retransmit until ACK, give up after 64*T1.
            if not reliable:
                transaction._retransmit = asyncio.ensure_future(self._retransmit_final(transaction))
            linger = self.timers.timeout
        elif transaction.request.method == "INVITE":
            # RFC 6026 "Accepted": absorb INVITE retransmissions for 64*T1 (timer L).
            linger = self.timers.timeout
        else:
            linger = 0.0 if reliable else self.timers.timeout  # timer J
        transaction._expiry = loop.call_later(linger, self._remove, transaction.key)

    def retransmit(self, transaction: ServerTransaction) -> None:
        """Answer a retransmitted request with the last response sent (section 17.2.1/17.2.2)."""
        if transaction.last_bytes is not None:
            self._send(transaction.last_bytes, transaction.source)

    def ack(self, transaction: ServerTransaction) -> None:
        """The ACK for a non-2xx final response arrived: stop retransmitting (timer I)."""
        transaction.acked = True
        if transaction._retransmit is not None:
            transaction._retransmit.cancel()
            transaction._retransmit = None

    async def _retransmit_final(self, transaction: ServerTransaction) -> None:
        interval = self.timers.t1
        deadline = asyncio.get_running_loop().time() + self.timers.timeout
        while not transaction.acked:
            await asyncio.sleep(interval)
            if transaction.acked or asyncio.get_running_loop().time() >= deadline:
                return
            self.retransmit(transaction)
            interval = min(2 * interval, self.timers.t2)

    def close(self) -> None:
        for transaction in list(self._table.values()):
            transaction.cancel_timers()
        self._table.clear()


class ClientTransaction:
    """A non-INVITE request we sent, waiting for its final response (section 17.1.2)."""

    def __init__(
        self,
        request: SipRequest,
        send: Callable[[bytes], None],
        reliable: bool,
        timers: Timers,
    ) -> None:
        self.request = request
        self.branch = request.top_via.branch or ""
        self.method = request.method
        self._data = bytes(request)
        self._send = send
        self._reliable = reliable
        self._timers = timers
        self._provisional = False
        self.future: asyncio.Future[SipResponse | None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._send(self._data)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timers.timeout
        interval = self._timers.t1
        while not self.future.done():
            wait = deadline - loop.time()
            if not self._reliable:
                wait = min(wait, interval)
            if wait <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.future), wait)
            if self.future.done():
                return
            if loop.time() >= deadline:
                break
            if not self._reliable:
                self._send(self._data)  # timer E
                interval = (
                    self._timers.t2 if self._provisional else min(2 * interval, self._timers.t2)
                )
        if not self.future.done():
            self.future.set_result(None)  # timer F: the request timed out

    def on_response(self, response: SipResponse) -> None:
        if response.status < 200:
            self._provisional = True
            return
        if not self.future.done():
            self.future.set_result(response)

    def cancel(self) -> None:
        if not self.future.done():
            self.future.set_result(None)
        if self._task is not None:
            self._task.cancel()


class ClientTransactions:
    """Our outstanding client transactions, matched by branch and CSeq method (17.1.3)."""

    def __init__(self) -> None:
        self._table: dict[tuple[str, str], ClientTransaction] = {}

    def add(self, transaction: ClientTransaction) -> None:
        key = (transaction.branch, transaction.method)
        self._table[key] = transaction
        transaction.future.add_done_callback(lambda _: self._table.pop(key, None))

    def match(self, response: SipResponse) -> ClientTransaction | None:
        try:
            branch = response.top_via.branch or ""
            _, method = response.cseq
        except ValueError:
            return None
        return self._table.get((branch, method))

    def close(self) -> None:
        for transaction in list(self._table.values()):
            transaction.cancel()
        self._table.clear()
