"""Which bot node's action server holds each conversation, kept in Redis.

With several bot nodes sharing several Rasa servers, a Rasa server's action call must reach
the node that holds the conversation: only that node's PIN vault has the caller's token, and
PINs never leave the node. Each node notes ``conversation -> its webhook URL`` here when a
call starts and forgets it when the call ends; ``ivr action-router``, next to each Rasa
server, looks the conversation up and forwards the call there.

Every route expires ``ttl_s`` after it was written, so a node that dies mid-call leaves
nothing behind for long: the registry stays bounded by the calls of the last ``ttl_s``.
What Redis hands back is checked again before anyone uses it as a target: whoever can write
to that Redis must not be able to send a conversation's actions (and the action token with
them) to a host of their choosing that is not even an action webhook.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from logfields import fields

if TYPE_CHECKING:
    from dialogue.settings import DialogueConfig

log = logging.getLogger(__name__)

KEY_PREFIX = "ivr:actions:"
MAX_CONVERSATION_ID = 256
"""Longest conversation id accepted (call ids are far shorter): keys stay small."""
MAX_URL = 2048
WEBHOOK_PATH = "/webhook"
MAX_CONNECTIONS = 32
"""Connections to Redis at once; beyond, a caller waits (up to the timeout) for a free one."""


class RoutesUnavailable(RuntimeError):
    """The routes' Redis did not do what was asked (down, wrong password, full, too slow)."""


def check_conversation_id(conversation_id: str) -> str:
    """``conversation_id`` if it is fit to be part of a key; ValueError otherwise."""
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ValueError("a conversation id is a non-empty string")
    if len(conversation_id) > MAX_CONVERSATION_ID:
        raise ValueError(f"a conversation id has at most {MAX_CONVERSATION_ID} characters")
    if any(unicodedata.category(char) == "Cc" for char in conversation_id):
        raise ValueError("a conversation id has no control characters")
    return conversation_id


def check_webhook_url(url: str) -> str:
    """``url`` if it is an http(s) action webhook (``.../webhook``); ValueError otherwise.

    No credentials, query or fragment: the target is a plain address the token is sent to.
    """
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        raise ValueError(f"a webhook URL is a string of 1-{MAX_URL} characters")
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in url):
        raise ValueError("a webhook URL has no spaces or control characters")
    parts = urlsplit(url)
    try:
        host, _port = parts.hostname, parts.port  # the port raises on one that is not one
    except ValueError:
        raise ValueError("a webhook URL's port must be a number of 0-65535") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("a webhook URL is http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a webhook URL carries no credentials")
    if parts.query or parts.fragment or not parts.path.endswith(WEBHOOK_PATH):
        raise ValueError(f"a webhook URL ends in {WEBHOOK_PATH}, with no query or fragment")
    return url


def _without_credentials(url: str) -> str:
    """The Redis URL as it may be shown in errors and logs (a password in it hidden)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"***@{host}").geturl()


class ActionRoutes:
    """The conversation -> node webhook registry in the Redis at ``url``.

    ``password``: the Redis password (``None``: none); the application reads it from
    ``dialogue.routes_password_file``. ``timeout_s`` bounds each Redis round trip and the wait
    for a free connection. Making one does no I/O; the first call connects.
    """

    def __init__(
        self, url: str, password: str | None, ttl_s: float, *, timeout_s: float = 5.0
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("a route's lifetime must be positive")
        self.url = _without_credentials(url)
        self.ttl_ms = max(1, round(ttl_s * 1000))
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            password=password,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
        )
        self._redis = aioredis.Redis(connection_pool=pool)

    @classmethod
    def from_settings(
        cls, settings: DialogueConfig, password: str | None = None
    ) -> ActionRoutes | None:
        """The configured registry, or ``None`` when ``routes_url`` is empty (one node).

        ``password`` is the content of ``routes_password_file``, read by the caller: reading
        owner-only secret files is the application's job.
        """
        if not settings.routes_url:
            return None
        return cls(settings.routes_url, password, settings.route_ttl_s)

    async def ping(self) -> None:
        """Check that the Redis answers and takes the password (a server checks at start)."""
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise self._unavailable("ping", exc) from exc

    async def register(self, conversation_id: str, webhook_url: str) -> None:
        """Note that ``webhook_url``'s node holds the conversation (for ``ttl_s`` from now)."""
        key = _key(conversation_id)
        value = check_webhook_url(webhook_url)
        try:
            await self._redis.set(key, value, px=self.ttl_ms)
        except RedisError as exc:
            raise self._unavailable("register", exc) from exc

    async def forget(self, conversation_id: str) -> None:
        """Remove the conversation's route (its call ended); no route is no error."""
        key = _key(conversation_id)
        try:
            await self._redis.delete(key)
        except RedisError as exc:
            raise self._unavailable("forget", exc) from exc

    async def lookup(self, conversation_id: str) -> str | None:
        """The webhook URL of the node holding the conversation, or ``None``.

        A stored value that is no webhook URL is refused (``None`` and a warning): it did not
        come from a node, and the action token must not be sent to it.
        """
        key = _key(conversation_id)
        try:
            value = await self._redis.get(key)
        except RedisError as exc:
            raise self._unavailable("lookup", exc) from exc
        if value is None:
            return None
        try:
            return check_webhook_url(value)
        except ValueError as exc:
            log.warning(
                "dialogue.action_routes.bad_route",
                extra=fields(conversation=conversation_id, reason=str(exc)),
            )
            return None

    async def close(self) -> None:
        """Close the connections; safe to call twice."""
        await self._redis.close(close_connection_pool=True)

    def _unavailable(self, doing: str, exc: RedisError) -> RoutesUnavailable:
        reason = str(exc) or type(exc).__name__
        return RoutesUnavailable(f"action routes at {self.url}: {doing} failed: {reason}")


def _key(conversation_id: str) -> str:
    return KEY_PREFIX + check_conversation_id(conversation_id)
