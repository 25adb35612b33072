"""The demo bank's core data: repository over SQLite or PostgreSQL, schema, seed, security."""

from __future__ import annotations

from pathlib import Path

from dialogue.bank.guards import GuardPolicy
from dialogue.bank.redaction import mask_free_text
from dialogue.bank.repository import (
    Account,
    BankError,
    BankRepository,
    Card,
    Customer,
    InsufficientFunds,
    InvalidTransfer,
    Transaction,
    TransferLimitExceeded,
    TransferReceipt,
    VerificationRefused,
)

__all__ = [
    "Account",
    "BankError",
    "BankRepository",
    "Card",
    "Customer",
    "GuardPolicy",
    "InsufficientFunds",
    "InvalidTransfer",
    "Transaction",
    "TransferLimitExceeded",
    "TransferReceipt",
    "VerificationRefused",
    "mask_free_text",
    "open_repository",
]


def open_repository(
    url: str,
    seed_file: str | Path | None = None,
    *,
    reset: bool = False,
    pepper: bytes | None = None,
    policy: GuardPolicy | None = None,
) -> BankRepository:
    """Open the bank database, creating the schema and loading the seed when it is empty.

    With the ``pepper``, PIN hashes still unpeppered (the seed's, an older database's) are
    peppered at once, so the database never keeps a hash that could be attacked offline.
    """
    from dialogue.bank.seed import seed

    repository = BankRepository(url, pepper, policy)
    if reset:
        repository.drop_schema()
    repository.create_schema()
    if seed_file is not None and repository.is_empty():
        seed(repository, seed_file)
    if pepper is not None:
        repository.pepper_pin_hashes()
    return repository
