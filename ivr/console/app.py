"""The console as a whole: its stores on the records database, its routes, its own listener.

``Console.add_routes`` puts the console under ``/console`` on an application the way the
transports add theirs (``ivr.http.RouteSource``), each handler behind ``auth.protect``; with
``console.port`` set, ``start`` serves it on a listener of its own instead. (Not as an aiohttp
sub-application: with the pinned aiohttp 3.9 and yarl 1.25, resolving one builds
``request.url``, which fails for a Host header with a port.) A housekeeping task ends expired
sessions and deletes audit rows older than ``console.audit_retention_days``, at start and daily,
as the server does for call records.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from aiohttp import web
from aiohttp.typedefs import Handler

from ivr.config import ConsoleConfig
from ivr.console import (
    admin,
    dashboard,
    facts_page,
    flows_page,
    inbox_page,
    listen,
    login,
    pages,
    prompt_forms,
    prompts_page,
    replay_page,
    script_page,
    talk,
    talk_chat,
    versions_page,
    wording_page,
)
from ivr.console.analytics import AnalyticsQueries
from ivr.console.audit import AuditLog
from ivr.console.auth import MAX_FORM_BYTES, protect
from ivr.console.cookies import PATH
from ivr.console.inbox import InboxQueries
from ivr.console.inbox_labels import LabelStore
from ivr.console.layout import message
from ivr.console.prompt_upload import MAX_UPLOAD_BYTES
from ivr.console.queries import CallQueries
from ivr.console.roles import (
    ADMINS,
    ANALYSTS,
    CALL_READERS,
    DESIGN_EDITORS,
    DESIGN_READERS,
    EVERYONE,
    INBOX_READERS,
    LABELLERS,
    QA_TOOLS,
    RECORDING_LISTENERS,
    SNIPPET_LISTENERS,
    TALKERS,
    VERSION_READERS,
)
from ivr.console.schema import open_console_db
from ivr.console.sessions import SessionPolicy, SessionStore
from ivr.console.state import STATE, CallTools, ConsoleState
from ivr.console.throttle import LoginThrottle
from ivr.console.users import UserStore
from ivr.http import bound_port
from ivr.logs import get_logger
from ivr.retention import DAY_S
from logfields import fields
from storage.db import Database

log = get_logger(__name__)

HOUSEKEEPING_EVERY_S = float(DAY_S)
PASSWORD_CHECKS_AT_ONCE = 2


@dataclass(frozen=True)
class Route:
    """One console route (under ``/console``) and the roles that may use it (None: anyone)."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[str] | None
    max_form_bytes: int = MAX_FORM_BYTES
    """The largest form a POST may send (only a form that lists many facts needs more)."""
    upload: int = 0
    """The largest file its POST takes (``ivr.console.uploads``); 0: a URL-encoded form."""


