"""The dialogue client: what the call layer and ``ivr chat`` use to talk to the assistant.

One async interface (:class:`dialogue.protocol.DialogueClient`), two implementations:

- :class:`InProcessClient` loads the trained model with ``rasa.core.agent.Agent`` in this
  process (lowest latency; the default);
- :class:`HttpClient` talks to remote Rasa servers (scale-out) through the token-checking
  REST channel (:mod:`dialogue.rest_channel`, from ``dialogue/credentials.yml``), whose
  ``/turn`` route answers with the turn's events (intent, confidence, messages); it spreads
  turns over the servers and retries a failed one on the next. Point each server's
  ``endpoints.yml`` at this application's action server (or, with several bot nodes, at an
  action router) with that server's secret.

Either way the custom action server runs in this process (:mod:`dialogue.action_server`),
which is what keeps PINs out of Rasa: :meth:`DialogueClient.send_digits` with
``secure=True`` deposits the digits in the in-memory vault (:mod:`dialogue.secrets`) and
sends Rasa only ``/dtmf{"digits": "secret:<token>"}``. When the last bot message asked for
secure digits, :meth:`DialogueClient.send` converts a spoken PIN ("one two three four") to
digits and takes the same path, so it never reaches Rasa as text.

What a turn returns, and the voice payload contract it reads, is :mod:`dialogue.reply`. This
module also holds what both clients share: PIN redaction of caller text, entity masking and
the helpers that read Rasa's events.

Injected caller events: :meth:`DialogueClient.no_input` sends ``/no_input`` (the caller
was silent), :meth:`DialogueClient.send_digits` sends ``/dtmf{"digits": "..."}`` and
:meth:`DialogueClient.begin` sends ``/greet`` when a call is answered (the bot speaks first).
"""

from __future__ import annotations

import abc
import asyncio
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from dialogue import quiet_rasa_environment
from dialogue.bank.redaction import redact_secrets
from dialogue.callers import IDENTITY_KEY, CallerRegistry, default_callers
from dialogue.events import bot_messages_after_last_user, last_parse_data, since_last_user
from dialogue.other_readings import offered_readings
from dialogue.protocol import ASR_ALTERNATIVES_KEY, DialogueClient
from dialogue.rasa_thread import RasaThread
from dialogue.reply import BotMessage, Reply
from dialogue.secrets import SecretVault, is_token
from dialogue.settings import BankConfig, DialogueConfig
from dialogue.short_answers import EXPECTED_KEY
from dialogue.spoken import digit_answer, extract_digits
from logfields import fields
from masking import mask_identifier, mask_number

if TYPE_CHECKING:
    from dialogue.action_routes import ActionRoutes
    from dialogue.action_server import ActionServer
    from dialogue.tracker_store import LiveTrackerStore

log = logging.getLogger(__name__)
T = TypeVar("T")

GREET = "/greet"
WARM_UP_TURNS = (GREET, "hello, what are your opening hours")
"""What the assistant hears once at start, in a conversation that is then forgotten."""
NO_INPUT = "/no_input"
CONNECT_S = 2.0
"""Longest wait to connect to a Rasa server: a dead host is passed over, not waited out."""
_DIGITS = re.compile(r"[0-9*#]+")
_MASKED_ENTITIES = {"account_number", "pin", "digits"}


class DialogueError(RuntimeError):
    """The assistant could not be reached or answered with something unusable."""


def dtmf_message(digits: str) -> str:
    """The injected keypad message Rasa receives: ``/dtmf{"digits": "..."}``."""
    return "/dtmf" + json.dumps({"digits": digits})


def redact_pin_mentions(text: str, vault: SecretVault) -> str:
    """Caller text as Rasa may see it: a PIN said out of turn becomes a vault token.

    A caller may say "my PIN is four three two one" when we did not ask for it; the digits
    are deposited and the text Rasa sees (and its tracker keeps) reads "my PIN is secret:...".
    A card number read out is masked to its last four. Other numbers stay as said: the
    account number the caller gives is what the verification needs. The detection is
    :func:`dialogue.bank.redaction.redact_secrets`, the one the call records and logs use.
    """
    return redact_secrets(text, conceal=vault.deposit, keep_numbers=True).text


