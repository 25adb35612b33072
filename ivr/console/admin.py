"""The users page (admins only): every user, a form to add one, a button to disable one.

The same store as ``ivr users`` does the work (``users.UserStore``), so both keep the same
rules and write the same audit rows, the acting admin named as the actor. An admin cannot
disable themselves (the console would lose its last way to undo it).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ivr.console.html import element, hidden_token, join, render, table, when
from ivr.console.layout import page, redirect
from ivr.console.params import BadRequest, one
from ivr.console.passwords import MAX_LENGTH
from ivr.console.roles import ROLES
from ivr.console.state import session_of, state_of
from ivr.console.users import NAME_RULE, User, UserError

USERS = "/console/users"


async def users(request: web.Request) -> web.StreamResponse:
    return await _users_page(request, error="", name="", role="", status=200)


async def add_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = one(form, "name", 64) or ""
    role = one(form, "role", 20) or ""
    password = one(form, "password", MAX_LENGTH) or ""
    if password != (one(form, "password_again", MAX_LENGTH) or ""):
        return await _users_page(request, "The two passwords differ.", name, role, 400)
    console = state_of(request)
    actor = session_of(request).user.name
    try:
        async with console.password_checks:
            await asyncio.to_thread(console.users.add, name, role, password, actor)
    except UserError as exc:
        return await _users_page(request, str(exc), name, role, 400)
    return redirect(USERS)


async def disable_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = one(form, "name", 64)
    if name is None:
        raise BadRequest("name is missing")
    actor = session_of(request).user.name
    if name == actor:
        return await _users_page(request, "You cannot disable yourself.", "", "", 400)
    try:
        await asyncio.to_thread(state_of(request).users.disable, name, actor)
    except UserError as exc:
        return await _users_page(request, str(exc), "", "", 400)
    return redirect(USERS)


async def _users_page(
    request: web.Request, error: str, name: str, role: str, status: int
) -> web.Response:
    session = session_of(request)
    everyone = await asyncio.to_thread(state_of(request).users.all)
    rows = [_row(user, session.user.name, session.csrf_token) for user in everyone]
    roles = join(
        element("option", option, value=option, selected="" if option == role else None)
        for option in ROLES
    )
    body = render(
        "users.html",
        listing=table(("user", "role", "created (UTC)", "status", ""), rows, class_="users"),
        error=element("p", error, class_="error", role="alert") if error else "",
        token=hidden_token(session.csrf_token),
        name=name,
        roles=roles,
        name_rule=NAME_RULE,
    )
    return page(request, "Users", body, status)


def _row(user: User, me: str, token: str) -> tuple[object, ...]:
    if not user.active:
        status, action = f"disabled {when(user.disabled_at)}", ""
    else:
        status = "active"
        action = (
            ""
            if user.name == me
            else render("disable.html", token=hidden_token(token), name=user.name)
        )
    return (user.name, user.role, when(user.created_at), status, action)
