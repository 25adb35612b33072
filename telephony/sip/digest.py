"""SIP digest authentication (RFC 3261 section 22, RFC 2617, RFC 8760): challenge and verify.

``DigestChallenge`` (WWW-Authenticate) and ``DigestCredentials`` (Authorization) parse and
serialise their header values, ValueError on malformed ones, like ``telephony.sip.message``.
``DigestAuthenticator`` is the server's side for one configured user: it issues nonces bound
to this server (HMAC over the issue time with a key made at start-up, so no nonce table is
kept and a restart invalidates old nonces), expires them, refuses a replayed nonce count, and
says whether a request's credentials are good, missing, stale or wrong. Only ``qop=auth`` is
accepted: without qop (RFC 2069) there is no client nonce and no count to stop replays.
MD5 is what SIP trunks speak; SHA-256 (RFC 8760) is offered first for those that can.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telephony.sip.message import is_token, split_header_values

ALGORITHMS: dict[str, Callable[..., Any]] = {
    "SHA-256": hashlib.sha256,
    "MD5": hashlib.md5,
}
"""Digest algorithms we accept, in the order we offer them (RFC 8760 section 2.4)."""
QOP_AUTH = "auth"
NONCE_LIFETIME_S = 300.0
"""How long a nonce stays fresh; a later use is answered ``stale=TRUE`` (RFC 2617 3.2.1)."""
MAX_TRACKED_NONCES = 10_000
"""Nonce counts remembered for replay checks; the oldest are forgotten beyond this."""
_NONCE_MAC_BYTES = 16


def _parse_params(value: str, scheme: str) -> dict[str, str]:
    """``Digest a="x", b=y`` as a dict of lower-case names to unquoted values."""
    text = value.strip()
    word, _, rest = text.partition(" ")
    if word.lower() != scheme.lower():
        raise ValueError(f"authentication scheme {word!r} is not {scheme}")
    params: dict[str, str] = {}
    for item in split_header_values(rest):
        if not item:
            continue
        name, sep, raw = item.partition("=")
        name = name.strip().lower()
        raw = raw.strip()
        if not sep or not is_token(name) or not raw:
            raise ValueError(f"digest parameter {item!r} is not name=value")
        if raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                raise ValueError(f"digest parameter {name!r} has an unterminated quoted value")
            raw = _unquote(raw[1:-1])
        elif not is_token(raw):
            raise ValueError(f"digest parameter {name!r} has an invalid value {raw!r}")
        if name in params:
            raise ValueError(f"digest parameter {name!r} appears twice")
        params[name] = raw
    return params


def _unquote(text: str) -> str:
    out = []
    escaped = False
    for char in text:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _require(params: dict[str, str], *names: str) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"digest header lacks {', '.join(missing)}")


@dataclass(frozen=True)
class DigestChallenge:
    """A ``WWW-Authenticate: Digest ...`` value (RFC 2617 section 3.2.1)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: str = QOP_AUTH
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        params = _parse_params(value, "Digest")
        _require(params, "realm", "nonce")
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=params.get("algorithm", "MD5").upper(),
            qop=params.get("qop", ""),
            stale=params.get("stale", "").lower() == "true",
        )

    def __str__(self) -> str:
        parts = [
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"algorithm={self.algorithm}",
        ]
        if self.qop:
            parts.append(f"qop={_quote(self.qop)}")
        if self.stale:
            parts.append("stale=TRUE")
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True)
class DigestCredentials:
    """An ``Authorization: Digest ...`` value (RFC 2617 section 3.2.2)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str = QOP_AUTH
    nc: str = "00000001"
    cnonce: str = ""

    @classmethod
    def parse(cls, value: str) -> DigestCredentials:
        params = _parse_params(value, "Digest")
        _require(params, "username", "realm", "nonce", "uri", "response")
        nc = params.get("nc", "")
        if nc and (len(nc) != 8 or any(c not in "0123456789abcdefABCDEF" for c in nc)):
            raise ValueError(f"nonce count {nc!r} is not 8 hex digits")
        return cls(
            username=params["username"],
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=params["response"].lower(),
            algorithm=params.get("algorithm", "MD5").upper(),
            qop=params.get("qop", ""),
            nc=nc,
            cnonce=params.get("cnonce", ""),
        )

    def __str__(self) -> str:
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.qop:
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={_quote(self.cnonce)}"]
        return "Digest " + ", ".join(parts)


def digest_response(credentials: DigestCredentials, password: str, method: str) -> str:
    """The response value the credentials must carry (RFC 2617 3.2.2.1, RFC 8760 section 3).

    ValueError for an algorithm we do not know.
    """
    hash_function = ALGORITHMS.get(credentials.algorithm)
    if hash_function is None:
        raise ValueError(f"digest algorithm {credentials.algorithm!r} is not supported")

    def h(text: str) -> str:
        return str(hash_function(text.encode("utf-8")).hexdigest())

    ha1 = h(f"{credentials.username}:{credentials.realm}:{password}")
    ha2 = h(f"{method}:{credentials.uri}")
    if credentials.qop:
        c = credentials
        return h(f"{ha1}:{c.nonce}:{c.nc}:{c.cnonce}:{c.qop}:{ha2}")
    return h(f"{ha1}:{credentials.nonce}:{ha2}")


def answer_challenge(
    challenge: DigestChallenge,
    username: str,
    password: str,
    method: str,
    uri: str,
    *,
    cnonce: str | None = None,
    nc: int = 1,
) -> DigestCredentials:
    """The client's credentials for a challenge (what a trunk or a test caller sends back)."""
    unsigned = DigestCredentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response="",
        algorithm=challenge.algorithm,
        qop=QOP_AUTH if challenge.qop else "",
        nc=f"{nc:08x}",
        cnonce=cnonce or os.urandom(8).hex(),
    )
    return DigestCredentials(
        **{**unsigned.__dict__, "response": digest_response(unsigned, password, method)}
    )


