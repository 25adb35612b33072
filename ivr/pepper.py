"""The PIN pepper: read from ``bank.pin_pepper_file``, made on first start at the default path.

The pepper keys the PIN hashes and the guard table (:mod:`dialogue.bank.security`); kept out
of the database, a stolen database alone cannot be searched for PINs. At the default path the
file is created owner-only the first time, so a fresh checkout works without set-up. A path
the operator chose must already exist: a missing mounted secret silently replaced by a new
pepper would make every stored PIN fail to verify.

Back the file up with the database: without it no PIN verifies (callers reach agents).
"""

from __future__ import annotations

from pathlib import Path

from dialogue.settings import BankConfig
from ivr.config import Config
from ivr.logs import get_logger
from ivr.secretfile import new_token, read_secret, write_secret
from logfields import fields

log = get_logger(__name__)
SETTING = "bank.pin_pepper_file"


def bank_pepper(config: Config) -> bytes:
    """The pepper's bytes; creates the file when the default path has none yet."""
    path = Path(config.bank.pin_pepper_file)
    if not path.exists() and config.bank.pin_pepper_file == BankConfig.pin_pepper_file:
        write_secret(path, new_token())
        log.warning("bank.pepper.created", extra=fields(path=str(path)))
    return read_secret(path, SETTING).encode()
