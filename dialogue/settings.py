"""The dialogue layer's settings: where the assistant lives and the demo bank's rules.

The dialogue client, the actions' runtime and the bank read these dataclasses and nothing else
of the configuration; the application's configuration (``ivr/config.py``) composes them as
its ``dialogue`` and ``bank`` sections, loads them from the one YAML file and validates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class DialogueConfig:
    """Where the Rasa assistant lives and how the call layer reaches it."""

    mode: Literal["inprocess", "http"] = "inprocess"
    """inprocess: load the model in this process (lowest latency); http: a remote Rasa server."""
    server_urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:5005"])
    """mode=http: the Rasa servers. Several share one tracker store and one lock store, so
    any of them can take any turn: turns are spread over them, and a turn one fails is
    retried on the next (the same message, which a server that already took it answers
    from its tracker instead of taking it twice)."""
    server_retry_s: float = 10.0
    """mode=http: how long a server that failed a turn is passed over before it is tried
    again (first, that is: when every server has failed, each is still tried)."""
    routes_url: str = ""
    """mode=http with several bot nodes: the Redis (``redis://host:port/db``) where each node
    notes the conversations it holds, so that a Rasa server's action call reaches the node
    whose PIN vault has the caller's token (through ``ivr action-router``). Empty: one node,
    and Rasa calls its action server directly."""
    routes_password_file: str = ""
    """Owner-only file with the password of the Redis at ``routes_url`` (empty: none)."""
    route_ttl_s: float = 14400.0
    """How long a conversation's route outlives its last turn if its node never forgets it
    (a node that died mid-call): the registry stays bounded."""
    project_dir: str = "."
    """Root holding dialogue/ (domain, config, endpoints) and data/ (training data)."""
    model_dir: str = "models"
    action_server_host: str = "127.0.0.1"
    action_server_port: int = 5055
    request_timeout_s: float = 10.0
    model_name: str = "dialogue"
    """Fixed model file name: ``<model_dir>/<model_name>.tar.gz``, kept current by ``ivr train``."""
    knowledge_dir: str = "data/knowledge"
    """FAQ knowledge files (hours, branches, rates, fees), relative to project_dir."""
    secret_ttl_s: float = 120.0
    """Lifetime of a one-time PIN token in the in-memory vault."""
    action_token_file: str = ""
    """mode=http: owner-only file with the secret the remote Rasa sends our action server
    (``Authorization: Bearer``; its endpoints.yml reads it from $IVR_ACTION_TOKEN).
    In-process mode ignores it: a fresh secret is made per process."""
    rasa_token_file: str = ""
    """mode=http: owner-only file with the remote server's ``rasa run --auth-token`` token."""


@dataclass
class BankConfig:
    """The demo bank's core database."""

    database: str = "sqlite:///var/bank.db"
    """sqlite:///path or postgresql://user@host/db (the same schema on both)."""
    seed_file: str = "data/bank/seed.yml"
    """Demo data loaded into an empty database, relative to dialogue.project_dir."""
    transfer_limit_cents: int = 250000
    """Most money a caller may move between their accounts in one call (cents)."""
    max_pin_attempts: int = 3
    """Wrong account-number/PIN pairs before self-service is locked for the call."""
    max_pin_failures: int = 5
    """Consecutive PIN failures for one customer, across calls, that lock self-service."""
    lockout_window_h: float = 24.0
    """PIN failures older than this many hours (from the first) are forgotten."""
    lockout_minutes: int = 0
    """How long a PIN lockout lasts; 0 (default): until `ivr bank unlock`. Any timed expiry
    hands a patient guesser max_pin_failures more tries per period (1440 min: a sixth of
    all 4-digit PINs a year), so by default an agent verifies the caller and unlocks."""
    max_verifications_per_hour: int = 10
    """PIN and card verification attempts one caller identity may make per hour."""
    pin_pepper_file: str = "var/bank-pepper"
    """Owner-only file with the secret PIN pepper (kept apart from the database). At this
    default path it is made on first start, so the demo works out of the box; a different
    path must exist (a missing mounted secret must not quietly become a new pepper)."""
