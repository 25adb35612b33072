"""The HTTP side of the server: health, Prometheus metrics, and the media-stream WebSockets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from aiohttp import web

from ivr.metrics import Metrics

StatsSource = Callable[[], Mapping[str, Mapping[str, int]]]
"""Returns, per transport, its counters (packets dropped, calls rejected, ...)."""


RouteSource = Callable[[web.Application], None]
"""Adds a transport's own routes (e.g. the media-stream WebSockets) to the application."""


def build_app(
    metrics: Metrics, transport_stats: StatsSource, routes: Iterable[RouteSource] = ()
) -> web.Application:
    """An aiohttp application with ``/healthz``, ``/metrics`` and the transports' routes."""

    async def healthz(_: web.Request) -> web.Response:
        stats = transport_stats()
        return web.json_response({"status": "ok", "transports": stats})

    async def prometheus(_: web.Request) -> web.Response:
        for transport, counters in transport_stats().items():
            metrics.set_transport_stats(transport, counters)
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    for add_routes in routes:
        add_routes(app)
    return app
