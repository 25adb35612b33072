"""What the console's handlers share: its stores and settings on the app, the session on the
request (put there by ``auth`` once the request has proved it)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from aiohttp import web

from dialogue.training import Project
from ivr.config import Config, ConsoleConfig
from ivr.console.analytics import AnalyticsQueries
from ivr.console.audit import AuditLog
from ivr.console.draft_tests import DraftTestDesk, DraftTester
from ivr.console.flow_store import FlowStore
from ivr.console.inbox import InboxQueries
from ivr.console.inbox_labels import LabelStore
from ivr.console.nlu_project import NluProject
from ivr.console.prompt_preview import PromptVoice
from ivr.console.qa_scripts import QaScripts
from ivr.console.queries import CallQueries
from ivr.console.recordings import RecordingShelf
from ivr.console.replays import ReplayDesk, Replayer
from ivr.console.sessions import Session, SessionStore
from ivr.console.talk_desk import TalkDesk
from ivr.console.throttle import LoginThrottle
from ivr.console.users import UserStore
from ivr.logs import get_logger
from ivr.services import Services
from ivr.versions.store import VersionError
from ivr.versions.workspace import Workspace
from logfields import fields
from telephony.websocket.server import WebSocketMediaServer

log = get_logger(__name__)

SESSION = "ivr.console.session"
"""The request key of the caller's live session."""


@dataclass(frozen=True)
class CallTools:
    """What the call page offers beyond the records, each None where the server has none:
    recordings (a folder and its keys), replays (the bot's engines), the QA scripts folder and
    the assistant's project for the NLU inbox."""

    recordings: RecordingShelf | None = None
    replays: ReplayDesk | None = None
    scripts: QaScripts | None = None
    no_input_s: float = 6.0
    """The no-input timer (``vad.no_input_ms``): how long a saved script waits out a silence."""
    nlu: NluProject | None = None
    """The assistant's project, for the NLU inbox (its ``data/nlu`` is where labels go)."""
    talk: TalkDesk | None = None
    """Calls and chats with the bot from the talk page (none: the page says it is off)."""
    flows: FlowStore | None = None
    """The assistant's flows read from its project files, for the Flows and Prompts pages."""
    prompt_voice: PromptVoice | None = None
    """The bot's voice over the phone line, for the Prompts page's players."""
    workspace: Workspace | None = None
    """The designers' draft and the published versions (none: design pages are read-only)."""
    draft_tests: DraftTestDesk | None = None
    """Tests of the draft on the bot's engines (none: the Versions page cannot test)."""

    @classmethod
    def of_server(
        cls,
        services: Services,
        replayer: Replayer | None,
        media: WebSocketMediaServer | None = None,
        tester: DraftTester | None = None,
    ) -> CallTools:
        """The tools of a running bot: its recordings and keys, replays on its engines (when
        ``replayer`` is given), its QA scripts folder, the talk page on its assistant and
        media streams, and tests of the draft (when ``tester`` is given)."""
        config = services.config
        workspace = design_workspace(config)
        design = workspace.draft.project() if workspace else Project.from_config(config.dialogue)
        flows = FlowStore(design.root, code=Path(config.dialogue.project_dir))
        return cls(
            recordings=RecordingShelf(Path(config.call.recordings_dir), services.recording_keys),
            replays=None if replayer is None else ReplayDesk(services, replayer),
            scripts=QaScripts(
                Path(config.qa.scripts_dir),
                Path(config.dialogue.project_dir) / "dialogue" / "domain.yml",
            ),
            no_input_s=config.vad.no_input_ms / 1000,
            nlu=NluProject(design.root, design, flows),
            talk=TalkDesk.of_server(services, media),
            flows=flows,
            prompt_voice=PromptVoice(services.tts),
            workspace=workspace,
            draft_tests=(
                None
                if tester is None or workspace is None
                else DraftTestDesk(workspace.draft, functools.partial(tester, services))
            ),
        )


def design_workspace(config: Config) -> Workspace | None:
    """The draft and versions, the draft made if there is none; None (logged) when it cannot be
    made, e.g. the project's model is missing: the design pages then read the project."""
    workspace = Workspace.of_config(config)
    try:
        workspace.draft.ensure()
    except (OSError, VersionError) as exc:
        log.warning("console.design.no_draft", extra=fields(error=str(exc)))
        return None
    return workspace


@dataclass(frozen=True)
class ConsoleState:
    """The stores (blocking: handlers call them with ``asyncio.to_thread``) and settings."""

    config: ConsoleConfig
    users: UserStore
    sessions: SessionStore
    audit: AuditLog
    calls: CallQueries
    analytics: AnalyticsQueries
    inbox: InboxQueries
    labels: LabelStore
    throttle: LoginThrottle
    password_checks: asyncio.Semaphore
    """scrypt runs (32 MiB each) at once: log-ins and password changes wait their turn."""
    clock: Callable[[], float]
    tools: CallTools = field(default_factory=CallTools)

    def today(self) -> date:
        """The current UTC day by the console's clock (the dashboard's default period ends it)."""
        return datetime.fromtimestamp(self.clock(), timezone.utc).date()

    def secure_cookie(self, request: web.Request) -> bool:
        return self.config.secure_cookie or request.secure


STATE = web.AppKey("ivr.console.state", ConsoleState)


def state_of(request: web.Request) -> ConsoleState:
    return request.app[STATE]


def session_of(request: web.Request) -> Session:
    """The live session of a request ``auth`` let through to a page for logged-in users."""
    session = request.get(SESSION)
    if not isinstance(session, Session):
        raise RuntimeError(f"{request.path} is served without a session check")
    return session
