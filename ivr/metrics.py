"""Prometheus metrics for /metrics: calls by transport and outcome, turns, latencies, errors."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    """One registry per server (tests make their own), with the bot's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.active = Gauge(
            "ivr_active_calls", "Calls in progress.", ["transport"], registry=self.registry
        )
        self.calls = Counter(
            "ivr_calls",
            "Calls ended, by outcome.",
            ["transport", "outcome"],
            registry=self.registry,
        )
        self.turns = Counter("ivr_turns", "Turns completed.", ["transport"], registry=self.registry)
        self.latency = Histogram(
            "ivr_latency_seconds",
            "Latency by stage: turn = end of caller speech to first bot audio.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.transport = Gauge(
            "ivr_transport",
            "Transport counters (malformed packets dropped, calls rejected, ...).",
            ["transport", "name"],
            registry=self.registry,
        )
        self.events = Counter(
            "ivr_events",
            "Notable events (barge_in, error, ...).",
            ["event", "kind"],
            registry=self.registry,
        )

    def call_started(self, transport: str) -> None:
        self.active.labels(transport).inc()

    def call_ended(self, transport: str, outcome: str) -> None:
        self.active.labels(transport).dec()
        self.calls.labels(transport, outcome).inc()

    def turn_done(self, transport: str) -> None:
        self.turns.labels(transport).inc()

    def observe(self, stage: str, seconds: float) -> None:
        self.latency.labels(stage).observe(seconds)

    def count(self, event: str, kind: str = "") -> None:
        self.events.labels(event, kind).inc()

    def set_transport_stats(self, transport: str, counters: Mapping[str, int]) -> None:
        for name, value in counters.items():
            self.transport.labels(transport, name).set(value)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything registered."""
        return generate_latest(self.registry)
