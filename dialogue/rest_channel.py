"""Rasa's REST channel, asking for the same token as Rasa's HTTP API.

``rasa run --auth-token`` protects only the HTTP API; the stock REST channel
(``/webhooks/rest/webhook``) stays open, and it takes the conversation id from the request,
so anyone who reaches the Rasa server could speak into a live call's conversation after its
caller was verified. This channel is the stock one behind :func:`dialogue.token_guard`:
every request carries ``?token=`` (what :class:`dialogue.client.HttpClient` already sends).

A stand-alone ``rasa run`` loads it from ``dialogue/credentials.yml``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint

from dialogue.token_guard import query_token, token_guard

log = logging.getLogger(__name__)


def _log_refusal(source: str, path: str, reason: str) -> None:
    log.warning("dialogue.rest.refused source=%s path=%s reason=%s", source, path, reason)


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

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        blueprint.middleware("request")(self._guard)
        return blueprint