def fixed_response_texts(responses: Mapping[str, Any]) -> frozenset[str]:
    """Texts of the domain's responses that have no slot to fill: the same for every caller.

    ``responses`` is the domain's ``responses`` section (name -> list of variations).
    """
    return frozenset(
        variation["text"]
        for variations in responses.values()
        for variation in variations or []
        if isinstance(variation.get("text"), str) and "{" not in variation["text"]
    )


def mask_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities as safe to log and show: numbers to their last four, tokens hidden."""
    masked = []
    for entity in entities:
        item = {
            k: entity.get(k)
            for k in ("entity", "value", "role", "start", "end", "extractor")
            if entity.get(k) is not None
        }
        value = str(item.get("value", ""))
        if item.get("entity") in _MASKED_ENTITIES:
            if is_token(value) or item.get("entity") == "pin":
                item["value"] = "[secret]"
            elif item.get("entity") == "account_number":
                item["value"] = mask_identifier(value)
            elif len(re.sub(r"\D", "", value)) >= 8:
                item["value"] = mask_number(value)
        masked.append(item)
    return masked


class _ClientBase(abc.ABC):
    """Secure-input routing, reply building and logging shared by both clients."""

    def __init__(
        self,
        vault: SecretVault,
        action_server: ActionServer | None,
        callers: CallerRegistry | None = None,
    ) -> None:
        self.vault = vault
        self.action_server = action_server
        self.callers = callers if callers is not None else default_callers
        self._secure_expected: dict[str, bool] = {}
        self._expected_answers: dict[str, list[str]] = {}
        """The hints of each conversation's last reply: sent with the next caller turn so the
        NLU can read a short answer in the light of the question (``expected_answers``)."""
        self.fixed_texts: frozenset[str] = frozenset()
        """The domain's responses without slots (see :func:`fixed_response_texts`)."""

    async def begin(self, conversation_id: str, metadata: dict[str, Any] | None = None) -> Reply:
        # The caller's identity is for the actions' limits only: it never reaches Rasa.
        metadata = dict(metadata or {})
        self.callers.register(conversation_id, str(metadata.pop(IDENTITY_KEY, "") or ""))
        await self._open(conversation_id)
        return await self._turn(conversation_id, GREET, metadata, kind="begin")

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None
    ) -> Reply:
        if self._secure_expected.get(conversation_id) and extract_digits(text):
            # A PIN spoken at the PIN prompt goes the keypad's secure way, never as text; once
            # it holds a digit, words that sound like digits are read as digits too.
            return await self.send_digits(conversation_id, digit_answer(text), secure=True)
        metadata = dict(metadata or {})
        readings = offered_readings(metadata)
        metadata.pop(ASR_ALTERNATIVES_KEY, None)
        if readings and not self._secure_expected.get(conversation_id):
            # At a PIN prompt another reading may hold the PIN: none is sent. Elsewhere a PIN
            # said in one becomes a vault token, as in the transcript.
            metadata[ASR_ALTERNATIVES_KEY] = [redact_pin_mentions(r, self.vault) for r in readings]
        expected = self._expected_answers.get(conversation_id)
        if expected:
            metadata[EXPECTED_KEY] = expected
        return await self._turn(
            conversation_id, redact_pin_mentions(text, self.vault), metadata, kind="speech"
        )

    async def send_digits(self, conversation_id: str, digits: str, *, secure: bool) -> Reply:
        if not _DIGITS.fullmatch(digits):
            raise ValueError("keypad input may contain only 0-9, * and #")
        digits = digits.rstrip("#") or digits
        value = self.vault.deposit(digits) if secure else digits
        return await self._turn(
            conversation_id,
            dtmf_message(value),
            {"input": "dtmf"},
            kind="secure_dtmf" if secure else "dtmf",
        )

    async def no_input(self, conversation_id: str) -> Reply:
        return await self._turn(conversation_id, NO_INPUT, None, kind="no_input")

    def expects_secure_input(self, conversation_id: str) -> bool:
        """True when the last bot turn asked for a PIN."""
        return self._secure_expected.get(conversation_id, False)

    async def end(self, conversation_id: str) -> None:
        self._secure_expected.pop(conversation_id, None)
        self._expected_answers.pop(conversation_id, None)
        self.callers.forget(conversation_id)
        await self._forget(conversation_id)

    async def _open(self, conversation_id: str) -> None:  # noqa: B027 - optional hook
        """Say where this conversation's actions must come (nowhere to say by default)."""

    async def _forget(self, conversation_id: str) -> None:  # noqa: B027 - optional hook
        """Drop the conversation's state kept in this process (none by default)."""

    async def _turn(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None, *, kind: str
    ) -> Reply:
        started = time.monotonic()
        bot, parse = await self._exchange(conversation_id, text, dict(metadata or {}))
        messages = [
            BotMessage(
                m.get("text"), dict(m.get("custom") or {}), fixed=m.get("text") in self.fixed_texts
            )
            for m in bot
        ]
        intent = (parse.get("intent") or {}) if parse else {}
        reply = Reply(
            messages=messages,
            intent=intent.get("name"),
            confidence=float(intent["confidence"])
            if intent.get("confidence") is not None
            else None,
            entities=mask_entities(list(parse.get("entities") or [])) if parse else [],
        )
        self._secure_expected[conversation_id] = reply.secure_entry
        self._expected_answers[conversation_id] = reply.hints
        log.info(
            "dialogue.turn",
            extra=fields(
                conversation=conversation_id,
                input=kind,
                intent=reply.intent,
                confidence=round(reply.confidence, 3) if reply.confidence is not None else None,
                messages=len(messages),
                handoff=bool(reply.handoff),
                hangup=bool(reply.hangup),
                ms=round((time.monotonic() - started) * 1000),
            ),
        )
        return reply

    async def _warm_up_through(
        self, exchange: Callable[[str, str], Awaitable[object]], where: str
    ) -> None:
        """One throw-away conversation through every stage (a greeting, a sentence through the
        NLU, the policies, the action server), so the first caller's first turn does not pay
        for TensorFlow building its graphs (about 200 ms, measured against later turns)."""
        conversation = f"warm-up-{uuid.uuid4().hex}"
        started = time.monotonic()
        try:
            await self._open(conversation)
            for text in WARM_UP_TURNS:
                await exchange(conversation, text)
        except Exception as exc:  # the first call then pays for it; nothing else is lost
            log.warning("dialogue.warm_up_failed", extra=fields(where=where, error=str(exc)))
        finally:
            await self.end(conversation)
        log.info(
            "dialogue.warmed",
            extra=fields(where=where, ms=round((time.monotonic() - started) * 1000)),
        )

    @abc.abstractmethod
    async def _exchange(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Send one message; return the bot messages (text, custom) and the parse data."""

    async def _start_actions(self) -> None:
        if self.action_server is not None:
            await self.action_server.start()

    async def _stop_actions(self) -> None:
        if self.action_server is not None:
            await self.action_server.stop()


class InProcessClient(_ClientBase):
    """Rasa's ``Agent`` in this process, with the model from ``ivr train``.

    Each turn's Rasa work runs on a :class:`~dialogue.rasa_thread.RasaThread`, off the
    caller's event loop, so one call's dialogue turn does not hold up other calls' audio.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        action_server: ActionServer | None,
        vault: SecretVault,
        action_endpoint_url: str | None = None,
        callers: CallerRegistry | None = None,
    ) -> None:
        super().__init__(vault, action_server, callers)
        self.model_path = Path(model_path)
        self._action_endpoint_url = action_endpoint_url
        self._agent: Any = None
        self._thread: RasaThread | None = None
        self._trackers: LiveTrackerStore | None = None

    async def start(self) -> None:
        if self._agent is not None:
            return
        if not self.model_path.is_file():
            raise DialogueError(f"no trained model at {self.model_path}; run `ivr train` first")
        quiet_rasa_environment()
        await self._start_actions()
        from rasa.core.agent import Agent
        from rasa.utils.endpoints import EndpointConfig

        from dialogue import other_readings, rasa_speedups
        from dialogue.tracker_store import LiveTrackerStore

        url = self._action_endpoint_url or (
            self.action_server.webhook_url if self.action_server else None
        )
        # Rasa proves itself to the action server with its shared secret on every call.
        headers = self.action_server.auth_headers if self.action_server else {}
        endpoint = EndpointConfig(url=url, headers=headers) if url else None
        rasa_speedups.install()
        other_readings.install()
        started = time.monotonic()
        try:
            self._trackers = LiveTrackerStore()
            self._agent = await asyncio.to_thread(
                Agent.load,
                str(self.model_path),
                action_endpoint=endpoint,
                tracker_store=self._trackers,
            )
        except Exception:
            await self._stop_actions()
            raise
        self.fixed_texts = fixed_response_texts(self._agent.domain.responses)
        self._thread = RasaThread()
        log.info(
            "dialogue.model.loaded",
            extra=fields(model=str(self.model_path), ms=round((time.monotonic() - started) * 1000)),
        )
        await self._warm_up()

    async def _warm_up(self) -> None:
        await self._warm_up_through(lambda c, text: self._exchange(c, text, {}), "in process")

    async def close(self) -> None:
        self._agent = None
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        await self._stop_actions()

    @property
    def agent(self) -> Any:
        """The loaded ``rasa.core.agent.Agent`` (for tests and tools)."""
        if self._agent is None:
            raise DialogueError("client not started")
        return self._agent

    async def tracker_events(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every event of a conversation as JSON (what a tracker store would persist)."""
        return await self._on_rasa_thread(self._events(conversation_id))

    async def _events(self, conversation_id: str) -> list[dict[str, Any]]:
        tracker = await self.agent.processor.get_tracker(conversation_id)
        return [event.as_dict() for event in tracker.events]

    async def _forget(self, conversation_id: str) -> None:
        if self._thread is not None:
            await self._thread.run(self._forget_after_turn(conversation_id))

    async def _forget_after_turn(self, conversation_id: str) -> None:
        """Forget under Rasa's conversation lock: a turn still running (its call was cut off)
        saves its tracker first, then it is dropped."""
        assert self._trackers is not None  # set with the thread, in start()
        async with self.agent.lock_store.lock(conversation_id):
            await self._trackers.forget(conversation_id)

    async def _on_rasa_thread(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._thread is None:
            coroutine.close()
            raise DialogueError("client not started")
        return await self._thread.run(coroutine)

    async def _exchange(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return await self._on_rasa_thread(self._handle(conversation_id, text, metadata))

    async def _handle(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

        message = UserMessage(
            text,
            CollectingOutputChannel(),
            conversation_id,
            input_channel="voice",
            metadata=metadata or None,
        )
        await self.agent.handle_message(message)
        tracker = await self.agent.processor.get_tracker(conversation_id)
        events = since_last_user(tracker.events)
        return bot_messages_after_last_user(events), last_parse_data(events)


@dataclass
class _Server:
    """One remote Rasa server and until when it is passed over after a failure."""

    url: str
    down_until: float = 0.0


class _ServerFailed(Exception):
    """This server did not take the turn; another may (it died, timed out or broke)."""


class HttpClient(_ClientBase):
    """Remote Rasa servers sharing one tracker and lock store; turns through the REST channel.

    Each turn goes to the next server in turn (the load spreads); one that fails it (no
    connection, a timeout, a 5xx) is passed over for ``retry_s`` and the same turn, with the
    same message id, goes to the next, so the caller hears the answer, not an apology, as long
    as one server is up (:mod:`dialogue.rest_channel` answers a repeated id from its tracker).
    With ``routes`` (several bot nodes), each conversation's route to this node's action
    server is noted at the call's start and removed at its end (:mod:`dialogue.action_routes`).
    """

    def __init__(
        self,
        server_urls: str | Sequence[str],
        *,
        action_server: ActionServer | None,
        vault: SecretVault,
        timeout_s: float = 10.0,
        token: str | None = None,
        domain_file: str | Path | None = None,
        callers: CallerRegistry | None = None,
        retry_s: float = 10.0,
        routes: ActionRoutes | None = None,
    ) -> None:
        super().__init__(vault, action_server, callers)
        if domain_file is not None:
            # The remote server's domain is this project's; a response it changed is just
            # not cached (its text no longer matches).
            with open(domain_file, encoding="utf-8") as file:
                domain = yaml.safe_load(file) or {}
            self.fixed_texts = fixed_response_texts(domain.get("responses") or {})
        urls = [server_urls] if isinstance(server_urls, str) else list(server_urls)
        if not urls:
            raise DialogueError("no Rasa server to talk to")
        self.servers = [_Server(url.rstrip("/")) for url in urls]
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._token = token
        self._routes = routes
        self._next = 0
        self._session: Any = None

    async def start(self) -> None:
        """Ready once one server answers with our token; a refused token fails at once."""
        if self._session is not None:
            return
        import aiohttp

        await self._start_actions()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout_s, sock_connect=CONNECT_S)
        )
        failures = []
        for server in self.servers:
            try:
                await self._probe(server)
            except _ServerFailed as exc:
                server.down_until = time.monotonic() + self._retry_s
                failures.append(str(exc))
            except DialogueError:
                await self.close()
                raise
        if len(failures) == len(self.servers):
            await self.close()
            raise DialogueError("; ".join(failures))
        for failure in failures:
            log.warning("dialogue.server_down", extra=fields(error=failure))
        now = time.monotonic()
        for server in self.servers:
            if server.down_until <= now:
                await self._warm_up_through(
                    functools.partial(self._warm_up_turn, server), server.url
                )

    async def _warm_up_turn(self, server: _Server, conversation_id: str, text: str) -> None:
        """A turn on ``server`` itself: each server builds its own graphs."""
        body = {"sender": conversation_id, "message": text, "message_id": uuid.uuid4().hex}
        await self._post(server, "/webhooks/rest/turn", body)

    async def _probe(self, server: _Server) -> None:
        import aiohttp

        try:
            async with self._session.get(
                f"{server.url}/webhooks/rest/", params=self._params()
            ) as response:
                if response.status in (401, 403):
                    raise DialogueError(f"Rasa server at {server.url} refused our token")
                if response.status != 200:
                    raise _ServerFailed(f"Rasa server at {server.url} answered {response.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _ServerFailed(f"Rasa server at {server.url} is not reachable: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._routes is not None:
            await self._routes.close()
        await self._stop_actions()

    async def _open(self, conversation_id: str) -> None:
        if self._routes is not None and self.action_server is not None:
            await self._routes.register(conversation_id, self.action_server.webhook_url)

    def _params(self) -> dict[str, str]:
        return {"token": self._token} if self._token else {}

    def _in_turn(self) -> list[_Server]:
        """Every server, starting from the next one round; those passed over go last."""
        start = self._next % len(self.servers)
        self._next += 1
        rotated = self.servers[start:] + self.servers[:start]
        now = time.monotonic()
        return sorted(rotated, key=lambda server: server.down_until > now)

    async def _exchange(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        body = {
            "sender": conversation_id,
            "message": text,
            "metadata": metadata,
            "message_id": uuid.uuid4().hex,
        }
        events = await self._post_to_any("/webhooks/rest/turn", body, conversation_id, retry=True)
        return bot_messages_after_last_user(events["events"]), last_parse_data(events["events"])

    async def _forget(self, conversation_id: str) -> None:
        try:
            await self._post_to_any(
                "/webhooks/rest/end", {"sender": conversation_id}, conversation_id
            )
        except DialogueError as exc:  # the call is over either way; its tracker stays behind
            log.warning(
                "dialogue.forget_failed", extra=fields(conversation=conversation_id, error=str(exc))
            )
        if self._routes is not None:
            await self._routes.forget(conversation_id)

    async def _post_to_any(
        self, path: str, body: dict[str, Any], conversation_id: str, *, retry: bool = False
    ) -> dict[str, Any]:
        """``body`` to ``path`` on the first server that takes it; with ``retry``, attempts
        after the first say so (the server then checks whether it took the turn already)."""
        if self._session is None:
            raise DialogueError("client not started")
        failures: list[str] = []
        for server in self._in_turn():
            attempt = {**body, "retry": True} if retry and failures else body
            try:
                return await self._post(server, path, attempt)
            except _ServerFailed as exc:
                server.down_until = time.monotonic() + self._retry_s
                failures.append(str(exc))
                log.warning(
                    "dialogue.server_failed",
                    extra=fields(conversation=conversation_id, server=server.url, error=str(exc)),
                )
        raise DialogueError("no Rasa server took the request: " + "; ".join(failures))

    async def _post(self, server: _Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import aiohttp

        try:
            async with self._session.post(
                server.url + path, json=body, params=self._params()
            ) as response:
                if response.status >= 500:
                    raise _ServerFailed(f"{server.url} answered {response.status}")
                if response.status in (401, 403):
                    raise DialogueError(f"Rasa server at {server.url} refused our token")
                if response.status != 200:
                    raise DialogueError(
                        f"Rasa server at {server.url} answered {response.status}: "
                        f"{(await response.text())[:200]}"
                    )
                answer = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _ServerFailed(f"{server.url} failed: {exc!r}") from exc
        if not isinstance(answer, dict):
            raise DialogueError(
                f"Rasa server at {server.url} answered with {type(answer).__name__}"
            )
        return answer


def make_client(
    settings: DialogueConfig,
    bank: BankConfig,
    *,
    pepper: bytes,
    action_token: str | None = None,
    rasa_token: str | None = None,
    routes: ActionRoutes | None = None,
) -> DialogueClient:
    """The dialogue client the configuration asks for, with its own action server and vault.

    ``pepper`` is the PIN pepper (``ivr.pepper.bank_pepper``), passed in as a value.
    In-process, the action server makes its own secret and gives it to the agent. Over HTTP
    both ends are configured: ``action_token`` is what the remote Rasa sends our action
    server, ``rasa_token`` what we send Rasa (its ``--auth-token``); both are required there,
    and ``routes`` (``ivr.services.action_routes``) is where this node notes its calls for
    the action routers, when there are several nodes.
    """
    from dialogue.action_server import ActionServer
    from dialogue.actions import runtime
    from dialogue.training import Project

    vault = SecretVault(ttl_s=settings.secret_ttl_s)
    callers = CallerRegistry()
    rt = runtime.from_config(settings, bank, pepper)
    rt.vault = vault
    rt.callers = callers
    if settings.mode == "http":
        if not action_token or not rasa_token:
            raise DialogueError(
                "dialogue.mode http needs dialogue.action_token_file and dialogue.rasa_token_file"
            )
        # A remote Rasa must be able to reach our action server at the configured address.
        actions = ActionServer(
            settings.action_server_host,
            settings.action_server_port,
            runtime=rt,
            token=action_token,
        )
        return HttpClient(
            settings.server_urls,
            action_server=actions,
            vault=vault,
            timeout_s=settings.request_timeout_s,
            token=rasa_token,
            domain_file=Project.from_config(settings).domain,
            callers=callers,
            retry_s=settings.server_retry_s,
            routes=routes,
        )
    # In-process Rasa finds the action server wherever it is: an ephemeral port never clashes.
    actions = ActionServer(settings.action_server_host, 0, runtime=rt)
    return InProcessClient(
        Project.from_config(settings).model_path,
        action_server=actions,
        vault=vault,
        callers=callers,
    )
