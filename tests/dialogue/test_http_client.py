"""The HTTP client against a real Rasa server (rasa.server's REST channel and HTTP API).

The server is Rasa's own Sanic app (what `rasa run --enable-api` serves), sharing the
session's loaded model; the action server is the session's, in this process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from dialogue.actions import runtime as actions_runtime
from dialogue.client import DialogueClient, HttpClient, InProcessClient
from tests.dialogue.conftest import ALICE, reseed

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.slow]


@pytest_asyncio.fixture(loop_scope="session")
async def rasa_server(
    dialogue_client: InProcessClient, session_runtime: actions_runtime.Runtime
) -> AsyncIterator[str]:
    from rasa import server
    from rasa.core.channels.channel import register
    from rasa.core.channels.rest import RestInput
    from sanic import Sanic

    from dialogue.action_server import SanicInLoop

    reseed(session_runtime.repository)
    actions_runtime.configure(session_runtime)
    Sanic._app_registry.pop("rasa_server", None)
    app = server.create_app(agent=dialogue_client.agent, cors_origins="")
    register([RestInput()], app, "/webhooks/")
    serving = SanicInLoop(app, "127.0.0.1", 0)
    await serving.start()
    yield f"http://127.0.0.1:{serving.port}"
    await serving.stop()
    Sanic._app_registry.pop("rasa_server", None)


async def test_http_client_runs_a_verified_call(
    rasa_server: str, session_runtime: actions_runtime.Runtime, conversation: str
) -> None:
    client = HttpClient(rasa_server, action_server=None, vault=session_runtime.vault)
    assert isinstance(client, DialogueClient)
    await client.start()
    try:
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
    finally:
        await client.close()


async def test_http_client_reports_an_unreachable_server(
    session_runtime: actions_runtime.Runtime,
) -> None:
    from dialogue.client import DialogueError

    client = HttpClient(
        "http://127.0.0.1:9", action_server=None, vault=session_runtime.vault, timeout_s=2
    )
    with pytest.raises(DialogueError, match="not reachable"):
        await client.start()
