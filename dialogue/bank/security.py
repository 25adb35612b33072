"""Salted PIN hashes (scrypt) and reference numbers for what we do on the caller's behalf."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# scrypt cost: n=2**14, r=8, p=1 takes ~40 ms and 16 MiB on a laptop core; enough to make
# guessing a 4-digit PIN offline cost something, cheap enough for a login per call.
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32
_SALT_BYTES = 16

REFERENCE_PREFIXES = {
    "card_block": "B",
    "transfer": "T",
    "complaint": "C",
}


def hash_pin(pin: str) -> str:
    """Hash a PIN with a fresh random salt: ``scrypt$n$r$p$salt_hex$hash_hex``."""
    if not pin.isdigit():
        raise ValueError("a PIN must be digits only")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    return f"{SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches the stored hash; constant-time comparison."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
    except ValueError as exc:
        raise ValueError("stored PIN hash is not in the scrypt$n$r$p$salt$hash format") from exc
    if scheme != SCHEME:
        raise ValueError(f"unsupported PIN hash scheme {scheme!r}")
    expected = bytes.fromhex(hash_hex)
    digest = hashlib.scrypt(
        pin.encode(),
        salt=bytes.fromhex(salt_hex),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(digest, expected)


# A hash of a PIN nobody has, checked when an account number is unknown so that the time
# taken does not reveal whether the account exists.
_DUMMY_HASH = hash_pin("0000")


def burn_verification_time(pin: str) -> None:
    """Spend the same time as a real check (for unknown account numbers)."""
    verify_pin(pin, _DUMMY_HASH)


def new_reference(kind: str) -> str:
    """A reference a caller can write down: one letter and six digits, e.g. ``B482917``."""
    prefix = REFERENCE_PREFIXES[kind]
    return prefix + "".join(secrets.choice("0123456789") for _ in range(6))


def spoken_reference(reference: str) -> str:
    """``B482917`` -> ``B, 4 8 2, 9 1 7``: grouped so text-to-speech reads it slowly."""
    head, digits = reference[0], reference[1:]
    groups = [" ".join(digits[i : i + 3]) for i in range(0, len(digits), 3)]
    return ", ".join([head, *groups])
