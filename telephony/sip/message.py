"""SIP messages (RFC 3261 sections 7, 20 and 25): parse and serialise requests and responses.

Pure parsing, no I/O. ``SipRequest`` and ``SipResponse`` are dataclasses with ``parse`` and
``__bytes__``; header names are stored in their canonical long form (compact forms such as
``v``/``f``/``t``/``i``/``m``/``l`` expanded, case folded), folded lines are joined, and the
Content-Length header is consumed to frame the body and written back from ``len(body)``, so
``parse(bytes(m)) == m``. ``NameAddress``, ``SipUri`` and ``Via`` parse the structured header
values a user agent server needs. ``check_request`` finds what makes a parsed request
unacceptable and the response that says so; ``StreamFramer`` cuts a TCP byte stream into
messages by Content-Length (section 18.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
"""The protocol version of RFC 3261 (section 7.1)."""
MAGIC_COOKIE = "z9hG4bK"
"""Branch prefix of RFC 3261 transaction identifiers (section 8.1.1.7)."""
MAX_MESSAGE_SIZE = 65536
"""Largest message we accept on any transport, headers and body together."""
MAX_CSEQ = 2**31 - 1
"""CSeq sequence numbers are below 2**31 (section 8.1.1.5)."""
MAX_HEADER_LINES = 256
"""Most header lines (after unfolding) a message may have; more is refused, not parsed."""
MAX_HEADER_LENGTH = 8192
"""Longest header line (after unfolding) we parse: enough for 100 Vias or a long Route set."""
MAX_LIST_VALUES = 256
"""Most comma-separated values one header line may hold (Via, Route, Contact, ...)."""

COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
"""Compact header forms (RFC 3261 section 7.3.3 and the RFCs that define the others)."""

_KNOWN_HEADERS = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "Min-SE",
    "MIME-Version",
    "Organization",
    "P-Asserted-Identity",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Replaces",
    "Reply-To",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Session-Expires",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "User-to-User",
    "Via",
    "Warning",
    "WWW-Authenticate",
]
_CANONICAL = {name.lower(): name for name in _KNOWN_HEADERS}
_CANONICAL.update({short: long for short, long in COMPACT_FORMS.items()})

KNOWN_METHODS = frozenset(
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "INFO",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "UPDATE",
        "MESSAGE",
        "REFER",
        "PUBLISH",
    ]
)
"""Methods of RFC 3261 and its extensions; anything else gets 501 (section 8.2.1)."""

SINGLE_VALUED = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Type")
"""Headers that must appear once (RFC 3261 section 7.3.1; RFC 4475 section 3.1.2.19)."""

_TOKEN_CHARS = "-.!%*_+`'~"
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_PARAM_VALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:\[\]/&$]+\Z")
"""Token characters plus those URI parameters and IPv6 addresses use (section 25.1)."""
_HOST_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+)\Z")
_VIA_PROTOCOL_RE = re.compile(r"SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+(.*)\Z", re.S)
_CONTENT_LENGTH_RE = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)$", re.I | re.M)


def is_decimal(text: str | bytes, max_digits: int = 10) -> bool:
    """True for 1 to ``max_digits`` ASCII digits (``str.isdigit`` also accepts '٣' and '²')."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def is_token(text: str) -> bool:
    """True for an RFC 3261 token (section 25.1)."""
    return bool(_TOKEN_RE.match(text))


def canonical_name(name: str) -> str:
    """The long, conventionally capitalised form of a header name (compact forms expanded)."""
    return _CANONICAL.get(name.lower(), name)


