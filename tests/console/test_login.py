"""Log-in, sessions and their cookie: success and failure alike for strangers, failures
throttled per name and per address, ids rotated at log-in, idle and absolute expiry, log-out."""

from __future__ import annotations

import datetime
import ssl
from http.cookies import SimpleCookie
from pathlib import Path

from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ivr.console import cookies
from ivr.console.users import UserStore
from tests.console.conftest import (
    PASSWORD,
    Clock,
    ConsoleFactory,
    add_users,
    log_in,
    plant,
    token_in,
)


def set_cookie(response, name: str):
    """The ``Set-Cookie`` morsel of ``name`` in a response."""
    jar = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar[name]


async def test_a_right_password_logs_in_and_lands_on_the_page_asked_for(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "qa")
    sent_away = await client.get("/console/calls?outcome=failed", allow_redirects=False)
    assert sent_away.status == 303
    assert (
        sent_away.headers["Location"] == "/console/login?next=%2Fconsole%2Fcalls%3Foutcome%3Dfailed"
    )

    answer = await log_in(client, "QA ", target="/console/calls?outcome=failed")
    assert answer.status == 303 and answer.headers["Location"] == "/console/calls?outcome=failed"
    home = await client.get("/console/")
    assert home.status == 200
    text = await home.text()
    assert "Logged in as <strong>qa</strong>, role <strong>qa</strong>" in text
    assert 'href="/console/calls"' in text and 'href="/console/users"' not in text


async def test_log_in_goes_only_to_console_pages_on_this_server(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "admin")
    for elsewhere in (
        "https://evil.example/",
        "//evil.example/console/",
        "/healthz",
        "/console\\x",
    ):
        answer = await log_in(client, "admin", target=elsewhere)
        assert answer.headers["Location"] == "/console/", elsewhere
        client.session.cookie_jar.clear()


async def test_a_failed_log_in_says_the_same_for_a_wrong_password_an_unknown_or_disabled_name(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "qa", "designer")
    users.disable("designer", "cli:test")
    pages = []
    for name, password in (
        ("qa", "wrong password here"),
        ("nobody", PASSWORD),
        ("designer", PASSWORD),
    ):
        answer = await log_in(client, name, password)
        assert answer.status == 401
        assert cookies.SESSION not in answer.cookies
        pages.append((await answer.text()).replace(f'value="{name}"', 'value=""'))
    assert "Wrong user name or password." in pages[0]
    assert len({token_free(page) for page in pages}) == 1, "the three failures must read alike"
    assert (await client.get("/console/", allow_redirects=False)).status == 303


def token_free(page: str) -> str:
    return page.replace(token_in(page), "")


async def test_failed_log_ins_lock_the_name_for_the_window_whether_or_not_it_exists(
    make_client: ConsoleFactory, users: UserStore, clock: Clock
) -> None:
    client = await make_client("max_failures_per_name=3", "failure_window_min=10")
    add_users(users, "qa")
    for name in ("qa", "ghost"):
        for _ in range(3):
            assert (await log_in(client, name, "not the password!")).status == 401
        refused = await log_in(client, name, PASSWORD)
        assert refused.status == 429
        assert int(refused.headers["Retry-After"]) == 600
        assert "Try again in 10 minutes." in await refused.text()
    clock.advance(9 * 60)
    assert (await log_in(client, "qa", PASSWORD)).status == 429
    clock.advance(61)
    assert (await log_in(client, "qa", PASSWORD)).status == 303


async def test_failed_log_ins_from_one_address_are_refused_past_its_limit(
    make_client: ConsoleFactory, users: UserStore
) -> None:
    client = await make_client("max_failures_per_address=4", "max_failures_per_name=100")
    add_users(users, "qa")
    for attempt in range(4):
        assert (await log_in(client, f"guess{attempt}", PASSWORD)).status == 401
    assert (await log_in(client, "qa", PASSWORD)).status == 429, "every name, this address"


async def test_a_success_forgives_the_names_failures(client: TestClient, users: UserStore) -> None:
    add_users(users, "qa")
    for _ in range(4):
        await log_in(client, "qa", "not the password!")
    assert (await log_in(client, "qa")).status == 303
    client.session.cookie_jar.clear()
    for _ in range(4):
        await log_in(client, "qa", "not the password!")
    assert (await log_in(client, "qa")).status == 303, "4 + 4 failures, never 5 in a row"


