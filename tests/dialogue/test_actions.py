"""Custom actions run directly (as the action server runs them) against a real SQLite bank."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from dialogue.actions import runtime as actions_runtime
from dialogue.actions.accounts import ActionCheckBalance, ActionRecentTransactions
from dialogue.actions.auth import ValidateAuthForm
from dialogue.actions.cards import ActionBlockCard, ValidateLostCardForm
from dialogue.actions.conversation import ActionHandoff
from dialogue.actions.transfer import ActionExecuteTransfer, ValidateTransferForm
from dialogue.bank import BankRepository
from dialogue.settings import BankConfig, DialogueConfig
from dialogue.spoken import say_money
from tests.dialogue.conftest import ALICE, BOB, CARMEN, PEPPER, ROOT

DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "dialogue" / "domain.yml").read_text())


def tracker(
    slots: dict[str, Any] | None = None,
    *,
    candidates: dict[str, Any] | None = None,
    intent: str = "inform",
    text: str = "",
    active_loop: str | None = None,
    sender: str = "call-1",
) -> Tracker:
    """A tracker as the action server receives it; ``candidates`` are freshly extracted slots."""
    latest = {"intent": {"name": intent, "confidence": 1.0}, "entities": [], "text": text}
    events: list[dict[str, Any]] = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": latest},
    ]
    if active_loop:
        events.append({"event": "action", "name": active_loop})
    all_slots = {"authenticated": False, "auth_locked": False, "pin_attempts": 0.0, **(slots or {})}
    for name, value in (candidates or {}).items():
        events.append({"event": "slot", "name": name, "value": value})
        all_slots[name] = value
    return Tracker(
        sender,
        all_slots,
        latest,
        events,
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") or m.get("text") or "" for m in dispatcher.messages]


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def run_pin(
    rt: actions_runtime.Runtime, pin: str, attempts: int, caplog: pytest.LogCaptureFixture
) -> tuple[dict[str, Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    token = rt.vault.deposit(pin)
    t = tracker(
        {
            "account_number": ALICE["account"],
            "pin_attempts": float(attempts),
            "requested_slot": "pin_token",
        },
        candidates={"pin_token": token},
        intent="dtmf",
        text=f'/dtmf{{"digits": "{token}"}}',
        active_loop="auth_form",
    )
    with caplog.at_level(logging.DEBUG):
        events = await ValidateAuthForm().run(dispatcher, t, DOMAIN)
    return slot_events(events), dispatcher


async def test_correct_pin_verifies_and_the_token_is_cleared(
    runtime: actions_runtime.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    slots, dispatcher = await run_pin(runtime, ALICE["pin"], 0, caplog)
    assert slots["authenticated"] is True and slots["customer_name"] == "Alice"
    assert slots["pin_token"] is None and slots["account_number"] is None
    assert slots["requested_slot"] is None  # the form is done
    assert responses(dispatcher) == ["utter_auth_success"]
    assert len(runtime.vault) == 0  # redeemed, nothing left behind
    assert ALICE["pin"] not in caplog.text and ALICE["pin"] not in str(slots)


async def test_three_wrong_pins_lock_self_service(
    runtime: actions_runtime.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    seen = []
    for attempt in range(3):
        slots, dispatcher = await run_pin(runtime, "1357", attempt, caplog)
        seen.append((slots, responses(dispatcher)))
    assert [s.get("pin_attempts") for s, _ in seen] == [1.0, 2.0, 3.0]
    assert [s.get("auth_locked") for s, _ in seen] == [None, None, True]
    assert seen[2][0]["requested_slot"] is None  # the form ends: no fourth try
    assert seen[0][1] == ["utter_auth_failed"] and seen[2][1] == []
    assert all(s["pin_token"] is None and "authenticated" not in s for s, _ in seen)
    trail = runtime.repository.audit_trail("call-1")
    assert [(r["action"], r["outcome"]) for r in trail] == [
        ("authenticate", "failure"),
        ("authenticate", "failure"),
        ("authenticate", "failure"),
        ("self_service_lock", "locked"),
    ]
    assert "1357" not in caplog.text and "1357" not in str(trail)


async def test_raw_pin_digits_are_refused_not_checked(runtime: actions_runtime.Runtime) -> None:
    dispatcher = CollectingDispatcher()
    t = tracker({"account_number": ALICE["account"]}, active_loop="auth_form")
    result = await ValidateAuthForm().validate_pin_token(ALICE["pin"], dispatcher, t, DOMAIN)
    assert result == {"pin_token": None}
    assert responses(dispatcher) == ["utter_pin_use_keypad"]
    assert runtime.repository.audit_trail("call-1") == []  # never compared with the hash


async def test_used_or_expired_token_is_not_accepted(runtime: actions_runtime.Runtime) -> None:
    token = runtime.vault.deposit(ALICE["pin"])
    assert runtime.vault.redeem(token) == ALICE["pin"]
    dispatcher = CollectingDispatcher()
    t = tracker({"account_number": ALICE["account"]}, active_loop="auth_form")
    result = await ValidateAuthForm().validate_pin_token(token, dispatcher, t, DOMAIN)
    assert result == {"pin_token": None}
    assert responses(dispatcher) == ["utter_pin_expired"]


async def test_a_pin_said_before_the_account_number_is_dropped_and_costs_no_attempt(
    runtime: actions_runtime.Runtime,
) -> None:
    """At the account-number prompt the caller says "my PIN is ...": the PIN is not checked
    against anything, the caller is told to key it in later, and nothing counts against them;
    the digits of the account number already kept stay kept."""
    token = runtime.vault.deposit(ALICE["pin"])
    kept = {"slot": "account_number", "digits": "3141"}
    t = tracker(
        {"requested_slot": "account_number", "digits_so_far": kept},
        candidates={"account_number": f"My PIN is {token}.", "pin_token": token},
        text=f"My PIN is {token}.",
        active_loop="auth_form",
    )
    dispatcher = CollectingDispatcher()
    slots = slot_events(await ValidateAuthForm().run(dispatcher, t, DOMAIN))
    assert responses(dispatcher)[0] == "utter_pin_said_early", responses(dispatcher)
    assert "utter_invalid_account_number" not in responses(dispatcher)
    assert "utter_auth_failed" not in responses(dispatcher)
    assert slots["pin_token"] is None and slots["account_number"] is None
    assert "pin_attempts" not in slots and "digits_so_far" not in slots
    assert slots.get("requested_slot", "account_number") == "account_number"  # asked again
    assert len(runtime.vault) == 0  # the PIN is gone, not kept for later
    assert runtime.repository.audit_trail("call-1") == []  # never compared with the hash


def verified(bank: BankRepository, who: dict[str, str]) -> dict[str, Any]:
    customer = bank.authenticate(who["account"], who["pin"], "setup")
    assert customer is not None
    return {
        "authenticated": True,
        "customer_id": float(customer.id),
        "customer_name": customer.first_name,
    }


async def test_balance_is_read_from_the_database_and_audited_masked(
    runtime: actions_runtime.Runtime,
) -> None:
    bank = runtime.repository
    who = verified(bank, ALICE)
    savings = next(a for a in bank.accounts(int(who["customer_id"])) if a.type == "savings")
    dispatcher = CollectingDispatcher()
    events = await ActionCheckBalance().run(
        dispatcher, tracker({**who, "account_type": "savings"}), DOMAIN
    )
    assert responses(dispatcher) == ["utter_balance"]
    assert dispatcher.messages[0]["amount"] == say_money(savings.balance_cents)
    assert slot_events(events) == {"pending_task": None, "account_type": None, "served": True}
    audit = bank.audit_trail("call-1")[-1]
    assert (audit["action"], audit["outcome"]) == ("balance_inquiry", "success")
    assert audit["detail"] == {"accounts": [savings.masked]}


async def test_account_actions_need_a_verified_caller_and_an_existing_account(
    runtime: actions_runtime.Runtime,
) -> None:
    dispatcher = CollectingDispatcher()
    assert await ActionCheckBalance().run(dispatcher, tracker(), DOMAIN) == []
    who = verified(runtime.repository, BOB)
    events = await ActionRecentTransactions().run(
        dispatcher, tracker({**who, "account_type": "credit"}), DOMAIN
    )
    assert responses(dispatcher) == ["utter_no_such_account"]
    assert slot_events(events)["pending_task"] is None
    assert runtime.repository.audit_trail("call-1") == []


async def test_transfer_failing_midway_moves_nothing(runtime: actions_runtime.Runtime) -> None:
    bank = runtime.repository
    who = verified(bank, ALICE)
    cid = int(who["customer_id"])
    before = {a.type: a.balance_cents for a in bank.accounts(cid)}
    with bank.transaction() as tx:
        tx.execute(
            "CREATE TRIGGER no_ledger BEFORE INSERT ON transactions "
            "BEGIN SELECT RAISE(ABORT, 'ledger offline'); END"
        )
    dispatcher = CollectingDispatcher()
    t = tracker(
        {
            **who,
            "transfer_amount": 30_000,
            "transfer_from": "savings",
            "transfer_to": "checking",
            "transfer_confirmed": True,
        }
    )
    events = await ActionExecuteTransfer().run(dispatcher, t, DOMAIN)
    assert responses(dispatcher) == ["utter_transfer_failed"]
    assert {a.type: a.balance_cents for a in bank.accounts(cid)} == before
    assert bank.transferred_in_call("call-1") == 0
    assert slot_events(events)["transfer_amount"] is None


async def test_transfer_not_confirmed_moves_nothing(runtime: actions_runtime.Runtime) -> None:
    bank = runtime.repository
    who = verified(bank, ALICE)
    before = {a.type: a.balance_cents for a in bank.accounts(int(who["customer_id"]))}
    dispatcher = CollectingDispatcher()
    t = tracker(
        {
            **who,
            "transfer_amount": 30_000,
            "transfer_from": "savings",
            "transfer_to": "checking",
            "transfer_confirmed": False,
        }
    )
    await ActionExecuteTransfer().run(dispatcher, t, DOMAIN)
    assert responses(dispatcher) == ["utter_transfer_cancelled"]
    assert {a.type: a.balance_cents for a in bank.accounts(int(who["customer_id"]))} == before


async def carmen_fills_the_transfer_form(
    rt: actions_runtime.Runtime, slots: dict[str, Any], candidates: dict[str, Any]
) -> tuple[dict[str, Any], CollectingDispatcher]:
    """Verified Carmen answers the transfer form's question: the slots it sets, what it said."""
    dispatcher = CollectingDispatcher()
    t = tracker(
        {**verified(rt.repository, CARMEN), **slots},
        candidates=candidates,
        active_loop="transfer_form",
    )
    return slot_events(await ValidateTransferForm().run(dispatcher, t, DOMAIN)), dispatcher