_LIST_ITEM = r'(?:"(?:[^"\\]|\\.)*"|<[^>]*>?|[^"<SEP])*'
"""One list element: quoted strings and <...> (unterminated: to the end) may hold SEP."""
_LIST_ITEM_RE = {
    sep: re.compile(f"({_LIST_ITEM.replace('SEP', sep)})({sep}|\\Z)", re.S) for sep in ",;"
}


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not inside a quoted string or <...>.

    Linear in ``len(text)``: plain text is split by ``str.split``, text with quotes or angle
    brackets by one regular expression whose alternatives start with distinct characters (so
    it cannot backtrack). Raises SipParseError for an unterminated quoted string or more than
    ``MAX_LIST_VALUES`` parts.
    """
    if '"' not in text and "<" not in text:
        parts = text.split(separator, MAX_LIST_VALUES)
    else:
        parts = []
        position = 0
        pattern = _LIST_ITEM_RE[separator]
        while len(parts) <= MAX_LIST_VALUES:
            match = pattern.match(text, position)
            if match is None:
                raise SipParseError(f"unterminated quoted string in {text[:60]!r}")
            parts.append(match.group(1))
            position = match.end()
            if not match.group(2):
                break
    if len(parts) > MAX_LIST_VALUES:
        raise SipParseError(f"more than {MAX_LIST_VALUES} values separated by {separator!r}")
    return parts


def split_header_values(value: str) -> list[str]:
    """Split a comma-separated header value list (RFC 3261 section 7.3.1), respecting quotes."""
    return [part.strip() for part in _split_outside_quotes(value, ",")]


Params = list[tuple[str, "str | None"]]


def parse_params(text: str) -> Params:
    """Parse ``;name=value;flag`` parameters (whitespace around ``;`` and ``=`` is allowed)."""
    text = text.strip()
    if not text:
        return []
    if not text.startswith(";"):
        raise SipParseError(f"expected ';' before parameters in {text!r}")
    params: Params = []
    for raw in _split_outside_quotes(text[1:], ";"):
        name, sep, value = raw.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipParseError(f"parameter name {name!r} is empty or not a token")
        if not sep:
            params.append((name, None))
            continue
        value = value.strip()
        if not value:
            raise SipParseError(f"parameter {name!r} has an empty value")
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"'):
                raise SipParseError(f"parameter {name!r} has an unterminated quoted value")
        elif not _PARAM_VALUE_RE.match(value):
            raise SipParseError(f"parameter {name!r} has an invalid value {value!r}")
        params.append((name, value))
    return params


def format_params(params: Params) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def get_param(params: Params, name: str) -> str | None:
    """Value of a parameter ('' for a flag), matched case-insensitively; None if absent."""
    lowered = name.lower()
    for key, value in params:
        if key.lower() == lowered:
            return "" if value is None else value
    return None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_uri_syntax(uri: str) -> None:
    if not uri or any(c.isspace() for c in uri) or any(c in uri for c in '<>"'):
        raise SipParseError(f"URI {uri!r} is empty or contains spaces, quotes or angle brackets")
    if not _SCHEME_RE.match(uri):
        raise SipParseError(f"URI {uri!r} has no scheme")


@dataclass
class SipUri:
    """A sip: or sips: URI (RFC 3261 section 19.1); user and values are kept escaped."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: Params = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP URI; raise SipParseError if it is not one."""
        _check_uri_syntax(text)
        scheme, _, rest = text.partition(":")
        scheme = scheme.lower()
        if scheme not in ("sip", "sips"):
            raise SipParseError(f"URI scheme {scheme!r} is not sip or sips")
        user: str | None = None
        password: str | None = None
        if "@" in rest:
            userinfo, _, rest = rest.partition("@")
            if not userinfo:
                raise SipParseError(f"URI {text!r} has an empty user part")
            user, sep, pw = userinfo.partition(":")
            password = pw if sep else None
        rest, sep, header_text = rest.partition("?")
        headers: list[tuple[str, str]] = []
        if sep:
            for item in header_text.split("&"):
                name, _, value = item.partition("=")
                if not name:
                    raise SipParseError(f"URI {text!r} has an empty header name")
                headers.append((name, value))
        hostport, _, param_text = rest.partition(";")
        params = parse_params(";" + param_text) if param_text or rest.endswith(";") else []
        if hostport.startswith("["):
            end = hostport.find("]")
            if end < 0:
                raise SipParseError(f"URI {text!r} has an unterminated IPv6 reference")
            host, port_text = hostport[: end + 1], hostport[end + 1 :]
            if port_text and not port_text.startswith(":"):
                raise SipParseError(f"URI {text!r} has junk after its IPv6 host")
            port_text = port_text[1:]
        else:
            host, _, port_text = hostport.partition(":")
        if not _HOST_RE.match(host):
            raise SipParseError(f"URI {text!r} has an invalid host {host!r}")
        port: int | None = None
        if port_text:
            if not is_decimal(port_text) or not 0 < int(port_text) < 65536:
                raise SipParseError(f"URI {text!r} has an invalid port {port_text!r}")
            port = int(port_text)
        return cls(host, user, password, port, scheme, params, headers)

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers))
        return "".join(out)

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    @property
    def transport(self) -> str:
        """The transport parameter in upper case; UDP by default for sip: (section 19.1.2)."""
        value = self.param("transport")
        if value:
            return value.upper()
        return "TLS" if self.scheme == "sips" else "UDP"

    @property
    def host_address(self) -> str:
        """The host without IPv6 brackets."""
        return self.host[1:-1] if self.host.startswith("[") else self.host


