"""The keys that seal call recordings: a keyring of key-encryption keys (KEKs), each with an id.

A recording is sealed with a fresh data key, and that data key is stored wrapped by the newest
KEK, whose id is written in the recording's header (``ivr.sealed``). Rotating adds a newer KEK:
new recordings use it, older ones still open with the KEK their header names, and nothing is
re-encrypted. Retiring a KEK (deleting its line) makes the recordings it sealed unreadable,
which is also how they are destroyed before ``call.retention_days`` if ever needed.

The key file (``call.recording_key_file``) is owner-only text, one KEK a line, oldest first:
``<id> <base64 of 32 random bytes>``. It is written by ``ivr recordings keygen`` and
``ivr recordings rotate`` and read through ``ivr.secretfile`` (a file others can read is refused).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ivr.config import CallConfig, ConfigError
from ivr.logs import get_logger
from ivr.secretfile import read_secret, write_secret
from logfields import fields

log = get_logger(__name__)

KEY_BYTES = 32
"""AES-256."""
SETTING = "call.recording_key_file"


@dataclass(frozen=True)
class Keyring:
    """KEKs by id, oldest first; the last one seals new recordings."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def newest_id(self) -> str:
        return self.keys[-1][0]

    def kek(self, key_id: str) -> bytes | None:
        """The KEK with ``key_id``, or None when this keyring does not hold it (retired)."""
        return next((key for name, key in self.keys if name == key_id), None)

    def with_new_key(self) -> Keyring:
        """This keyring plus a fresh KEK, which becomes the newest."""
        key_id = _new_key_id()
        while self.kek(key_id) is not None:
            key_id = _new_key_id()
        return Keyring((*self.keys, (key_id, secrets.token_bytes(KEY_BYTES))))

    def dump(self) -> str:
        return "\n".join(f"{name} {base64.b64encode(key).decode()}" for name, key in self.keys)

    @classmethod
    def parse(cls, text: str, where: str) -> Keyring:
        """Read the key file's text; a ConfigError naming ``where`` for anything malformed."""
        keys: list[tuple[str, bytes]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            try:
                key = base64.b64decode(parts[1], validate=True) if len(parts) == 2 else b""
            except binascii.Error:
                key = b""
            if len(key) != KEY_BYTES or not _valid_id(parts[0]):
                raise ConfigError(
                    f"{where}: line {number} is not '<key id> <base64 of {KEY_BYTES} bytes>'"
                )
            if any(name == parts[0] for name, _ in keys):
                raise ConfigError(f"{where}: key id {parts[0]!r} appears twice")
            keys.append((parts[0], key))
        if not keys:
            raise ConfigError(f"{where}: holds no key")
        return cls(tuple(keys))


def read_keyring(path: str | Path, setting: str = SETTING) -> Keyring:
    """The keyring in an owner-only key file; a ConfigError naming ``setting`` else."""
    return Keyring.parse(read_secret(path, setting), f"{setting} ({path})")


def create_key_file(path: str | Path) -> Keyring:
    """Write a new key file holding one fresh KEK; an existing file is never overwritten."""
    if Path(path).exists():
        raise ConfigError(f"{path} already exists: `ivr recordings rotate` adds a key to it")
    keyring = Keyring(()).with_new_key()
    write_secret(path, keyring.dump())
    return keyring


def rotate_key_file(path: str | Path) -> Keyring:
    """Add a fresh KEK to an existing key file; the older keys stay for older recordings."""
    keyring = read_keyring(path).with_new_key()
    write_secret(path, keyring.dump())
    return keyring


def recording_keyring(call: CallConfig) -> Keyring | None:
    """The keyring recordings are sealed with, or None (recording off) when none is configured.

    Recording without a key is off rather than refused: the recording is a review aid, and the
    hotline must still answer on a fresh checkout (``make run``); what never happens is a plain
    recording. The start-up log says so and names the setting.
    """
    if not call.recordings_dir:
        return None
    if not call.recording_key_file:
        log.warning(
            "recording.off",
            extra=fields(
                reason=f"{SETTING} is not set: recordings are only ever written encrypted",
                advice=f"run `ivr recordings keygen` and set {SETTING}",
            ),
        )
        return None
    keyring = read_keyring(call.recording_key_file)
    log.info("recording.on", extra=fields(key_id=keyring.newest_id, keys=len(keyring.keys)))
    return keyring


def _new_key_id() -> str:
    return f"k{time.strftime('%Y%m%d%H%M%S', time.gmtime())}{secrets.token_hex(2)}"


def _valid_id(key_id: str) -> bool:
    return 0 < len(key_id) <= 64 and key_id.isascii() and key_id.isalnum()
