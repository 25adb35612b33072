"""The demo bank's core data: repository over SQLite or PostgreSQL, schema, seed, security."""

from __future__ import annotations

from pathlib import Path

from dialogue.bank.masking import last4, mask_free_text, mask_number, spoken_last4
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
)

__all__ = [
    "Account",
    "BankError",
    "BankRepository",
    "Card",
    "Customer",
    "InsufficientFunds",
    "InvalidTransfer",
    "Transaction",
    "TransferLimitExceeded",
    "TransferReceipt",
    "last4",
    "mask_free_text",
    "mask_number",
    "open_repository",
    "spoken_last4",
]


def open_repository(
    url: str, seed_file: str | Path | None = None, *, reset: bool = False
) -> BankRepository:
    """Open the bank database, creating the schema and loading the seed when it is empty."""
    from dialogue.bank.seed import seed

    repository = BankRepository(url)
    if reset:
        repository.drop_schema()
    repository.create_schema()
    if seed_file is not None and repository.is_empty():
        seed(repository, seed_file)
    return repository
