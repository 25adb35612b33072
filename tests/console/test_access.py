"""Who may use what: the role × page table, log-in first (a page redirects, JSON gets 401), CSRF
on every POST route, the security headers, and request values refused before any work."""

from __future__ import annotations

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from ivr.console import cookies
from ivr.console.app import ROUTES, WORDING_INTENT
from ivr.console.auth import SECURITY_HEADERS
from ivr.console.users import UserStore
from ivr.records import CallRecordStore
from tests.console.conftest import PASSWORD, add_users, log_in, token_in

ROLES = ("designer", "qa", "supervisor", "admin")
ALL = set(ROLES)
LISTENERS = {"qa", "supervisor", "admin"}
"""Who hears recordings, replays calls and saves them as QA scripts."""
INBOX_READERS = {"designer", "qa", "admin"}
LABELLERS = {"designer", "admin"}
"""Who labels inbox items, and edits the FAQ facts."""
DESIGN_READERS = {"designer", "qa", "admin"}
"""Who reads the flows, prompts and caller wording."""
DESIGN_EDITORS = {"designer", "admin"}
"""Who edits the draft's prompts and caller wording."""
VARIATION = "{response:utter_[A-Za-z0-9_]{1,100}}/{n:[0-9]{1,3}}"
UPLOAD = "/recording"
"""The one route that takes a file: its form is multipart, the CSRF field first."""
CALL = "20261205t142501z3fa9c1d2e4b5"
TURN = "/{turn:[0-9]+}/"
FACT_GROUP = "/facts/{group:[a-z]{1,20}}"
PAGES: dict[str, set[str]] = {
    "/console/": ALL,
    "/console/calls": ALL,
    "/console/calls.json": ALL,
    f"/console/calls/{CALL}": ALL,
    f"/console/calls/{CALL}.json": ALL,
    "/console/analytics": ALL,
    "/console/analytics.csv?section=outcomes": ALL,
    f"/console/calls/{CALL}/recording.wav": LISTENERS,
    "/console/inbox": INBOX_READERS,
    f"/console/inbox/{CALL}/1/snippet.wav": ALL,
    "/console/flows": DESIGN_READERS,
    "/console/flows/greet.svg": DESIGN_READERS,
    "/console/prompts": DESIGN_READERS,
    "/console/prompts/utter_greet/0.wav": DESIGN_READERS,
    "/console/facts": DESIGN_READERS,
    "/console/facts/hours": DESIGN_READERS,
    "/console/prompts/utter_greet/0/recording.wav": DESIGN_READERS,
    "/console/wording": DESIGN_READERS,
    "/console/wording/greet": DESIGN_READERS,
    "/console/versions": ALL,
    "/console/versions/test.json": ALL,
    "/console/talk": ALL,
    "/console/talk/call.json": ALL,
    "/console/talk/media": ALL,
    "/console/audit": {"admin"},
    "/console/users": {"admin"},
}
"""Page -> the roles that may open it (the others get 403)."""
POSTS: dict[str, tuple[set[str], dict[str, str]]] = {
    "/console/users": ({"admin"}, {"name": "newcomer", "role": "qa", "password": PASSWORD}),
    "/console/users/disable": ({"admin"}, {"name": "designer"}),
    "/console/logout": (ALL, {}),
    f"/console/calls/{CALL}/replay": (LISTENERS, {}),
    f"/console/calls/{CALL}/script": (LISTENERS, {}),
    f"/console/calls/{CALL}/script/save": (LISTENERS, {"name": "saved"}),
    f"/console/inbox/{CALL}/1/label": (LABELLERS, {"intent": "greet", "text": "hi"}),
    f"/console/inbox/{CALL}/1/dismiss": (LABELLERS, {}),
    "/console/facts/hours": (DESIGN_EDITORS, {"action": "save"}),
    "/console/prompts/hear.wav": (DESIGN_EDITORS, {"text": "Hi."}),
    "/console/prompts/utter_greet/0": (DESIGN_EDITORS, {"text": "Hi.", "seen": "0" * 16}),
    "/console/prompts/utter_greet/0/recording": (DESIGN_EDITORS, {"seen": "0" * 16}),
    "/console/prompts/utter_greet/0/recording/remove": (DESIGN_EDITORS, {}),
    "/console/wording/greet/add": (DESIGN_EDITORS, {"lines": "hello"}),
    "/console/wording/greet/edit": (
        DESIGN_EDITORS,
        {"file": "x.yml", "example": "hi", "text": "yo"},
    ),
    "/console/wording/greet/move": (
        DESIGN_EDITORS,
        {"file": "x.yml", "example": "hi", "target": "x"},
    ),
    "/console/wording/greet/delete": (DESIGN_EDITORS, {"file": "x.yml", "example": "hi"}),
    "/console/versions/test": (DESIGN_EDITORS, {}),
    "/console/versions/publish": (DESIGN_EDITORS, {"message": "new hours"}),
    "/console/versions/rollback": (DESIGN_EDITORS, {"version": "1"}),
    "/console/versions/discard": (DESIGN_EDITORS, {}),
    "/console/talk/ticket": (ALL, {}),
    "/console/talk/text": (ALL, {"text": "I lost my card"}),
    "/console/talk/text/end": (ALL, {}),
}
"""POST route -> (the roles that may post, a form it would act on)."""


