"""Three bot nodes behind Kamailio, started by ``ivr cluster up`` with the shipped Kamailio
configuration, sharing two Rasa servers (each with its action router), a PostgreSQL and a Redis
of their own, called over SIP through the front:

- concurrent calls are spread over the nodes by call load, and every node's audio reaches the
  caller directly (RTP never passes Kamailio); the call bench's ramp (``--target``) talks
  through the front to every node;
- a Rasa server killed with SIGKILL mid-call costs nothing: the talking call's next turns are
  answered by the other server (no apology, no handoff), and a caller verifying meanwhile, in
  another conversation, is verified with the account number the dead server took;
- a node sent SIGTERM finishes its call, answers probes 503 and takes no new call; one placed
  before the dispatcher noticed fails over to another node;
- a node killed with SIGKILL is marked down by the OPTIONS probes within a few intervals; a call
  placed before that waits for the timeout and goes to a live node, none fails after;
- ``ivr calls`` lists every node's calls from the one store, with their node;
- ``ivr cluster down`` stops it all.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from ivr.bench.bot import free_port
from ivr.bench.caller import place_call as bench_call
from ivr.bench.voice import caller_lines
from ivr.cluster.kamailio import DestinationState
from ivr.cluster.plan import ClusterPlan
from ivr.cluster.processes import Processes
from ivr.config import load_config
from tests.calls.conftest import until

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]
IVR = str(Path(sys.executable).with_name("ivr"))
NODES = 3
PROBE_S = 1


@dataclass
class Cluster:
    settings: list[str]
    plan: ClusterPlan

    @property
    def front(self) -> tuple[str, int]:
        front = self.plan.front()
        return front.host, front.port

    def pid(self, name: str) -> int:
        return next(s.pid for s in Processes(self.plan.folder).started() if s.name == name)

    def states(self) -> dict[str, DestinationState]:
        return {s.duid: s for s in self.plan.front().states()}

    def connect(self):  # type: ignore[no-untyped-def]
        store = self.plan.postgres()
        return psycopg2.connect(store.url, passfile=str(store.password_file))

    def calls_per_node(self) -> Counter[str]:
        with self.connect() as db, db.cursor() as cursor:
            cursor.execute("SELECT node_id FROM calls")
            return Counter(node for (node,) in cursor.fetchall())

    def answered_turns_in_progress(self) -> int:
        """Caller turns of the calls still going on (the call layer records each at once)."""
        with self.connect() as db, db.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM turns JOIN calls USING (call_id)"
                " WHERE calls.outcome = 'in_progress' AND turns.input_kind = 'speech'"
            )
            (count,) = cursor.fetchone()
        return int(count)

    def turns_of(self, call_id: str) -> tuple[str, list[str]]:
        """A call's outcome and what the bot said at each turn."""
        with self.connect() as db, db.cursor() as cursor:
            cursor.execute("SELECT call_id, outcome FROM calls WHERE peer_call_id = %s", (call_id,))
            (record_id, outcome) = cursor.fetchone()
            cursor.execute(
                "SELECT bot_text FROM turns WHERE call_id = %s ORDER BY turn", (record_id,)
            )
            return outcome, [text for (text,) in cursor.fetchall()]

    def node_of(self, call_ids: list[str]) -> dict[str, str]:
        """Each call's node, from the one store every node writes."""
        with self.connect() as db, db.cursor() as cursor:
            cursor.execute(
                "SELECT peer_call_id, node_id FROM calls WHERE peer_call_id = ANY(%s)",
                (call_ids,),
            )
            return dict(cursor.fetchall())

    async def ivr(self, *args: str, timeout: float = 900) -> str:
        process = await asyncio.create_subprocess_exec(
            IVR,
            *(a for s in self.settings for a in ("--set", s)),
            *args,
            cwd=ROOT,
            env={**os.environ, **self.plan.postgres().environment},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
        text = out.decode(errors="replace")
        assert process.returncode == 0, text
        return text


@dataclass
class Placed:
    sip_call_id: str
    answered_by: str
    """The address the bot's media came from: which node answered."""
    rx_packets: int
    setup_s: float


async def place_call(front: tuple[str, int], answered: asyncio.Event | None = None) -> Placed:
    """One call through the front with the bench's caller: it hears the bot's greeting out,
    then hangs up."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    setup: list[float] = []

    def on_media(_: tuple[str, int]) -> None:
        setup.append(loop.time() - began)
        if answered is not None:
            answered.set()

    result = await bench_call(front, [], 0, loop.time(), on_media=on_media)
    assert not result.error and setup, result.error
    return Placed(result.call_id, result.node, result.rx_packets, setup[0])


async def staggered(delay_s: float, front: tuple[str, int]) -> Placed:
    await asyncio.sleep(delay_s)
    return await place_call(front)


def inactive(cluster: Cluster, node: str) -> bool:
    """The dispatcher no longer selects ``node`` (I: inactive; T, trying, still may be)."""
    return cluster.states()[node].flags.startswith("I")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def cluster():  # type: ignore[no-untyped-def]
    # Not under pytest's private tmp dir: the postgres user must be able to reach it.
    tmp_path = Path(tempfile.mkdtemp(prefix="ivr-cluster-"))
    tmp_path.chmod(0o755)
    settings = [
        f"cluster.dir={tmp_path / 'cluster'}",
        f"cluster.front=127.0.0.1:{free_port()}",
        "cluster.first_node_address=127.0.0.61",
        "cluster.first_dialogue_address=127.0.0.71",
        f"cluster.rasa_port={free_port()}",
        f"cluster.action_router_port={free_port()}",
        f"cluster.redis_port={free_port()}",
        f"dialogue.action_server_port={free_port()}",
        f"cluster.node_sip_port={free_port()}",
        f"cluster.node_http_port={free_port()}",
        f"cluster.postgres_port={free_port()}",
        f"cluster.probe_interval_s={PROBE_S}",
        "cluster.probe_failures=2",
        f"call.recordings_dir={tmp_path / 'recordings'}",
        f"design.dir={tmp_path / 'design'}",
        f"tts.cache_dir={tmp_path / 'prompts'}",
        "tts.prepare_prompts=false",
        "server.drain_s=60",
        "logging.level=WARNING",
    ]
    made = Cluster(settings, ClusterPlan(load_config(overrides=settings, environ={}), ROOT))
    try:
        yield made
    finally:
        Processes(made.plan.folder).stop_all()
        postgres = made.plan.postgres()
        if postgres.running():
            postgres.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)


async def test_calls_spread_over_nodes_and_survive_a_drained_and_a_killed_node(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = await cluster.ivr("cluster", "up", "--nodes", str(NODES))
    assert f"call the bank at sip:{cluster.front[0]}:{cluster.front[1]}" in started
    nodes = {node.address: node.name for node in cluster.plan.nodes()}
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(cluster.plan.postgres().url, passfile="/dev/null")  # the store's door
    assert [s.flags[0] for s in cluster.states().values()] == ["A"] * NODES

    # Six calls a quarter second apart, each held 3 s: two on each node (the dispatcher
    # sends each to the node with the fewest).
    spread = await asyncio.gather(*(staggered(i * 0.25, cluster.front) for i in range(6)))
    assert all(p.rx_packets > 50 for p in spread), "each caller heard its node's greeting"
    per_node = Counter(nodes[p.answered_by] for p in spread)
    assert sorted(per_node.values()) == [2, 2, 2], per_node
    stored = cluster.node_of([p.sip_call_id for p in spread])
    assert {p.sip_call_id: nodes[p.answered_by] for p in spread} == stored

    # The call bench's ramp through the front: three talking calls, one per node.
    out = cluster.plan.folder / "bench"
    await cluster.ivr(
        *("bench", "calls", "--target", f"sip:{cluster.front[0]}:{cluster.front[1]}"),
        *("--turns", "1", "--levels", "3", "--level-seconds", "15", "--out", str(out)),
    )
    ramp = json.loads((out / "calls-target.json").read_text())
    level = ramp["capacity"]["levels"][0]
    assert level["failed_calls"] == [] and level["turns"] >= 3, level
    assert sorted(level["per_node"]) == sorted(nodes) and set(level["per_node"].values()) == {1}
    assert ramp["single_call"]["turns"] == 1 and ramp["single_call"]["missing_replies"] == 0

    await survives_a_lost_rasa_server(cluster, monkeypatch)

    # One long call per node; node-3 is drained while its call goes on.
    answered = [asyncio.Event() for _ in range(NODES)]
    held = [asyncio.create_task(place_call(cluster.front, a)) for a in answered]
    await asyncio.wait_for(asyncio.gather(*(a.wait() for a in answered)), 30)
    draining = cluster.pid("node-3")
    os.kill(draining, signal.SIGTERM)
    await asyncio.sleep(1.0)  # the signal is handled on the node's event loop
    early = await place_call(cluster.front)  # before the probes noticed: 503, next node
    assert nodes[early.answered_by] != "node-3"
    began = time.monotonic()
    await until(lambda: inactive(cluster, "node-3"), 15, "node-3 taken out")
    waited = time.monotonic() - began
    after_drain = await asyncio.gather(*(place_call(cluster.front) for _ in range(4)))
    assert {nodes[p.answered_by] for p in after_drain} <= {"node-1", "node-2"}
    finished = await asyncio.gather(*held)
    assert {nodes[p.answered_by] for p in finished} == set(nodes.values())
    assert all(p.rx_packets > 50 for p in finished)
    await until(lambda: not alive(draining), 60, "node-3 to exit after its call")
    drained_call = next(p for p in finished if nodes[p.answered_by] == "node-3")
    assert cluster.node_of([drained_call.sip_call_id]) == {drained_call.sip_call_id: "node-3"}

    # node-2 dies without a word.
    killed_at = time.monotonic()
    os.kill(cluster.pid("node-2"), signal.SIGKILL)
    placed_before = asyncio.create_task(place_call(cluster.front))  # before the probes notice
    await until(lambda: inactive(cluster, "node-2"), 20, "node-2 marked down")
    detected_s = time.monotonic() - killed_at
    before_noticed = await placed_before
    assert nodes[before_noticed.answered_by] == "node-1"
    after_kill = await asyncio.gather(*(place_call(cluster.front) for _ in range(4)))
    assert {nodes[p.answered_by] for p in after_kill} == {"node-1"}
    print(
        f"\ncluster: per node {dict(per_node)}; drain noticed after {waited:.1f} s; "
        f"kill noticed after {detected_s:.1f} s (probe every {PROBE_S} s); call placed "
        f"before that set up in {before_noticed.setup_s:.1f} s; "
        f"after it {max(p.setup_s for p in after_kill):.2f} s at most"
    )

    everything = [*spread, *finished, early, *after_drain, before_noticed, *after_kill]
    stored = cluster.node_of([p.sip_call_id for p in everything])
    assert len(stored) == len(everything), "no call was lost"
    listing = await cluster.ivr(
        "--set", f"call.records_db={cluster.plan.postgres().url}", "calls", "--limit", "50"
    )
    listed = Counter(line.split()[6] for line in listing.splitlines()[1:])
    assert listed == cluster.calls_per_node(), listing  # the bench's calls among them

    stopped = await cluster.ivr("cluster", "down")
    for part in ("kamailio", "node-1", "rasa-2", "router-rasa-1", "redis", "postgresql"):
        assert part in stopped, stopped
    assert Processes(cluster.plan.folder).running() == []


async def survives_a_lost_rasa_server(cluster: Cluster, env: pytest.MonkeyPatch) -> None:
    """rasa-1 is killed while a SIP call talks (after its first answer) and while a caller
    verifies in a conversation of this process (after the account number, before the PIN)."""
    config = load_config(overrides=cluster.settings, environ={})
    lines = caller_lines(config)
    loop = asyncio.get_running_loop()
    talking = asyncio.create_task(
        bench_call(cluster.front, lines, 4, loop.time() + 180, min_turns=4)
    )
    verifier = await verifying_caller(cluster, env)
    conversation = f"verify-{os.getpid()}"
    try:
        await verifier.begin(conversation)
        await verifier.send(conversation, "what's my balance")
        asked = await verifier.send_digits(conversation, "31415926", secure=False)
        assert asked.expect_digits is not None and asked.expect_digits.secure, asked.text
        await until(lambda: cluster.answered_turns_in_progress() >= 1, 90, "a first answer")
        os.kill(cluster.pid("rasa-1"), signal.SIGKILL)
        began = time.monotonic()
        verified = await verifier.send(conversation, "two four six eight")
        took = time.monotonic() - began
        assert "2,450 dollars and 75 cents" in verified.text, verified.text
        await verifier.end(conversation)
    finally:
        await verifier.close()
    call = await talking
    assert not call.error and not call.bot_hangup, call
    assert [t.latency_ms is not None for t in call.turns] == [True] * 4, call.turns
    outcome, said = cluster.turns_of(call.call_id)
    assert outcome not in ("failed", "handed_off") and len(said) >= 5, (outcome, said)
    assert not [text for text in said if config.call.apology in text]
    print(
        f"\nrasa-1 killed mid-call: the PIN turn after it took {took:.2f} s; the call's turns "
        f"{[t.latency_ms for t in call.turns]} ms"
    )


async def verifying_caller(cluster: Cluster, env: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A dialogue client set up as one more node (its own action server on an address of its
    own, its calls noted for the routers), talking to the cluster's Rasa servers."""
    from ivr.cluster.plan import Node
    from ivr.services import dialogue_client

    plan = cluster.plan
    extra = Node("verifier", "127.0.0.69", free_port(), free_port())
    config = load_config(overrides=[*cluster.settings, *plan.node_settings(extra)], environ={})
    for name, value in plan.postgres().environment.items():  # the bank's password
        env.setenv(name, value)
    client = dialogue_client(config)
    await client.start()
    return client