@dataclass
class NameAddress:
    """A name-addr or addr-spec with header parameters: From, To, Contact, Route, Refer-To."""

    uri: str
    display_name: str | None = None
    params: Params = field(default_factory=list)

    @classmethod
    def parse(cls, value: str) -> NameAddress:
        """Parse ``"Name" <uri>;param`` or ``uri;param``; raise SipParseError if malformed."""
        text = value.strip()
        display: str | None = None
        if text.startswith('"'):
            chars: list[str] = []
            i = 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                    if i == len(text):
                        break
                chars.append(text[i])
                i += 1
            if i >= len(text):
                raise SipParseError(f"unterminated quoted display name in {value!r}")
            display = "".join(chars)
            rest = text[i + 1 :].lstrip()
            if not rest.startswith("<"):
                raise SipParseError(f"quoted display name is not followed by <uri> in {value!r}")
        elif "<" in text:
            lt = text.index("<")
            words = text[:lt].split()
            if not all(is_token(w) for w in words):
                raise SipParseError(f"display name {text[:lt].strip()!r} must be quoted")
            display = " ".join(words) or None
            rest = text[lt:]
        else:
            uri, _, param_text = text.partition(";")
            uri = uri.strip()
            if uri != "*":
                _check_uri_syntax(uri)
            return cls(uri, None, parse_params(";" + param_text) if param_text else [])
        end = rest.find(">")
        if end < 0:
            raise SipParseError(f"'<' without '>' in {value!r}")
        uri = rest[1:end]
        _check_uri_syntax(uri)
        return cls(uri, display, parse_params(rest[end + 1 :]))

    def __str__(self) -> str:
        name = f"{_quote(self.display_name)} " if self.display_name is not None else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    @property
    def tag(self) -> str | None:
        """The tag parameter of From/To (RFC 3261 section 19.3)."""
        return self.param("tag") or None

    def with_tag(self, tag: str) -> NameAddress:
        params = [(k, v) for k, v in self.params if k.lower() != "tag"] + [("tag", tag)]
        return NameAddress(self.uri, self.display_name, params)


