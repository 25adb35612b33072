"""What ``ivr cluster up`` would start, from the ``cluster`` settings: node addresses and
settings, the dispatcher's destination list, Kamailio's command line (checked by Kamailio
itself), the dispatcher's state as kamcmd prints it, and the settings refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ivr.cluster.kamailio import parse_states
from ivr.cluster.plan import ClusterPlan
from ivr.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def plan_of(*settings: str) -> ClusterPlan:
    return ClusterPlan(load_config(overrides=settings, environ={}), ROOT)


def test_each_node_gets_its_own_address_and_the_shared_store() -> None:
    plan = plan_of(
        "cluster.nodes=2",
        "cluster.first_node_address=127.0.0.40",
        "cluster.node_sip_port=5170",
        "cluster.node_http_port=8170",
        "cluster.postgres_port=55470",
        "server.max_calls=12",
        "cluster.front=127.0.0.9:5090",
    )
    nodes = plan.nodes()
    assert [(n.name, n.address, n.sip_port) for n in nodes] == [
        ("node-1", "127.0.0.40", 5170),
        ("node-2", "127.0.0.41", 5170),
    ]
    assert nodes[1].health_url == "http://127.0.0.41:8170/healthz"
    settings = plan.node_settings(nodes[1])
    store = "postgresql://bank@127.0.0.1:55470/bank"
    assert {
        "server.node_id=node-2",
        "sip.host=127.0.0.41",
        "sip.public_address=127.0.0.41",
        "sip.trusted_sources=127.0.0.9/32",
        f"call.records_db={store}",
        f"bank.database={store}",
    } <= set(settings)
    assert [d.line() for d in plan.destinations()] == [
        "1 sip:127.0.0.40:5170 0 0 duid=node-1;maxload=12",
        "1 sip:127.0.0.41:5170 0 0 duid=node-2;maxload=12",
    ]
    argv = plan.node_argv(nodes[0], "site.yaml", ["vad.aggressiveness=3"])
    assert argv[1:3] == ["--config", "site.yaml"] and argv[-1] == "serve"
    given = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    cores = os.cpu_count() or 1
    share = [f"asr.cpu_threads={max(1, cores // 2)}", f"asr.max_concurrent={max(1, cores)}"]
    assert given[:3] == [*share, "vad.aggressiveness=3"], (
        "the machine's share first (the user's settings may change it), the node's place last"
    )


def test_the_nodes_share_the_rasa_servers_whose_actions_come_back_through_routers(
    tmp_path: Path,
) -> None:
    plan = plan_of(
        f"cluster.dir={tmp_path}",
        "cluster.first_node_address=127.0.0.40",
        "cluster.first_dialogue_address=127.0.0.50",
        "cluster.dialogue_servers=2",
        "cluster.rasa_port=5105",
        "cluster.action_router_port=5155",
        "cluster.redis_port=56400",
        "cluster.postgres_port=55470",
        "dialogue.action_server_port=5255",
        "cluster.lock_lifetime_s=7",
    )
    servers = plan.dialogue_servers()
    assert [(s.name, s.url) for s in servers] == [
        ("rasa-1", "http://127.0.0.50:5105"),
        ("rasa-2", "http://127.0.0.51:5105"),
    ]
    node = plan.nodes()[1]
    settings = plan.node_settings(node)
    assert {
        "dialogue.mode=http",
        "dialogue.server_urls=http://127.0.0.50:5105,http://127.0.0.51:5105",
        "dialogue.action_server_host=127.0.0.41",
        "dialogue.routes_url=redis://127.0.0.1:56400/0",
        f"dialogue.rasa_token_file={tmp_path / 'rasa.token'}",
    } <= set(settings)
    node_config = load_config(overrides=settings, environ={})
    assert node_config.dialogue.server_urls == [s.url for s in servers]

    plan.make_tokens()
    (tmp_path / "redis").mkdir()
    plan.redis().argv()  # makes the Redis password
    argv = plan.rasa_run(servers[1]).argv()
    assert argv[argv.index("--interface") + 1] == "127.0.0.51"
    endpoints = yaml.safe_load(Path(argv[argv.index("--endpoints") + 1]).read_text())
    assert endpoints["action_endpoint"]["url"] == "http://127.0.0.51:5155/webhook"
    assert endpoints["tracker_store"]["type"] == "dialogue.tracker_store.SharedTrackerStore"
    assert endpoints["tracker_store"]["port"] == 55470
    assert "password" not in endpoints["tracker_store"]  # libpq reads the passfile
    assert endpoints["lock_store"]["port"] == 56400 and endpoints["lock_store"]["db"] == 1
    assert plan.rasa_environment() == {"TICKET_LOCK_LIFETIME": "7"}  # read by Rasa's locks
    router = plan.router_argv(servers[0], None, [])
    assert router[-5:] == ["action-router", "--host", "127.0.0.50", "--port", "5155"]
    assert "dialogue.routes_url=redis://127.0.0.1:56400/0" in router
    assert plan_of("cluster.dialogue_servers=0").node_settings(node)[-1].startswith("bank.")


def test_kamailio_accepts_the_shipped_configuration_with_the_plans_defines(
    tmp_path: Path,
) -> None:
    plan = plan_of(
        f"cluster.dir={tmp_path}", "cluster.probe_interval_s=3", "cluster.probe_failures=4"
    )
    front = plan.front()
    front.write_list(plan.destinations())
    assert "PROBE_INTERVAL=3" in front.argv() and "PROBE_FAILURES=4" in front.argv()
    front.check()

    broken = plan_of(f"cluster.dir={tmp_path}", f"cluster.kamailio_config={tmp_path / 'x.cfg'}")
    (tmp_path / "x.cfg").write_text('#!KAMAILIO\nloadmodule "nonexistent.so"\n')
    with pytest.raises(RuntimeError, match="Kamailio refused"):
        broken.front().check()


KAMCMD = """{
	NRSETS: 1
	RECORDS: {
		SET: {
			ID: 1
			TARGETS: {
				DEST: {
					URI: sip:127.0.0.3:5060
					FLAGS: IP
					PRIORITY: 0
					ATTRS: {
						BODY: duid=node-2;maxload=32
						DUID: node-2
						MAXLOAD: 32
					}
					RUNTIME: {
						DLGLOAD: 0
					}
				}
				DEST: {
					URI: sip:127.0.0.2:5060
					FLAGS: AP
					PRIORITY: 0
					ATTRS: {
						BODY: duid=node-1;maxload=32
						DUID: node-1
						MAXLOAD: 32
					}
					RUNTIME: {
						DLGLOAD: 3
					}
				}
			}
		}
	}
}
"""


def test_the_dispatchers_state_is_read_per_node() -> None:
    states = parse_states(KAMCMD)
    assert [(s.duid, s.uri, s.flags, s.load, s.active) for s in states] == [
        ("node-1", "sip:127.0.0.2:5060", "AP", 3, True),
        ("node-2", "sip:127.0.0.3:5060", "IP", 0, False),
    ]


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ("cluster.nodes=0", "cluster.nodes must be between"),
        ("cluster.nodes=33", "cluster.nodes must be between"),
        ("cluster.front=10.0.0.1:5060", "loopback"),
        ("cluster.front=127.0.0.1", "ADDRESS:PORT"),
        ("cluster.first_node_address=bank.example", "IPv4"),
        ("cluster.first_node_address=127.0.0.254", "no room"),
        ("cluster.postgres_port=70000", "port number"),
        ("cluster.probe_interval_s=0", "probe_interval_s"),
        ("cluster.probe_failures=11", "probe_failures"),
        ("cluster.dialogue_servers=33", "dialogue_servers must be between"),
        ("cluster.first_dialogue_address=127.0.0.3", "overlap"),
        ("cluster.first_dialogue_address=10.1.1.1", "loopback"),
        ("cluster.action_router_port=5005", "must differ"),
        ("cluster.redis_port=0", "port number"),
        ("cluster.lock_lifetime_s=0", "lock_lifetime_s"),
    ],
)
def test_settings_the_cluster_cannot_run_with_are_refused(setting: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        load_config(overrides=[setting], environ={})
