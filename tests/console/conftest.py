"""The console against a real records database in tmp_path, served by the real HTTP app, with a
clock the tests move; users are made through the same store ``ivr users`` uses; the designers'
draft made from a copy of the design (never the repository's own files)."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from ivr.config import load_config
from ivr.console import browser
from ivr.console.app import Console
from ivr.console.browser import token_in
from ivr.console.flow_store import FlowStore
from ivr.console.nlu_project import NluProject
from ivr.console.schema import open_console_db
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.http import build_app
from ivr.metrics import Metrics
from ivr.records import CallRecordStore
from ivr.versions.draft import Draft
from ivr.versions.store import VersionStore
from ivr.versions.workspace import DRAFT_DIR, Workspace
from tests.versions.conftest import trained_copy

PASSWORD = "correct horse battery staple"
START = 1_765_000_000.0
"""The tests' clock starts here (2025-12-06 05:46:40 UTC)."""
TRAINED_AT = START - 5 * 3600.0
"""The draft's model was trained here: calls after it are new."""


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def copy_workspace(root: Path) -> Workspace:
    """The draft and versions under ``root``, made from a copy of the repository's design
    (``trained_copy``) whose model was trained at ``TRAINED_AT``: the workspace as the console's
    server makes it."""
    project = trained_copy(root / "project")
    saved = json.loads(project.fingerprint_path.read_text())
    project.fingerprint_path.write_text(json.dumps({**saved, "trained_at": TRAINED_AT}))
    store = VersionStore(root / "design")
    workspace = Workspace(store, Draft(store.root / DRAFT_DIR, store, project))
    workspace.draft.ensure(author="test")
    return workspace


def draft_nlu(workspace: Workspace) -> NluProject:
    """The draft as the inbox and the wording page read it (``CallTools.nlu``)."""
    design = workspace.draft.project()
    return NluProject(design.root, design, FlowStore(design.root))


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return copy_workspace(tmp_path / "design")


@pytest.fixture
def project(workspace: Workspace) -> NluProject:
    """The draft as the console reads it for the NLU inbox and the wording page."""
    return draft_nlu(workspace)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def records_url(tmp_path: Path) -> str:
    """A records database with the calls and turns tables, as the server opens it."""
    url = f"sqlite:///{tmp_path}/calls.db"
    CallRecordStore(url).close()
    return url


@pytest.fixture
def users(records_url: str, clock: Clock):
    db = open_console_db(records_url)
    yield UserStore(db, clock)
    db.close()


def add_users(users: UserStore, *roles: str) -> None:
    """One user per role, named after it."""
    for role in roles:
        users.add(role, role, PASSWORD, "cli:test")


ConsoleFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client(records_url: str, clock: Clock) -> AsyncIterator[ConsoleFactory]:
    """A test client of the bot's HTTP app with the console mounted, its settings given as
    ``key=value`` overrides of the console section; over TLS with a server context; with the
    call page's ``tools`` when given."""
    opened: list[tuple[Console, TestClient]] = []

    async def make(
        *settings: str, tls: ssl.SSLContext | None = None, tools: CallTools | None = None
    ) -> TestClient:
        config = load_config(overrides=[f"console.{s}" for s in settings], environ={})
        console = Console(config.console, records_url, clock, tools)
        await console.start()
        server = TestServer(
            build_app(Metrics(), lambda: {}, [console.add_routes]), host="127.0.0.1"
        )
        await server.start_server(ssl=tls)  # TestClient would start it without TLS
        client = TestClient(server)
        await client.start_server()
        opened.append((console, client))
        return client

    yield make
    for console, client in opened:
        await client.close()
        await console.stop()


@pytest.fixture
async def client(make_client: ConsoleFactory) -> TestClient:
    return await make_client()


async def log_in(
    client: TestClient, name: str, password: str = PASSWORD, target: str = ""
) -> ClientResponse:
    """Log in as a browser does (``ivr.console.browser``), with the tests' password."""
    return await browser.log_in(client, name, password, target)


def plant(client: TestClient, name: str, value: str) -> None:
    """Put a console cookie in the client's jar, as if the server (or an attacker) had set it."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    cookie[name]["path"] = "/console"
    client.session.cookie_jar.update_cookies(cookie, client.make_url("/console/"))


async def post_form(client: TestClient, page: str, action: str, **fields: str) -> ClientResponse:
    """Post a form of ``page`` with the session's CSRF token, as a browser does."""
    token = token_in(await (await client.get(page)).text())
    return await client.post(action, data={"csrf_token": token, **fields}, allow_redirects=False)