async def test_log_in_makes_a_new_session_id_and_ends_the_one_the_browser_held(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "qa")
    planted = "A" * 43  # a fixation attempt: an id chosen before log-in
    plant(client, cookies.SESSION, planted)
    first = set_cookie(await log_in(client, "qa"), cookies.SESSION).value
    assert first != planted
    # Logged in, the log-in page sends the browser home; a form loaded before (another tab)
    # may still be posted, and then the session the browser holds ends.
    assert (await client.get("/console/login", allow_redirects=False)).status == 303
    token = "B" * 43
    plant(client, cookies.LOGIN_CSRF, token)
    form = {"csrf_token": token, "name": "qa", "password": PASSWORD}
    again = await client.post("/console/login", data=form, allow_redirects=False)
    second = set_cookie(again, cookies.SESSION).value
    assert second not in (first, planted)

    plant(client, cookies.SESSION, first)
    stale = await client.get("/console/", allow_redirects=False)
    assert stale.status == 303, "the session the second log-in replaced is over"
    plant(client, cookies.SESSION, second)
    assert (await client.get("/console/", allow_redirects=False)).status == 200


async def test_log_out_ends_the_session_on_the_server(client: TestClient, users: UserStore) -> None:
    add_users(users, "qa")
    session_id = set_cookie(await log_in(client, "qa"), cookies.SESSION).value
    home = await client.get("/console/")
    out = await client.post(
        "/console/logout", data={"csrf_token": token_in(await home.text())}, allow_redirects=False
    )
    assert out.status == 303 and out.headers["Location"] == "/console/login"
    assert set_cookie(out, cookies.SESSION).value == ""
    plant(client, cookies.SESSION, session_id)  # a copy kept
    assert (await client.get("/console/", allow_redirects=False)).status == 303


async def test_a_session_idle_for_idle_timeout_min_is_over(
    make_client: ConsoleFactory, users: UserStore, clock: Clock
) -> None:
    client = await make_client("idle_timeout_min=10")
    add_users(users, "qa")
    await log_in(client, "qa")
    for _ in range(5):  # in use: 9 minutes at a time, 45 in all
        clock.advance(9 * 60)
        assert (await client.get("/console/", allow_redirects=False)).status == 200
    clock.advance(10 * 60)
    expired = await client.get("/console/calls.json", allow_redirects=False)
    assert expired.status == 401
    assert set_cookie(expired, cookies.SESSION).value == ""


async def test_a_session_is_over_absolute_timeout_h_after_log_in_even_in_use(
    make_client: ConsoleFactory, users: UserStore, clock: Clock
) -> None:
    client = await make_client("absolute_timeout_h=1", "idle_timeout_min=30")
    add_users(users, "qa")
    await log_in(client, "qa")
    for _ in range(3):
        clock.advance(19 * 60)
        assert (await client.get("/console/", allow_redirects=False)).status == 200
    clock.advance(3 * 60 + 1)
    assert (await client.get("/console/", allow_redirects=False)).status == 303


async def test_the_session_cookie_is_httponly_strict_scoped_and_secure_over_tls_or_when_told(
    make_client: ConsoleFactory, users: UserStore, tmp_path: Path
) -> None:
    add_users(users, "qa")
    plain = await make_client()
    told = await make_client("secure_cookie=true")
    for client, secure in ((plain, ""), (told, True)):
        form = await client.get("/console/login")
        token = token_in(await form.text())
        data = {"csrf_token": token, "name": "qa", "password": PASSWORD}
        # Sent by hand: a client keeps a Secure cookie for HTTPS (here a TLS proxy in front).
        answer = await client.post(
            "/console/login", data=data, cookies={cookies.LOGIN_CSRF: token}, allow_redirects=False
        )
        for name, response in ((cookies.LOGIN_CSRF, form), (cookies.SESSION, answer)):
            morsel = set_cookie(response, name)
            assert morsel["httponly"] is True and morsel["samesite"] == "Strict"
            assert morsel["path"] == "/console" and morsel["secure"] == secure
            assert not morsel["max-age"] and not morsel["expires"]

    tls = await make_client(tls=server_tls(tmp_path))
    assert tls.make_url("/").scheme == "https"
    form = await tls.get("/console/login", ssl=False)
    assert set_cookie(form, cookies.LOGIN_CSRF)["secure"] is True
    data = {"csrf_token": token_in(await form.text()), "name": "qa", "password": PASSWORD}
    answer = await tls.post("/console/login", data=data, ssl=False, allow_redirects=False)
    assert answer.status == 303 and set_cookie(answer, cookies.SESSION)["secure"] is True


def server_tls(folder: Path) -> ssl.SSLContext:
    """A TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context
