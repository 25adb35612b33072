"""Twilio request signatures (``X-Twilio-Signature``): prove a request came from our account.

Twilio signs each webhook with HMAC-SHA1 keyed by the account's auth token, over the full URL
it requested (scheme, host, path and query) followed, for form POSTs, by every parameter name
and value concatenated without separators, sorted by name (a repeated name's values sorted
too), and sends the base64 digest. A Media Streams WebSocket upgrade is signed the same way
over the ``wss://`` URL of the ``<Stream>`` with no parameters (``<Stream>`` URLs carry no query
string). Twilio's own validators accept the URL with and without the scheme's default port, as
its signing is not consistent about it; so do we. Behind a TLS-terminating proxy the URL the
server sees is not the one Twilio signed, so ``signed_url`` takes the public base URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Twilio-Signature"
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
HTTP_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signature Twilio sends for a request to ``url`` with form ``params``."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


def valid_twilio_signature(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """Whether ``signature`` is Twilio's for the request, compared in constant time."""
    if not signature:
        return False
    pairs = list(params)
    presented = signature.strip().encode("ascii", "replace")
    return any(
        hmac.compare_digest(twilio_signature(auth_token, form, pairs).encode("ascii"), presented)
        for form in _port_forms(url)
    )


def signed_url(public_url: str, scheme: str, host: str, path_qs: str, websocket: bool) -> str:
    """The URL Twilio requested: ``public_url`` (if set) or scheme and Host, plus the path.

    ``websocket`` maps the scheme to ws/wss (an upgrade request is signed with its wss URL),
    otherwise to http/https.
    """
    if public_url:
        base = urlsplit(public_url)
        scheme, host, prefix = base.scheme, base.netloc, base.path.rstrip("/")
    else:
        prefix = ""
    table = WEBSOCKET_SCHEMES if websocket else HTTP_SCHEMES
    return f"{table.get(scheme.lower(), scheme)}://{host}{prefix}{path_qs}"


def _port_forms(url: str) -> list[str]:
    """``url`` as given, without its default port, and with it."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != default:
        return [url]
    bare = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{default}"))
    return [url, bare, with_port]
