"""Console passwords: salted scrypt hashes that carry their parameters, checked in constant time.

A hash is ``scrypt$n$r$p$salt_hex$hash_hex``, the format of the unpeppered PIN hashes
(``dialogue.bank.security``). Each hash keeps its own parameters, so the cost can be raised
later and older hashes still verify. There is no pepper: a pepper is what keeps 4-digit PINs
out of reach of a leaked database; a staff password has at least ``MIN_LENGTH`` characters, and
``ivr users`` then needs no secret file to manage users.

Cost n=2**15, r=8, p=1: 32 MiB and about a tenth of a second of one core per check, twice a
PIN's. Checks run off the event loop, a few at a time (``auth``), so log-ins cannot exhaust
memory; a stored hash whose parameters are out of bounds is refused rather than run.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
MIN_LENGTH = 12
MAX_LENGTH = 1024
"""Longer passwords are refused: scrypt would take them, but nobody types more."""
_N, _R, _P = 2**15, 8, 1
_DKLEN = 32
_SALT_BYTES = 16
_MAX_MEMORY = 2**26
_MAX_P = 4
"""Bounds on a stored hash's cost (64 MiB, p up to 4): a damaged or planted row must not make a
log-in take a gigabyte or a minute."""


def check_password(password: str, name: str) -> None:
    """ValueError with a sentence for the user unless ``password`` may be set for ``name``."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    if password.casefold() == name.casefold():
        raise ValueError("a password must not be the user name")


def hash_password(password: str) -> str:
    """A new hash of ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"{SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; constant-time comparison. ValueError when the
    stored hash is not one this module makes."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("stored password hash is not in the scrypt$n$r$p$salt$hash format")
    n, r, p = (int(value) for value in parts[1:4])
    if not (
        n > 1 and n & (n - 1) == 0 and r >= 1 and 128 * r * n <= _MAX_MEMORY and 1 <= p <= _MAX_P
    ):
        raise ValueError("stored password hash has scrypt parameters out of bounds")
    expected = bytes.fromhex(parts[5])
    return hmac.compare_digest(_scrypt(password, bytes.fromhex(parts[4]), n, r, p), expected)


def burn_check_time(password: str) -> None:
    """Spend the time of a real check: a log-in for a name nobody has takes as long."""
    verify_password(password, _dummy_hash())


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=_DKLEN,
        maxmem=128 * r * (n + p + 2) + 2**20,
    )
