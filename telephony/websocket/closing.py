"""A WebSocket close handshake that waits for the peer's Close (RFC 6455 sections 5.5.1, 7.1.1).

A media-stream peer sends a frame every 20 ms. aiohttp 3.9's ``WebSocketResponse.close()``
sends the Close, reads one message, and drops the TCP connection unless that message is the
peer's Close: with media in flight it drops it at once. The peer's next write then fails on the
reset, and its stack can give up the connection before it reads the Close already delivered to
it, so it never learns the code and reason (a failed call's "bad input: ..."): it sees 1006. Here
closing reads on, discarding the media still in flight, until the peer's Close or the timeout.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web


class _UntilClose:
    """The connection's message queue as closing reads it: everything up to the peer's Close is
    dropped. Anything else (feeding, flow control, errors) is the queue's own."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    async def read(self) -> Any:
        while True:
            message = await self._queue.read()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


class PatientWebSocketResponse(web.WebSocketResponse):
    """A server WebSocket whose ``close()`` waits for the peer's Close (up to its ``timeout``)
    however much the peer was still sending."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        # aiohttp keeps the connection's message queue in ``_reader`` (3.9; pinned by Rasa).
        if self._reader is not None and not isinstance(self._reader, _UntilClose):
            self._reader = _UntilClose(self._reader)  # type: ignore[assignment]
        return await super().close(code=code, message=message, drain=drain)
