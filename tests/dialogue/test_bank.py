"""The bank backend against real databases: SQLite files and, where installed, PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dialogue.bank import (
    BankRepository,
    InsufficientFunds,
    InvalidTransfer,
    TransferLimitExceeded,
    open_repository,
)
from dialogue.bank.security import hash_pin, new_reference, spoken_reference, verify_pin
from dialogue.bank.seed import SeedError, seed
from masking import mask_number
from tests.dialogue.conftest import ALICE, CARMEN, PEPPER, SEED

LIMIT = 250_000


def balances(bank: BankRepository, customer_id: int) -> dict[str, int]:
    return {a.type: a.balance_cents for a in bank.accounts(customer_id)}


def ledger_size(bank: BankRepository) -> int:
    with bank.transaction() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM transactions")
    assert row is not None
    return int(row["n"])


def test_pin_hashes_are_salted_and_verify_only_the_right_pin() -> None:
    first, second = hash_pin("2468", PEPPER), hash_pin("2468", PEPPER)
    assert first != second  # a fresh salt each time
    assert "2468" not in first
    assert verify_pin("2468", first, PEPPER) and verify_pin("2468", second, PEPPER)
    assert not verify_pin("2469", first, PEPPER)


def test_seed_stores_pins_only_as_hashes(bank: BankRepository) -> None:
    with bank.transaction() as tx:
        hashes = [r["pin_hash"] for r in tx.all("SELECT pin_hash FROM customers")]
    assert hashes and all(h.startswith("scrypt-hmac$") for h in hashes)  # peppered on load
    assert not any(pin in h for h in hashes for pin in ("2468", "8024", "3591", "7306"))


def test_seed_refuses_a_clear_text_pin(tmp_path: Path) -> None:
    bad = tmp_path / "seed.yml"
    bad.write_text(
        "customers:\n"
        "  - {first_name: A, last_name: B, billing_zip: '1', pin_hash: '1234', accounts: []}\n"
    )
    repository = BankRepository(f"sqlite:///{tmp_path / 'b.db'}")
    repository.create_schema()
    with pytest.raises(SeedError, match="never a clear PIN"):
        seed(repository, bad)


def test_authenticate_checks_the_pin_and_audits_masked_account(bank: BankRepository) -> None:
    assert bank.authenticate(ALICE["account"], "0000", "c1") is None
    assert bank.authenticate("99999999", ALICE["pin"], "c1") is None
    customer = bank.authenticate(ALICE["account"], ALICE["pin"], "c1")
    assert customer is not None and customer.first_name == "Alice"
    trail = bank.audit_trail("c1")
    assert [(r["action"], r["outcome"]) for r in trail] == [
        ("authenticate", "failure"),
        ("authenticate", "failure"),
        ("authenticate", "success"),
    ]
    assert trail[2]["detail"] == {"account": "****5926"}
    assert ALICE["account"] not in str(trail) and ALICE["pin"] not in str(trail)


def test_transfer_moves_money_and_records_both_ledger_lines(bank: BankRepository) -> None:
    alice = bank.authenticate(ALICE["account"], ALICE["pin"], "c2")
    assert alice is not None
    before = balances(bank, alice.id)
    checking = bank.account_of_type(alice.id, "checking")
    savings = bank.account_of_type(alice.id, "savings")
    assert checking and savings
    receipt = bank.transfer(alice.id, savings.id, checking.id, 12_345, "c2", LIMIT)
    after = balances(bank, alice.id)
    assert after["savings"] == before["savings"] - 12_345
    assert after["checking"] == before["checking"] + 12_345
    assert receipt.reference.startswith("T") and len(receipt.reference) == 7
    lines = bank.recent_transactions(checking.id, 1) + bank.recent_transactions(savings.id, 1)
    assert sorted(t.amount_cents for t in lines) == [-12_345, 12_345]
    assert bank.transferred_in_call("c2") == 12_345


def test_transfer_that_fails_midway_moves_nothing(bank: BankRepository) -> None:
    """A failure after both balance updates (writing the transfer record) rolls all back."""
    alice = bank.authenticate(ALICE["account"], ALICE["pin"], "c3")
    assert alice is not None
    checking = bank.account_of_type(alice.id, "checking")
    savings = bank.account_of_type(alice.id, "savings")
    assert checking and savings
    before, lines_before = balances(bank, alice.id), ledger_size(bank)
    with bank.transaction() as tx:
        tx.execute(
            "CREATE TRIGGER fail_transfers BEFORE INSERT ON transfers "
            "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
    with pytest.raises(Exception, match="disk on fire"):
        bank.transfer(alice.id, savings.id, checking.id, 5_000, "c3", LIMIT)
    assert balances(bank, alice.id) == before
    assert ledger_size(bank) == lines_before
    assert bank.transferred_in_call("c3") == 0


def test_insufficient_funds_and_limit_are_refused_and_audited(bank: BankRepository) -> None:
    carmen = bank.authenticate(CARMEN["account"], CARMEN["pin"], "c4")
    assert carmen is not None
    checking = bank.account_of_type(carmen.id, "checking")
    credit = bank.account_of_type(carmen.id, "credit")
    assert checking and credit
    before = balances(bank, carmen.id)
    with pytest.raises(InsufficientFunds):
        bank.transfer(carmen.id, checking.id, credit.id, 4_511, "c4", LIMIT)
    with pytest.raises(TransferLimitExceeded) as limit:
        bank.transfer(carmen.id, checking.id, credit.id, 2_000, "c4", 1_000)
    assert limit.value.remaining_cents == 1_000
    with pytest.raises(InvalidTransfer):
        bank.transfer(carmen.id, credit.id, checking.id, 100, "c4", LIMIT)
    assert balances(bank, carmen.id) == before
    outcomes = [r["outcome"] for r in bank.audit_trail("c4") if r["action"] == "transfer"]
    assert outcomes == ["insufficient_funds", "limit_exceeded", "invalid_transfer"]


def test_per_call_limit_counts_earlier_transfers_in_the_call(bank: BankRepository) -> None:
    alice = bank.authenticate(ALICE["account"], ALICE["pin"], "c5")
    assert alice is not None
    savings = bank.account_of_type(alice.id, "savings")
    checking = bank.account_of_type(alice.id, "checking")
    assert savings and checking
    bank.transfer(alice.id, savings.id, checking.id, 200_000, "c5", LIMIT)
    with pytest.raises(TransferLimitExceeded) as refused:
        bank.transfer(alice.id, savings.id, checking.id, 60_000, "c5", LIMIT)
    assert refused.value.remaining_cents == 50_000
    bank.transfer(alice.id, savings.id, checking.id, 60_000, "another-call", LIMIT)


def test_concurrent_transfers_never_overdraw(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    repository = open_repository(url, SEED, pepper=PEPPER)
    carmen = repository.authenticate(CARMEN["account"], CARMEN["pin"], "setup")
    assert carmen is not None
    checking = repository.account_of_type(carmen.id, "checking")
    credit = repository.account_of_type(carmen.id, "credit")
    assert checking and credit
    results: list[str] = []

    def pay(i: int) -> None:
        try:
            BankRepository(url).transfer(carmen.id, checking.id, credit.id, 2_000, f"t{i}", LIMIT)
            results.append("ok")
        except InsufficientFunds:
            results.append("refused")

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 2  # 45.10 covers two payments of 20.00, not three
    assert repository.account_of_type(carmen.id, "checking").balance_cents == 510  # type: ignore[union-attr]


def test_card_block_persists_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    repository = open_repository(url, SEED)
    card = repository.find_card(ALICE["debit"], ALICE["zip"])
    assert card is not None and card.status == "active"
    reference = repository.block_card(card.id, "lost", "c6", None)
    assert repository.block_card(card.id, "lost", "c6", None) == reference
    reopened = BankRepository(url)
    stored = reopened.card(card.id)
    assert stored is not None and stored.status == "blocked" and stored.block_reference == reference
    assert reopened.find_card(ALICE["debit"], ALICE["zip"]) is None  # no longer active


def test_light_verification_needs_the_matching_zip(bank: BankRepository) -> None:
    assert bank.find_card(ALICE["debit"], "00000") is None
    assert bank.find_card(ALICE["debit"], ALICE["zip"]) is not None


def test_references_and_masks_are_voice_friendly() -> None:
    reference = new_reference("card_block")
    assert reference[0] == "B" and reference[1:].isdigit() and len(reference) == 7
    assert spoken_reference("B482917") == "B, 4 8 2, 9 1 7"
    assert mask_number("31415926") == "****5926"


def test_same_schema_and_behaviour_on_postgresql(postgres_url: str) -> None:
    repository = open_repository(postgres_url, SEED, reset=True, pepper=PEPPER)
    try:
        alice = repository.authenticate(ALICE["account"], ALICE["pin"], "pg1")
        assert alice is not None
        savings = repository.account_of_type(alice.id, "savings")
        checking = repository.account_of_type(alice.id, "checking")
        assert savings and checking
        before = balances(repository, alice.id)
        receipt = repository.transfer(alice.id, savings.id, checking.id, 10_000, "pg1", LIMIT)
        assert balances(repository, alice.id)["checking"] == before["checking"] + 10_000
        with pytest.raises(InsufficientFunds):
            repository.transfer(alice.id, checking.id, savings.id, 10**9, "pg1", 10**10)
        card = repository.find_card(ALICE["debit"], customer_id=alice.id)
        assert card is not None
        repository.block_card(card.id, "lost", "pg1", alice.id)
        assert repository.card(card.id).status == "blocked"  # type: ignore[union-attr]
        actions = [r["action"] for r in repository.audit_trail("pg1")]
        assert actions == ["authenticate", "transfer", "transfer", "block_card"]
        assert receipt.reference in str(repository.audit_trail("pg1"))
    finally:
        repository.close()