@pytest.fixture
async def with_a_call(records_url: str) -> None:
    store = CallRecordStore(records_url)
    await store.start_call(CALL, "sip", "sip:+15551234567@pbx")
    await store.end_call(CALL, "self_served", "caller_done")
    store.close()


async def test_each_role_opens_exactly_its_pages(
    client: TestClient, users: UserStore, with_a_call: None
) -> None:
    add_users(users, *ROLES)
    for role in ROLES:
        client.session.cookie_jar.clear()
        assert (await log_in(client, role)).status == 303
        for path, allowed in PAGES.items():
            answer = await client.get(path, allow_redirects=False)
            if path.endswith((".wav", ".svg", "/media")):  # no files, no bot: allowed is "not 403"
                assert (answer.status == 403) == (role not in allowed), (role, path)
            else:
                assert answer.status == (200 if role in allowed else 403), (role, path)
        home = await (await client.get("/console/")).text()
        for path, (allowed, form) in POSTS.items():
            if role in allowed:
                continue
            data = {"csrf_token": token_in(home), "password_again": PASSWORD, **form}
            answer = await client.post(path, data=_body(path, data), allow_redirects=False)
            assert answer.status == 403, (role, path)
    assert [user.name for user in users.all() if user.active] == ["admin", *ROLES[:3]]


def test_the_table_covers_every_console_route() -> None:
    paths = {route.path for route in ROUTES if route.roles is not None}
    covered = {
        path.partition("?")[0]
        .removeprefix("/console")
        .replace(CALL, "{call_id:[A-Za-z0-9_-]+}")
        .replace("/1/", TURN)
        .replace("/greet.svg", "/{flow:[A-Za-z0-9_]+}.svg")
        .replace("/facts/hours", FACT_GROUP)
        .replace("/utter_greet/0", f"/{VARIATION}")
        .replace("/wording/greet", WORDING_INTENT)
        for path in (*PAGES, *POSTS)
    }
    assert paths == covered


async def test_without_a_session_pages_send_to_log_in_and_json_gets_401(client: TestClient) -> None:
    for path in PAGES:
        answer = await client.get(path, allow_redirects=False)
        if path.endswith(".json"):
            assert answer.status == 401 and await answer.json() == {"error": "log in first"}
        else:
            assert answer.status == 303
            assert answer.headers["Location"].startswith("/console/login?next=%2Fconsole%2F")
    asking = await client.get("/console/calls", headers={"Accept": "application/json"})
    assert asking.status == 401
    assert (await client.get("/console", allow_redirects=False)).headers["Location"] == "/console/"


