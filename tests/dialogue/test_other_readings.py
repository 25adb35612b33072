"""A transcript the assistant cannot understand, read again from the recogniser's other
readings (``dialogue.other_readings``), through the trained assistant and a real bank: a task
heard in one is confirmed before acting, a reading that is no task or only looks like one to
the classifier leaves the misunderstanding as it was, an understood transcript is never
second-guessed, and the readings are neither kept in the tracker nor sent at the PIN prompt."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from typing import Any, cast

import pytest

from dialogue import other_readings
from dialogue.client import InProcessClient
from dialogue.other_readings import MAX_READING_CHARS, MAX_READINGS, offered_readings
from dialogue.protocol import ASR_ALTERNATIVES_KEY, ASR_CONFIDENCE_KEY
from dialogue.secrets import TOKEN_PATTERN
from tests.dialogue.conftest import ALICE
from tests.dialogue.test_client import _leaks, call
from tests.dialogue.test_understanding import BANDS, MUMBLES

BALANCE = "i'd like to check my balance please"
CONFIRM_BALANCE = "You'd like your balance, is that right?"


def heard_unsure(*alternatives: str) -> dict[str, object]:
    """The metadata a call sends with a transcript the recogniser was unsure of."""
    return {ASR_CONFIDENCE_KEY: 0.5, ASR_ALTERNATIVES_KEY: list(alternatives)}


async def misunderstood(client: InProcessClient, count: int) -> list[str]:
    """The first ``count`` mumbles the assistant reads as a fallback on their own."""
    found = []
    for text in MUMBLES:
        conversation = f"mumble-{uuid.uuid4().hex[:8]}"
        await client.begin(conversation)
        if (await client.send(conversation, text, heard_unsure())).intent == "nlu_fallback":
            found.append(text)
        await client.end(conversation)
    assert len(found) >= count, f"fewer than {count} of {MUMBLES} are misunderstood"
    return found[:count]


def test_only_a_short_list_of_texts_is_taken_as_other_readings() -> None:
    assert offered_readings({ASR_ALTERNATIVES_KEY: ["a", "b"]}) == ["a", "b"]
    many = [f"reading {n}" for n in range(MAX_READINGS + 3)]
    assert offered_readings({ASR_ALTERNATIVES_KEY: many}) == many[:MAX_READINGS]
    long = "x" * (MAX_READING_CHARS + 1)
    assert offered_readings({ASR_ALTERNATIVES_KEY: [long, 7, " ", "kept", "past the bound"]}) == [
        "kept"
    ]
    for offered in ("one string", {"a": 1}, None, 3):
        assert offered_readings({ASR_ALTERNATIVES_KEY: offered}) == []
    assert offered_readings(None) == [] and offered_readings(["not", "a", "dict"]) == []


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_a_task_heard_in_another_reading_is_confirmed_and_yes_carries_it_on(
    client: InProcessClient, conversation: str
) -> None:
    mumble, other_mumble = await misunderstood(client, 2)
    await client.begin(conversation)
    confirm = await client.send(conversation, mumble, heard_unsure(other_mumble, BALANCE))
    assert confirm.intent == "nlu_confirm" and confirm.text == CONFIRM_BALANCE, confirm.text
    after_yes = await client.send(conversation, "yes")
    assert after_yes.intent == "check_balance"
    assert after_yes.expect_digits is not None and after_yes.expect_digits.count == 8
    events = await client.tracker_events(conversation)
    said = [e for e in events if e["event"] == "user"]
    assert said[1]["text"] == mumble  # the transcript is what the conversation keeps
    assert said[1]["parse_data"]["text"] == BALANCE  # and what it was understood from
    assert ASR_ALTERNATIVES_KEY not in json.dumps(events)


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_an_understood_transcript_is_never_read_again(
    client: InProcessClient, conversation: str
) -> None:
    await client.begin(conversation)
    reply = await client.send(conversation, "what are your fees", heard_unsure(BALANCE))
    assert reply.intent == "fees" and "fee" in reply.text.lower()


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
@pytest.mark.parametrize("readings", [["goodbye"], ["yes please"], ["stop"], ["goodbye", "stop"]])
async def test_a_reading_that_is_no_task_is_never_taken(
    client: InProcessClient, conversation: str, readings: list[str]
) -> None:
    """A goodbye the recogniser found less likely than a mumble does not end the call, a yes
    confirms nothing: the caller is asked again, as for the mumble alone."""
    (mumble,) = await misunderstood(client, 1)
    await client.begin(conversation)
    reply = await client.send(conversation, mumble, heard_unsure(*readings))
    assert reply.intent == "nlu_fallback" and reply.handoff is None
    assert "You can say things like" in reply.text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_the_first_reading_understood_is_taken_after_readings_that_are_not(
    client: InProcessClient, conversation: str
) -> None:
    (mumble,) = await misunderstood(client, 1)
    await client.begin(conversation)
    reply = await client.send(conversation, mumble, heard_unsure("goodbye", BALANCE))
    assert reply.intent == "nlu_confirm" and reply.text == CONFIRM_BALANCE, reply.text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_a_garbled_reading_the_classifier_takes_for_a_task_is_not_taken(
    client: InProcessClient, conversation: str
) -> None:
    """Garbled words of a noisy line (kept apart from the training data) that the classifier
    reads as tasks on their own are taken as readings only when their meaning is a task's."""
    garbled = ["Lock, lock, lock, lock, lock up.", "Live, live, live, live.", "Bring the deposit."]
    as_transcripts = {}
    for text in garbled:
        alone = f"garbled-{uuid.uuid4().hex[:8]}"
        await client.begin(alone)
        as_transcripts[text] = (await client.send(alone, text, heard_unsure())).intent
        await client.end(alone)
    tasks = {*BANDS["confirm_intents"], "nlu_confirm"}
    assert tasks & set(as_transcripts.values()), f"none is read as a task: {as_transcripts}"
    (mumble,) = await misunderstood(client, 1)
    await client.begin(conversation)
    reply = await client.send(conversation, mumble, heard_unsure(*garbled))
    assert reply.intent == "nlu_fallback", reply.text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.slow