class Verdict(enum.Enum):
    """What to do with a request after checking its credentials (RFC 3261 section 22.1)."""

    ACCEPTED = "accepted"
    MISSING = "missing"
    """No credentials for our realm: challenge (401)."""
    STALE = "stale"
    """Right password, but an expired, foreign or replayed nonce: challenge with stale=TRUE."""
    REJECTED = "rejected"
    """Wrong user, password or digest URI, or malformed credentials: refuse (403)."""


@dataclass(frozen=True)
class DigestCheck:
    verdict: Verdict
    reason: str
    """Why, for the log; never contains the password or the response."""


class DigestAuthenticator:
    """Challenges and verifies requests for one user and password in one realm."""

    def __init__(
        self,
        username: str,
        password: str,
        realm: str,
        *,
        nonce_lifetime_s: float = NONCE_LIFETIME_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not username or not password or not realm:
            raise ValueError("digest authentication needs a user, a password and a realm")
        self.username = username
        self._password = password
        self.realm = realm
        self.nonce_lifetime_s = nonce_lifetime_s
        self._clock = clock
        self._key = os.urandom(32)
        self._counts: dict[str, int] = {}
        """Highest nonce count seen per nonce (insertion order is issue order)."""

    def challenges(self, stale: bool = False) -> list[DigestChallenge]:
        """One challenge per algorithm, preferred first, sharing a fresh nonce."""
        nonce = self._new_nonce()
        return [DigestChallenge(self.realm, nonce, name, QOP_AUTH, stale) for name in ALGORITHMS]

    def check(self, method: str, request_uri: str, authorizations: Sequence[str]) -> DigestCheck:
        """Judge the request's ``Authorization`` header values."""
        credentials = None
        for value in authorizations:
            try:
                parsed = DigestCredentials.parse(value)
            except ValueError as exc:
                return DigestCheck(Verdict.REJECTED, f"malformed Authorization: {exc}")
            if parsed.realm == self.realm:
                credentials = parsed
                break
        if credentials is None:
            return DigestCheck(Verdict.MISSING, "no credentials for this realm")
        if credentials.algorithm not in ALGORITHMS:
            return DigestCheck(Verdict.REJECTED, f"algorithm {credentials.algorithm} refused")
        if credentials.qop != QOP_AUTH or not credentials.cnonce or not credentials.nc:
            return DigestCheck(Verdict.REJECTED, "qop=auth with cnonce and nc is required")
        expected = digest_response(
            DigestCredentials(**{**credentials.__dict__, "username": self.username}),
            self._password,
            method,
        )
        right_user = hmac.compare_digest(credentials.username.encode(), self.username.encode())
        right_response = hmac.compare_digest(credentials.response.encode(), expected.encode())
        if not (right_user and right_response):
            return DigestCheck(Verdict.REJECTED, "wrong user or password")
        if credentials.uri != request_uri:
            return DigestCheck(Verdict.REJECTED, "digest uri differs from the Request-URI")
        freshness = self._nonce_state(credentials.nonce)
        if freshness:
            return DigestCheck(Verdict.STALE, freshness)
        count = int(credentials.nc, 16)
        if count <= self._counts.get(credentials.nonce, 0):
            return DigestCheck(Verdict.STALE, "nonce count replayed")
        self._remember(credentials.nonce, count)
        return DigestCheck(Verdict.ACCEPTED, "credentials verified")

    def _new_nonce(self) -> str:
        issued = struct.pack(">d", self._clock())
        return base64.urlsafe_b64encode(issued + self._mac(issued)).decode("ascii")

    def _mac(self, issued: bytes) -> bytes:
        message = issued + self.realm.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_NONCE_MAC_BYTES]

    def _nonce_state(self, nonce: str) -> str:
        """'' for a fresh nonce we issued, else why it is not acceptable."""
        try:
            raw = base64.urlsafe_b64decode(nonce.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return "nonce not issued by this server"
        if len(raw) != 8 + _NONCE_MAC_BYTES:
            return "nonce not issued by this server"
        issued, mac = raw[:8], raw[8:]
        if not hmac.compare_digest(mac, self._mac(issued)):
            return "nonce not issued by this server"
        age = self._clock() - struct.unpack(">d", issued)[0]
        if not 0 <= age <= self.nonce_lifetime_s:
            return "nonce expired"
        return ""

    def _remember(self, nonce: str, count: int) -> None:
        self._counts.pop(nonce, None)
        self._counts[nonce] = count
        while len(self._counts) > MAX_TRACKED_NONCES:
            del self._counts[next(iter(self._counts))]
