"""Where the requests we send inside a dialog go (BYE, REFER, INFO): never where a peer says.

A caller's Contact (and Record-Route) may name any host and port it likes. Sending our BYE,
REFER and their retransmissions there would make the bot a reflector aiming traffic at third
parties, so the destination is fixed by the network, not by the message:

- with an outbound proxy configured (``outbound_proxy``, a trunk or SBC), to that proxy, over
  the dialog's transport (its TCP connection is reused while open if the proxy is its peer);
- else back where the dialog's signalling came from: the INVITE's source address and port over
  UDP (the same path as our responses, RFC 3581 symmetric signalling), or the INVITE's TCP
  connection while it is open. If that connection has closed, a new one goes to the same host
  (a TCP handshake proved it is there) at the port the dialog's next hop names.

Contact and Record-Route still shape the request itself (Request-URI, Route headers), so a
proxy on the path routes it on as usual (RFC 3261 section 12.2.1.1).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from telephony.sip.message import Params, SipUri

if TYPE_CHECKING:  # run-time imports would pull asyncio into ``ivr.config``'s checks
    from telephony.sip.dialog import Dialog
    from telephony.sip.transport import Source

DEFAULT_PORT = 5060
"""Port of a SIP URI that names none (RFC 3261 section 19.1.2)."""


def parse_outbound_proxy(text: str) -> SipUri:
    """``host`` or ``host:port`` (an IPv6 host in brackets); ValueError if it is neither."""
    uri = SipUri.parse(f"sip:{text.strip()}")
    if uri.user is not None or uri.params or uri.headers:
        raise ValueError(f"outbound proxy {text!r} is not a plain host:port")
    return uri


def in_dialog_hop(
    source: Source, dialog: Dialog, outbound_proxy: SipUri | None
) -> tuple[SipUri, Source]:
    """The URI to send an in-dialog request to, and the source whose TCP connection may carry it.

    ``source`` is where the dialog's INVITE came from. Raises ValueError only if a TCP dialog
    whose connection has closed has an unparsable next hop.
    """
    transport: Params = [("transport", source.transport.lower())]
    if outbound_proxy is not None:
        if source.address[0] != outbound_proxy.host_address:
            source = dataclasses.replace(source, connection=None)  # not the proxy's connection
        return SipUri(outbound_proxy.host, port=outbound_proxy.port, params=transport), source
    host, port = source.address
    if source.transport == "TCP" and (source.connection is None or source.connection.closed):
        port = dialog.next_hop().port or DEFAULT_PORT
    return SipUri(f"[{host}]" if ":" in host else host, port=port, params=transport), source