async def test_no_reading_carries_a_pin_into_rasa_the_tracker_or_the_logs(
    client: InProcessClient,
    conversation: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At the PIN prompt no other reading is sent (one may be the PIN); elsewhere a PIN said in
    one becomes a vault token, as in a transcript. Every text Rasa is given to read is
    checked, as well as what it keeps and logs."""
    pin = ALICE["pin"]
    mumble, other_mumble = await misunderstood(client, 2)
    read: list[str] = []
    rasa_parse = other_readings._rasa_parse

    async def reading(self: Any, message: Any, *args: Any) -> dict[str, Any]:
        read.append(json.dumps([message.text, message.metadata]))
        return cast(dict[str, Any], await rasa_parse(self, message, *args))

    monkeypatch.setattr(other_readings, "_rasa_parse", reading)
    with contextlib.ExitStack() as stack:
        for name in (None, "rasa", "dialogue"):
            stack.enter_context(caplog.at_level(logging.DEBUG, logger=name))
        replies = await call(client, conversation, BALANCE, "#" + ALICE["account"])
        assert client.expects_secure_input(conversation), replies[-1].text
        await client.send(conversation, mumble, heard_unsure("two four six eight", pin))
        elsewhere = f"elsewhere-{conversation}"
        await client.begin(elsewhere)
        said = f"my pin is two four six eight and {BALANCE}"
        await client.send(elsewhere, other_mumble, heard_unsure(said))
        events = await client.tracker_events(conversation) + await client.tracker_events(elsewhere)
    # The reading was read, its PIN as a token.
    assert any(BALANCE in text and TOKEN_PATTERN.search(text) for text in read), read
    assert len(caplog.records) > 10
    evidence = {"Rasa's input": "\n".join(read), "tracker": json.dumps(events), "logs": caplog.text}
    for where, text in evidence.items():
        assert not _leaks(pin, text), f"PIN found in {where}"
