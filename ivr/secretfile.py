"""Secrets the bot is given (tokens, keys, the PIN pepper): kept in owner-only files, not in YAML.

The configuration only names the file (``*_file`` settings), so ``ivr config`` and the YAML
never show a secret. A secret file that group or others can read is refused at start-up: a
token anyone on the machine can read proves nothing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ivr.config import ConfigError
from storage.private import OWNER_ONLY_FILE, private_dir


def read_secret(path: str | Path, setting: str) -> str:
    """The stripped text of an owner-only secret file; a ConfigError naming ``setting`` else."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{setting}: secret file {str(file)!r} does not exist") from None
    if mode & 0o077:
        raise ConfigError(
            f"{setting}: {str(file)!r} can be read by other users; run chmod 600 on it"
        )
    value = file.read_text(encoding="utf-8").strip()
    if not value:
        raise ConfigError(f"{setting}: secret file {str(file)!r} is empty")
    return value


def write_secret(path: str | Path, value: str) -> Path:
    """Create ``path`` (and missing parent folders) owner-only and write ``value`` to it."""
    file = Path(path)
    private_dir(file.parent)
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY_FILE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    os.chmod(file, OWNER_ONLY_FILE)
    return file


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)