async def test_transfer_form_rejects_more_than_the_balance(
    runtime: actions_runtime.Runtime,
) -> None:
    slots, dispatcher = await carmen_fills_the_transfer_form(
        runtime,
        {"transfer_amount": 10_000, "requested_slot": "transfer_from"},
        {"transfer_from": "checking"},
    )
    assert slots["transfer_from"] == "checking" and slots["transfer_amount"] is None
    assert responses(dispatcher) == ["utter_insufficient_funds"]
    assert dispatcher.messages[0]["balance"] == "45 dollars and 10 cents"


async def test_blocked_card_persists_in_the_database(
    runtime: actions_runtime.Runtime, tmp_path: Path
) -> None:
    dispatcher = CollectingDispatcher()
    t = tracker(
        {
            "card_last4": ALICE["debit"],
            "card_zip": ALICE["zip"],
            "block_confirmed": True,
            "block_reason": "lost",
        }
    )
    events = await ActionBlockCard().run(dispatcher, t, DOMAIN)
    reference = slot_events(events)["block_reference"]
    assert responses(dispatcher) == ["utter_card_blocked"]
    assert dispatcher.messages[0]["last4"] == "4 8 2 1"
    stored = BankRepository(runtime.repository.db.url).find_card(ALICE["debit"], ALICE["zip"])
    assert stored is None  # no longer an active card
    with runtime.repository.transaction() as tx:
        row = tx.one("SELECT status, block_reference FROM cards WHERE last4 = ?", (ALICE["debit"],))
    assert row == {"status": "blocked", "block_reference": reference}


