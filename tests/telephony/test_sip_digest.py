"""Digest authentication: the RFC worked examples, header round trips, the server's verdicts."""

from __future__ import annotations

import dataclasses

import pytest

from telephony.sip.digest import (
    DigestAuthenticator,
    DigestChallenge,
    DigestCredentials,
    Verdict,
    answer_challenge,
    digest_response,
)

URI = "sip:bot@127.0.0.1:5060"


def test_responses_match_the_worked_examples_of_rfc_2617_and_rfc_7616() -> None:
    rfc2617 = DigestCredentials(
        "Mufasa", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "/dir/index.html",
        "", cnonce="0a4f113b",
    )  # fmt: skip
    assert digest_response(rfc2617, "Circle Of Life", "GET") == "6629fae49393a05397450978507c4ef1"
    rfc7616 = DigestCredentials(
        "Mufasa", "http-auth@example.org", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "/dir/index.html", "", "SHA-256", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )  # fmt: skip
    assert digest_response(rfc7616, "Circle of Life", "GET") == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )
    md5 = dataclasses.replace(rfc7616, algorithm="MD5")
    assert digest_response(md5, "Circle of Life", "GET") == "8ca523f5e9506fed4657c9700eebdbec"


def test_headers_round_trip_and_malformed_ones_raise() -> None:
    challenge = DigestChallenge("bank-ivr", "abc=", "SHA-256", "auth", stale=True)
    assert DigestChallenge.parse(str(challenge)) == challenge
    credentials = answer_challenge(challenge, 'tr"unk', "pw", "INVITE", URI, cnonce="c0ffee")
    assert DigestCredentials.parse(str(credentials)) == credentials
    parsed = DigestCredentials.parse(
        'Digest username="bob", realm="biloxi.com", nonce="n", uri="sip:bob@biloxi.com", '
        'response="DEADBEEF", qop=auth, nc=00000001, cnonce="x", algorithm=md5'
    )
    assert parsed.algorithm == "MD5" and parsed.response == "deadbeef" and parsed.nc == "00000001"
    for bad in (
        "Basic dXNlcjpwdw==",
        'Digest username="bob", realm="r"',
        'Digest username="bob, realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", nc=1',
    ):
        with pytest.raises(ValueError):
            DigestCredentials.parse(bad)


def test_authenticator_accepts_once_and_calls_expired_or_foreign_nonces_stale() -> None:
    now = [1000.0]
    server = DigestAuthenticator("trunk", "pw", "bank-ivr", clock=lambda: now[0])
    challenge = server.challenges()[1]

    def check(credentials: DigestCredentials, uri: str = URI) -> Verdict:
        return server.check("INVITE", uri, [str(credentials)]).verdict

    assert server.check("INVITE", URI, []).verdict is Verdict.MISSING
    good = answer_challenge(challenge, "trunk", "pw", "INVITE", URI)
    assert check(good) is Verdict.ACCEPTED
    assert check(good) is Verdict.STALE, "the same nonce count twice is a replay"
    assert (
        check(answer_challenge(challenge, "trunk", "pw", "INVITE", URI, nc=2)) is Verdict.ACCEPTED
    )
    assert check(answer_challenge(challenge, "trunk", "bad", "INVITE", URI)) is Verdict.REJECTED
    assert check(answer_challenge(challenge, "intruder", "pw", "INVITE", URI)) is Verdict.REJECTED
    assert check(good, uri="sip:other@127.0.0.1") is Verdict.REJECTED
    no_qop = dataclasses.replace(challenge, qop="")
    assert check(answer_challenge(no_qop, "trunk", "pw", "INVITE", URI)) is Verdict.REJECTED

    now[0] += 301
    late = answer_challenge(challenge, "trunk", "pw", "INVITE", URI, nc=3)
    assert check(late) is Verdict.STALE
    other_server = DigestAuthenticator("trunk", "pw", "bank-ivr", clock=lambda: now[0])
    foreign = answer_challenge(other_server.challenges()[0], "trunk", "pw", "INVITE", URI)
    assert check(foreign) is Verdict.STALE
    fresh = answer_challenge(server.challenges(stale=True)[0], "trunk", "pw", "INVITE", URI)
    assert check(fresh) is Verdict.ACCEPTED
