"""The running bot follows the published version without dropping or changing a call.

:class:`VersionedDialogue` is the dialogue client the call layer sees. It holds one real client
(an in-process assistant with its own action server, vault and knowledge) per version in use.
A call is bound to the version that was published when it began and finishes on it; the next
call begins on whatever is published then. It watches ``published.json`` (written atomically by
:class:`ivr.versions.store.VersionStore`, from the console or ``ivr versions``, on this machine
or another that shares the folder). A newly published version is loaded and warmed up beside
the running one, then takes new calls; the old one is closed when its last call ends. Switching
costs a second assistant in memory for as long as calls remain on the old version (measured:
about 0.5 GB resident).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogue.protocol import DialogueClient
from dialogue.reply import Reply
from dialogue.settings import BankConfig, DialogueConfig
from ivr.logs import get_logger
from ivr.versions.files import KNOWLEDGE_DIR, file_stamp
from ivr.versions.store import MODEL_DIR, MODEL_NAME, PUBLISHED, Version, VersionStore
from logfields import fields

log = get_logger(__name__)

ClientFactory = Callable[[DialogueConfig, BankConfig], DialogueClient]
Prepare = Callable[[DialogueConfig], Awaitable[None]]


def design_settings(
    dialogue: DialogueConfig, bank: BankConfig, root: Path
) -> tuple[DialogueConfig, BankConfig]:
    """The settings that run the design folder ``root`` (a version's or the draft's): its
    model, domain and knowledge; the same bank, its seed file still the project's."""
    seed = Path(dialogue.project_dir) / bank.seed_file
    return (
        dataclasses.replace(
            dialogue,
            project_dir=str(root),
            model_dir=MODEL_DIR,
            model_name=MODEL_NAME,
            knowledge_dir=KNOWLEDGE_DIR,
        ),
        dataclasses.replace(bank, seed_file=str(seed.resolve())),
    )


@dataclass
class _Running:
    """One version's assistant, the settings it runs on, and the calls on it."""

    version: int | None
    settings: DialogueConfig
    client: DialogueClient
    calls: set[str] = field(default_factory=set)

    @property
    def root(self) -> Path:
        """Its design folder (a version's, or the project's before any publish)."""
        return Path(self.settings.project_dir)


