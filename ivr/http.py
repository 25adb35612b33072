"""The HTTP side of the server: health, Prometheus metrics, and the media-stream WebSockets.

``/healthz`` is open (load balancers probe it) and says only that the server is up. Everything
else wants proof once it is configured (``HttpProof``): ``/metrics`` and the platform's
``/calls/{id}/next`` a bearer token, Twilio's ``/twilio/next`` its request signature.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from aiohttp import web

from ivr.logs import get_logger
from ivr.metrics import Metrics
from logfields import fields
from telephony.access import bearer_token, same_secret
from telephony.websocket.signature import SIGNATURE_HEADER, signed_url, valid_twilio_signature

log = get_logger(__name__)

StatsSource = Callable[[], Mapping[str, Mapping[str, int]]]
"""Returns, per transport, its counters (packets dropped, calls rejected, ...)."""


RouteSource = Callable[[web.Application], None]
"""Adds a transport's own routes (e.g. the media-stream WebSockets) to the application."""


class HttpProof:
    """Checks the proof HTTP requests bring; counts and logs each refusal (never the secret).

    With nothing configured every request passes: the server then listens on loopback only.
    """

    def __init__(
        self,
        api_token: str | None = None,
        twilio_auth_token: str | None = None,
        public_url: str = "",
    ) -> None:
        self.api_token = api_token
        self.twilio_auth_token = twilio_auth_token
        self.public_url = public_url
        self.counters: Counter[str] = Counter()

    def require_token(self, request: web.Request) -> None:
        """Raise 401 unless the request carries the API token (Bearer header or ``?token=``)."""
        if self.api_token is None:
            return
        presented = bearer_token(request.headers.get("Authorization"), request.query.get("token"))
        if same_secret(presented, self.api_token):
            return
        self._refuse(request, "bad_token", "missing" if presented is None else "wrong")
        raise web.HTTPUnauthorized(
            text="a bearer token is required", headers={"WWW-Authenticate": 'Bearer realm="ivr"'}
        )

    async def require_twilio(self, request: web.Request) -> None:
        """Raise 403 unless a Twilio form POST is signed by our account (401 for the token
        when only the API token is configured: Twilio's action URL can carry ``?token=``)."""
        if self.twilio_auth_token is None:
            self.require_token(request)
            return
        form = await request.post()
        params = [(name, str(value)) for name, value in form.items()]
        url = signed_url(self.public_url, request.scheme, request.host, request.path_qs, False)
        signature = request.headers.get(SIGNATURE_HEADER)
        if valid_twilio_signature(self.twilio_auth_token, url, params, signature):
            return
        self._refuse(request, "bad_signature", "missing" if signature is None else "not valid")
        raise web.HTTPForbidden(text="invalid X-Twilio-Signature")

    def stats(self) -> dict[str, int]:
        return {"refused_bad_token": 0, "refused_bad_signature": 0, **self.counters}

    def _refuse(self, request: web.Request, why: str, state: str) -> None:
        self.counters[f"refused_{why}"] += 1
        log.warning(
            "http.refused",
            extra=fields(source=request.remote, path=request.path, reason=why, proof=state),
        )


def build_app(
    metrics: Metrics,
    transport_stats: StatsSource,
    routes: Iterable[RouteSource] = (),
    proof: HttpProof | None = None,
) -> web.Application:
    """An aiohttp application with ``/healthz``, ``/metrics`` and the transports' routes."""
    guard = proof or HttpProof()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def prometheus(request: web.Request) -> web.Response:
        guard.require_token(request)
        for transport, counters in transport_stats().items():
            metrics.set_transport_stats(transport, counters)
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    for add_routes in routes:
        add_routes(app)
    return app


def bound_port(site: web.TCPSite) -> int | None:
    """The port a started site listens on (port 0 in its settings picks a free one)."""
    server = site._server  # aiohttp keeps the asyncio server here
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else None
