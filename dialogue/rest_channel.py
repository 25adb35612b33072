"""Rasa's REST channel behind the HTTP API's token, with the two routes the bot's client uses.

``rasa run --auth-token`` protects only the HTTP API; the stock REST channel
(``/webhooks/rest/webhook``) stays open, and it takes the conversation id from the request,
so anyone who reaches the Rasa server could speak into a live call's conversation after its
caller was verified. This channel is the stock one behind :func:`dialogue.token_guard`:
every request carries ``?token=`` (what :class:`dialogue.client.HttpClient` sends).

It adds what several Rasa servers sharing one tracker store need (:mod:`dialogue.client`
spreads turns over them and retries a failed turn on the next):

- ``POST /webhooks/rest/turn`` takes one caller turn and answers with its events (the user
  message and all that followed: intent, confidence, the bot's messages with their voice
  payloads) in one round trip. The turn carries the client's ``message_id``; under the
  conversation's lock, a retried turn (``retry``) whose id is already the conversation's
  latest user message is not taken again, its events are returned. So a retry of a turn that
  a server finished but could not answer (it died, or answered too late) is answered once,
  never doubled.
- ``POST /webhooks/rest/end`` forgets a conversation when its call ends: the tracker store
  then holds no finished call's slots (account numbers among them).

A stand-alone ``rasa run`` loads it from ``dialogue/credentials.yml``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from dialogue import other_readings, rasa_speedups
from dialogue.action_routes import check_conversation_id
from dialogue.events import since_last_user
from dialogue.token_guard import query_token, token_guard
from dialogue.tracker_store import SharedTrackerStore, forget_conversation, unwrapped

log = logging.getLogger(__name__)

MAX_MESSAGE = 4096
"""Characters of one caller turn: a transcript of the longest utterance is far shorter."""
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BadTurn(ValueError):
    """A request to the turn or end route that is not what the client sends."""


def _log_refusal(source: str, path: str, reason: str) -> None:
    log.warning("dialogue.rest.refused source=%s path=%s reason=%s", source, path, reason)


def _sender(body: dict[str, Any]) -> str:
    try:
        return check_conversation_id(body.get("sender"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise BadTurn(f"sender: {exc}") from None


def _turn(body: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None, str, bool]:
    """The sender, text, metadata, message id and retry flag of a turn request, checked."""
    sender = _sender(body)
    text = body.get("message")
    if not isinstance(text, str) or len(text) > MAX_MESSAGE:
        raise BadTurn(f"message must be a string of at most {MAX_MESSAGE} characters")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadTurn("metadata must be an object")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise BadTurn("message_id must be 1 to 64 letters, digits, '-' or '_'")
    retry = body.get("retry", False)
    if not isinstance(retry, bool):
        raise BadTurn("retry must be true or false")
    return sender, text, metadata or None, message_id, retry


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception as exc:  # Sanic raises its own error for malformed JSON
        raise BadTurn("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise BadTurn("the body must be a JSON object")
    return body


def _latest_user_message_id(tracker: Any) -> str | None:
    for event in reversed(tracker.events if tracker is not None else ()):
        if event.type_name == "user":
            return getattr(event, "message_id", None)
    return None


def _watching(store: Any, sender: str) -> contextlib.AbstractContextManager[Callable[[], Any]]:
    """The tracker the turn saves, from a store that can keep it (else read back after)."""
    if isinstance(store, SharedTrackerStore):
        return store.watching(sender)
    return contextlib.nullcontext(lambda: None)


class TokenRestInput(RestInput):
    """``/webhooks/rest/...`` (the name stays ``rest``), refused without the shared token."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TokenRestInput:
        token = str((credentials or {}).get("token") or "").strip()
        if not token:
            raise ValueError("dialogue.rest_channel.TokenRestInput needs a 'token' credential")
        return cls(token)

    def __init__(self, token: str) -> None:
        self._guard = token_guard(token, query_token, _log_refusal)
        rasa_speedups.install()  # the server this channel is loaded in, before its model
        other_readings.install()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        blueprint.middleware("request")(self._guard)

        # Sanic names routes after plain functions: bound methods are wrapped.
        async def take_turn(request: Request) -> HTTPResponse:
            return await self._take_turn(request)

        async def end(request: Request) -> HTTPResponse:
            return await self._end(request)

        blueprint.route("/turn", methods=["POST"])(take_turn)
        blueprint.route("/end", methods=["POST"])(end)
        return blueprint

    async def _take_turn(self, request: Request) -> HTTPResponse:
        try:
            sender, text, metadata, message_id, retry = _turn(_json_body(request))
        except BadTurn as exc:
            return response.json({"error": str(exc)}, status=400)
        agent = request.app.ctx.agent
        store = unwrapped(agent.tracker_store)
        try:
            async with agent.lock_store.lock(sender):
                # Only a retry can find its message taken: a first attempt's id is new.
                repeated = (
                    retry
                    and _latest_user_message_id(await agent.tracker_store.retrieve(sender))
                    == message_id
                )
                with _watching(store, sender) as saved:
                    if not repeated:
                        message = UserMessage(
                            text,
                            CollectingOutputChannel(),
                            sender,
                            input_channel=self.name(),
                            metadata=metadata,
                            message_id=message_id,
                        )
                        await agent.processor.handle_message(message)
                tracker = saved()
                if tracker is None:
                    tracker = await agent.tracker_store.retrieve(sender)
        except Exception:
            log.exception("dialogue.rest.turn_failed conversation=%s", sender)
            return response.json({"error": "the turn failed"}, status=500)
        if repeated:
            log.info("dialogue.rest.turn_repeated conversation=%s", sender)
        return response.json({"events": since_last_user(tracker.events)})

    async def _end(self, request: Request) -> HTTPResponse:
        try:
            sender = _sender(_json_body(request))
        except BadTurn as exc:
            return response.json({"error": str(exc)}, status=400)
        agent = request.app.ctx.agent
        try:
            async with agent.lock_store.lock(sender):
                await forget_conversation(agent.tracker_store, sender)
        except Exception:
            log.exception("dialogue.rest.end_failed conversation=%s", sender)
            return response.json({"error": "the conversation was not forgotten"}, status=500)
        return response.json({"forgotten": sender})
