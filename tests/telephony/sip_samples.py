"""Real-world SIP messages for the parser tests: RFC 3665 call flows and RFC 4475 torture tests.

Each is written with explicit CRLFs; non-printable octets are escaped as in RFC 4475 section
2.2. Messages marked "after RFC 4475 section x" follow that section's test closely.
"""

from __future__ import annotations


def crlf(text: str) -> bytes:
    """Lines joined with CRLF (the test texts are written with \\n)."""
    return text.replace("\n", "\r\n").encode("utf-8")


SDP_150 = (
    b"v=0\r\n"
    b"o=mhandley 29739 7272939 IN IP4 192.0.2.3\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.4\r\n"
    b"t=0 0\r\n"
    b"m=audio 49217 RTP/AVP 0 12\r\n"
    b"m=video 3227 RTP/AVP 31\r\n"
    b"a=rtpmap:31 LPC\r\n"
)
assert len(SDP_150) == 150

# RFC 4475 section 3.1.1.1: a short tortuous INVITE (folding, odd whitespace, compact forms).
WSINV = (
    crlf(
        "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n"
        "TO :\n"
        " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n"
        'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\n'
        "  ;\n"
        "  tag = 98asjd8\n"
        "MaX-fOrWaRdS: 0068\n"
        "Call-ID: wsinv.ndaksdj@192.0.2.1\n"
        "Content-Length   : 150\n"
        "cseq: 0009\n"
        "  INVITE\n"
        "Via  : SIP  /   2.0\n"
        " /UDP\n"
        "    192.0.2.2;branch=390skdjuw\n"
        "s :\n"
        "NewFangledHeader:   newfangled value\n"
        " continued newfangled value\n"
        "UnknownHeaderWithUnusualValue: ;;,,;;,;\n"
        "Content-Type: application/sdp\n"
        "Route:\n"
        " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n"
        "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n"
        "  branch  =   z9hG4bK9ikj8  ,\n"
        " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n"
        " z9hG4bK30239\n"
        'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\n'
        "      newvalue ;\n"
        "  secondparam ; q = 0.33\n"
        "\n"
    )
    + SDP_150
)

# After RFC 4475 section 3.1.1.2: a wide range of valid characters (and escaped NUL, BEL, DEL).
INTMETH = crlf(
    "!interesting-Method0123456789_*+`.%indeed'~ "
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
    "(doesn't-it)@example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" '
    "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"
    ";fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\""
    ";tag=_token~1'+`*%!-.\n"
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
    "Max-Forwards: 255\n"
    "extensionHeader-!.%*+_`'~: \ufeff\u5927\u5ec8\u90fd\n"
    "Content-Length: 0\n"
    "\n"
)

# After RFC 4475 section 3.1.1.3: valid use of the % escaping mechanism.
ESC01 = (
    crlf(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n"
        "To: sip:%75se%72@example.com\n"
        "From: <sip:I%20have%20spaces@example.net>;tag=938\n"
        "Max-Forwards: 87\n"
        "i: esc01.239409asdfakjkn23onasd0-3234\n"
        "CSeq: 234234 INVITE\n"
        "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n"
        "C: application/sdp\n"
        "Contact:\n"
        "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n"
        "Content-Length: 150\n"
        "\n"
    )
    + SDP_150
)

# After RFC 4475 section 3.1.1.6: no LWS between display name and <.
LWSDISP = crlf(
    "OPTIONS sip:user@example.com SIP/2.0\n"
    "To: sip:user@example.com\n"
    "From: caller<sip:caller@example.com>;tag=323\n"
    "Max-Forwards: 70\n"
    "Call-ID: lwsdisp.1234abcd@funky.example.com\n"
    "CSeq: 60 OPTIONS\n"
    "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\n"
    "l: 0\n"
    "\n"
)

