"""The dialog state a UAS keeps for one call (RFC 3261 section 12), and its in-dialog requests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from telephony.sip.message import NameAddress, SipRequest, SipUri

MAX_FORWARDS = 70
"""Max-Forwards of requests we originate (RFC 3261 section 8.1.1.6)."""


@dataclass
class Dialog:
    """Dialog state built from an INVITE we answered (RFC 3261 section 12.1.1)."""

    call_id: str
    local_tag: str
    remote_tag: str
    local: NameAddress
    """Our address: the INVITE's To, with our tag (the From of requests we send)."""
    remote: NameAddress
    """The caller: the INVITE's From, with their tag (the To of requests we send)."""
    remote_target: str
    """The caller's Contact URI, where in-dialog requests go (target refresh updates it)."""
    route_set: list[str] = field(default_factory=list)
    """Record-Route values of the INVITE, in order (section 12.1.1)."""
    local_cseq: int = field(default_factory=lambda: random.randint(1, 10000))
    remote_cseq: int = 0

    @classmethod
    def from_invite(cls, invite: SipRequest, local_tag: str) -> Dialog:
        """Raises ValueError if the INVITE lacks what a dialog needs (From tag, Contact)."""
        remote = invite.from_
        contact = invite.contact
        if contact is None or contact.uri == "*":
            raise ValueError("INVITE has no Contact to send in-dialog requests to")
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag or "",
            local=invite.to.with_tag(local_tag),
            remote=remote,
            remote_target=contact.uri,
            route_set=invite.values("Record-Route"),
            remote_cseq=invite.cseq[0],
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """(Call-ID, local tag, remote tag): the dialog ID (section 12)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    def _loose(self) -> bool:
        if not self.route_set:
            return True
        try:
            first = NameAddress.parse(self.route_set[0])
            return SipUri.parse(first.uri).param("lr") is not None
        except ValueError:
            return True

    def next_hop(self) -> SipUri:
        """Where to send in-dialog requests: the first route, else the remote target."""
        if self.route_set:
            return SipUri.parse(NameAddress.parse(self.route_set[0]).uri)
        return SipUri.parse(self.remote_target)

    def new_request(
        self,
        method: str,
        via: str,
        *,
        contact: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> SipRequest:
        """A request within the dialog (section 12.2.1.1), with the next local CSeq."""
        self.local_cseq += 1
        routes = list(self.route_set)
        uri = self.remote_target
        if routes and not self._loose():
            # Strict routing: the first route becomes the Request-URI, the target goes last.
            uri = NameAddress.parse(routes.pop(0)).uri
            routes.append(f"<{self.remote_target}>")
        out: list[tuple[str, str]] = [
            ("Via", via),
            ("Max-Forwards", str(MAX_FORWARDS)),
            ("From", str(self.local)),
            ("To", str(self.remote)),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.local_cseq} {method}"),
        ]
        out.extend(("Route", r) for r in routes)
        if contact is not None:
            out.append(("Contact", contact))
        out.extend(headers or [])
        return SipRequest(method, uri, out, body)