@dataclass
class Via:
    """One Via header value (RFC 3261 section 20.42): sent-protocol, sent-by and parameters."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=list)

    @classmethod
    def parse(cls, value: str) -> Via:
        match = _VIA_PROTOCOL_RE.match(value.strip())
        if not match:
            raise SipParseError(f"Via {value!r} does not start with SIP/2.0/<transport>")
        transport, rest = match.group(1).upper(), match.group(2)
        sent_by, _, param_text = rest.partition(";")
        if "]" not in sent_by:  # "host : port" -> "host:port", linear (no regex over spaces)
            sent_by = ":".join(part.strip() for part in sent_by.split(":"))
        if sent_by.startswith("["):
            end = sent_by.find("]")
            host, port_text = sent_by[: end + 1], sent_by[end + 1 :].strip().lstrip(":").strip()
        else:
            host, _, port_text = sent_by.partition(":")
        if not host or not _HOST_RE.match(host):
            raise SipParseError(f"Via {value!r} has an invalid sent-by host {host!r}")
        port: int | None = None
        if port_text:
            if not is_decimal(port_text) or not 0 < int(port_text) < 65536:
                raise SipParseError(f"Via {value!r} has an invalid port {port_text!r}")
            port = int(port_text)
        params = parse_params(";" + param_text) if param_text or rest.rstrip().endswith(";") else []
        return cls(transport, host, port, params)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{SIP_VERSION}/{self.transport} {self.host}{port}{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    @property
    def branch(self) -> str | None:
        return self.param("branch") or None

    @property
    def sent_by(self) -> str:
        return f"{self.host}:{self.port or 5060}".lower()

    @property
    def host_address(self) -> str:
        """The sent-by host without IPv6 brackets."""
        return self.host[1:-1] if self.host.startswith("[") else self.host


class _MessageBase:
    """Header access shared by requests and responses."""

    headers: list[tuple[str, str]]
    body: bytes

    def get(self, name: str) -> str | None:
        """Value of the first header called ``name`` (any case, compact forms accepted)."""
        wanted = canonical_name(name).lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Values of every header line called ``name``, in order (not split at commas)."""
        wanted = canonical_name(name).lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def values(self, name: str) -> list[str]:
        """All comma-separated values of a list header (Via, Route, Contact, Allow, ...)."""
        out: list[str] = []
        for line in self.get_all(name):
            out.extend(v for v in split_header_values(line) if v)
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header with one line (appended where the first one was)."""
        canonical = canonical_name(name)
        wanted = canonical.lower()
        for index, (key, _) in enumerate(self.headers):
            if key.lower() == wanted:
                self.headers[index] = (canonical, value)
                self.headers[index + 1 :] = [
                    h for h in self.headers[index + 1 :] if h[0].lower() != wanted
                ]
                return
        self.headers.append((canonical, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical_name(name), value))

    def remove(self, name: str) -> None:
        wanted = canonical_name(name).lower()
        self.headers = [h for h in self.headers if h[0].lower() != wanted]

    def _single(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise SipParseError(f"missing {name} header")
        if len(values) > 1:
            raise SipParseError(f"{name} header appears {len(values)} times")
        return values[0]

    @property
    def call_id(self) -> str:
        value = self._single("Call-ID")
        if not value or any(c.isspace() for c in value):
            raise SipParseError(f"Call-ID {value!r} is empty or contains spaces")
        return value

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) from CSeq (RFC 3261 section 20.16)."""
        value = self._single("CSeq")
        parts = value.split()
        if len(parts) != 2 or not is_decimal(parts[0]):
            raise SipParseError(f"CSeq {value!r} is not '<number> <method>'")
        number = int(parts[0])
        if number > MAX_CSEQ:
            raise SipParseError(f"CSeq number {parts[0]} is not below 2**31")
        if not is_token(parts[1]):
            raise SipParseError(f"CSeq method {parts[1]!r} is not a token")
        return number, parts[1]

    @property
    def from_(self) -> NameAddress:
        return NameAddress.parse(self._single("From"))

    @property
    def to(self) -> NameAddress:
        return NameAddress.parse(self._single("To"))

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.values("Via")]

    @property
    def top_via(self) -> Via:
        values = self.values("Via")
        if not values:
            raise SipParseError("missing Via header")
        return Via.parse(values[0])

    @property
    def contact(self) -> NameAddress | None:
        values = self.values("Contact")
        return NameAddress.parse(values[0]) if values else None

    @property
    def content_type(self) -> str:
        """The media type of the body in lower case, without parameters ('' if none)."""
        return (self.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    def _header_bytes(self) -> bytes:
        lines = []
        for name, value in self.headers:
            if name.lower() == "content-length":
                continue
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"header {name!r} contains a line break or colon in its name")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "".join(lines).encode("utf-8")


@dataclass
class SipRequest(_MessageBase):
    """A SIP request (RFC 3261 section 7.1)."""

    method: str
    uri: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    version: str = SIP_VERSION

    @classmethod
    def parse(cls, data: bytes) -> SipRequest:
        message = parse_message(data)
        if not isinstance(message, SipRequest):
            raise SipParseError("expected a SIP request, got a response")
        return message

    def __bytes__(self) -> bytes:
        if not is_token(self.method):
            raise ValueError(f"method {self.method!r} is not a token")
        start = f"{self.method} {self.uri} {self.version}\r\n".encode()
        return start + self._header_bytes() + self.body


