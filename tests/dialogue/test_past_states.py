"""The policies' past states, carried on from one prediction to the next for a live conversation,
are the states Rasa's own replay of the whole conversation gives, turn after turn."""

from __future__ import annotations

from typing import Any

import pytest

from dialogue import past_states
from dialogue.client import InProcessClient
from tests.dialogue.conftest import ALICE
from tests.dialogue.test_client import call, play

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

TURNS = (
    "hello",
    "what's my balance",
    "#" + ALICE["account"],
    "*" + ALICE["pin"],
    "nah",
    "when are you open",
    "blah blah",
    "pardon",
    "...",
    "I want to transfer money",
    "fifty dollars",
    "from savings",
    "to checking",
    "yes",
    "what about fees",
    "thanks",
)
"""A call with a sign-in form, a transfer form, a fallback, a repeat, silence and FAQ answers."""
RULE_ONLY = {"slots": ["requested_slot", "transfer_amount"], "loops": ["auth_form"]}
"""Slots and a form treated as rule-only (what the policies pass from the rule data)."""
WAYS = [
    (omit, ignore, RULE_ONLY if ignore else None)
    for omit in (False, True)
    for ignore in (False, True)
]


async def live_tracker(client: InProcessClient, conversation: str) -> Any:
    return await client.agent.tracker_store.retrieve(conversation)


def both(domain: Any, tracker: Any) -> list[tuple[Any, Any]]:
    """Per way of asking: the states carried on, and Rasa's replay of the whole conversation."""
    return [
        (
            domain.states_for_tracker_history(tracker, omit, ignore, rule_only),
            past_states._rasa_states(domain, tracker, omit, ignore, rule_only),
        )
        for omit, ignore, rule_only in WAYS
    ]


async def test_carried_on_states_are_rasas_after_every_turn(
    client: InProcessClient, conversation: str
) -> None:
    domain = client.agent.domain
    await call(client, conversation)
    compared = 0
    for turn in TURNS:
        await play(client, conversation, turn)
        tracker = await live_tracker(client, conversation)
        assert past_states._replays_of(tracker) is not None, "the live store follows it"
        for ours, rasas in both(domain, tracker):
            assert ours == rasas
            compared += len(rasas)
    assert compared > 4 * len(TURNS) * 5  # histories of many actions, not a short call


async def test_a_turn_carries_the_replay_on_and_a_rewind_starts_it_again(
    client: InProcessClient, conversation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasa.shared.core.events import UserUtteranceReverted

    domain = client.agent.domain
    await call(client, conversation, "hello", "when are you open")
    tracker = await live_tracker(client, conversation)
    both(domain, tracker)
    await play(client, conversation, "what about fees")

    def replayed_again() -> Any:
        raise AssertionError("the replay started again from the first event")

    with monkeypatch.context() as patched:
        patched.setattr(tracker, "init_copy", replayed_again)
        carried = [domain.states_for_tracker_history(tracker, *way) for way in WAYS]
    assert carried == [rasas for _, rasas in both(domain, tracker)]

    tracker.update(UserUtteranceReverted())  # Rasa takes the last turn back
    for ours, rasas in both(domain, tracker):
        assert ours == rasas


async def test_an_ended_call_is_no_longer_followed(
    client: InProcessClient, conversation: str
) -> None:
    await call(client, conversation, "hello")
    tracker = await live_tracker(client, conversation)
    assert past_states._replays_of(tracker) is not None
    await client.end(conversation)
    assert past_states._replays_of(tracker) is None
