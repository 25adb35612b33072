"""What every call shares, loaded once at start-up: engines, the assistant, the record store and
the keys recordings are encrypted with.

The record store names this node (``node_id``) in every call it starts, so that a server
restarting after a crash closes only its own stranded calls (``BotServer.start``).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dialogue.action_routes import ActionRoutes
from dialogue.client import make_client
from dialogue.protocol import DialogueClient
from ivr.config import Config
from ivr.logs import get_logger
from ivr.metrics import Metrics
from ivr.pepper import bank_pepper
from ivr.recorded_prompts import RecordedPromptShelf
from ivr.recording_keys import Keyring, recording_keyring
from ivr.records import CallRecordStore
from ivr.secretfile import read_secret
from ivr.versions.live import VersionedDialogue
from ivr.versions.store import VersionStore
from ivr.vocabulary import load_vocabulary
from logfields import fields
from speech.asr import AsrEngine, create_asr_engine
from speech.audio import Audio
from speech.blas import limit_blas_threads
from speech.tts import TtsEngine, create_tts_engine
from speech.tts.recorded import RecordedPrompts
from telephony.bridge import CALL_RATE

log = get_logger(__name__)


@dataclass
class Services:
    """Configuration, loaded engines, the assistant and the stores, shared by every call."""

    config: Config
    asr: AsrEngine
    tts: TtsEngine
    dialogue: DialogueClient
    records: CallRecordStore
    metrics: Metrics = field(default_factory=Metrics)
    recording_keys: Keyring | None = None
    """None: calls are not recorded (no ``call.recording_key_file``)."""
    recorded: RecordedPromptShelf = field(default_factory=RecordedPromptShelf)
    """The designers' recorded prompts, played instead of the voice where a message is one."""

    def recorded_prompts(self, call_id: str) -> RecordedPrompts:
        """The recorded prompts of the design ``call_id`` runs on (blocking: run it in a
        thread; a stat of the index, a read when it changed)."""
        dialogue = self.dialogue
        if isinstance(dialogue, VersionedDialogue):
            return self.recorded.of(dialogue.design_root(call_id))
        return self.recorded.of(Path(self.config.dialogue.project_dir))

    async def close(self) -> None:
        try:
            await self.dialogue.close()
        except Exception:
            log.exception("dialogue.close_failed")
        await asyncio.to_thread(self.records.close)
        self.asr.shutdown()


async def start_services(config: Config, dialogue: DialogueClient | None = None) -> Services:
    """Load and warm the engines (off the event loop), start the assistant, open the records.

    Warming up means the first caller does not pay for model loading or first-run compilation.
    ``dialogue``: an assistant already started elsewhere to share (the bench's variant host).
    """
    limit_blas_threads()
    keyring = recording_keyring(config.call)
    vocabulary = load_vocabulary(config.dialogue.project_dir) if config.asr.use_vocabulary else None
    asr = create_asr_engine(config.asr, vocabulary, serving=True)
    tts = create_tts_engine(config.tts)
    client = dialogue or dialogue_client(config)
    await asyncio.gather(
        asyncio.to_thread(_warm_up_asr, asr, CALL_RATE),
        asyncio.to_thread(tts.warm_up),
        *([] if dialogue is not None else [client.start()]),
    )
    records = await asyncio.to_thread(CallRecordStore, config.call.records_db, node_id(config))
    log.info(
        "services.ready",
        extra=fields(asr=asr.name, tts=tts.describe(), dialogue=config.dialogue.mode),
    )
    return Services(config, asr, tts, client, records, recording_keys=keyring)


def dialogue_client(config: Config) -> DialogueClient:
    """The configured dialogue client; over HTTP with the two tokens from their secret files.

    In process, it follows the published version of the design (``ivr.versions.live``) unless
    ``design.follow_published`` is off.
    """
    pepper = bank_pepper(config)
    if config.dialogue.mode != "http":
        if not config.design.follow_published:
            return make_client(config.dialogue, config.bank, pepper=pepper)
        return VersionedDialogue(
            config.dialogue,
            config.bank,
            VersionStore(Path(config.design.dir), keep=config.design.keep_versions),
            lambda dialogue, bank: make_client(dialogue, bank, pepper=pepper),
            watch_s=config.design.watch_s,
        )
    return make_client(
        config.dialogue,
        config.bank,
        pepper=pepper,
        action_token=read_secret(config.dialogue.action_token_file, "dialogue.action_token_file"),
        rasa_token=read_secret(config.dialogue.rasa_token_file, "dialogue.rasa_token_file"),
        routes=action_routes(config),
    )


def action_routes(config: Config) -> ActionRoutes | None:
    """The conversation routes' registry (``dialogue.routes_url``), with its password read from
    ``dialogue.routes_password_file``; ``None`` when no routes are configured (one node)."""
    password_file = config.dialogue.routes_password_file
    password = (
        read_secret(password_file, "dialogue.routes_password_file") if password_file else None
    )
    return ActionRoutes.from_settings(config.dialogue, password)


def node_id(config: Config) -> str:
    """This server's name in the call records: ``server.node_id``, else host name and SIP port
    (two servers on one host and database differ by port)."""
    return config.server.node_id or f"{socket.gethostname()}:{config.sip.port}"


def _warm_up_asr(asr: AsrEngine, rate: int) -> None:
    """Load the model and run it once on sound (silence is short-circuited before the model)."""
    asr.load()
    tone = (np.sin(np.arange(rate // 2) * 2 * np.pi * 440 / rate) * 8000).astype(np.int16)
    asr.transcribe(Audio(tone, rate))
