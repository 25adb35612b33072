"""The admin's pages: users (add, disable, with the same rules as ``ivr users``), the audit log
paged newest first, and the daily housekeeping that keeps it to its retention."""

from __future__ import annotations

import asyncio
import re

from aiohttp.test_utils import TestClient

from ivr.config import load_config
from ivr.console.app import Console
from ivr.console.audit import AuditLog
from ivr.console.sessions import SessionPolicy, SessionStore
from ivr.console.users import UserStore
from tests.console.conftest import PASSWORD, Clock, ConsoleFactory, add_users, log_in, post_form


async def test_an_admin_adds_a_user_who_can_then_log_in(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "admin")
    await log_in(client, "admin")
    form = {"name": "henry", "role": "supervisor", "password": PASSWORD, "password_again": PASSWORD}
    added = await post_form(client, "/console/users", "/console/users", **form)
    assert added.status == 303 and added.headers["Location"] == "/console/users"
    page = await (await client.get("/console/users")).text()
    assert "<td>henry</td>\n<td>supervisor</td>" in page

    for change, error in (
        ({"password_again": "something else"}, "The two passwords differ."),
        ({"name": "henry"}, "user &#x27;henry&#x27; already exists"),
        ({"name": "Ida <b>"}, "a user name is 1-64 lower-case letters"),
        ({"role": "root"}, "a role is one of designer, qa, supervisor, admin"),
        ({"password": "too short", "password_again": "too short"}, "at least 12 characters"),
    ):
        refused = await post_form(client, "/console/users", "/console/users", **{**form, **change})
        assert refused.status == 400, change
        text = await refused.text()
        assert error in text and PASSWORD not in text
    assert [user.name for user in users.all()] == ["admin", "henry"]

    client.session.cookie_jar.clear()
    assert (await log_in(client, "henry")).status == 303


async def test_disabling_a_user_ends_their_session_at_once_but_not_ones_own(
    make_client: ConsoleFactory, users: UserStore
) -> None:
    admin, qa = await make_client(), await make_client()
    add_users(users, "admin", "qa")
    await log_in(admin, "admin")
    await log_in(qa, "qa")
    assert (await qa.get("/console/calls", allow_redirects=False)).status == 200

    page = await (await admin.get("/console/users")).text()
    assert page.count('action="/console/users/disable"') == 1, "no button for oneself"
    done = await post_form(admin, "/console/users", "/console/users/disable", name="qa")
    assert done.status == 303
    assert (await qa.get("/console/calls", allow_redirects=False)).status == 303
    assert "disabled 2025-12-06" in await (await admin.get("/console/users")).text()

    myself = await post_form(admin, "/console/users", "/console/users/disable", name="admin")
    assert myself.status == 400 and "You cannot disable yourself." in await myself.text()
    nobody = await post_form(admin, "/console/users", "/console/users/disable", name="nobody")
    assert nobody.status == 400 and "no user &#x27;nobody&#x27;" in await nobody.text()


async def test_the_audit_log_pages_newest_first(
    client: TestClient, users: UserStore, clock: Clock
) -> None:
    add_users(users, "admin")
    log = AuditLog(users.db, clock)
    for index in range(25):
        clock.advance(1)
        log.record("someone", "call.view", f"call{index:02d}", "page")
    await log_in(client, "admin")
    seen: list[str] = []
    path = "/console/audit?limit=10"
    while path:
        page = await (await client.get(path)).text()
        seen += re.findall(r'<a href="/console/calls/(call\d\d)">', page)
        older = re.search(r'<a href="(/console/audit\?[^"]+)">Older entries</a>', page)
        path = older.group(1).replace("&amp;", "&") if older else ""
    assert seen == [f"call{index:02d}" for index in reversed(range(25))]


async def test_housekeeping_deletes_audit_rows_past_audit_retention_days_and_ended_sessions(
    records_url: str, users: UserStore, clock: Clock
) -> None:
    config = load_config(overrides=["console.audit_retention_days=30"], environ={}).console
    console = Console(config, records_url, clock)
    await console.start()
    add_users(users, "qa")
    log = AuditLog(users.db, clock)
    log.record("someone", "call.view", "old", "page")
    clock.advance(20 * 86400)
    log.record("someone", "call.view", "recent", "page")
    user = users.authenticate("qa", PASSWORD, "test")
    assert user is not None
    sessions = SessionStore(users.db, SessionPolicy(1800, 43200), clock)
    sessions.start(user, None, "test")
    clock.advance(10 * 86400 + 1)  # "old" is 30 days and a second old; the session long idle
    await asyncio.to_thread(console.housekeep)
    await console.stop()
    kept = {(entry.action, entry.target) for entry in log.page(None, 10).rows}
    assert kept == {("login", "qa"), ("call.view", "recent")}, "the user.add and old rows went"
    with users.db.reading(1.0) as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM console_sessions") == {"n": 0}