STATIC = {
    "console.css": "text/css",
    "icon.svg": "image/svg+xml",
    "player.js": "text/javascript",
    "prompts.js": "text/javascript",
    "talk.js": "text/javascript",
    "talk-worklet.js": "text/javascript",
    "versions.js": "text/javascript",
}
"""The files in ``static/`` and their types: nothing else is served from there."""


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(
        text=_static_text(name),
        content_type=STATIC[name],
        charset="utf-8",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@functools.cache
def _static_text(name: str) -> str:
    return (resources.files("ivr.console") / "static" / name).read_text("utf-8")


async def _not_found(request: web.Request) -> web.StreamResponse:
    return message(request, "Not found", "There is no such console page.", 404)


CALL = "/calls/{call_id:[A-Za-z0-9_-]+}"
"""A call's path; the pattern is the first check of the id (``params.call_id`` the second)."""
INBOX_TURN = "/inbox/{call_id:[A-Za-z0-9_-]+}/{turn:[0-9]+}"
"""An NLU inbox item's path: a call and one of its turns."""
WORDING_INTENT = "/wording/{intent:[A-Za-z0-9_]+}"
"""An intent's page of the Caller wording page."""
VARIATION = "/prompts/{response:utter_[A-Za-z0-9_]{1,100}}/{n:[0-9]{1,3}}"
"""A response's variation on the Prompts page."""
PROMPT_WAV = f"{VARIATION}.wav"
"""A response's variation as a caller hears it."""
FACT_GROUP = "/facts/{group:[a-z]{1,20}}"
"""One group of FAQ facts (a knowledge file)."""

ROUTES = (
    Route("GET", "/login", login.login_form, None),
    Route("POST", "/login", login.log_in, None),
    Route("GET", "/static/{name}", _static, None),
    Route("POST", "/logout", login.log_out, EVERYONE),
    Route("GET", "/", pages.home, EVERYONE),
    Route("GET", "/calls", pages.calls, CALL_READERS),
    Route("GET", "/calls.json", pages.calls, CALL_READERS),
    Route("GET", "/calls/{call_id:[A-Za-z0-9_-]+}", pages.call, CALL_READERS),
    Route("GET", "/calls/{call_id:[A-Za-z0-9_-]+}.json", pages.call, CALL_READERS),
    Route("GET", "/analytics", dashboard.analytics, ANALYSTS),
    Route("GET", "/analytics.csv", dashboard.analytics_csv, ANALYSTS),
    Route("GET", f"{CALL}/recording.wav", listen.recording_wav, RECORDING_LISTENERS),
    Route("POST", f"{CALL}/replay", replay_page.start_replay, QA_TOOLS),
    Route("POST", f"{CALL}/script", script_page.preview, QA_TOOLS),
    Route("POST", f"{CALL}/script/save", script_page.save, QA_TOOLS),
    Route("GET", "/inbox", inbox_page.inbox, INBOX_READERS),
    Route("GET", f"{INBOX_TURN}/snippet.wav", inbox_page.snippet, SNIPPET_LISTENERS),
    Route("POST", f"{INBOX_TURN}/label", inbox_page.label, LABELLERS),
    Route("POST", f"{INBOX_TURN}/dismiss", inbox_page.dismiss, LABELLERS),
    Route("GET", "/flows", flows_page.flows, DESIGN_READERS),
    Route("GET", "/flows/{flow:[A-Za-z0-9_]+}.svg", flows_page.flow_svg, DESIGN_READERS),
    Route("GET", "/prompts", prompts_page.prompts, DESIGN_READERS),
    Route("GET", PROMPT_WAV, prompts_page.prompt_wav, DESIGN_READERS),
    Route("GET", "/facts", facts_page.facts, DESIGN_READERS),
    Route("GET", FACT_GROUP, facts_page.group_page, DESIGN_READERS),
    Route("POST", FACT_GROUP, facts_page.save_group, DESIGN_EDITORS, facts_page.MAX_FORM_BYTES),
    Route("POST", "/prompts/hear.wav", prompt_forms.hear, DESIGN_EDITORS),
    Route("POST", VARIATION, prompt_forms.save, DESIGN_EDITORS),
    Route("GET", f"{VARIATION}/recording.wav", prompt_forms.recording_wav, DESIGN_READERS),
    Route(
        "POST",
        f"{VARIATION}/recording",
        prompt_forms.upload,
        DESIGN_EDITORS,
        upload=MAX_UPLOAD_BYTES,
    ),
    Route("POST", f"{VARIATION}/recording/remove", prompt_forms.remove, DESIGN_EDITORS),
    Route("GET", "/wording", wording_page.wording, DESIGN_READERS),
    Route("GET", WORDING_INTENT, wording_page.intent_page, DESIGN_READERS),
    Route("POST", f"{WORDING_INTENT}/add", wording_page.add, DESIGN_EDITORS),
    Route("POST", f"{WORDING_INTENT}/edit", wording_page.edit, DESIGN_EDITORS),
    Route("POST", f"{WORDING_INTENT}/move", wording_page.move, DESIGN_EDITORS),
    Route("POST", f"{WORDING_INTENT}/delete", wording_page.delete, DESIGN_EDITORS),
    Route("GET", "/versions", versions_page.versions, VERSION_READERS),
    Route("GET", "/versions/test.json", versions_page.test_progress, VERSION_READERS),
    Route("POST", "/versions/test", versions_page.start_test, DESIGN_EDITORS),
    Route("POST", "/versions/publish", versions_page.publish, DESIGN_EDITORS),
    Route("POST", "/versions/rollback", versions_page.rollback, DESIGN_EDITORS),
    Route("POST", "/versions/discard", versions_page.discard, DESIGN_EDITORS),
    Route("GET", "/talk", talk.talk_page, TALKERS),
    Route("POST", "/talk/ticket", talk.ticket, TALKERS),
    Route("GET", "/talk/media", talk.media, TALKERS),
    Route("GET", "/talk/call.json", talk.call_feed, TALKERS),
    Route("POST", "/talk/text", talk_chat.send_text, TALKERS),
    Route("POST", "/talk/text/end", talk_chat.end_text, TALKERS),
    Route("GET", "/audit", pages.audit_log, ADMINS),
    Route("GET", "/users", admin.users, ADMINS),
    Route("POST", "/users", admin.add_user, ADMINS),
    Route("POST", "/users/disable", admin.disable_user, ADMINS),
    Route("GET", "/{anything:.*}", _not_found, None),
)
"""Every console route and who may use it; the last one answers any other console page."""


class Console:
    """The console of one server: stores, routes, housekeeping and an optional own listener."""

    def __init__(
        self,
        config: ConsoleConfig,
        records_db: str,
        clock: Callable[[], float] = time.time,
        tools: CallTools | None = None,
    ) -> None:
        self.config = config
        self.records_db = records_db
        self.clock = clock
        self.tools = tools or CallTools()
        """Recordings, replays and the QA scripts folder for call pages (none: records only)."""
        self.port = 0
        """The own listener's port once started (0: served on another application)."""
        self._db: Database | None = None
        self._state: ConsoleState | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Open the database (creating the console's tables), start housekeeping, and listen
        on ``console.host:console.port`` when a port is configured."""
        self._db = await asyncio.to_thread(open_console_db, self.records_db)
        self._state = self._make_state(self._db)
        self._housekeeping = asyncio.create_task(
            self._housekeep_daily(), name="console-housekeeping"
        )
        if self.config.port is None:
            return
        app = web.Application()
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = bound_port(site) or self.config.port
        log.info("console.listening", extra=fields(host=self.config.host, port=self.port))

    def add_routes(self, app: web.Application) -> None:
        """Mount the console under ``/console`` on ``app`` (``ivr.http.RouteSource``)."""
        app[STATE] = self._require_state()
        for route in ROUTES:
            app.router.add_route(
                route.method,
                PATH + route.path,
                protect(route.handler, route.roles, route.max_form_bytes, route.upload),
            )

        async def to_home(_: web.Request) -> web.StreamResponse:
            raise web.HTTPMovedPermanently(f"{PATH}/")

        app.router.add_get(PATH, to_home)

    def housekeep(self) -> None:
        """End expired sessions and delete audit rows past retention (blocking)."""
        state = self._require_state()
        sessions = state.sessions.purge_expired()
        days = self.config.audit_retention_days
        audit_rows = state.audit.delete_before(self.clock() - days * DAY_S) if days > 0 else 0
        if sessions or audit_rows:
            log.info(
                "console.housekeeping",
                extra=fields(sessions_ended=sessions, audit_rows_deleted=audit_rows),
            )

    async def stop(self) -> None:
        if self.tools.replays is not None:
            await self.tools.replays.close()
        if self.tools.talk is not None:
            await self.tools.talk.close()
        if self.tools.draft_tests is not None:
            await self.tools.draft_tests.close()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        if self._runner is not None:
            await self._runner.cleanup()
        if self._db is not None:
            await asyncio.to_thread(self._db.close)

    async def _housekeep_daily(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.housekeep)
            except Exception:
                log.exception("console.housekeeping_failed")
            await asyncio.sleep(HOUSEKEEPING_EVERY_S)

    def _make_state(self, db: Database) -> ConsoleState:
        config, clock = self.config, self.clock
        policy = SessionPolicy(config.idle_timeout_min * 60, config.absolute_timeout_h * 3600)
        return ConsoleState(
            config=config,
            users=UserStore(db, clock),
            sessions=SessionStore(db, policy, clock),
            audit=AuditLog(db, clock),
            calls=CallQueries(db),
            analytics=AnalyticsQueries(db, clock),
            inbox=InboxQueries(db),
            labels=LabelStore(db, clock),
            throttle=LoginThrottle(
                config.max_failures_per_name,
                config.max_failures_per_address,
                config.failure_window_min * 60,
                clock,
            ),
            password_checks=asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE),
            clock=clock,
            tools=self.tools,
        )

    def _require_state(self) -> ConsoleState:
        if self._state is None:
            raise RuntimeError("the console is not started")
        return self._state