async def test_unverified_caller_needs_the_zip_code_verified_caller_does_not(
    runtime: actions_runtime.Runtime,
) -> None:
    form = ValidateLostCardForm()
    slots = DOMAIN["forms"]["lost_card_form"]["required_slots"]
    dispatcher = CollectingDispatcher()
    assert await form.required_slots(slots, dispatcher, tracker(), DOMAIN) == [
        "card_last4",
        "card_zip",
        "block_confirmed",
    ]
    who = verified(runtime.repository, ALICE)
    assert await form.required_slots(slots, dispatcher, tracker(who), DOMAIN) == [
        "card_last4",
        "block_confirmed",
    ]


async def test_three_failed_card_checks_end_the_form(runtime: actions_runtime.Runtime) -> None:
    form = ValidateLostCardForm()
    failures = 0.0
    for _ in range(3):
        dispatcher = CollectingDispatcher()
        t = tracker(
            {"card_last4": ALICE["debit"], "card_failures": failures, "requested_slot": "card_zip"},
            candidates={"card_zip": "00000"},
            active_loop="lost_card_form",
        )
        slots = slot_events(await form.run(dispatcher, t, DOMAIN))
        failures = slots["card_failures"]
    assert failures == 3.0 and slots["requested_slot"] is None
    assert slots["card_last4"] is None and slots["card_zip"] is None


