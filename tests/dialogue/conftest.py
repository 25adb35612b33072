"""Fixtures for the dialogue tests: a real bank database, the runtime, the trained model.

The model is trained once (only if stale) at the fixed path ``models/dialogue.tar.gz`` and
loaded once per session into an in-process client; tests get a freshly seeded database
and their own conversation ids, so they do not see each other's money moves.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from dialogue.actions import runtime as actions_runtime
from dialogue.bank import BankRepository, open_repository
from dialogue.knowledge import KnowledgeBase
from dialogue.secrets import SecretVault
from ivr.logs import route_structlog
from tests.postgres import PostgresCluster
from tests.redis import redis_server  # noqa: F401  (a fixture: pytest finds it by its name)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "bank" / "seed.yml"
KNOWLEDGE = ROOT / "data" / "knowledge"

# Demo customers from data/bank/seed.yml (PINs documented in dialogue/README.md).
ALICE = {"account": "31415926", "pin": "2468", "zip": "94107", "debit": "4821", "credit": "9003"}
BOB = {"account": "55501234", "pin": "8024", "zip": "10001", "debit": "7710"}
CARMEN = {"account": "60029911", "pin": "3591", "zip": "60614", "debit": "6642"}
DEV = {"account": "70459900", "pin": "7306", "zip": "73301", "debit": "2207"}
PEPPER = b"test-pepper-kept-outside-the-database"
"""The PIN pepper the test banks are opened with (the application reads bank.pin_pepper_file)."""


def reseed(repository: BankRepository) -> None:
    """Drop and reload the demo bank in place (the same repository object stays valid)."""
    from dialogue.bank.seed import seed

    repository.drop_schema()
    repository.create_schema()
    seed(repository, SEED)
    repository.pepper_pin_hashes()


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[BankRepository]:
    """A freshly seeded SQLite bank in a temporary file."""
    repository = open_repository(f"sqlite:///{tmp_path / 'bank.db'}", SEED, pepper=PEPPER)
    yield repository
    repository.close()


@pytest.fixture
def runtime(bank: BankRepository) -> Iterator[actions_runtime.Runtime]:
    """The actions' runtime over the temporary bank, with its own vault."""
    rt = actions_runtime.Runtime(bank, KnowledgeBase(KNOWLEDGE), SecretVault())
    actions_runtime.configure(rt)
    yield rt
    actions_runtime.configure(None)


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model at its fixed path, trained now only if domain, config or data changed."""
    from dialogue.training import Project, train

    project = Project(root=ROOT, model_dir=ROOT / "models")
    return train(project, progress=lambda line: logging.getLogger(__name__).info(line)).model_path


@pytest.fixture(scope="session")
def session_bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankRepository]:
    repository = open_repository(
        f"sqlite:///{tmp_path_factory.mktemp('bank') / 'bank.db'}", SEED, pepper=PEPPER
    )
    yield repository
    repository.close()


@pytest.fixture(scope="session")
def session_runtime(session_bank: BankRepository) -> actions_runtime.Runtime:
    return actions_runtime.Runtime(session_bank, KnowledgeBase(KNOWLEDGE), SecretVault())


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dialogue_client(
    trained_model: Path, session_runtime: actions_runtime.Runtime
) -> AsyncIterator[object]:
    """The in-process client with its action server, loaded once for the whole session."""
    from dialogue.action_server import ActionServer
    from dialogue.client import InProcessClient

    route_structlog(logging.INFO)
    actions = ActionServer("127.0.0.1", 0, runtime=session_runtime)
    client = InProcessClient(trained_model, action_server=actions, vault=session_runtime.vault)
    await client.start()
    yield client
    await client.close()
    actions_runtime.configure(None)


@pytest.fixture
def client(dialogue_client: object, session_runtime: actions_runtime.Runtime) -> object:
    """The session client over a freshly seeded bank (and the runtime re-installed)."""
    reseed(session_runtime.repository)
    actions_runtime.configure(session_runtime)
    return dialogue_client


@pytest.fixture
def conversation() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster (skipped where PostgreSQL is not installed)."""
    cluster = PostgresCluster()
    try:
        yield cluster.url
    finally:
        cluster.remove()
