"""``ivr cluster up|status|down``: several bot nodes behind Kamailio on this machine.

``up`` starts the cluster's PostgreSQL (made on first use), the nodes (``ivr serve`` each, the
first alone so it can train and seed while the others wait), then Kamailio with a destination
list naming them, and returns once Kamailio can send calls to every node. ``down`` stops what
``up`` started: Kamailio first (no new calls), then each node (SIGTERM: it drains its calls),
then PostgreSQL. ``ivr.cluster.plan`` says where each part listens.
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
from ivr.readiness import wait_http

if TYPE_CHECKING:
    from ivr.cluster.plan import ClusterPlan
    from ivr.cluster.processes import Started

READY_S = 600.0
"""Longest wait for a node to load its engines and the assistant (and train, the first time)."""
FRONT_READY_S = 30.0


@click.group("cluster")
def cluster() -> None:
    """Several bot nodes behind Kamailio on this machine, sharing one PostgreSQL."""


@cluster.command("up")
@click.option("--nodes", type=int, help="How many bot nodes (default: cluster.nodes).")
@click.pass_context
def up(ctx: click.Context, nodes: int | None) -> None:
    """Start PostgreSQL, the nodes and Kamailio; print where to call."""
    import dataclasses

    from ivr.cluster.kamailio import KamailioUnavailable
    from ivr.cluster.postgres import PostgresError, PostgresUnavailable
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
    except (KamailioUnavailable, PostgresUnavailable, PostgresError) as exc:
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
        click.echo(f"{started.name:<10} pid {started.pid:<8} {state:<8} {started.log}")
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


def _wait_ready(started: Started, url: str) -> None:
    """Until the node answers ``url`` with 200; one that exits first is an error with the end
    of its log."""
    log = Path(started.log)

    def check_alive() -> None:
        if started.process() is None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{started.name} exited while starting; its log ends:\n{tail}")

    try:
        asyncio.run(wait_http(url, check_alive, READY_S, started.name, log))
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
