"""The HTTP side of the server: health and Prometheus metrics (media-stream WebSockets later)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web

from ivr.metrics import Metrics

StatsSource = Callable[[], Mapping[str, Mapping[str, int]]]
"""Returns, per transport, its counters (packets dropped, calls rejected, ...)."""


def build_app(metrics: Metrics, transport_stats: StatsSource) -> web.Application:
    """An aiohttp application with ``/healthz`` and ``/metrics``."""

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
    return app
