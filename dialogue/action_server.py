"""The rasa-sdk action server, served inside the application's own asyncio loop.

Rasa (in-process or remote) calls custom actions over HTTP, as always; the server runs in
the same process as the dialogue client so that both share the in-memory PIN vault
(:mod:`dialogue.secrets`): the client deposits a PIN and sends Rasa a token, the action
redeems the token here. Nothing about the PIN crosses a process boundary or touches disk.

It is the stock rasa-sdk Sanic app (``rasa_sdk.endpoint.create_app``), identical to
``rasa run actions``; :class:`ActionServer` starts it on a socket we bind, waits until it
answers ``/health``, and stops it cleanly. ``ivr actions`` runs it on its own (for
``rasa shell``/``rasa interactive``; PIN entry cannot work across processes).

Only the bot may call it: an action trusts the tracker it is sent (``authenticated``,
``customer_id``), so a forged tracker would move anyone's money. Every request but ``/health``
(which says only "ok") must carry ``Authorization: Bearer <token>``, the server's shared
secret; others get 401 and a ``dialogue.action_server.refused`` log line with their address.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import secrets
import signal
import socket
import time
from types import TracebackType
from typing import Any, TypeVar

from dialogue import quiet_rasa_environment
from dialogue.actions import runtime as actions_runtime
from dialogue.token_guard import BEARER, bearer_token, token_guard
from logfields import fields

log = logging.getLogger(__name__)
ACTIONS_PACKAGE = "dialogue.actions"
_APP_NAME = "rasa_sdk"
HEALTH_PATH = "/health"
TOKEN_ENV = "IVR_ACTION_TOKEN"
"""Where ``ivr actions`` and a stand-alone ``rasa run`` (through
``dialogue/endpoints.yml``) both find the shared secret."""


class SanicInLoop:
    """A Sanic app served on a socket we bind, inside the running asyncio loop."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: Any = None
        self._sock: socket.socket | None = None

    async def start(self) -> None:
        # Sanic 21.12 rewrites some of its own methods on first start ("TouchUp"); in test
        # mode it keeps the originals, so a second app (or a restart) in this process works.
        # The flag is class-level (Sanic refuses attributes set on an instance).
        type(self.app).test_mode = True
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._sock = sock
        server = await self.app.create_server(
            sock=sock, return_asyncio_server=True, access_log=False
        )
        if server is None:
            sock.close()
            raise RuntimeError("Sanic did not return a server")
        # create_server has already awaited the asyncio server: it is listening now.
        await server.startup()
        await server.before_start()
        await server.after_start()
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with contextlib.suppress(Exception):
            await server.before_stop()
        closing = server.close()
        for connection in list(getattr(server, "connections", [])):
            connection.close_if_idle()
        if closing is not None:
            await closing
        with contextlib.suppress(Exception):
            await server.after_stop()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _log_refusal(source: str, path: str, reason: str) -> None:
    log.warning(
        "dialogue.action_server.refused", extra=fields(source=source, path=path, reason=reason)
    )


Served = TypeVar("Served", bound="ServedApp")


class ServedApp(abc.ABC):
    """A server with ``start`` and ``stop``, usable as ``async with``."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Listen; return once the socket accepts connections."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""

    async def __aenter__(self: Served) -> Served:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class ActionServer(ServedApp):
    """Start/stop the custom action server in the running event loop.

    ``token``: the shared secret every caller must present; without one a fresh random
    token is made for this server (an in-process Rasa is simply given it).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5055,
        *,
        runtime: actions_runtime.Runtime | None = None,
        package: str = ACTIONS_PACKAGE,
        health_timeout_s: float = 20.0,
        token: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._runtime = runtime
        self._package = package
        self._health_timeout_s = health_timeout_s
        self._server: SanicInLoop | None = None
        self.token = token or secrets.token_urlsafe(32)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        """The URL to give Rasa as its action endpoint."""
        return f"{self.url}/webhook"

    @property
    def auth_headers(self) -> dict[str, str]:
        """The headers Rasa's action endpoint must send (``EndpointConfig(headers=...)``)."""
        return {"Authorization": BEARER + self.token}

    async def start(self) -> None:
        """Serve the actions; returns once ``/health`` answers (raises if it never does)."""
        if self._server is not None:
            return
        quiet_rasa_environment()
        from rasa_sdk.endpoint import create_app
        from sanic import Sanic

        # Sanic keeps a process-wide registry of app names; a previous server of ours
        # (stopped, or in another client) must not block this one.
        Sanic._app_registry.pop(_APP_NAME, None)
        app = create_app(self._package, cors_origins="")
        app.register_middleware(
            token_guard(self.token, bearer_token, _log_refusal, open_paths={HEALTH_PATH}),
            "request",
        )
        runtime = self._runtime
        if runtime is not None:

            async def bind_runtime(_: Any) -> None:
                actions_runtime.bind(runtime)

            app.register_middleware(bind_runtime, "request")
        serving = SanicInLoop(app, self.host, self.port)
        await serving.start()
        self.port = serving.port
        self._server = serving
        await self._wait_healthy()
        log.info("dialogue.action_server.started", extra=fields(url=self.url))

    async def _wait_healthy(self) -> None:
        import aiohttp

        deadline = time.monotonic() + self._health_timeout_s
        last_error: Exception | None = None
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(
                        self.url + HEALTH_PATH, timeout=aiohttp.ClientTimeout(total=2)
                    ) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    last_error = exc
                await asyncio.sleep(0.1)
        await self.stop()
        raise RuntimeError(f"action server at {self.url} did not become healthy: {last_error}")

    async def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        from sanic import Sanic

        await server.stop()
        Sanic._app_registry.pop(_APP_NAME, None)
        log.info("dialogue.action_server.stopped", extra=fields(url=self.url))


async def until_signalled() -> None:
    """Return on SIGINT or SIGTERM: the life of a server run on its own."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_forever(host: str, port: int, token: str, runtime: actions_runtime.Runtime) -> None:
    """Serve the actions against ``runtime`` until SIGINT or SIGTERM (``ivr actions``)."""
    async with ActionServer(host, port, runtime=runtime, token=token) as server:
        print(f"action server listening on {server.webhook_url} (Ctrl-C to stop)", flush=True)
        await until_signalled()
