"""``ivr cluster up|status|down``: several bot nodes behind Kamailio on this machine.

``up`` starts the cluster's PostgreSQL (made on first use); the dialogue tier (the model trained
if stale, Redis, each Rasa server with its action router); the nodes (``ivr serve`` each, the
first alone so it can seed the bank while the others wait), then Kamailio with a destination
list naming them, and returns once Kamailio can send calls to every node. ``down`` stops what
``up`` started, the last first: Kamailio (no new calls), each node (SIGTERM: it drains its
calls), the dialogue tier, then PostgreSQL. ``ivr.cluster.plan`` says where each part listens.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ivr.commands import config_of
from ivr.config import Config
from ivr.readiness import wait_http, wait_redis

if TYPE_CHECKING:
    from ivr.cluster.plan import ClusterPlan
    from ivr.cluster.processes import Processes, Started

READY_S = 600.0
"""Longest wait for a node to load its engines and the assistant (and train, the first time)."""
FRONT_READY_S = 30.0


@click.group("cluster")
def cluster() -> None:
    """Several bot nodes behind Kamailio on this machine, sharing Rasa servers and one store."""


@cluster.command("up")
@click.option("--nodes", type=int, help="How many bot nodes (default: cluster.nodes).")
@click.pass_context
def up(ctx: click.Context, nodes: int | None) -> None:
    """Start PostgreSQL, Redis, the Rasa servers, the nodes and Kamailio; print where to call."""
    import dataclasses

    from ivr.cluster.kamailio import KamailioUnavailable
    from ivr.cluster.postgres import PostgresError, PostgresUnavailable
    from ivr.cluster.redis import RedisUnavailable
    from ivr.config import ConfigError, check_cluster

    config = config_of(ctx)
    if nodes is not None:
        config = dataclasses.replace(
            config, cluster=dataclasses.replace(config.cluster, nodes=nodes)
        )
        try:
            check_cluster(config.cluster)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
    plan = _plan(config)
    try:
        _up(ctx, plan)
    except (KamailioUnavailable, PostgresUnavailable, PostgresError, RedisUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc


@cluster.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """What runs, and how Kamailio's dispatcher sees each node."""
    from ivr.cluster.processes import Processes

    plan = _plan(config_of(ctx))
    running = set()
    for started in Processes(plan.folder).started():
        alive = started.process() is not None
        if alive:
            running.add(started.name)
        state = "running" if alive else "stopped"
        click.echo(f"{started.name:<14} pid {started.pid:<8} {state:<8} {started.log}")
    if "kamailio" in running:
        _print_states(plan)
    postgres = plan.postgres()
    state = "running" if postgres.running() else "stopped"
    click.echo(f"postgresql {state} {postgres.url} (password: PGPASSFILE={postgres.password_file})")


@cluster.command("down")
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop Kamailio, drain and stop the nodes, stop PostgreSQL."""
    from ivr.cluster.processes import Processes

    plan = _plan(config_of(ctx))
    stopped = Processes(plan.folder).stop_all()
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    postgres = plan.postgres()
    if postgres.running():
        postgres.stop()
        click.echo("stopped: postgresql")


def _plan(config: Config) -> ClusterPlan:
    from ivr.cluster.plan import ClusterPlan

    return ClusterPlan(config, Path.cwd())


def _up(ctx: click.Context, plan: ClusterPlan) -> None:
    from ivr.cluster.processes import Processes

    processes = Processes(plan.folder)
    if processes.running():
        raise click.ClickException(
            f"a cluster is already running from {plan.folder}: `ivr cluster down` first"
        )
    front = plan.front()
    front.write_list(plan.destinations())
    front.check()
    postgres = plan.postgres()
    if postgres.create():
        click.echo(f"postgresql: made {postgres.data}")
    elif not postgres.running():
        postgres.start()
    click.echo(f"postgresql: {postgres.url} (password: PGPASSFILE={postgres.password_file})")
    root = ctx.find_root().params
    config_path, overrides = root.get("config_path"), list(root.get("overrides") or ())
    environment = {**os.environ, **postgres.environment}
    try:
        _start_dialogue_tier(plan, processes, config_path, overrides)
        nodes = plan.nodes()
        for batch in (nodes[:1], nodes[1:]):
            started = [
                processes.spawn(n.name, plan.node_argv(n, config_path, overrides), env=environment)
                for n in batch
            ]
            for node, process in zip(batch, started, strict=True):
                _wait_ready(process, node.health_url)
                click.echo(f"{node.name}: sip:{node.address}:{node.sip_port}, {node.health_url}")
        processes.spawn("kamailio", front.argv())
        _wait_front(plan)
    except BaseException:
        processes.stop_all()
        raise
    click.echo(f"call the bank at {front.uri} (Kamailio, {len(nodes)} nodes)")
    _print_states(plan)


def _start_dialogue_tier(
    plan: ClusterPlan, processes: Processes, config_path: str | None, overrides: list[str]
) -> None:
    """Redis, then every Rasa server and its action router at once (each loads the model)."""
    servers = plan.dialogue_servers()
    if not servers:
        return
    from dialogue import quiet_rasa_environment
    from dialogue.training import Project, train
    from ivr.cluster.rasa import make_tracker_table

    train(Project.from_config(plan.config.dialogue), progress=click.echo)
    plan.make_tokens()
    redis = plan.redis()
    started = processes.spawn("redis", redis.argv())
    _wait_ready(started, redis.url, redis.password)
    click.echo(f"redis: {redis.url} (password: {redis.password_file})")
    make_tracker_table(plan.tracker_store())
    quiet_rasa_environment()
    environment = {**os.environ, **plan.rasa_environment()}
    waiting = []
    for server in servers:
        rasa = processes.spawn(server.name, plan.rasa_run(server).argv(), env=environment)
        router = processes.spawn(
            f"router-{server.name}", plan.router_argv(server, config_path, overrides)
        )
        waiting += [(rasa, f"{server.url}/"), (router, server.router_health_url)]
    for process, url in waiting:
        _wait_ready(process, url)
    click.echo(f"rasa: {', '.join(server.url for server in servers)}, each with its action router")


def _wait_ready(started: Started, url: str, redis_password: str | None = None) -> None:
    """Until the process answers ``url`` (HTTP 200, or a Redis PING with the password); one
    that exits first is an error with the end of its log."""
    log = Path(started.log)

    def check_alive() -> None:
        if started.process() is None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{started.name} exited while starting; its log ends:\n{tail}")

    try:
        if redis_password is None:
            asyncio.run(wait_http(url, check_alive, READY_S, started.name, log))
        else:
            asyncio.run(wait_redis(url, redis_password, check_alive, READY_S, started.name, log))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


def _wait_front(plan: ClusterPlan) -> None:
    """Until Kamailio answers on its control socket and holds every node as active (``_up``
    stops everything if it does not)."""
    front = plan.front()
    deadline = time.monotonic() + FRONT_READY_S
    while time.monotonic() < deadline:
        try:
            states = front.states()
        except RuntimeError:
            states = []
        if len(states) == len(plan.nodes()) and all(s.active for s in states):
            return
        time.sleep(0.5)
    raise click.ClickException(f"Kamailio did not take the nodes within {FRONT_READY_S:.0f} s")


def _print_states(plan: ClusterPlan) -> None:
    for state in plan.front().states():
        click.echo(f"  {state.duid:<10} {state.uri:<24} {state.flags}  calls {state.load}")


COMMANDS = [cluster]
