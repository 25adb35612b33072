"""What the custom actions run against: the bank, the knowledge base, the vault, the callers.

Each action server the application starts serves its own runtime: it binds it to every request
it handles (:func:`bind`), so two dialogue clients in one process (a QA run beside the bot, the
bench's engine variants) never see each other's bank or vault. Tests may install one for the
whole process (:func:`configure`). The application builds each runtime from the dialogue and bank
settings it passes in (:func:`from_config`); nothing here reads the configuration file.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from dialogue.bank import BankRepository, GuardPolicy, open_repository
from dialogue.callers import CallerRegistry, default_callers
from dialogue.knowledge import KnowledgeBase
from dialogue.secrets import SecretVault, default_vault
from dialogue.settings import BankConfig, DialogueConfig


@dataclass
class Runtime:
    repository: BankRepository
    knowledge: KnowledgeBase
    vault: SecretVault
    transfer_limit_cents: int = 250_000
    max_pin_attempts: int = 3
    callers: CallerRegistry = field(default_factory=lambda: default_callers)
    """Who is on each conversation (filled by the dialogue client, never from a tracker)."""


_lock = threading.Lock()
_runtime: Runtime | None = None
_bound: ContextVar[Runtime | None] = ContextVar("actions_runtime", default=None)


def bind(runtime: Runtime) -> None:
    """Use ``runtime`` for the rest of the current request (its task and the threads it starts)."""
    _bound.set(runtime)


def configure(runtime: Runtime | None) -> None:
    """Install (or with ``None``, forget) the runtime the actions use."""
    global _runtime
    with _lock:
        _runtime = runtime


def from_config(dialogue: DialogueConfig, bank: BankConfig, pepper: bytes | None = None) -> Runtime:
    """Build a runtime from the dialogue and bank settings.

    ``pepper`` is the PIN pepper the application read (``ivr.pepper``); without it (the
    stand-alone action server, where PIN entry cannot work anyway) nobody is verified.
    """
    root = Path(dialogue.project_dir)
    seed_file = root / bank.seed_file
    policy = GuardPolicy(
        max_pin_failures=bank.max_pin_failures,
        lockout_window_h=bank.lockout_window_h,
        lockout_minutes=bank.lockout_minutes,
        max_verifications_per_hour=bank.max_verifications_per_hour,
    )
    return Runtime(
        repository=open_repository(bank.database, seed_file, pepper=pepper, policy=policy),
        knowledge=KnowledgeBase(root / dialogue.knowledge_dir),
        vault=default_vault,
        transfer_limit_cents=bank.transfer_limit_cents,
        max_pin_attempts=bank.max_pin_attempts,
    )


def get() -> Runtime:
    """The runtime bound to this request, else the configured one."""
    bound = _bound.get()
    if bound is not None:
        return bound
    with _lock:
        if _runtime is None:
            raise RuntimeError(
                "no actions runtime: the action server binds one, or configure() installs one"
            )
        return _runtime
