"""Guessing PINs and card details fails: counters across calls, per-caller limits, the pepper.

Whole calls go through the in-process client with the trained model and a real SQLite bank;
the counters' concurrency is checked with threads on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import threading
from pathlib import Path

import pytest

from dialogue.bank import BankRepository, GuardPolicy, VerificationRefused, open_repository
from dialogue.bank.security import hash_pin, pepper_hash, verify_pin
from dialogue.callers import IDENTITY_KEY, UNKNOWN_CALLER, CallerRegistry
from dialogue.client import InProcessClient
from dialogue.reply import Reply
from ivr.secretfile import write_secret
from telephony.bridge import CallInfo
from tests.dialogue.conftest import ALICE, BOB, CARMEN, PEPPER, SEED
from tests.dialogue.test_cli import ivr

BOB_ACCOUNT = "#" + BOB["account"]


async def call(
    client: InProcessClient, conversation: str, identity: str, *turns: str
) -> list[Reply]:
    """One call from ``identity``: text is speech, `#123` keypad, `*123` secure keypad."""
    replies = [await client.begin(conversation, {IDENTITY_KEY: identity})]
    for turn in turns:
        if turn.startswith("#"):
            replies.append(await client.send_digits(conversation, turn[1:], secure=False))
        elif turn.startswith("*"):
            replies.append(await client.send_digits(conversation, turn[1:], secure=True))
        else:
            replies.append(await client.send(conversation, turn))
    await client.end(conversation)
    return replies


def outcomes(bank: BankRepository, action: str) -> list[str]:
    with bank.transaction() as tx:
        rows = tx.all("SELECT outcome FROM audit_log WHERE action = ? ORDER BY id", (action,))
    return [r["outcome"] for r in rows]


def lock_bob(bank: BankRepository) -> None:
    """Five wrong PINs for Bob, from five different callers (so no caller limit is hit)."""
    for i in range(4):
        assert bank.authenticate(BOB["account"], "1111", f"lock-{i}", caller=f"c{i}") is None
    with pytest.raises(VerificationRefused):  # the fifth failure locks
        bank.authenticate(BOB["account"], "1111", "lock-4", caller="c4")


# -- across calls, through the dialogue ------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="session")
async def test_pin_failures_in_separate_calls_lock_the_account_even_for_the_right_pin(
    client: InProcessClient,
) -> None:
    from dialogue.actions import runtime

    bank = runtime.get().repository
    first = await call(
        client,
        "lock-call-1",
        "caller:+15550000001",
        "what's my balance",
        BOB_ACCOUNT,
        "*1111",
        BOB_ACCOUNT,
        "*2222",
        BOB_ACCOUNT,
        "*3333",
    )
    assert "don't match" in first[3].text and "locked" in first[7].text  # the per-call limit
    second = await call(
        client,
        "lock-call-2",
        "caller:+15550000002",
        "what's my balance",
        BOB_ACCOUNT,
        "*4444",
        BOB_ACCOUNT,
        "*5555",
    )
    assert "don't match" in second[3].text
    assert "locked" in second[5].text and "agent" in second[5].text  # fifth failure: locked
    third = await call(
        client,
        "lock-call-3",
        "caller:+15550000003",
        "what's my balance",
        BOB_ACCOUNT,
        "*" + BOB["pin"],
        "yes please",
    )
    refused = third[3]
    assert "verified" not in refused.text and "balance" not in refused.text
    assert refused.text == second[5].text  # the same refusal as the failure that locked
    handoff = third[4].handoff
    assert handoff is not None and handoff.reason == "auth_locked"
    assert handoff.context["authenticated"] is False
    assert outcomes(bank, "authenticate") == ["failure"] * 5 + ["refused"]
    assert outcomes(bank, "pin_lockout") == ["locked"]

    assert bank.unlock(BOB["account"], by="test") is True
    fourth = await call(
        client,
        "lock-call-4",
        "caller:+15550000004",
        "what's my balance",
        BOB_ACCOUNT,
        "*" + BOB["pin"],
    )
    assert "Bob" in fourth[3].text and "balance" in fourth[3].text


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="session")
async def test_parallel_calls_get_no_attempt_past_the_limit(client: InProcessClient) -> None:
    from dialogue.actions import runtime

    bank = runtime.get().repository
    calls = [
        call(client, f"parallel-{i}", f"caller:+1555010{i:04d}", "balance", BOB_ACCOUNT, "*0000")
        for i in range(9)
    ]
    replies = await asyncio.gather(*calls)
    said = [r[3].text for r in replies]
    assert sum("don't match" in text for text in said) == 4
    assert sum("locked" in text for text in said) == 5  # the locking failure and 4 refusals
    assert outcomes(bank, "authenticate").count("failure") == 5  # PIN checked 5 times only
    assert outcomes(bank, "authenticate").count("refused") == 4


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="session")
async def test_one_caller_trying_many_accounts_is_stopped(client: InProcessClient) -> None:
    from dialogue.actions import runtime

    bank = runtime.get().repository
    caller = "source:203.0.113.7"
    unknown = iter(f"#{n}" for n in range(90000001, 90000020))
    for i in range(3):  # nine wrong tries on nine account numbers nobody has
        turns = ["balance"] + [t for _ in range(3) for t in (next(unknown), "*1234")]
        await call(client, f"spray-{i}", caller, *turns)
    replies = await call(
        client,
        "spray-3",
        caller,
        "balance",
        next(unknown),
        "*1234",
        "#" + CARMEN["account"],
        "*" + CARMEN["pin"],
    )
    assert "don't match" in replies[3].text  # the tenth try this hour is still checked
    assert "locked" in replies[5].text and "Carmen" not in replies[5].text  # the right PIN
    assert outcomes(bank, "authenticate")[-1] == "refused"
    other = await call(
        client,
        "other-caller",
        "caller:+15550009999",
        "balance",
        "#" + CARMEN["account"],
        "*" + CARMEN["pin"],
    )
    assert "Carmen" in other[3].text  # other callers are not held up


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="session")
async def test_card_guessing_is_throttled_and_the_refusal_tells_nothing(
    client: InProcessClient,
) -> None:
    from dialogue.actions import runtime

    bank = runtime.get().repository
    caller = "caller:+15550004242"
    wrong = ("#" + ALICE["debit"], "#00000")
    for i in range(3):  # nine wrong light verifications
        third_failure = await call(client, f"cards-{i}", caller, "i lost my card", *wrong * 3)
    tenth = await call(client, "cards-3", caller, "i lost my card", *wrong)
    assert "couldn't find" in tenth[-1].text  # still looked up
    right = await call(
        client, "cards-4", caller, "i lost my card", "#" + ALICE["debit"], "#" + ALICE["zip"]
    )
    wrong_again = await call(client, "cards-5", caller, "i lost my card", *wrong)
    for refused in (right[-1], wrong_again[-1]):
        assert refused.text == third_failure[-1].text  # what the third failed try gets
        assert refused.handoff is not None and third_failure[-1].handoff is not None
        assert refused.handoff.reason == third_failure[-1].handoff.reason == "card_unverified"
    with bank.transaction() as tx:
        row = tx.one("SELECT status FROM cards WHERE last4 = ?", (ALICE["debit"],))
    assert row == {"status": "active"}
    assert outcomes(bank, "identify_card").count("refused") == 2


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="session")
async def test_the_caller_identity_stays_out_of_rasa_and_is_forgotten_at_the_end(
    client: InProcessClient,
) -> None:
    identity = "caller:+15550001212"
    await client.begin("identity-call", {IDENTITY_KEY: identity})
    assert client.callers.identity("identity-call") == identity
    events = await client.tracker_events("identity-call")
    assert events and "+15550001212" not in str(events)
    await client.end("identity-call")
    assert client.callers.identity("identity-call") == UNKNOWN_CALLER


# -- the counters in the bank ----------------------------------------------------------


def test_unknown_account_numbers_count_and_lock_like_real_ones(bank: BankRepository) -> None:
    for i in range(4):
        assert bank.authenticate("99990000", "1111", "u", caller=f"c{i}") is None
    with pytest.raises(VerificationRefused):
        bank.authenticate("99990000", "1111", "u", caller="c4")
    with pytest.raises(VerificationRefused):
        bank.authenticate("99990000", "2222", "u", caller="c5")


def test_a_success_resets_the_failure_count(bank: BankRepository) -> None:
    for _ in range(2):
        for i in range(4):
            assert bank.authenticate(BOB["account"], "1111", "r", caller=f"c{i}") is None
        assert bank.authenticate(BOB["account"], BOB["pin"], "r", caller="c9") is not None
    assert outcomes(bank, "pin_lockout") == []


def test_failures_count_per_customer_whichever_account_is_named(bank: BankRepository) -> None:
    bobs_savings = "55505678"
    for i in range(4):
        assert bank.authenticate(BOB["account"], "1111", "p", caller=f"c{i}") is None
    with pytest.raises(VerificationRefused):
        bank.authenticate(bobs_savings, "1111", "p", caller="c4")
    with pytest.raises(VerificationRefused):
        bank.authenticate(BOB["account"], BOB["pin"], "p", caller="c5")


def test_the_guard_table_names_no_account_or_caller(bank: BankRepository) -> None:
    lock_bob(bank)
    bank.authenticate("99990000", "1111", "t", caller="caller:+15550001234")
    with bank.transaction() as tx:
        rows = tx.all("SELECT * FROM verification_guards")
    assert len(rows) == 8  # Bob, the unknown number, six callers
    text = str(rows)
    for secret in (BOB["account"], "99990000", "+15550001234", "5501234"):
        assert secret not in text


def _parallel_wrong_pins(url: str, pepper: bytes, tries: int) -> list[str]:
    results: list[str] = []
    start = threading.Barrier(tries)

    def guess(i: int) -> None:
        repository = BankRepository(url, pepper)  # its own connections, as another node
        start.wait()
        try:
            customer = repository.authenticate(BOB["account"], f"{i:04d}", f"p{i}", caller=str(i))
            results.append("verified" if customer else "failure")
        except VerificationRefused:
            results.append("refused")
        finally:
            repository.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(tries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_parallel_guesses_check_the_pin_at_most_five_times(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    open_repository(url, SEED, pepper=PEPPER).close()
    results = _parallel_wrong_pins(url, PEPPER, 16)
    assert results.count("failure") == 4 and results.count("refused") == 12


def test_parallel_guesses_are_limited_on_postgresql(postgres_url: str) -> None:
    repository = open_repository(postgres_url, SEED, reset=True, pepper=PEPPER)
    try:
        results = _parallel_wrong_pins(postgres_url, PEPPER, 16)
        assert results.count("failure") == 4 and results.count("refused") == 12
        assert outcomes(repository, "authenticate").count("failure") == 5
    finally:
        repository.close()


def test_a_caller_over_the_hourly_limit_is_refused_without_a_check(bank: BankRepository) -> None:
    caller = "caller:+15550007777"
    for i in range(10):
        assert bank.authenticate(f"9000000{i}", "1111", "v", caller=caller) is None
    with pytest.raises(VerificationRefused):
        bank.authenticate(ALICE["account"], ALICE["pin"], "v", caller=caller)
    with pytest.raises(VerificationRefused):
        bank.identify_card(ALICE["debit"], ALICE["zip"], "v", caller=caller)
    assert bank.authenticate(ALICE["account"], ALICE["pin"], "v", caller="other") is not None
    # An hour later the caller may try again.
    with bank.transaction() as tx:
        tx.execute("UPDATE verification_guards SET window_started_at = ?", (_ago(minutes=61),))
    assert bank.authenticate(ALICE["account"], ALICE["pin"], "v", caller=caller) is not None


def test_conversations_without_an_identity_share_one_throttled_bucket(
    bank: BankRepository,
) -> None:
    registry = CallerRegistry()
    for i in range(10):
        caller = registry.identity(f"anonymous-{i}")
        assert bank.authenticate(f"9000000{i}", "1111", f"a{i}", caller=caller) is None
    with pytest.raises(VerificationRefused):
        bank.authenticate(ALICE["account"], ALICE["pin"], "a10", caller=registry.identity("new"))


def test_a_lock_ends_after_lockout_minutes_and_not_before(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    timed = open_repository(url, SEED, pepper=PEPPER, policy=GuardPolicy(lockout_minutes=30))
    lock_bob(timed)
    _age_lock(timed, minutes=29)
    with pytest.raises(VerificationRefused):
        timed.authenticate(BOB["account"], BOB["pin"], "m", caller="m1")
    _age_lock(timed, minutes=31)
    until_unlocked = BankRepository(url, PEPPER)  # lockout_minutes 0: only an unlock helps
    with pytest.raises(VerificationRefused):
        until_unlocked.authenticate(BOB["account"], BOB["pin"], "m", caller="m2")
    assert timed.authenticate(BOB["account"], BOB["pin"], "m", caller="m3") is not None


def test_failures_older_than_the_window_are_forgotten(bank: BankRepository) -> None:
    for i in range(4):
        assert bank.authenticate(BOB["account"], "1111", "w", caller=f"c{i}") is None
    with bank.transaction() as tx:
        tx.execute("UPDATE verification_guards SET window_started_at = ?", (_ago(hours=25),))
    assert bank.authenticate(BOB["account"], "1111", "w", caller="c5") is None  # not the 5th


def test_ivr_bank_unlock_lifts_the_lock_and_is_audited(tmp_path: Path) -> None:
    pepper_file = write_secret(tmp_path / "secrets" / "pepper", "cli-test-pepper")
    db = tmp_path / "bank.db"
    repository = open_repository(f"sqlite:///{db}", SEED, pepper=b"cli-test-pepper")
    lock_bob(repository)
    result = ivr(
        "--set", f"bank.pin_pepper_file={pepper_file}", "bank", "unlock", BOB["account"], db=db
    )
    assert result.returncode == 0, result.stderr
    assert "****1234: unlocked" in result.stdout and BOB["account"] not in result.stdout
    with repository.transaction() as tx:
        row = tx.one("SELECT * FROM audit_log WHERE action = 'unlock'")
    assert row is not None and row["outcome"] == "unlocked"
    assert getpass.getuser() in row["detail"] and BOB["account"] not in row["detail"]
    assert repository.authenticate(BOB["account"], BOB["pin"], "after", caller="x") is not None
    again = ivr(
        "--set", f"bank.pin_pepper_file={pepper_file}", "bank", "unlock", BOB["account"], db=db
    )
    assert "was not locked" in again.stdout
    repository.close()


# -- the pepper ------------------------------------------------------------------------


def test_the_pepper_changes_the_hash_and_is_needed_to_verify() -> None:
    unpeppered = hash_pin("8024")
    one, other = pepper_hash(unpeppered, b"pepper one"), pepper_hash(unpeppered, b"pepper two")
    assert one != other and one.split("$")[4] == other.split("$")[4]  # same salt, other MAC
    assert verify_pin("8024", one, b"pepper one")
    assert not verify_pin("8024", one, b"pepper two")
    with pytest.raises(ValueError, match="not peppered"):
        verify_pin("8024", unpeppered, b"pepper one")


def test_a_bank_opened_with_another_pepper_verifies_nobody(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    open_repository(url, SEED, pepper=PEPPER).close()
    stolen = BankRepository(url, b"a guess at the pepper")
    assert stolen.authenticate(ALICE["account"], ALICE["pin"], "s", caller="s") is None
    assert BankRepository(url, PEPPER).authenticate(ALICE["account"], ALICE["pin"], "s") is not None


def test_the_caller_identity_comes_from_what_the_transport_saw() -> None:
    sip = CallInfo("a", "sip", caller="+15550001234", extra={"source": "198.51.100.4"})
    stream = CallInfo("b", "websocket", extra={"peer": "198.51.100.5", "source": "198.51.100.5"})
    assert sip.identity == "caller:+15550001234"
    assert stream.identity == "source:198.51.100.5"
    assert CallInfo("c", "audiosocket").identity == "audiosocket:unknown"


def _ago(**delta: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(**delta)).isoformat(timespec="seconds")


def _age_lock(bank: BankRepository, minutes: int) -> None:
    with bank.transaction() as tx:
        tx.execute(
            "UPDATE verification_guards SET locked_at = ? WHERE locked_at IS NOT NULL",
            (_ago(minutes=minutes),),
        )


def test_the_guard_settings_set_the_failures_that_lock_their_window_and_the_hourly_budget(
    tmp_path: Path,
) -> None:
    """``bank.max_pin_failures`` 2, ``bank.lockout_window_h`` 1, ``max_verifications_per_hour`` 3
    (the defaults, 5, 24 and 10, would let every attempt below be checked)."""
    policy = GuardPolicy(max_pin_failures=2, lockout_window_h=1, max_verifications_per_hour=3)
    bank = open_repository(f"sqlite:///{tmp_path / 'bank.db'}", SEED, pepper=PEPPER, policy=policy)
    assert bank.authenticate(CARMEN["account"], "1111", "g", caller="c0") is None
    with bank.transaction() as tx:
        tx.execute("UPDATE verification_guards SET window_started_at = ?", (_ago(hours=2),))
    assert bank.authenticate(CARMEN["account"], "1111", "g", caller="c1") is None  # 1st in window
    with pytest.raises(VerificationRefused):  # the 2nd within the hour locks
        bank.authenticate(CARMEN["account"], "1111", "g", caller="c2")

    for i in range(3):
        assert bank.authenticate(f"9000000{i}", "1111", "v", caller="busy") is None
    with pytest.raises(VerificationRefused):
        bank.authenticate(ALICE["account"], ALICE["pin"], "v", caller="busy")
    assert bank.authenticate(ALICE["account"], ALICE["pin"], "v", caller="other") is not None
    bank.close()
