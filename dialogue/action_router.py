"""The action endpoint of a Rasa server shared by several bot nodes (``ivr action-router``).

Rasa calls custom actions at one URL, but each bot node runs its own action server: the PIN
vault and the caller registry live in that node's memory, and PINs never leave it. So a Rasa
server's ``endpoints.yml`` points at this router, one next to each Rasa server; the router
reads the conversation (``sender_id``) of each action call, looks up in
:class:`~dialogue.action_routes.ActionRoutes` which node holds it, and forwards the request
body, unchanged, to that node's webhook. The node's answer (status and JSON body: Rasa reads
the 400 of a rejected action) goes back unchanged.

It is a trust boundary like the action server itself: every request but ``/health`` must
carry the action token (``Authorization: Bearer``, constant-time check, 401 and a
``dialogue.action_router.refused`` warning otherwise), and only then is the body read as
JSON and forwarded with the same token. Bodies are bounded (413 beyond), the node's answer
too (502 beyond), and redirects are not followed: the token goes only to the node the
registry names. Logs name the conversation and the node, never tracker contents.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any

import aiohttp

from dialogue.action_routes import ActionRoutes, RoutesUnavailable, check_conversation_id
from dialogue.action_server import HEALTH_PATH, SanicInLoop, ServedApp, until_signalled
from dialogue.token_guard import BEARER, bearer_token, token_guard
from logfields import fields

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest action call accepted, and largest node answer passed back (a tracker with its
domain is some tens of KiB)."""


def _log_refusal(source: str, path: str, reason: str) -> None:
    log.warning(
        "dialogue.action_router.refused", extra=fields(source=source, path=path, reason=reason)
    )


def _error(message: str, status: int) -> Any:
    from sanic import response

    return response.json({"error": message}, status=status)


class _TooLarge(Exception):
    """The node's answer is over the bound."""


class ActionRouter(ServedApp):
    """Serve ``POST /webhook`` (forwarded to the conversation's node) and ``GET /health``.

    ``token``: the action token Rasa sends and the nodes' action servers expect (one secret,
    ``dialogue.action_token_file``). ``routes`` stays the caller's: the router does not close it.
    """

    def __init__(
        self,
        routes: ActionRoutes,
        token: str,
        host: str = "127.0.0.1",
        port: int = 5055,
        *,
        forward_timeout_s: float = 10.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not token:
            raise ValueError("an empty token would let everyone in")
        self.host = host
        self.port = port
        self._routes = routes
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=forward_timeout_s)
        self._max_body_bytes = max_body_bytes
        self._app_name = f"ivr_action_router_{secrets.token_hex(4)}"
        self._server: SanicInLoop | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        """What a Rasa server's ``action_endpoint`` names."""
        return self.url + WEBHOOK_PATH

    async def start(self) -> None:
        """Listen; returns once the socket accepts connections."""
        if self._server is not None:
            return
        from sanic import Sanic, response

        app: Any = Sanic(self._app_name, configure_logging=False)  # middleware typed loosely
        app.config.REQUEST_MAX_SIZE = self._max_body_bytes
        app.register_middleware(
            token_guard(self._token, bearer_token, _log_refusal, open_paths={HEALTH_PATH}),
            "request",
        )

        async def health(_: Any) -> Any:
            return response.text("ok")

        app.add_route(health, HEALTH_PATH, methods=["GET"])
        app.add_route(self._webhook, WEBHOOK_PATH, methods=["POST"])
        self._http = aiohttp.ClientSession(timeout=self._timeout)
        serving = SanicInLoop(app, self.host, self.port)
        try:
            await serving.start()
        except BaseException:
            await self._http.close()
            self._http = None
            Sanic._app_registry.pop(self._app_name, None)
            raise
        self.port = serving.port
        self._server = serving
        log.info("dialogue.action_router.started", extra=fields(url=self.url))

    async def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, self._server = self._server, None
        http, self._http = self._http, None
        if server is None:
            return
        from sanic import Sanic

        await server.stop()
        if http is not None:
            await http.close()
        Sanic._app_registry.pop(self._app_name, None)
        log.info("dialogue.action_router.stopped", extra=fields(url=self.url))

    async def _webhook(self, request: Any) -> Any:
        try:
            body = json.loads(request.body)
            conversation = check_conversation_id(body["sender_id"])
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # Recursion: too deep
            reason = "no sender_id" if isinstance(exc, KeyError) else str(exc)
            log.warning(
                "dialogue.action_router.bad_request",
                extra=fields(source=request.ip, reason=reason),
            )
            return _error("the body must be JSON with a sender_id string", 400)
        try:
            node = await self._routes.lookup(conversation)
        except RoutesUnavailable as exc:
            log.error(
                "dialogue.action_router.routes_unavailable",
                extra=fields(conversation=conversation, reason=str(exc)),
            )
            return _error("the action routes are unavailable", 503)
        if node is None:
            log.warning("dialogue.action_router.no_route", extra=fields(conversation=conversation))
            return _error("no bot node holds this conversation", 404)
        return await self._forward(request.body, conversation, node)

    async def _forward(self, body: bytes, conversation: str, node: str) -> Any:
        from sanic import response

        http = self._http
        if http is None:
            return _error("the router is stopping", 503)
        headers = {"Authorization": BEARER + self._token, "Content-Type": "application/json"}
        started = time.monotonic()
        try:
            async with http.post(node, data=body, headers=headers, allow_redirects=False) as r:
                answer = await self._read_bounded(r)
                status = r.status
                content_type = r.headers.get("Content-Type", "application/json")
        except (aiohttp.ClientError, asyncio.TimeoutError, _TooLarge) as exc:
            log.warning(
                "dialogue.action_router.unreachable",
                extra=fields(
                    conversation=conversation, node=node, reason=str(exc) or type(exc).__name__
                ),
            )
            return _error("the conversation's bot node did not answer", 502)
        log.debug(
            "dialogue.action_router.forwarded",
            extra=fields(
                conversation=conversation,
                node=node,
                status=status,
                ms=round((time.monotonic() - started) * 1000),
            ),
        )
        return response.raw(answer, status=status, content_type=content_type)

    async def _read_bounded(self, answer: aiohttp.ClientResponse) -> bytes:
        body = bytearray()
        async for chunk in answer.content.iter_any():
            body += chunk
            if len(body) > self._max_body_bytes:
                raise _TooLarge(f"answer over {self._max_body_bytes} bytes")
        return bytes(body)


async def serve_forever(router: ActionRouter) -> None:
    """Route action calls until SIGINT or SIGTERM (``ivr action-router``)."""
    async with router:
        print(f"action router listening on {router.webhook_url} (Ctrl-C to stop)", flush=True)
        await until_signalled()
