"""The action server: only the bot may call it, and each answers from its own runtime."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from dialogue.action_server import ActionServer
from dialogue.actions import runtime as actions_runtime
from dialogue.bank import BankRepository, open_repository
from dialogue.knowledge import KnowledgeBase
from dialogue.secrets import SecretVault
from dialogue.spoken import say_money
from tests.dialogue.conftest import ALICE, KNOWLEDGE, PEPPER, ROOT, SEED

DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "dialogue" / "domain.yml").read_text())


def alice_id(bank: BankRepository) -> int:
    with bank.transaction() as tx:
        row = tx.one("SELECT customer_id FROM accounts WHERE number = ?", (ALICE["account"],))
    assert row is not None
    return int(row["customer_id"])


def webhook_request(
    action: str, slots: dict[str, Any], intent: str, sender: str = "call-1"
) -> dict[str, Any]:
    """The body Rasa posts to run ``action`` on a tracker with ``slots`` (a peer can forge it)."""
    latest = {"intent": {"name": intent, "confidence": 1.0}, "entities": [], "text": ""}
    tracker = {
        "sender_id": sender,
        "slots": slots,
        "latest_message": latest,
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return {
        "next_action": action,
        "sender_id": sender,
        "tracker": tracker,
        "domain": DOMAIN,
        "version": "3.6.21",
    }


def balance_request(bank: BankRepository) -> dict[str, Any]:
    """Rasa's webhook call for ``action_check_balance`` with Alice verified in ``bank``."""
    slots = {
        "authenticated": True,
        "customer_id": float(alice_id(bank)),
        "account_type": "checking",
    }
    return webhook_request("action_check_balance", slots, "check_balance")


def checking_cents(bank: BankRepository) -> int:
    with bank.transaction() as tx:
        row = tx.one("SELECT balance_cents FROM accounts WHERE number = ?", (ALICE["account"],))
    assert row is not None
    return int(row["balance_cents"])


async def test_two_action_servers_in_one_process_keep_their_own_bank(tmp_path: Path) -> None:
    banks = [
        open_repository(f"sqlite:///{tmp_path / f'bank{i}.db'}", SEED, pepper=PEPPER)
        for i in (1, 2)
    ]
    with banks[1].transaction() as tx:
        tx.execute(
            "UPDATE accounts SET balance_cents = 123456 WHERE number = ?", (ALICE["account"],)
        )
    servers = [
        ActionServer(
            "127.0.0.1",
            0,
            runtime=actions_runtime.Runtime(bank, KnowledgeBase(KNOWLEDGE), SecretVault()),
        )
        for bank in banks
    ]
    try:
        for server in servers:  # the second starts after the first: it must not take over
            await server.start()
        amounts = [checking_cents(bank) for bank in banks]
        assert amounts[0] != amounts[1]
        async with aiohttp.ClientSession() as http:
            for server, bank, cents in zip(servers, banks, amounts, strict=True):
                async with http.post(
                    server.webhook_url, json=balance_request(bank), headers=server.auth_headers
                ) as response:
                    assert response.status == 200, await response.text()
                    answer = await response.json()
                [said] = answer["responses"]
                assert said["response"] == "utter_balance"
                assert said["amount"] == say_money(cents), said
    finally:
        for server in servers:
            await server.stop()
        for bank in banks:
            bank.close()


def card_status(bank: BankRepository, last4: str) -> str:
    with bank.transaction() as tx:
        row = tx.one("SELECT status FROM cards WHERE last4 = ?", (last4,))
    assert row is not None
    return str(row["status"])


async def test_forged_tracker_without_the_secret_blocks_no_card(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bank = open_repository(f"sqlite:///{tmp_path / 'bank.db'}", SEED)
    server = ActionServer(
        "127.0.0.1",
        0,
        runtime=actions_runtime.Runtime(bank, KnowledgeBase(KNOWLEDGE), SecretVault()),
    )
    forged = webhook_request(
        "action_block_card",
        {
            "authenticated": True,
            "customer_id": float(alice_id(bank)),
            "card_last4": ALICE["debit"],
            "block_confirmed": True,
            "block_reason": "lost",
        },
        "affirm",
        sender="forged-call",
    )
    wrong = {"Authorization": "Bearer " + "x" * len(server.token)}
    caplog.set_level(logging.DEBUG)
    try:
        await server.start()
        async with aiohttp.ClientSession() as http:
            for headers in ({}, wrong, {"Authorization": server.token}):  # last: not "Bearer"
                async with http.post(server.webhook_url, json=forged, headers=headers) as response:
                    assert response.status == 401, await response.text()
            assert card_status(bank, ALICE["debit"]) == "active"
            assert bank.audit_trail("forged-call") == []
            async with http.get(f"{server.url}/actions") as response:
                assert response.status == 401  # the action list is not public either
            async with http.get(f"{server.url}/health") as response:
                assert response.status == 200  # says only "ok": probes need no secret
            async with http.post(
                server.webhook_url, json=forged, headers=server.auth_headers
            ) as response:
                assert response.status == 200, await response.text()
                [said] = (await response.json())["responses"]
        assert said["response"] == "utter_card_blocked"
        assert card_status(bank, ALICE["debit"]) == "blocked"
    finally:
        await server.stop()
        bank.close()
    refusals = [r for r in caplog.records if r.getMessage() == "dialogue.action_server.refused"]
    assert [r.ivr_fields["reason"] for r in refusals] == [  # type: ignore[attr-defined]
        "missing token",
        "wrong token",
        "missing token",
        "missing token",
    ]
    assert all(r.ivr_fields["source"] == "127.0.0.1" for r in refusals)  # type: ignore[attr-defined]
    logged = " ".join(str(vars(r)) for r in caplog.records)
    assert server.token not in logged and wrong["Authorization"] not in logged


def test_action_server_refuses_an_empty_secret() -> None:
    from dialogue.token_guard import bearer_token, token_guard

    with pytest.raises(ValueError, match="empty token"):
        token_guard("", bearer_token, lambda source, path, reason: None)


async def test_shipped_endpoints_file_gets_rasa_past_the_action_server(
    bank: BankRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dialogue/endpoints.yml, as a stand-alone `rasa run` reads it, sends $IVR_ACTION_TOKEN."""
    from rasa.utils.endpoints import read_endpoint_config

    server = ActionServer(
        "127.0.0.1",
        0,
        runtime=actions_runtime.Runtime(bank, KnowledgeBase(KNOWLEDGE), SecretVault()),
    )
    monkeypatch.setenv("IVR_ACTION_TOKEN", server.token)
    endpoint = read_endpoint_config(str(ROOT / "dialogue" / "endpoints.yml"), "action_endpoint")
    assert endpoint is not None
    await server.start()
    try:
        endpoint.url = server.webhook_url  # the shipped file names the default port
        answer = await endpoint.request(json=balance_request(bank), method="post")
    finally:
        await server.stop()
    assert answer["responses"][0]["response"] == "utter_balance"


def test_stand_alone_action_server_will_not_start_without_a_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "IVR_ACTION_TOKEN"}
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ivr")), "actions", "--port", "0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "IVR_ACTION_TOKEN" in run.stderr
