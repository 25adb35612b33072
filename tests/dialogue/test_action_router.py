"""The action router between a Rasa server and several bot nodes: each action call reaches the
node that holds its conversation, only with the token, and the node's answer comes back
unchanged. Real parts: a password-protected Redis, two action servers each over its own bank,
the router, and the JSON Rasa posts."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dialogue.action_router import MAX_BODY_BYTES, ActionRouter
from dialogue.action_routes import ActionRoutes
from dialogue.action_server import ActionServer
from dialogue.actions import runtime as actions_runtime
from dialogue.bank import BankRepository, open_repository
from dialogue.knowledge import KnowledgeBase
from dialogue.secrets import SecretVault
from dialogue.spoken import say_money
from ivr.bench.bot import free_port
from ivr.readiness import wait_http
from ivr.secretfile import new_token, write_secret
from tests.dialogue.conftest import ALICE, KNOWLEDGE, PEPPER, ROOT, SEED
from tests.dialogue.test_action_server import (
    balance_request,
    card_status,
    checking_cents,
    webhook_request,
)
from tests.redis import RedisProcess

NODE_2_CENTS = 123456


@dataclass
class Nodes:
    """The router and, behind it, two nodes' action servers with their banks."""

    router: ActionRouter
    routes: ActionRoutes
    servers: list[ActionServer]
    banks: list[BankRepository]

    @property
    def headers(self) -> dict[str, str]:
        return self.servers[0].auth_headers  # one token: Rasa's, the router's, the nodes'


@asynccontextmanager
async def two_nodes(tmp_path: Path, redis_server: RedisProcess) -> AsyncIterator[Nodes]:
    token = new_token()
    async with AsyncExitStack() as stack:
        banks = []
        for i in (1, 2):
            bank = open_repository(f"sqlite:///{tmp_path / f'bank{i}.db'}", SEED, pepper=PEPPER)
            stack.callback(bank.close)
            banks.append(bank)
        with banks[1].transaction() as tx:  # node 2's Alice is richer: answers tell them apart
            tx.execute(
                "UPDATE accounts SET balance_cents = ? WHERE number = ?",
                (NODE_2_CENTS, ALICE["account"]),
            )
        servers = []
        for bank in banks:
            runtime = actions_runtime.Runtime(bank, KnowledgeBase(KNOWLEDGE), SecretVault())
            server = ActionServer("127.0.0.1", 0, runtime=runtime, token=token)
            servers.append(await stack.enter_async_context(server))
        routes = ActionRoutes(redis_server.url, redis_server.password, 60.0)
        stack.push_async_callback(routes.close)
        router = await stack.enter_async_context(ActionRouter(routes, token, "127.0.0.1", 0))
        yield Nodes(router, routes, servers, banks)


async def post(
    http: aiohttp.ClientSession, nodes: Nodes, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(
        nodes.router.webhook_url, data=data, headers=nodes.headers if headers is None else headers
    ) as response:
        text = await response.text()
        return response.status, json.loads(text) if text.startswith("{") else text


async def oversize_status(nodes: Nodes) -> int:
    """The status the router answers a call over its size with (by hand: a client that is
    cut off while it still sends tells nothing)."""
    reader, writer = await asyncio.open_connection(nodes.router.host, nodes.router.port)
    head = (
        "POST /webhook HTTP/1.1\r\n"
        f"Host: {nodes.router.host}\r\n"
        f"Authorization: {nodes.headers['Authorization']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    )
    writer.write(head.encode() + b'{"sender_id": "call-a", "padding": "')
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status_line.split()[1])


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.ivr_fields for r in caplog.records if r.getMessage() == name]  # type: ignore[attr-defined]


