"""Action servers in one process each answer from their own runtime (bank, vault)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import yaml

from dialogue.action_server import ActionServer
from dialogue.actions import runtime as actions_runtime
from dialogue.bank import BankRepository, open_repository
from dialogue.knowledge import KnowledgeBase
from dialogue.secrets import SecretVault
from dialogue.spoken import say_money
from tests.dialogue.conftest import ALICE, KNOWLEDGE, PEPPER, ROOT, SEED

DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "dialogue" / "domain.yml").read_text())


def balance_request(bank: BankRepository) -> dict[str, Any]:
    """Rasa's webhook call for ``action_check_balance`` with Alice verified in ``bank``."""
    customer = bank.authenticate(ALICE["account"], ALICE["pin"], "setup")
    assert customer is not None
    slots = {
        "authenticated": True,
        "customer_id": float(customer.id),
        "account_type": "checking",
    }
    latest = {"intent": {"name": "check_balance", "confidence": 1.0}, "entities": [], "text": ""}
    tracker = {
        "sender_id": "call-1",
        "slots": slots,
        "latest_message": latest,
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return {
        "next_action": "action_check_balance",
        "sender_id": "call-1",
        "tracker": tracker,
        "domain": DOMAIN,
        "version": "3.6.21",
    }


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
                async with http.post(server.webhook_url, json=balance_request(bank)) as response:
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