@dataclass
class SipResponse(_MessageBase):
    """A SIP response (RFC 3261 section 7.2)."""

    status: int
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    version: str = SIP_VERSION

    @classmethod
    def parse(cls, data: bytes) -> SipResponse:
        message = parse_message(data)
        if not isinstance(message, SipResponse):
            raise SipParseError("expected a SIP response, got a request")
        return message

    def __bytes__(self) -> bytes:
        if not 100 <= self.status <= 699:
            raise ValueError(f"status code {self.status} is outside 100-699")
        start = f"{self.version} {self.status} {self.reason}\r\n".encode()
        return start + self._header_bytes() + self.body


SipMessage = SipRequest | SipResponse


class SipParseError(ValueError):
    """A message whose framing or start line is broken but whose headers could be read.

    ``partial`` holds the request as far as it parsed (without a body) so that the server can
    still answer 400 Bad Request to the sender named in its Via (RFC 4475 section 3.1.2).
    """

    def __init__(self, message: str, partial: SipRequest | None = None) -> None:
        super().__init__(message)
        self.partial = partial


def _find_header_end(
    data: bytes | bytearray, start: int = 0, end: int | None = None
) -> tuple[int, int]:
    """Index of the blank line ending the header section and the separator's length.

    ``start`` and ``end`` bound the search (no blank line is known to lie before ``start``).
    """
    end = len(data) if end is None else end
    crlf = data.find(b"\r\n\r\n", start, end)
    lf = data.find(b"\n\n", start, end)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def _unfold(lines: list[str]) -> list[str]:
    """Join folded header lines (RFC 3261 section 7.3.1) in time linear in their length."""
    out: list[list[str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not out:
                raise SipParseError("the first header line starts with whitespace")
            out[-1].append(line.strip())
        else:
            out.append([line])
    return [" ".join([parts[0].rstrip(), *parts[1:]]) if parts[1:] else parts[0] for parts in out]


def _header_limit_problem(lines: list[str]) -> str | None:
    """Why the header section is too big to parse, or None (``MAX_HEADER_*``)."""
    if len(lines) > MAX_HEADER_LINES:
        return f"more than {MAX_HEADER_LINES} header lines"
    for line in lines:
        if len(line) > MAX_HEADER_LENGTH:
            return f"header {line[:30]!r}... is longer than {MAX_HEADER_LENGTH} characters"
    return None


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """Parse one SIP message from a datagram or a framed stream message.

    Raises ``SipParseError``, with the partial request when the headers parsed but the start
    line, Content-Length or a size limit (``MAX_HEADER_LINES``, ``MAX_HEADER_LENGTH``) is
    bad, so that the server can answer 400. Cost is linear in ``len(data)``.
    Bytes after Content-Length are ignored (RFC 3261 section 18.3; RFC 4475 section 3.1.1.9).
    """
    data = data.lstrip(b"\r\n")  # section 7.5: skip CRLFs before the start line
    end, separator = _find_header_end(data)
    if end < 0:
        raise SipParseError("no empty line ends the header section (truncated message?)")
    try:
        head = data[:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"header section is not UTF-8 text ({exc.reason})") from None
    body = data[end + separator :]
    start_line, *raw_lines = head.replace("\r\n", "\n").split("\n")
    lines = _unfold(raw_lines)
    too_big = _header_limit_problem(lines)
    headers: list[tuple[str, str]] = []
    for line in lines:
        if too_big is not None and len(line) > MAX_HEADER_LENGTH:
            continue  # the headers around it may still let us answer 400
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise SipParseError(f"header line {line[:60]!r} is not '<name>: <value>'")
        if "\r" in value:
            # CR only ends a line (with LF): a bare one would be echoed into our answer.
            raise SipParseError(f"header {name[:40]!r} holds a bare carriage return")
        headers.append((canonical_name(name), value.strip(" \t")))
        if len(headers) == MAX_HEADER_LINES:
            break

    if start_line.startswith("SIP/"):
        parts = start_line.split(" ", 2)
        if len(parts) < 2 or not re.fullmatch(r"[1-6][0-9][0-9]", parts[1]):
            raise SipParseError(f"status line {start_line[:60]!r} has no valid status code")
        if not re.fullmatch(r"SIP/\d+\.\d+", parts[0]):
            raise SipParseError(f"status line {start_line[:60]!r} has an invalid version")
        message: SipRequest | SipResponse = SipResponse(
            int(parts[1]), parts[2] if len(parts) > 2 else "", headers, b"", parts[0].upper()
        )
        partial_request: SipRequest | None = None
    else:
        parts = start_line.split(" ")
        words = [p for p in parts if p]
        method = words[0] if words else ""
        if not is_token(method) or len(words) < 3 or not words[-1].upper().startswith("SIP/"):
            raise SipParseError(f"start line {start_line[:60]!r} is neither a request nor a status")
        request = SipRequest(method, " ".join(words[1:-1]), headers, b"", words[-1].upper())
        if parts != words or len(words) != 3 or not re.fullmatch(r"SIP/\d+\.\d+", words[-1]):
            # Extra or trailing spaces, or spaces inside the URI (RFC 4475 section 3.1.2.7-9)
            raise SipParseError(f"malformed Request-Line {start_line[:80]!r}", request)
        message = request
        partial_request = request
    if too_big is not None:
        raise SipParseError(too_big, partial_request)

    lengths = message.get_all("Content-Length")
    if lengths:
        values = {v.strip() for v in lengths}
        if len(values) > 1 or not is_decimal(next(iter(values))):
            raise SipParseError(f"invalid Content-Length {', '.join(lengths)!r}", partial_request)
        length = int(lengths[0])
        if length > len(body):
            raise SipParseError(
                f"Content-Length {length} exceeds the {len(body)} bytes of body received",
                partial_request,
            )
        body = body[:length]
    message.remove("Content-Length")
    message.body = bytes(body)
    return message


def check_request(request: SipRequest) -> tuple[int, str] | None:
    """The status and reason to reject a parsed request with, or None if it is acceptable.

    Covers what a UAS must check before processing (RFC 3261 section 8.2): the mandatory
    headers and their syntax (400), the protocol version (505), the Request-URI scheme (416).
    """
    if request.version != SIP_VERSION:
        return 505, "Version Not Supported"
    try:
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            if not request.get_all(name):
                raise SipParseError(f"missing {name} header")
        for name in SINGLE_VALUED:
            if len(request.get_all(name)) > 1:
                raise SipParseError(f"{name} header appears more than once")
        for via in request.values("Via"):
            Via.parse(via)
        _ = request.call_id
        request.from_  # noqa: B018 -- parsing is the check
        request.to  # noqa: B018
        _number, method = request.cseq
        if method != request.method and not (request.method == "ACK" and method == "INVITE"):
            raise SipParseError(f"CSeq method {method} does not match the request method")
        max_forwards = request.get("Max-Forwards")
        if max_forwards is not None and (not is_decimal(max_forwards) or int(max_forwards) > 255):
            raise SipParseError(f"Max-Forwards {max_forwards!r} is not a number 0-255")
        for contact in request.values("Contact"):
            NameAddress.parse(contact)
    except ValueError as exc:
        return 400, bad_request_reason(str(exc))
    scheme = request.uri.partition(":")[0].lower()
    if scheme not in ("sip", "sips", "tel"):
        if not _SCHEME_RE.match(request.uri):
            return 400, "Malformed Request-URI"
        return 416, "Unsupported URI Scheme"
    if scheme in ("sip", "sips"):
        try:
            uri = SipUri.parse(request.uri)
        except ValueError as exc:
            return 400, bad_request_reason(f"bad Request-URI: {exc}")
        if uri.headers:
            return 400, "Request-URI must not contain headers"
    return None


MAX_REASON_DETAIL = 100
"""Characters of an error sentence a 400's reason phrase echoes; the rest is cut."""


def bad_request_reason(detail: str) -> str:
    """``Bad Request (detail)``: the one builder of a reason phrase from untrusted text.

    The detail often quotes the peer's own message, so only printable ASCII survives (anything
    else, CR and LF included, becomes ``?``: the phrase can neither end the status line nor
    carry bytes a peer's parser trips on) and at most ``MAX_REASON_DETAIL`` characters of it.
    """
    shown = "".join(c if " " <= c <= "~" else "?" for c in detail[:MAX_REASON_DETAIL])
    return f"Bad Request ({shown})"


class MessageTooLarge(SipParseError):
    """A message exceeds the size limit (answered 513 Message Too Large, RFC 3261 21.5.14)."""


class StreamFramer:
    """Cuts a SIP byte stream (TCP) into messages by Content-Length (RFC 3261 section 18.3).

    ``feed`` handles partial reads and several messages per read. It raises ``ValueError`` on
    garbage (no Content-Length, an invalid one, headers running past the size limit), after
    which the connection must be closed: there is no way to find the next message.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._scanned = 0
        """Bytes of ``_buf`` known to hold no blank line: each read is searched once."""
        self._total: int | None = None
        """Length of the message at the head of the buffer, once its headers have ended."""
        self.keepalives = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The whole messages completed by ``data``; linear in the bytes fed, however cut."""
        self._buf += data
        out: list[bytes] = []
        while True:
            if self._total is None:
                self._total = self._frame()
                if self._total is None:
                    return out
            if len(self._buf) < self._total:
                return out
            out.append(bytes(self._buf[: self._total]))
            del self._buf[: self._total]
            self._total = None
            self._scanned = 0

    def _frame(self) -> int | None:
        """The length of the message at the head of the buffer, or None until its headers end."""
        while self._buf[:2] == b"\r\n" or self._buf[:1] == b"\n":
            # A CRLF keep-alive (RFC 5626 section 3.5.1) or leading CRLF (RFC 3261 7.5)
            del self._buf[: 2 if self._buf[:1] == b"\r" else 1]
            self.keepalives += 1
            self._scanned = 0
        if not self._buf:
            return None
        end, separator = _find_header_end(
            self._buf, max(0, self._scanned - 3), min(len(self._buf), self.max_size + 4)
        )
        if end < 0:
            if len(self._buf) > self.max_size:
                raise MessageTooLarge(
                    f"header section exceeds {self.max_size} bytes without an empty line"
                )
            self._scanned = len(self._buf)
            return None
        match = _CONTENT_LENGTH_RE.search(bytes(self._buf[:end]))
        if match is None:
            raise SipParseError("message on a stream transport has no Content-Length")
        length_text = match.group(1).strip()
        if not is_decimal(length_text):
            raise SipParseError(f"invalid Content-Length {length_text!r}")
        total = end + separator + int(length_text)
        if total > self.max_size:
            raise MessageTooLarge(f"message of {total} bytes exceeds {self.max_size} bytes")
        return total

    @property
    def buffered(self) -> int:
        return len(self._buf)


REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
}
"""Default reason phrases (RFC 3261 section 21 and the RFCs adding codes)."""


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    received_from: tuple[str, int] | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> SipResponse:
    """A response to ``request`` with the headers RFC 3261 section 8.2.6.2 says to copy.

    Via (all values, in order), From, Call-ID and CSeq are copied; To gets ``to_tag`` when the
    request's To has none (never on 100 Trying). Record-Route is copied into responses that can
    establish a dialog (section 12.1.1). ``received_from`` adds ``received``/``rport`` to the
    top Via (RFC 3261 section 18.2.1, RFC 3581 section 4) when the sender's address differs.
    """
    out: list[tuple[str, str]] = []
    vias = request.values("Via")
    if vias and received_from is not None:
        try:
            top = Via.parse(vias[0])
        except ValueError:
            top = None
        if top is not None:
            params = list(top.params)
            if top.host_address != received_from[0] and get_param(params, "received") is None:
                params.append(("received", received_from[0]))
            if get_param(params, "rport") == "":
                params = [
                    ("rport", str(received_from[1])) if k.lower() == "rport" else (k, v)
                    for k, v in params
                ]
            vias[0] = str(Via(top.transport, top.host, top.port, params))
    out.extend(("Via", v) for v in vias)
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.get(name)
        if value is None:
            continue
        if name == "To" and to_tag and status > 100:
            try:
                to = NameAddress.parse(value)
            except ValueError:
                to = None
            if to is not None and to.tag is None:
                value = f"{value};tag={to_tag}"
        out.append((name, value))
    if request.method == "INVITE" and 100 < status < 300:
        out.extend(("Record-Route", v) for v in request.get_all("Record-Route"))
    out.extend(headers or [])
    return SipResponse(status, reason or REASON_PHRASES.get(status, ""), out, body)