async def test_handoff_carries_reason_and_context_without_secrets(
    runtime: actions_runtime.Runtime,
) -> None:
    who = verified(runtime.repository, ALICE)
    dispatcher = CollectingDispatcher()
    t = tracker(
        {
            **who,
            "transfer_amount": 20_000,
            "transfer_from": "savings",
            "requested_slot": "transfer_to",
        },
        intent="talk_to_agent",
        text="this is ridiculous get me a person",
        active_loop="transfer_form",
    )
    events = await ActionHandoff().run(dispatcher, t, DOMAIN)
    payload = dispatcher.messages[0]["custom"]["handoff"]
    assert payload["reason"] == "frustration" and payload["priority"] == "high"
    context = payload["context"]
    assert context["authenticated"] is True and context["in_progress"] == "transferring money"
    assert context["details"]["transfer_amount"] == "200 dollars"
    assert "Alice" in context["summary"]
    assert [e["name"] for e in events if e.get("event") == "active_loop"] == [None]
    assert ALICE["account"] not in str(payload)


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[actions_runtime.Runtime]:
    """A runtime built the way the application builds it, from dialogue and bank settings that
    each point somewhere of their own: a project folder with its own knowledge and seed files,
    a database elsewhere, a small transfer limit, one PIN attempt."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "data" / "knowledge", project / "facts")
    hours = project / "facts" / "hours.yml"
    hours.write_text(hours.read_text().replace("9 AM to 5 PM", "8 AM to 6 PM"))
    seed = (ROOT / "data" / "bank" / "seed.yml").read_text()
    (project / "customers.yml").write_text(seed.replace("first_name: Alice", "first_name: Alicia"))
    dialogue = DialogueConfig(project_dir=str(project), knowledge_dir="facts")
    bank = BankConfig(
        database=f"sqlite:///{tmp_path / 'core.db'}",
        seed_file="customers.yml",
        transfer_limit_cents=1000,
        max_pin_attempts=1,
    )
    rt = actions_runtime.from_config(dialogue, bank, pepper=PEPPER)
    actions_runtime.configure(rt)
    yield rt
    actions_runtime.configure(None)
    rt.repository.close()


def test_the_bank_and_the_knowledge_come_from_the_configured_files(
    configured: actions_runtime.Runtime, tmp_path: Path
) -> None:
    assert (tmp_path / "core.db").is_file()
    customer = configured.repository.authenticate(ALICE["account"], ALICE["pin"], "setup")
    assert customer is not None and customer.first_name == "Alicia"
    assert "8 AM to 6 PM" in configured.knowledge.get().branch_hours


async def test_max_pin_attempts_is_the_wrong_pins_that_lock_self_service(
    configured: actions_runtime.Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    slots, _ = await run_pin(configured, "1357", 0, caplog)
    assert slots["pin_attempts"] == 1.0 and slots["auth_locked"] is True


async def test_transfer_limit_cents_caps_the_amount_a_caller_may_move(
    configured: actions_runtime.Runtime,
) -> None:
    slots, dispatcher = await carmen_fills_the_transfer_form(
        configured, {"requested_slot": "transfer_amount"}, {"transfer_amount": 2000}
    )
    assert slots["transfer_amount"] is None
    assert responses(dispatcher) == ["utter_transfer_limit"]
    assert dispatcher.messages[0]["limit"] == say_money(1000)
