"""Whole responses: a page in the shared layout (menu, user, log-out form), and redirects."""

from __future__ import annotations

from aiohttp import web

from ivr.console.html import Markup, element, hidden_token, join, link, render
from ivr.console.roles import sections_for
from ivr.console.sessions import Session
from ivr.console.state import SESSION


def page(request: web.Request, title: str, body: Markup, status: int = 200) -> web.Response:
    """``body`` in the layout; the menu and log-out form when the request has a session."""
    session = request.get(SESSION)
    nav = _nav(session) if isinstance(session, Session) else Markup("")
    text = render("layout.html", title=title, nav=nav, body=body)
    return web.Response(text=text, content_type="text/html", charset="utf-8", status=status)


def message(request: web.Request, title: str, text: str, status: int) -> web.Response:
    """A page that only says something (an error, a refusal)."""
    return page(request, title, element("p", text, class_="message"), status)


def redirect(location: str) -> web.Response:
    """303 See Other: after a form, the browser fetches ``location`` with GET."""
    return web.Response(status=303, headers={"Location": location})


def _nav(session: Session) -> Markup:
    links = [link("/console/", "Home")] + [
        link(section.path, section.title) for section in sections_for(session.user.role)
    ]
    return render(
        "nav.html",
        links=join(links, " "),
        name=session.user.name,
        role=session.user.role,
        token=hidden_token(session.csrf_token),
    )
