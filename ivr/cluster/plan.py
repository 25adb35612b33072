"""Where each part of a one-machine cluster lives, from the ``cluster`` settings.

Node N listens on the N-1th loopback address after ``cluster.first_node_address`` (Linux routes
all of 127/8), on the same ports as every other node: SIP and RTP for the calls Kamailio sends
it, HTTP for its health, metrics and console. Every node shares the project folder (model,
design versions, prompt cache, recordings and their key) and the cluster's PostgreSQL (bank
and call records), and names itself in its call records (``server.node_id``).
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

from ivr.cluster.kamailio import Destination, Front
from ivr.cluster.postgres import PostgresServer
from ivr.config import Config, cluster_front


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    sip_port: int
    http_port: int

    @property
    def health_url(self) -> str:
        return f"http://{self.address}:{self.http_port}/healthz"


@dataclass(frozen=True)
class ClusterPlan:
    config: Config
    project: Path
    """The folder the bot runs in (relative settings are read from it)."""

    @property
    def folder(self) -> Path:
        return (self.project / self.config.cluster.dir).resolve()

    def nodes(self) -> list[Node]:
        cluster = self.config.cluster
        first = ipaddress.IPv4Address(cluster.first_node_address)
        return [
            Node(f"node-{n + 1}", str(first + n), cluster.node_sip_port, cluster.node_http_port)
            for n in range(cluster.nodes)
        ]

    def front(self) -> Front:
        host, port = cluster_front(self.config.cluster)
        return Front(
            host=host,
            port=port,
            config=(self.project / self.config.cluster.kamailio_config).resolve(),
            folder=self.folder / "kamailio",
            probe_interval_s=self.config.cluster.probe_interval_s,
            probe_failures=self.config.cluster.probe_failures,
        )

    def postgres(self) -> PostgresServer:
        return PostgresServer(
            self.folder / "postgres",
            self.config.cluster.postgres_port,
            password_file=self.folder / "postgres.pass",
        )

    def destinations(self) -> list[Destination]:
        max_load = min(self.config.server.max_calls, self.config.sip.max_calls)
        return [
            Destination(f"sip:{node.address}:{node.sip_port}", node.name, max_load)
            for node in self.nodes()
        ]

    def node_settings(self, node: Node) -> list[str]:
        """The ``--set`` settings that make ``ivr serve`` this node, after the user's own."""
        store = self.postgres().url
        front_host = self.front().host
        return [
            f"server.node_id={node.name}",
            f"sip.host={node.address}",
            f"sip.public_address={node.address}",
            f"sip.port={node.sip_port}",
            "sip.tcp=false",
            f"sip.trusted_sources={front_host}/32",
            f"http.host={node.address}",
            f"http.port={node.http_port}",
            f"audiosocket.host={node.address}",
            f"call.records_db={store}",
            f"bank.database={store}",
        ]

    def node_argv(self, node: Node, config_path: str | None, overrides: list[str]) -> list[str]:
        """``ivr serve`` for ``node``, with the configuration file and settings this command
        was given."""
        ivr = str(Path(sys.executable).with_name("ivr"))
        given = ["--config", config_path] if config_path else []
        settings = [*overrides, *self.node_settings(node)]
        return [ivr, *given, *(a for s in settings for a in ("--set", s)), "serve"]