# After RFC 4475 section 3.1.1.8: extra trailing octets in a UDP datagram are ignored.
DBLREQ = crlf(
    "REGISTER sip:example.com SIP/2.0\n"
    "To: sip:j.user@example.com\n"
    "From: sip:j.user@example.com;tag=43251j3j324\n"
    "Max-Forwards: 8\n"
    "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\n"
    "Contact: sip:j.user@host.example.com\n"
    "CSeq: 8 REGISTER\n"
    "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\n"
    "Content-Length: 0\n"
    "\n"
    "INVITE sip:joe@example.com SIP/2.0\n"
    "t: sip:joe@example.com\n"
    "From: sip:caller@example.net;tag=141334\n"
    "Max-Forwards: 8\n"
    "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\n"
    "CSeq: 8 INVITE\n"
    "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 0\n"
    "\n"
)

# After RFC 4475 section 3.1.1.9: semicolon-separated parameters in the URI user part.
SEMIURI = crlf(
    "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\n"
    "To: sip:j_user@example.com\n"
    "From: sip:caller@example.org;tag=33242\n"
    "Max-Forwards: 3\n"
    "Call-ID: semiuri.0ha0isndaksdj\n"
    "CSeq: 8 OPTIONS\n"
    "Accept: application/sdp, application/pkcs7-mime,\n"
    "        multipart/mixed, multipart/signed,\n"
    "        message/sip, message/sipfrag\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\n"
    "l: 0\n"
    "\n"
)

# After RFC 4475 section 3.1.1.10: a Via list with several transports.
TRANSPORTS = crlf(
    "OPTIONS sip:user@example.com SIP/2.0\n"
    "To: sip:user@example.com\n"
    "From: <sip:caller@example.com>;tag=323\n"
    "Max-Forwards: 70\n"
    "Call-ID:  transports.kijh4akdnaqjkwendsasfdj\n"
    "Accept: application/sdp\n"
    "CSeq: 60 OPTIONS\n"
    "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\n"
    "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\n"
    "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\n"
    "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\n"
    "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\n"
    "l: 0\n"
    "\n"
)

# After RFC 4475 section 3.1.1.12: an unusual (UTF-8) reason phrase.
UNREASON = crlf(
    "SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f"
    "\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e"
    "\u0441\u0442\u043e\u0435\n"
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
    "Call-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
    "CSeq: 35 INVITE\n"
    "From: sip:user@example.com;tag=11141343\n"
    "To: sip:user@example.edu;tag=2229\n"
    "Content-Length: 0\n"
    "\n"
)

# After RFC 4475 section 3.1.1.13: an empty reason phrase.
NOREASON = crlf(
    "SIP/2.0 100 \n"
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
    "Call-ID: noreason.asndj203insdf99223ndf\n"
    "CSeq: 35 INVITE\n"
    "From: <sip:user@example.com>;tag=39ansfi3\n"
    "To: <sip:user@example.edu>;tag=902jndnke3\n"
    "Content-Length: 0\n"
    "\n"
)

# After RFC 4475 section 3.4.2 (novelsc): unknown URI schemes in headers are fine.
NOVELSC = crlf(
    "OPTIONS sip:user@example.com SIP/2.0\n"
    "To: sip:user@example.com\n"
    "From: <http://www.example.com>;tag=otherstuff\n"
    "Max-Forwards: 70\n"
    "Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\n"
    "CSeq: 3923423 OPTIONS\n"
    "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\n"
    "Contact: <name:John_Smith>\n"
    "l: 0\n"
    "\n"
)

# RFC 3665 section 3.8 (unsuccessful no answer) F1, and a proxied INVITE with Record-Route.
RFC3665_INVITE = (
    crlf(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1\n"
        "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9"
        ";received=192.0.2.101\n"
        "Max-Forwards: 69\n"
        "Record-Route: <sip:ss1.atlanta.example.com;lr>\n"
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n"
        "To: Bob <sip:bob@biloxi.example.com>\n"
        "Call-ID: 3848276298220188511@atlanta.example.com\n"
        "CSeq: 1 INVITE\n"
        "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\n"
        "Content-Type: application/sdp\n"
        "Content-Length: 150\n"
        "\n"
    )
    + SDP_150
)

