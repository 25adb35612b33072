"""What the custom actions run against: the bank, the knowledge base, the vault, the callers.

Each action server the application starts serves its own runtime: it binds it to every request
it handles (:func:`bind`), so two dialogue clients in one process (a QA run beside the bot, the
bench's engine variants) never see each other's bank or vault. Tests may install one for the
whole process (:func:`configure`); a stand-alone action server builds it lazily from
``ivr.config`` (``IVR_*`` environment variables and ``ivr.yaml`` apply as usual).
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


def from_config(config: object | None = None, pepper: bytes | None = None) -> Runtime:
    """Build a runtime from the application's configuration (``ivr.config.Config``).

    ``pepper`` is the PIN pepper the application read (``ivr.pepper``); without it (the
    stand-alone action server, where PIN entry cannot work anyway) nobody is verified.
    """
    from ivr.config import Config, load_config

    cfg = config if isinstance(config, Config) else load_config()
    root = Path(cfg.dialogue.project_dir)
    seed_file = root / cfg.bank.seed_file
    policy = GuardPolicy(
        max_pin_failures=cfg.bank.max_pin_failures,
        lockout_window_h=cfg.bank.lockout_window_h,
        lockout_minutes=cfg.bank.lockout_minutes,
        max_verifications_per_hour=cfg.bank.max_verifications_per_hour,
    )
    return Runtime(
        repository=open_repository(cfg.bank.database, seed_file, pepper=pepper, policy=policy),
        knowledge=KnowledgeBase(root / cfg.dialogue.knowledge_dir),
        vault=default_vault,
        transfer_limit_cents=cfg.bank.transfer_limit_cents,
        max_pin_attempts=cfg.bank.max_pin_attempts,
    )


def get() -> Runtime:
    """The runtime bound to this request, else the configured one (built on first use)."""
    bound = _bound.get()
    if bound is not None:
        return bound
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = from_config()
        return _runtime