class VersionedDialogue:
    """A :class:`~dialogue.protocol.DialogueClient` that runs the published version."""

    def __init__(
        self,
        dialogue: DialogueConfig,
        bank: BankConfig,
        store: VersionStore,
        factory: ClientFactory,
        *,
        watch_s: float = 1.0,
    ) -> None:
        self.settings = dialogue
        self.bank = bank
        self.store = store
        self.factory = factory
        self.watch_s = watch_s
        self.prepare: Prepare | None = None
        """Called with a new version's settings before it takes calls (the server renders its
        prompts into the cache there)."""
        self._current: _Running | None = None
        self._retired: list[_Running] = []
        self._by_call: dict[str, _Running] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._seen: tuple[int, int] | None = None

    @property
    def version(self) -> int | None:
        """The version new calls begin on (None: the project's own files, nothing published)."""
        return self._current.version if self._current else None

    @property
    def loaded(self) -> list[int | None]:
        """Every version with an assistant in memory: the current one and those still in calls."""
        return [each.version for each in self._running()]

    def settings_now(self) -> DialogueConfig:
        """The dialogue settings of the version new calls begin on."""
        if self._current is None:
            raise RuntimeError("dialogue not started")
        return self._current.settings

    async def start(self) -> None:
        self._seen = file_stamp(self.store.root / PUBLISHED)
        version = self.store.published_version()
        self._current = await self._load(version)
        self._watcher = asyncio.create_task(self._watch(), name="dialogue-version-watch")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        running = self._running()
        self._current, self._retired, self._by_call = None, [], {}
        for each in running:
            await _close(each)

    async def check(self) -> None:
        """Switch now if another version was published (the watcher does this every watch_s)."""
        stamp = file_stamp(self.store.root / PUBLISHED)
        if stamp == self._seen:
            return
        self._seen = stamp
        version = self.store.published_version()
        number = version.number if version else None
        if self._current is not None and number == self._current.version:
            return
        try:
            loaded = await self._load(version)
        except Exception as exc:
            log.error("dialogue.version.load_failed", extra=fields(version=number, error=str(exc)))
            return
        old, self._current = self._current, loaded
        log.info(
            "dialogue.version.switched",
            extra=fields(version=number, previous=old.version if old else None),
        )
        if old is not None:
            self._retired.append(old)
            await self._close_idle()

    # -- the DialogueClient protocol ----------------------------------------------------------

    async def begin(self, conversation_id: str, metadata: dict[str, Any] | None = None) -> Reply:
        running = self._by_call.get(conversation_id)
        if running is None:
            if self._current is None:
                raise RuntimeError("dialogue not started")
            running = self._current
            running.calls.add(conversation_id)
            self._by_call[conversation_id] = running
        return await running.client.begin(conversation_id, metadata)

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None
    ) -> Reply:
        return await self._client(conversation_id).send(conversation_id, text, metadata)

    async def send_digits(self, conversation_id: str, digits: str, *, secure: bool) -> Reply:
        return await self._client(conversation_id).send_digits(
            conversation_id, digits, secure=secure
        )

    async def no_input(self, conversation_id: str) -> Reply:
        return await self._client(conversation_id).no_input(conversation_id)

    def expects_secure_input(self, conversation_id: str) -> bool:
        return self._client(conversation_id).expects_secure_input(conversation_id)

    async def end(self, conversation_id: str) -> None:
        running = self._by_call.pop(conversation_id, None)
        client = running.client if running else self._client(conversation_id)
        try:
            await client.end(conversation_id)
        finally:
            if running is not None:
                running.calls.discard(conversation_id)
                await self._close_idle()

    def design_root(self, conversation_id: str) -> Path:
        """The design folder a call runs on (the one new calls get, for a call not begun yet):
        where its recorded prompts are."""
        return self._of(conversation_id).root

    # -- internals ----------------------------------------------------------------------------

    def _of(self, conversation_id: str) -> _Running:
        running = self._by_call.get(conversation_id) or self._current
        if running is None:
            raise RuntimeError("dialogue not started")
        return running

    def _client(self, conversation_id: str) -> DialogueClient:
        return self._of(conversation_id).client

    def _running(self) -> list[_Running]:
        return [*self._retired, *([self._current] if self._current else [])]

    async def _load(self, version: Version | None) -> _Running:
        dialogue, bank = (
            design_settings(self.settings, self.bank, version.path)
            if version
            else (self.settings, self.bank)
        )
        client = self.factory(dialogue, bank)
        await client.start()
        if self.prepare is not None and version is not None:
            try:
                await self.prepare(dialogue)
            except Exception as exc:  # the first callers synthesise what was not prepared
                log.warning("dialogue.version.prepare_failed", extra=fields(error=str(exc)))
        number = version.number if version else None
        log.info("dialogue.version.ready", extra=fields(version=number))
        return _Running(number, dialogue, client)

    async def _close_idle(self) -> None:
        idle = [each for each in self._retired if not each.calls]
        self._retired = [each for each in self._retired if each.calls]
        for each in idle:
            await _close(each)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_s)
            try:
                await self.check()
            except Exception as exc:  # a bad pointer file must not stop the watch
                log.error("dialogue.version.watch_failed", extra=fields(error=str(exc)))


async def _close(running: _Running) -> None:
    try:
        await running.client.close()
    except Exception:
        log.exception("dialogue.version.close_failed", extra=fields(version=running.version))
    log.info("dialogue.version.closed", extra=fields(version=running.version))