RFC3665_BYE = crlf(
    "BYE sip:alice@client.atlanta.example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7\n"
    "Max-Forwards: 70\n"
    "Route: <sip:ss1.atlanta.example.com;lr>\n"
    "From: Bob <sip:bob@biloxi.example.com>;tag=314159\n"
    "To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\n"
    "CSeq: 1 BYE\n"
    "Content-Length: 0\n"
    "\n"
)

RFC3665_180 = crlf(
    "SIP/2.0 180 Ringing\n"
    "Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1"
    ";received=192.0.2.111\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9"
    ";received=192.0.2.101\n"
    "Record-Route: <sip:ss1.atlanta.example.com;lr>\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\n"
    "CSeq: 1 INVITE\n"
    "Contact: <sip:bob@client.biloxi.example.com;transport=tcp>\n"
    "Content-Length: 0\n"
    "\n"
)

VALID_REQUESTS = {
    "wsinv": WSINV,
    "intmeth": INTMETH,
    "esc01": ESC01,
    "lwsdisp": LWSDISP,
    "dblreq": DBLREQ,
    "semiuri": SEMIURI,
    "transports": TRANSPORTS,
    "novelsc": NOVELSC,
    "rfc3665-invite": RFC3665_INVITE,
    "rfc3665-bye": RFC3665_BYE,
}
VALID_RESPONSES = {"unreason": UNREASON, "noreason": NOREASON, "rfc3665-180": RFC3665_180}


