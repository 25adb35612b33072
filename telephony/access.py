"""Who may come in: source-address allow-lists and shared-secret checks for every way in.

Pure functions and a small value class, no I/O: the transports ask ``AllowList.allows`` with a
peer's address before they allocate anything for it, and compare presented secrets with
``same_secret`` (constant time, so the comparison leaks nothing about how much matched).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks from a comma-separated list (or an iterable of them); ValueError if one is bad.

    A bare address is a one-host block. Host bits set under the mask (``10.0.0.1/8``) are an
    error rather than silently widened: such a typo usually means a different block was meant.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    networks = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an address or CIDR block ({exc})") from None
    return tuple(networks)


@dataclass(frozen=True)
class AllowList:
    """The source addresses a transport accepts; an empty list accepts every address."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> AllowList:
        return cls(parse_networks(text))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def allows(self, host: str) -> bool:
        """Whether ``host`` (an IP literal, as sockets report peers) is inside the list."""
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # an IPv4 peer on a dual-stack socket
        return any(address in network for network in self.networks)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback literals: a bind nobody off this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_secret(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def bearer_token(authorization: str | None, query_token: str | None = None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, else of a ``token`` query parameter.

    The query form exists for peers that cannot set headers (Asterisk's ``CURL()``, WebSocket
    client URIs); it ends up in access logs of proxies, so the header is preferred.
    """
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return query_token or None