@pytest.mark.parametrize("path", [route.path for route in ROUTES if route.method == "POST"])
async def test_every_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, users: UserStore, path: str
) -> None:
    add_users(users, "admin", "designer")
    action = (
        f"/console{path}".replace("{call_id:[A-Za-z0-9_-]+}", CALL)
        .replace(TURN, "/1/")
        .replace(FACT_GROUP, "/facts/hours")
        .replace(VARIATION, "utter_greet/0")
        .replace(WORDING_INTENT, "/wording/greet")
    )
    if path == "/login":
        form = [("name", "admin"), ("password", PASSWORD)]
        token = token_in(await (await client.get("/console/login")).text())  # and its cookie
        for fields in ([], [("csrf_token", "x" * 43)], [("csrf_token", token)] * 2):
            answer = await client.post(action, data=form + fields, allow_redirects=False)
            assert answer.status == 403 and cookies.SESSION not in answer.cookies
        client.session.cookie_jar.clear()  # the token without its cookie
        answer = await client.post(action, data=[*form, ("csrf_token", token)])
        assert answer.status == 403
        return
    _, form = POSTS[action]
    other = await _session_token(client, "designer")
    client.session.cookie_jar.clear()
    mine = await _session_token(client, "admin")
    for token in (None, "x" * 43, other, mine.lower()):
        data = {**form, "password_again": PASSWORD}
        if token is not None:
            data["csrf_token"] = token
        answer = await client.post(action, data=_body(action, data), allow_redirects=False)
        assert answer.status == 403, token
        assert SECURITY_HEADERS["X-Frame-Options"] == answer.headers["X-Frame-Options"]
    assert (await client.get("/console/", allow_redirects=False)).status == 200, "still logged in"
    assert {user.name for user in users.all() if user.active} == {"admin", "designer"}


def _body(action: str, data: dict[str, str]) -> dict[str, str] | FormData:
    """A form as the console's page sends it: the upload multipart with its CSRF field first."""
    if not action.endswith(UPLOAD):
        return data
    form = FormData()
    for name, value in sorted(data.items(), key=lambda item: item[0] != "csrf_token"):
        form.add_field(name, value)
    form.add_field("audio", b"RIFF", filename="take.wav", content_type="audio/wav")
    return form


async def _session_token(client: TestClient, name: str) -> str:
    await log_in(client, name)
    return token_in(await (await client.get("/console/")).text())


async def test_console_responses_carry_the_security_headers(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "qa")
    await log_in(client, "qa")
    for path, status in (
        ("/console/", 200),
        ("/console/calls.json", 200),
        ("/console/audit", 403),
        ("/console/calls/nothere", 404),
        ("/console/no/such/page", 404),
        ("/console/calls?limit=0", 400),
    ):
        answer = await client.get(path, allow_redirects=False)
        assert answer.status == status, path
        for header, value in SECURITY_HEADERS.items():
            assert answer.headers[header] == value, (path, header)
        assert answer.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in SECURITY_HEADERS["Content-Security-Policy"]
    style = await client.get("/console/static/console.css")
    assert style.status == 200 and style.content_type == "text/css"
    assert style.headers["Cache-Control"] == "private, max-age=3600"
    for elsewhere in ("/console/static/..%2Fapp.py", "/console/static/nothing.css"):
        assert (await client.get(elsewhere)).status == 404
    assert (await client.get("/healthz")).headers.get("X-Frame-Options") is None, "console only"


async def test_a_post_must_be_a_small_url_encoded_form(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "admin")
    token = await _session_token(client, "admin")
    as_json = await client.post("/console/users", json={"csrf_token": token})
    assert as_json.status == 415
    big = {"csrf_token": token, "name": "x", "padding": "y" * 20_000}
    assert (await client.post("/console/users", data=big)).status == 413


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("outcome=lost", "outcome is one of in_progress, self_served"),
        ("limit=0", "limit is a whole number from 1 to 200"),
        ("limit=abc", "limit is a whole number"),
        ("from=2026-12-05&to=2026-12-01", "from must not be after to"),
        ("from=5.12.2026", "from is a date, YYYY-MM-DD"),
        ("before=123~a%20b", "before is not a page cursor"),
        ("before=nan~abc", "before is not a page cursor"),
        ("intent=lost%20card", "intent is a name such as lost_card"),
        ("transport=sip&transport=audiosocket", "transport is given more than once"),
        ("q=" + "x" * 201, "q is longer than 200 characters"),
        ("caller=%07", "caller holds control characters"),
        ("handed_off=maybe", "handed_off is yes or no"),
    ],
)
async def test_calls_list_values_are_checked_before_any_query(
    client: TestClient, users: UserStore, query: str, message: str
) -> None:
    add_users(users, "qa")
    await log_in(client, "qa")
    page = await client.get(f"/console/calls?{query}")
    assert page.status == 400 and message in await page.text()
    data = await client.get(f"/console/calls.json?{query}")
    assert data.status == 400 and message in (await data.json())["error"]