async def test_each_conversations_actions_reach_the_node_that_holds_it(
    tmp_path: Path, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dialogue.action_router")
    async with two_nodes(tmp_path, redis_server) as nodes, aiohttp.ClientSession() as http:
        for conversation, server in zip(("call-a", "call-b"), nodes.servers, strict=True):
            await nodes.routes.register(conversation, server.webhook_url)
        for conversation, bank in zip(("call-a", "call-b"), nodes.banks, strict=True):
            request = balance_request(bank)
            request["sender_id"] = request["tracker"]["sender_id"] = conversation
            status, answer = await post(http, nodes, request)
            assert status == 200, answer
            [said] = answer["responses"]
            assert said["amount"] == say_money(checking_cents(bank)), conversation
        assert checking_cents(nodes.banks[1]) == NODE_2_CENTS != checking_cents(nodes.banks[0])
        # The node's refusal comes back as the node gave it (Rasa reads the body).
        unknown = webhook_request("action_nobody_has", {}, "greet", sender="call-b")
        status, answer = await post(http, nodes, unknown)
        assert status == 404
        assert answer["action_name"] == "action_nobody_has"
    forwarded = events(caplog, "dialogue.action_router.forwarded")
    assert [(f["conversation"], f["node"], f["status"]) for f in forwarded] == [
        ("call-a", nodes.servers[0].webhook_url, 200),
        ("call-b", nodes.servers[1].webhook_url, 200),
        ("call-b", nodes.servers[1].webhook_url, 404),
    ]
    logged = " ".join(str(vars(r)) for r in caplog.records)
    assert "customer_id" not in logged and nodes.servers[0].token not in logged


async def test_a_call_without_the_token_never_reaches_a_node(
    tmp_path: Path, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with two_nodes(tmp_path, redis_server) as nodes, aiohttp.ClientSession() as http:
        bank = nodes.banks[0]
        await nodes.routes.register("call-a", nodes.servers[0].webhook_url)
        with bank.transaction() as tx:
            row = tx.one("SELECT customer_id FROM accounts WHERE number = ?", (ALICE["account"],))
        assert row is not None
        slots = {
            "authenticated": True,
            "customer_id": float(row["customer_id"]),
            "card_last4": ALICE["debit"],
            "block_confirmed": True,
            "block_reason": "lost",
        }
        forged = webhook_request("action_block_card", slots, "affirm", sender="call-a")
        token = nodes.servers[0].token
        for headers in (
            {},
            {"Authorization": "Bearer " + "x" * len(token)},
            {"Authorization": token},
        ):
            status, answer = await post(http, nodes, forged, headers)
            assert status == 401, answer
        assert card_status(bank, ALICE["debit"]) == "active"
        assert events(caplog, "dialogue.action_server.refused") == []  # the node saw nothing
        status, answer = await post(http, nodes, forged)
        assert status == 200, answer
        assert answer["responses"][0]["response"] == "utter_card_blocked"
        assert card_status(bank, ALICE["debit"]) == "blocked"
        assert card_status(nodes.banks[1], ALICE["debit"]) == "active"
    refused = events(caplog, "dialogue.action_router.refused")
    assert [r["reason"] for r in refused] == ["missing token", "wrong token", "missing token"]


async def test_no_route_bad_bodies_a_dead_node_and_an_oversize_call_are_refused(
    tmp_path: Path, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with two_nodes(tmp_path, redis_server) as nodes, aiohttp.ClientSession() as http:
        request = balance_request(nodes.banks[0])
        request["sender_id"] = "call-nobody-holds"
        status, answer = await post(http, nodes, request)
        assert (status, answer) == (404, {"error": "no bot node holds this conversation"})
        assert events(caplog, "dialogue.action_router.no_route") == [
            {"conversation": "call-nobody-holds"}
        ]
        bad = (b"not json", b"[" * 100_000, {"next_action": "action_x"}, {"sender_id": 7}, [1])
        for body in bad:
            status, answer = await post(http, nodes, body)
            assert status == 400, (body, answer)
        status, _ = await post(http, nodes, {"sender_id": "x" * 257})
        assert status == 400

        dead = f"http://127.0.0.1:{free_port()}/webhook"  # nothing listens there
        await nodes.routes.register("call-dead", dead)
        request["sender_id"] = "call-dead"
        status, answer = await post(http, nodes, request)
        assert (status, answer) == (502, {"error": "the conversation's bot node did not answer"})
        [unreachable] = events(caplog, "dialogue.action_router.unreachable")
        assert (unreachable["conversation"], unreachable["node"]) == ("call-dead", dead)

        assert await oversize_status(nodes) == 413  # refused at its length, before it is read

        async with http.get(nodes.router.url + "/health") as response:  # no token needed
            assert (response.status, await response.text()) == (200, "ok")


async def test_the_action_router_command_serves_until_sigterm(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    ivr = str(Path(sys.executable).with_name("ivr"))
    env = {k: v for k, v in os.environ.items() if k != "IVR_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's code, wherever the venv's install points
    port = free_port()
    token_file = write_secret(tmp_path / "action-token", new_token())
    settings = [
        f"dialogue.routes_url={redis_server.url}",
        f"dialogue.routes_password_file={redis_server.password_file}",
    ]
    command = [ivr, *(f"--set={s}" for s in settings)]
    run = subprocess.run(
        [*command, "action-router", "--port", str(port)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "dialogue.action_token_file" in run.stderr
    command.append(f"--set=dialogue.action_token_file={token_file}")
    wrong = write_secret(tmp_path / "wrong.pass", "not-the-password")
    run = subprocess.run(
        [*command, f"--set=dialogue.routes_password_file={wrong}", "action-router"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "invalid username-password" in run.stderr, run.stderr
    log_path = tmp_path / "router.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*command, "action-router", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    def alive() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"ivr action-router exited: {log_path.read_text()}")

    try:
        await wait_http(f"http://127.0.0.1:{port}/health", alive, 60, "router", log_path)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert f"listening on http://127.0.0.1:{port}/webhook" in log_path.read_text()