def _options(first_line: str, *headers: str, cseq: str = "OPTIONS") -> bytes:
    lines = [
        first_line,
        "To: sip:user@example.com",
        "From: <sip:caller@example.com>;tag=323",
        "Max-Forwards: 70",
        "Call-ID: invalid.1234@example.com",
        f"CSeq: 7 {cseq}",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKinvalid",
        *headers,
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def _replace(message: bytes, old: str, new: str) -> bytes:
    assert old.encode() in message
    return message.replace(old.encode(), new.encode())


# Each invalid message with what a UAS must do: ("drop", None) when it cannot even be
# answered, or ("reject", status).
INVALID = {
    # 3.1.2.1 badinv01: extraneous header field separators
    "badinv01": (
        crlf(
            "INVITE sip:user@example.com SIP/2.0\n"
            "To: sip:j.user@example.com\n"
            "From: sip:caller@example.net;;tag=134161461246\n"
            "Max-Forwards: 7\n"
            "Call-ID: badinv01.0ha0isndaksdjasdf3234nas\n"
            "CSeq: 8 INVITE\n"
            "Via: SIP/2.0/UDP 192.0.2.15;;,;,,\n"
            'Contact: "Joe" <sip:joe@example.org>;;;;\n'
            "Content-Length: 152\n"
            "Content-Type: application/sdp\n"
            "\n"
        )
        + SDP_150
        + b"\r\n",
        ("reject", 400),
    ),
    # 3.1.2.2 clerr: Content-Length larger than the message
    "clerr": (_replace(ESC01, "Content-Length: 150", "Content-Length: 9999"), ("reject", 400)),
    # 3.1.2.3 ncl: negative Content-Length
    "ncl": (_replace(ESC01, "Content-Length: 150", "Content-Length: -999"), ("reject", 400)),
    # 3.1.2.4 scalar02 / scalarlg: overlarge scalar fields
    "scalarlg": (
        _options("OPTIONS sip:user@example.com SIP/2.0").replace(
            b"CSeq: 7 OPTIONS", b"CSeq: 36893488147419103232 OPTIONS"
        ),
        ("reject", 400),
    ),
    "maxforwards": (
        _options("OPTIONS sip:user@example.com SIP/2.0").replace(
            b"Max-Forwards: 70", b"Max-Forwards: 300"
        ),
        ("reject", 400),
    ),
    # 3.1.2.5 quotbal: unterminated quoted string in a display name
    "quotbal": (
        _options("OPTIONS sip:user@example.com SIP/2.0").replace(
            b"To: sip:user@example.com", b'To: "Mr. J. User <sip:j.user@example.com>'
        ),
        ("reject", 400),
    ),
    # 3.1.2.6 ltgtruri: <> enclosing the Request-URI
    "ltgtruri": (_options("OPTIONS <sip:user@example.com> SIP/2.0"), ("reject", 400)),
    # 3.1.2.7 lwsruri: embedded LWS in the Request-URI
    "lwsruri": (_options("OPTIONS sip:user@example.com; lr SIP/2.0"), ("reject", 400)),
    # 3.1.2.8 lwsstart: multiple SP separating Request-Line elements
    "lwsstart": (_options("OPTIONS  sip:user@example.com  SIP/2.0"), ("reject", 400)),
    # 3.1.2.9 trws: SP after the version
    "trws": (_options("OPTIONS sip:remote-target@example.com SIP/2.0 "), ("reject", 400)),
    # 3.1.2.10 escruri: escaped headers in the Request-URI
    "escruri": (
        _options("OPTIONS sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0"),
        ("reject", 400),
    ),
    # 3.1.2.13 badaspec: spaces within addr-spec
    "badaspec": (
        _options("OPTIONS sip:user@example.com SIP/2.0").replace(
            b"To: sip:user@example.com", b'To: "Watson, Thomas" < sip:t.watson@example.org >'
        ),
        ("reject", 400),
    ),
    # 3.1.2.14 baddn: non-token characters in an unquoted display name
    "baddn": (
        _options("OPTIONS sip:user@example.com SIP/2.0").replace(
            b"From: <sip:caller@example.com>;tag=323",
            b"From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
        ),
        ("reject", 400),
    ),
    # 3.1.2.15 badvers: unknown protocol version
    "badvers": (_options("OPTIONS sip:user@example.com SIP/7.0"), ("reject", 505)),
    # 3.1.2.16 mismatch01: start line and CSeq method mismatch
    "mismatch01": (
        _options("OPTIONS sip:user@example.com SIP/2.0", cseq="INVITE"),
        ("reject", 400),
    ),
    # 3.1.2.18 bigcode: overlarge response code
    "bigcode": (
        crlf(
            "SIP/2.0 4294967301 better not break the receiver\n"
            "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
            "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\n"
            "CSeq: 353494 INVITE\n"
            "From: <sip:user@example.com>;tag=39ansfi3\n"
            "To: <sip:user@example.edu>;tag=902jndnke3\n"
            "Content-Length: 0\n"
            "\n"
        ),
        ("drop", None),
    ),
    # 3.3.? insuf: missing required header fields
    "insuf": (
        crlf(
            "INVITE sip:user@example.com SIP/2.0\n"
            "CSeq: 193942 INVITE\n"
            "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\n"
            "Content-Type: application/sdp\n"
            "l: 150\n"
            "\n"
        )
        + SDP_150,
        ("reject", 400),
    ),
    # 3.4.? unkscm: Request-URI with an unknown scheme
    "unkscm": (
        _options("OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0"),
        ("reject", 416),
    ),
    # 3.1.2.19 multi01 / mcl01: multiple values in single-value headers
    "multi01": (
        _options("OPTIONS sip:user@example.com SIP/2.0", "Call-ID: second.call.id@example.com"),
        ("reject", 400),
    ),
    "mcl01": (
        _options("OPTIONS sip:user@example.com SIP/2.0", "Content-Length: 193").replace(
            b"Content-Length: 0\r\n", b"Content-Length: 0\r\nl: 150\r\n"
        ),
        ("reject", 400),
    ),
    # Not SIP at all, or cut short
    "binary": (bytes(range(256)) * 4, ("drop", None)),
    "http": (b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", ("drop", None)),
    "truncated": (WSINV[:200], ("drop", None)),
    "no-colon": (
        _options("OPTIONS sip:user@example.com SIP/2.0", "This line has no colon"),
        ("drop", None),
    ),
    # A bare CR inside a Via (a live fuzz's bit flip): echoing it would break our answer.
    "bare-cr": (
        _options("OPTIONS sip:user@example.com SIP/2.0").replace(
            b";branch=", b";branch=\rx;branch=", 1
        ),
        ("drop", None),
    ),
}
