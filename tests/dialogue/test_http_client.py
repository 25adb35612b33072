"""The HTTP client against a real Rasa server (rasa.server with our REST channel).

The server is Rasa's own Sanic app (what `rasa run --enable-api --auth-token T
--credentials dialogue/credentials.yml` serves: the HTTP API and our token-checking REST
channel with its turn and end routes), sharing the session's loaded model; the action server
is the session's, in this process, and the agent proves itself to it with that server's secret.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from dialogue.actions import runtime as actions_runtime
from dialogue.client import DialogueError, HttpClient, InProcessClient
from ivr.bench.bot import free_port
from tests.dialogue.conftest import ALICE, ROOT, reseed
from tests.dialogue.test_other_readings import (
    BALANCE,
    CONFIRM_BALANCE,
    heard_unsure,
    misunderstood,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]

RASA_TOKEN = secrets.token_urlsafe(32)


@pytest_asyncio.fixture(loop_scope="session")
async def rasa_server(
    dialogue_client: InProcessClient, session_runtime: actions_runtime.Runtime
) -> AsyncIterator[str]:
    from rasa import server
    from rasa.core.channels.channel import register
    from rasa.core.run import create_http_input_channels
    from sanic import Sanic

    from dialogue.action_server import SanicInLoop

    reseed(session_runtime.repository)
    actions_runtime.configure(session_runtime)
    Sanic._app_registry.pop("rasa_server", None)
    app = server.create_app(agent=dialogue_client.agent, cors_origins="", auth_token=RASA_TOKEN)
    with pytest.MonkeyPatch.context() as env:  # what `rasa run --credentials` reads
        env.setenv("IVR_RASA_TOKEN", RASA_TOKEN)
        channels = create_http_input_channels(None, str(ROOT / "dialogue" / "credentials.yml"))
    register(channels, app, "/webhooks/")
    serving = SanicInLoop(app, "127.0.0.1", 0)
    await serving.start()
    yield f"http://127.0.0.1:{serving.port}"
    await serving.stop()
    Sanic._app_registry.pop("rasa_server", None)


async def test_http_client_runs_a_verified_call(
    rasa_server: str, session_runtime: actions_runtime.Runtime, conversation: str
) -> None:
    client = HttpClient(
        rasa_server, action_server=None, vault=session_runtime.vault, token=RASA_TOKEN
    )
    await client.start()
    try:
        await holds_a_verified_balance_call(client, conversation)
    finally:
        await client.close()


async def holds_a_verified_balance_call(client: HttpClient, conversation: str) -> None:
    """Alice asks for her balance, keys her account number and says her PIN."""
    greeting = await client.begin(conversation)
    assert greeting.intent == "greet" and greeting.messages[0].interruptible is False
    ask = await client.send(conversation, "what's my balance")
    assert ask.intent == "check_balance" and ask.confidence is not None and ask.confidence > 0.5
    assert ask.expect_digits is not None and ask.expect_digits.count == 8
    pin_prompt = await client.send_digits(conversation, ALICE["account"], secure=False)
    assert pin_prompt.expect_digits is not None and pin_prompt.expect_digits.secure
    assert client.expects_secure_input(conversation)
    answer = await client.send(conversation, "two four six eight")  # spoken PIN, sent securely
    assert answer.intent == "dtmf"
    assert "Alice" in str(answer.messages[0].text)
    assert "2,450 dollars and 75 cents" in answer.text
    assert [(e["entity"], e["value"]) for e in answer.entities] == [("digits", "[secret]")]


async def test_a_misunderstood_turn_is_read_again_from_its_other_readings_over_http(
    rasa_server: str,
    dialogue_client: InProcessClient,
    session_runtime: actions_runtime.Runtime,
    conversation: str,
) -> None:
    """The readings travel in the turn's metadata through the REST channel to the server's
    parse, as in process (tests/dialogue/test_other_readings.py)."""
    (mumble,) = await misunderstood(dialogue_client, 1)
    client = HttpClient(
        rasa_server, action_server=None, vault=session_runtime.vault, token=RASA_TOKEN
    )
    await client.start()
    try:
        await client.begin(conversation)
        reply = await client.send(conversation, mumble, heard_unsure(BALANCE))
        assert reply.intent == "nlu_confirm" and reply.text == CONFIRM_BALANCE, reply.text
    finally:
        await client.close()


async def test_rasa_server_refuses_turns_and_api_calls_without_its_token(
    rasa_server: str, session_runtime: actions_runtime.Runtime, conversation: str
) -> None:
    body = {"sender": conversation, "message": "what's my balance", "message_id": "m1"}
    async with aiohttp.ClientSession() as http:
        for params in ({}, {"token": "not-" + RASA_TOKEN}):
            for route in ("webhook", "turn", "end"):
                async with http.post(
                    f"{rasa_server}/webhooks/rest/{route}", json=body, params=params
                ) as response:
                    assert response.status == 401, await response.text()
            async with http.get(
                f"{rasa_server}/conversations/{conversation}/tracker", params=params
            ) as response:
                assert response.status == 401
        async with http.get(
            f"{rasa_server}/conversations/{conversation}/tracker", params={"token": RASA_TOKEN}
        ) as response:
            assert response.status == 200
            events = (await response.json())["events"]
    assert not [e for e in events if e["event"] == "user"]  # the refused turn never ran
    wrong = HttpClient(
        rasa_server, action_server=None, vault=session_runtime.vault, token="not-" + RASA_TOKEN
    )
    with pytest.raises(DialogueError, match="refused our token"):
        await wrong.start()


async def test_rasa_run_with_auth_token_serves_only_the_client_that_has_it(
    trained_model: Path,
    session_runtime: actions_runtime.Runtime,
    tmp_path: Path,
    conversation: str,
) -> None:
    """A real ``rasa run`` process as the bench starts it: tokens made, files owner-only."""
    from dialogue.action_server import ActionServer
    from ivr.bench.bot import RasaServer
    from ivr.secretfile import read_secret

    reseed(session_runtime.repository)
    rasa = RasaServer(tmp_path, trained_model, free_port(), free_port())
    action_token = read_secret(rasa.action_token_file, "action token")
    rasa_token = read_secret(rasa.rasa_token_file, "rasa token")
    actions = ActionServer(
        "127.0.0.1", rasa.action_port, runtime=session_runtime, token=action_token
    )
    client = HttpClient(
        rasa.url, action_server=actions, vault=session_runtime.vault, token=rasa_token
    )
    try:
        await rasa.start()
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{rasa.url}/webhooks/rest/webhook", json={"sender": conversation, "message": "hi"}
            ) as response:
                assert response.status == 401
            async with http.get(f"{rasa.url}/status") as response:
                assert response.status == 404  # Rasa's HTTP API is off: the client needs none
        await client.start()
        await holds_a_verified_balance_call(client, conversation)
    finally:
        await client.close()
        await rasa.stop()


async def test_http_client_reports_an_unreachable_server(
    session_runtime: actions_runtime.Runtime,
) -> None:
    client = HttpClient(
        "http://127.0.0.1:9", action_server=None, vault=session_runtime.vault, timeout_s=2
    )
    with pytest.raises(DialogueError, match="not reachable"):
        await client.start()


async def turn(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, dict]:
    async with http.post(
        f"{url}/webhooks/rest/turn", json=body, params={"token": RASA_TOKEN}
    ) as response:
        return response.status, await response.json()


async def test_a_repeated_turn_is_answered_from_the_tracker_not_taken_twice(
    rasa_server: str, dialogue_client: InProcessClient, conversation: str
) -> None:
    """A client that retries a turn the server finished but never answered (it died or was
    too late) gets the same answer, and the conversation holds the turn once."""
    first = {"sender": conversation, "message": "what are your opening hours", "message_id": "t1"}
    async with aiohttp.ClientSession() as http:
        status, answered = await turn(http, rasa_server, first)
        assert status == 200, answered
        status, repeated = await turn(http, rasa_server, {**first, "retry": True})
        assert status == 200
        assert repeated == answered
        assert answered["events"][0]["message_id"] == "t1"
        assert any(e["event"] == "bot" for e in answered["events"])
        status, _ = await turn(http, rasa_server, {**first, "message_id": "t2"})
        assert status == 200
    said = [e for e in await dialogue_client.tracker_events(conversation) if e["event"] == "user"]
    assert [e["message_id"] for e in said] == ["t1", "t2"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"message": "hi", "message_id": "m"}, "sender"),
        ({"sender": ["x"], "message": "hi", "message_id": "m"}, "sender"),
        ({"sender": "a\nb", "message": "hi", "message_id": "m"}, "control"),
        ({"sender": "c", "message": "x" * 5000, "message_id": "m"}, "message"),
        ({"sender": "c", "message": "hi", "message_id": "../../etc"}, "message_id"),
        ({"sender": "c", "message": "hi"}, "message_id"),
        ({"sender": "c", "message": "hi", "message_id": "m", "metadata": [1]}, "metadata"),
        ({"sender": "c", "message": "hi", "message_id": "m", "retry": "yes"}, "retry"),
        (["not", "an", "object"], "object"),
    ],
)
async def test_a_malformed_turn_is_refused_with_its_reason(
    rasa_server: str, body: object, reason: str
) -> None:
    async with aiohttp.ClientSession() as http:
        status, answer = await turn(http, rasa_server, body)
    assert status == 400 and reason in answer["error"]


async def test_turns_fail_over_from_a_dead_server_and_the_end_forgets_the_call(
    rasa_server: str,
    dialogue_client: InProcessClient,
    session_runtime: actions_runtime.Runtime,
    conversation: str,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    client = HttpClient(
        [dead, rasa_server],
        action_server=None,
        vault=session_runtime.vault,
        token=RASA_TOKEN,
        retry_s=60,
    )
    await client.start()  # one server up is enough to start
    try:
        assert client.servers[0].down_until > time.monotonic()
        await holds_a_verified_balance_call(client, conversation)
        assert any(e["event"] == "user" for e in await dialogue_client.tracker_events(conversation))
        await client.end(conversation)
    finally:
        await client.close()
    assert conversation not in await dialogue_client.agent.tracker_store.keys()


async def test_a_client_with_no_server_up_says_which_failed(
    session_runtime: actions_runtime.Runtime,
) -> None:
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    client = HttpClient(urls, action_server=None, vault=session_runtime.vault, timeout_s=2)
    with pytest.raises(DialogueError, match="not reachable") as failed:
        await client.start()
    assert all(url in str(failed.value) for url in urls)


async def test_a_turn_a_server_never_answers_is_answered_by_the_next_once(
    rasa_server: str,
    dialogue_client: InProcessClient,
    session_runtime: actions_runtime.Runtime,
    conversation: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that takes the connection and then says nothing (hung, or dying mid-turn):
    after the timeout the same turn goes to the next server, and the conversation holds each
    caller turn once."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    stalled = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = stalled.sockets[0].getsockname()[1]
    client = HttpClient(
        [f"http://127.0.0.1:{port}", rasa_server],
        action_server=None,
        vault=session_runtime.vault,
        token=RASA_TOKEN,
        timeout_s=1.5,
        retry_s=0,  # never passed over: every other turn tries the silent one first
    )
    try:
        await client.start()
        with caplog.at_level(logging.WARNING, logger="dialogue.client"):
            await holds_a_verified_balance_call(client, conversation)
    finally:
        await client.close()
        stalled.close()
        for writer in held:
            writer.close()
    timed_out = [r for r in caplog.records if r.getMessage() == "dialogue.server_failed"]
    assert timed_out, "some turn tried the silent server first"
    said = [e for e in await dialogue_client.tracker_events(conversation) if e["event"] == "user"]
    assert len(said) == 4 and len({e["message_id"] for e in said}) == 4
