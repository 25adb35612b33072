"""Where each part of a one-machine cluster lives, from the ``cluster`` settings.

Node N listens on the N-1th loopback address after ``cluster.first_node_address`` (Linux routes
all of 127/8), on the same ports as every other node: SIP and RTP for the calls Kamailio sends
it, HTTP for its health, metrics and console, and its action server. Every node shares the
project folder (model, design versions, prompt cache, recordings and their key) and the
cluster's PostgreSQL (bank and call records), and names itself in its call records
(``server.node_id``).

The dialogue tier likewise: Rasa server N on the N-1th address after
``cluster.first_dialogue_address``, its action router beside it. The servers keep
conversations in the cluster's PostgreSQL and lock them in its Redis, so every node spreads
its turns over all of them; each node notes its calls in Redis, so a router sends a call's
actions to the node whose PIN vault holds its tokens.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialogue.training import Project
from ivr.cluster.kamailio import Destination, Front
from ivr.cluster.postgres import DATABASE, PostgresServer
from ivr.cluster.rasa import LOCK_LIFETIME_ENV, RasaRun, shared_stores, tracker_store
from ivr.cluster.redis import RedisServer
from ivr.config import Config, cluster_front
from ivr.secretfile import new_token, read_secret, write_secret

RECOGNITIONS_PER_CORE = 2
"""Recognitions (worker processes) a machine runs at once per core, shared among its nodes: what
``asr.max_concurrent`` (4) is on two cores."""


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
class DialogueServer:
    name: str
    address: str
    port: int
    router_port: int

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def router_health_url(self) -> str:
        return f"http://{self.address}:{self.router_port}/health"


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

    def redis(self) -> RedisServer:
        return RedisServer(self.folder / "redis", self.config.cluster.redis_port)

    def dialogue_servers(self) -> list[DialogueServer]:
        cluster = self.config.cluster
        first = ipaddress.IPv4Address(cluster.first_dialogue_address)
        return [
            DialogueServer(
                f"rasa-{n + 1}", str(first + n), cluster.rasa_port, cluster.action_router_port
            )
            for n in range(cluster.dialogue_servers)
        ]

    @property
    def action_token_file(self) -> Path:
        """What Rasa servers and routers send the nodes' action servers."""
        return self.folder / "action.token"

    @property
    def rasa_token_file(self) -> Path:
        """What the nodes send the Rasa servers' REST channel."""
        return self.folder / "rasa.token"

    def make_tokens(self) -> None:
        """The dialogue tier's two secrets, made on first use, kept owner-only."""
        for token_file in (self.action_token_file, self.rasa_token_file):
            if not token_file.is_file():
                write_secret(token_file, new_token())

    def rasa_run(self, server: DialogueServer) -> RasaRun:
        """``server``'s ``rasa run``: the model, this cluster's stores, actions via its router."""
        redis = self.redis()
        return RasaRun(
            folder=self.folder / server.name,
            model=self.model,
            interface=server.address,
            port=server.port,
            rasa_token=read_secret(self.rasa_token_file, "cluster rasa token"),
            action_url=f"http://{server.address}:{server.router_port}/webhook",
            action_token=read_secret(self.action_token_file, "cluster action token"),
            stores=shared_stores(self.tracker_store(), redis.port, redis.password),
        )

    def tracker_store(self) -> dict[str, Any]:
        """Where the Rasa servers keep conversations: the cluster's PostgreSQL."""
        postgres = self.postgres()
        assert postgres.password_file is not None  # the cluster's store asks for one
        return tracker_store(postgres.port, DATABASE, postgres.password_file)

    def rasa_environment(self) -> dict[str, str]:
        """What a Rasa server's process adds to this one's environment."""
        return {LOCK_LIFETIME_ENV: str(self.config.cluster.lock_lifetime_s)}

    @property
    def model(self) -> Path:
        """The trained model every Rasa server loads (``ivr cluster up`` trains it if stale)."""
        return (self.project / Project.from_config(self.config.dialogue).model_path).resolve()

    def router_argv(
        self, server: DialogueServer, config_path: str | None, overrides: list[str]
    ) -> list[str]:
        """``ivr action-router`` beside ``server``."""
        settings = [*overrides, *self._routes_settings()]
        where = ["--host", server.address, "--port", str(server.router_port)]
        return [*self._ivr(config_path, settings), "action-router", *where]

    def _routes_settings(self) -> list[str]:
        redis = self.redis()
        return [
            f"dialogue.action_token_file={self.action_token_file}",
            f"dialogue.routes_url={redis.url}",
            f"dialogue.routes_password_file={redis.password_file}",
        ]

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
            *self._dialogue_settings(node),
        ]

    def _dialogue_settings(self, node: Node) -> list[str]:
        servers = self.dialogue_servers()
        if not servers:
            return []
        return [
            "dialogue.mode=http",
            f"dialogue.server_urls={','.join(server.url for server in servers)}",
            f"dialogue.action_server_host={node.address}",
            f"dialogue.rasa_token_file={self.rasa_token_file}",
            *self._routes_settings(),
        ]

    def node_argv(self, node: Node, config_path: str | None, overrides: list[str]) -> list[str]:
        """``ivr serve`` for ``node``, with the configuration file and settings this command
        was given (which may change the node's share of the machine, not its place)."""
        settings = [*self.machine_share(), *overrides, *self.node_settings(node)]
        return [*self._ivr(config_path, settings), "serve"]

    def machine_share(self) -> list[str]:
        """The nodes share this machine's cores: each recognises with its share of them, and
        runs its share of two recognitions (worker processes) per core. Each node's recogniser
        taking every core oversubscribes them (measured with three nodes and 16 calls on two
        cores: recognition p50 556 ms, and 256 ms with one thread each)."""
        cores = os.cpu_count() or 1
        nodes = len(self.nodes())
        return [
            f"asr.cpu_threads={max(1, cores // nodes)}",
            f"asr.max_concurrent={max(1, RECOGNITIONS_PER_CORE * cores // nodes)}",
        ]

    @staticmethod
    def _ivr(config_path: str | None, settings: list[str]) -> list[str]:
        ivr = str(Path(sys.executable).with_name("ivr"))
        given = ["--config", config_path] if config_path else []
        return [ivr, *given, *(a for s in settings for a in ("--set", s))]
