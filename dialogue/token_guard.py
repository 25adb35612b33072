"""A Sanic request middleware that lets through only requests carrying a shared secret.

The action server and Rasa's REST channel both act on whatever conversation a request
names, so anyone who can reach them could otherwise run bank actions or speak into a call.
The guard compares the presented token with the expected one in constant time, answers
401 otherwise and reports the refusal (source address, path, reason; never a token) to the
server's own logger.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection
from typing import Any

Refused = Callable[[str, str, str], None]
"""Told of each refusal: ``(source address, path, reason)``."""

BEARER = "Bearer "


def bearer_token(request: Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    header = request.headers.get("Authorization", "")
    return header[len(BEARER) :] if header.startswith(BEARER) else None


def query_token(request: Any) -> str | None:
    """The ``?token=`` query parameter (Rasa's convention for its HTTP API)."""
    value = request.args.get("token")
    return str(value) if value is not None else None


def token_guard(
    expected: str,
    presented: Callable[[Any], str | None],
    refused: Refused,
    *,
    open_paths: Collection[str] = (),
) -> Callable[[Any], Awaitable[Any]]:
    """A request middleware refusing (401) every request whose token is not ``expected``.

    ``presented`` reads the token from a request; ``open_paths`` are served without one.
    """
    if not expected:
        raise ValueError("an empty token would let everyone in")
    wanted = expected.encode("utf-8")

    async def guard(request: Any) -> Any:
        if request.path in open_paths:
            return None
        given = presented(request)
        if given is not None and hmac.compare_digest(given.encode("utf-8"), wanted):
            return None
        from sanic import response

        refused(request.ip, request.path, "missing token" if given is None else "wrong token")
        return response.json({"error": "unauthorized"}, status=401)

    return guard
