"""Peppered, salted PIN hashes (scrypt + HMAC) and reference numbers for what we do for callers.

A PIN hash is ``scrypt-hmac$n$r$p$salt_hex$mac_hex``: ``mac = HMAC-SHA256(pepper,
scrypt(PIN, salt))``. The pepper is a secret kept outside the database (``bank.pin_pepper_file``),
so a copy of the database alone does not let anyone test PIN guesses offline: 10,000 four-digit
PINs are nothing for scrypt alone once the salt is known.

The pepper is applied over the scrypt output rather than to the PIN before it. That is as
strong (without the pepper no guess can be checked) and it lets an unpeppered hash
(``scrypt$n$r$p$salt_hex$hash_hex``, the format of the shared seed file and of databases made
before the pepper) be peppered in place by :func:`pepper_hash`, without knowing the PIN. Only
peppered hashes verify.

scrypt cost: n=2**14, r=8, p=1 needs 128 * r * n = 16 MiB and tens of milliseconds of one core
(README, Guessing PINs and card details): it makes each offline guess cost memory and time, yet
a check per call is cheap and parallel calls cannot exhaust memory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "scrypt"
"""Unpeppered: the seed file's format (``ivr bank hash-pin``), peppered on loading."""
PEPPERED_SCHEME = "scrypt-hmac"
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32
_SALT_BYTES = 16

REFERENCE_PREFIXES = {
    "card_block": "B",
    "transfer": "T",
    "complaint": "C",
}


def hash_pin(pin: str, pepper: bytes | None = None) -> str:
    """Hash a PIN with a fresh random salt; peppered when ``pepper`` is given."""
    if not pin.isdigit():
        raise ValueError("a PIN must be digits only")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    unpeppered = f"{SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"
    return unpeppered if pepper is None else pepper_hash(unpeppered, pepper)


def is_peppered(stored: str) -> bool:
    return stored.startswith(PEPPERED_SCHEME + "$")


def pepper_hash(stored: str, pepper: bytes) -> str:
    """An unpeppered hash turned into the peppered one for the same PIN (peppered: unchanged)."""
    if is_peppered(stored):
        return stored
    scheme, n, r, p, salt_hex, hash_hex = _parts(stored)
    if scheme != SCHEME:
        raise ValueError(f"unsupported PIN hash scheme {scheme!r}")
    mac = _mac(pepper, bytes.fromhex(hash_hex))
    return f"{PEPPERED_SCHEME}${n}${r}${p}${salt_hex}${mac.hex()}"


def verify_pin(pin: str, stored: str, pepper: bytes) -> bool:
    """True when ``pin`` matches the peppered hash ``stored``; constant-time comparison."""
    scheme, n, r, p, salt_hex, mac_hex = _parts(stored)
    if scheme != PEPPERED_SCHEME:
        raise ValueError(f"PIN hash scheme {scheme!r} is not peppered (open the bank with it)")
    expected = bytes.fromhex(mac_hex)
    digest = hashlib.scrypt(
        pin.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=_DKLEN
    )
    return hmac.compare_digest(_mac(pepper, digest), expected)


def subject_key(pepper: bytes, kind: str, value: str) -> str:
    """An opaque key for an account, customer or caller in the guard table (HMAC, hex).

    Keyed with the pepper: an 8-digit account number or a phone number hashed without a
    secret could be recovered by trying them all.
    """
    return hmac.new(pepper, f"guard\0{kind}\0{value}".encode(), hashlib.sha256).hexdigest()


def _mac(pepper: bytes, digest: bytes) -> bytes:
    return hmac.new(pepper, digest, hashlib.sha256).digest()


def _parts(stored: str) -> list[str]:
    parts = stored.split("$")
    if len(parts) != 6:
        raise ValueError("stored PIN hash is not in the scheme$n$r$p$salt$hash format")
    return parts


# A hash of a PIN nobody has under a throw-away pepper, checked when no real check may run
# (unknown account number, locked account) so that the time taken reveals nothing.
_DUMMY_PEPPER = secrets.token_bytes(32)
_DUMMY_HASH = hash_pin("0000", _DUMMY_PEPPER)


def burn_verification_time(pin: str) -> None:
    """Spend the same time as a real check."""
    verify_pin(pin, _DUMMY_HASH, _DUMMY_PEPPER)


def new_reference(kind: str) -> str:
    """A reference a caller can write down: one letter and six digits, e.g. ``B482917``."""
    prefix = REFERENCE_PREFIXES[kind]
    return prefix + "".join(secrets.choice("0123456789") for _ in range(6))


def spoken_reference(reference: str) -> str:
    """``B482917`` -> ``B, 4 8 2, 9 1 7``: grouped so text-to-speech reads it slowly."""
    head, digits = reference[0], reference[1:]
    groups = [" ".join(digits[i : i + 3]) for i in range(0, len(digits), 3)]
    return ", ".join([head, *groups])
