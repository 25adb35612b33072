"""The Versions page (``/console/versions``): what the designers' draft changes, its test, the
Publish form, every version with its tests and a roll-back, and the history of publishing.

Reading is for every role; testing, publishing, rolling back and discarding the draft are for
designers and admins (``roles.DESIGN_EDITORS``), and publishing a draft whose test has not passed
(an override) for admins alone. Each of those is audited. A draft is published only with a
valid, passing test report (``Draft.publish`` enforces it). Running bots switch to a newly
published version by themselves (``ivr.versions.live``); this page only moves the pointer.

While a test runs the page shows its steps, and ``static/versions.js`` polls
``/console/versions/test.json`` to update them (the console's CSP allows no inline script);
without script the page shows the progress as of its loading.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ivr.console import audit, params
from ivr.console.callpage import replay_outcome
from ivr.console.draft_diff import FileDiff, diff_block, draft_diffs
from ivr.console.html import Markup, element, hidden, hidden_token, join, render, table, when
from ivr.console.layout import message, page, redirect
from ivr.console.roles import DESIGN_EDITORS
from ivr.console.sessions import Session
from ivr.console.state import session_of, state_of
from ivr.qa.results import CallResult
from ivr.versions.store import MAX_MESSAGE, Publication, Version, VersionError
from ivr.versions.testing import DraftTest, Step
from ivr.versions.workspace import Workspace

VERSIONS = "/console/versions"
SCRIPT = element("script", "", src="/console/static/versions.js", defer="")
VERSIONS_SHOWN = 100
HISTORY_SHOWN = 50
VERSION_NUMBER = 6
"""Digits a version number in a form may have."""
NO_WORKSPACE = (
    "The Versions page needs the designers' draft (design.dir) on this server; the server's"
    " log says why it could not be made (often: the project's model is missing, run `ivr train`)."
)


@dataclass(frozen=True)
class VersionsView:
    """Everything the page shows, read in one go off the event loop."""

    base: int | None
    diffs: list[FileDiff]
    more_files: int
    report: dict[str, Any] | None
    """The draft's last test report, if still valid for the draft as it is now."""
    versions: list[Version]
    published: Publication | None
    history: list[Publication]


async def versions(request: web.Request) -> web.StreamResponse:
    """``/console/versions``: the draft, its test, publishing, versions and history."""
    tools = state_of(request).tools
    workspace = tools.workspace
    if workspace is None:
        return message(request, "Versions", NO_WORKSPACE, 200)
    view = await asyncio.to_thread(_view, workspace)
    session = session_of(request)
    publisher = session.user.role in DESIGN_EDITORS
    latest = tools.draft_tests.latest if tools.draft_tests is not None else None
    running = latest is not None and latest.running
    body = render(
        "versions.html",
        draft=_draft(view, session, publisher, running),
        test=_test(view, latest, session, publisher, tools.draft_tests is not None),
        publish=_publish(view, session, publisher),
        versions=_versions(view, session, publisher),
        history=_history(view),
        script=SCRIPT if running else "",
    )
    return page(request, "Versions", body)


async def test_progress(request: web.Request) -> web.StreamResponse:
    """``/console/versions/test.json``: the running (or last) test's steps, for the page."""
    desk = state_of(request).tools.draft_tests
    latest = desk.latest if desk is not None else None
    if latest is None:
        return web.json_response({"running": False, "test": None})
    steps = [{**step.as_dict(), "live": step.live_line} for step in latest.steps]
    for step in steps:
        step.pop("results")
    return web.json_response(
        {
            "running": latest.running,
            "test": {"by": latest.by, "started_at": latest.started_at, "steps": steps},
        }
    )


async def start_test(request: web.Request) -> web.StreamResponse:
    """POST: test the draft in the background (or show the test already running)."""
    console = state_of(request)
    desk = console.tools.draft_tests
    if desk is None:
        return message(request, "Testing unavailable", _NO_TESTS, 503)
    user = session_of(request).user
    if desk.start(user.name):
        await asyncio.to_thread(console.audit.record, user.name, audit.DESIGN_TEST, "draft")
    return redirect(f"{VERSIONS}#test")


async def publish(request: web.Request) -> web.StreamResponse:
    """POST: make the tested draft a new version and publish it (an override: admins only)."""
    console = state_of(request)
    workspace = _workspace(request)
    form = await request.post()
    text = " ".join((params.one(form, "message", MAX_MESSAGE) or "").split())
    if not text:
        return message(
            request,
            "Not published",
            "Say what the draft changes: a version needs a message for the history.",
            400,
        )
    override = params.one(form, "override", 3) == "yes"
    user = session_of(request).user
    if override and user.role != "admin":
        return message(
            request,
            "Not allowed",
            "Only an admin may publish a draft whose test has not passed.",
            403,
        )
    try:
        version = await asyncio.to_thread(
            workspace.draft.publish, author=user.name, message=text, override=override
        )
    except VersionError as exc:
        return message(request, "Not published", f"The draft was not published: {exc}.", 409)
    action = audit.VERSION_OVERRIDE if version.override else audit.VERSION_PUBLISH
    await asyncio.to_thread(
        console.audit.record, user.name, action, f"version {version.number}", text
    )
    return redirect(f"{VERSIONS}#versions")


async def rollback(request: web.Request) -> web.StreamResponse:
    """POST: publish an earlier version again."""
    console = state_of(request)
    store = _workspace(request).store
    form = await request.post()
    given = params.one(form, "version", VERSION_NUMBER)
    if given is None or not given.isdigit():
        raise params.BadRequest("version is a version number")
    number = int(given)
    user = session_of(request).user
    try:
        done = await asyncio.to_thread(store.roll_back, number, by=user.name)
    except VersionError as exc:
        return message(request, "Not rolled back", f"The version was not published: {exc}.", 409)
    await asyncio.to_thread(
        console.audit.record, user.name, audit.VERSION_ROLLBACK, f"version {number}", done.detail
    )
    return redirect(f"{VERSIONS}#versions")


async def discard(request: web.Request) -> web.StreamResponse:
    """POST: throw the draft's edits away and start again from the published version."""
    console = state_of(request)
    workspace = _workspace(request)
    desk = console.tools.draft_tests
    if desk is not None and desk.latest is not None and desk.latest.running:
        return message(
            request,
            "Not discarded",
            "The draft is being tested: discard it once the test is done.",
            409,
        )
    user = session_of(request).user
    try:
        start = await asyncio.to_thread(_restart_point, workspace)
        await asyncio.to_thread(workspace.draft.reset, start, author=user.name)
    except VersionError as exc:
        return message(request, "Not discarded", f"{exc}.", 409)
    await asyncio.to_thread(
        console.audit.record,
        user.name,
        audit.DESIGN_DISCARD,
        "draft",
        f"started again from version {start.number}",
    )
    return redirect(VERSIONS)


_NO_TESTS = "Testing the draft needs the bot's engines: the server `ivr serve` runs has them."


def _workspace(request: web.Request) -> Workspace:
    workspace = state_of(request).tools.workspace
    if workspace is None:
        raise web.HTTPNotFound()
    return workspace


def _restart_point(workspace: Workspace) -> Version:
    """Where a discarded draft starts again: the published version, else its own base."""
    store = workspace.store
    published = store.published_version()
    if published is not None:
        return published
    base = workspace.draft.base
    if base is None:
        raise VersionError("there is no version to start the draft again from")
    return store.get(base)


def _view(workspace: Workspace) -> VersionsView:
    store, draft = workspace.store, workspace.draft
    diffs, more = draft_diffs(draft)
    return VersionsView(
        base=draft.base,
        diffs=diffs,
        more_files=more,
        report=draft.report(),
        versions=store.all()[-VERSIONS_SHOWN:],
        published=store.published(),
        history=store.history(HISTORY_SHOWN),
    )


# -- sections ---------------------------------------------------------------------------------


def _draft(view: VersionsView, session: Session, publisher: bool, running: bool) -> Markup:
    base = f"version {view.base}" if view.base is not None else "no version"
    parts: list[object] = []
    if not view.diffs:
        parts.append(element("p", f"The draft is {base}, unchanged."))
    else:
        parts.append(
            element(
                "p", f"The draft changes {len(view.diffs) + view.more_files} file(s) of {base}:"
            )
        )
        parts.extend(diff_block(diff) for diff in view.diffs)
        if view.more_files:
            parts.append(
                element("p", f"{view.more_files} more changed file(s) not shown.", class_="note")
            )
    if publisher and view.diffs and not running:
        parts.append(
            _button_form(
                session,
                f"{VERSIONS}/discard",
                "Discard the draft",
                "Throws every edit away: the draft starts again from the published version.",
                class_="discard",
            )
        )
    return join(parts)


def _test(
    view: VersionsView,
    latest: DraftTest | None,
    session: Session,
    publisher: bool,
    can_test: bool,
) -> Markup:
    parts: list[object] = []
    if latest is not None and latest.running:
        parts.append(_test_block(latest, "running"))
    elif view.report is not None:
        parts.append(element("p", "The last test, of the draft as it is now:"))
        parts.append(_test_block(DraftTest.from_report(view.report), "done"))
    elif latest is not None and not latest.kept:
        parts.append(
            element(
                "p",
                "The draft changed while it was tested: this test does not count for"
                " publishing. Test it again.",
                class_="error",
            )
        )
        parts.append(_test_block(latest, "done"))
    else:
        parts.append(
            element(
                "p",
                "No test of the draft as it is now: it has not been tested since its last change.",
            )
        )
    if not can_test:
        parts.append(element("p", _NO_TESTS, class_="note"))
    elif publisher and not (latest is not None and latest.running):
        parts.append(
            _button_form(
                session,
                f"{VERSIONS}/test",
                "Test the draft",
                "Validates the data, trains the model if the draft changed it, runs the QA scripts"
                " and replays recent calls against the draft.",
                class_="start-test",
            )
        )
    return join(parts)


def _test_block(test: DraftTest, state: str) -> Markup:
    head = f"Started {when(test.started_at)} UTC by {test.by}" + (
        f", done {when(test.finished_at)} UTC." if test.finished_at else "; running."
    )
    if test.running:
        verdict = element("p", "This page follows the test until it is done.", class_="note")
    else:
        verdict = element(
            "p",
            ("PASSED" if test.passed else "FAILED") + f" — {test.summary}",
            class_="verdict " + ("passed" if test.passed else "failed"),
        )
        if test.error:
            verdict = join([verdict, element("p", test.error, class_="error")])
    return render(
        "draft_test.html",
        state=state,
        started_at=str(test.started_at),
        head=head,
        verdict=verdict,
        steps=join(_step(step, test.running) for step in test.steps),
    )


def _step(step: Step, running: bool) -> Markup:
    lines = [*step.lines, *([step.live_line] if running and step.live_line else [])]
    return render(
        "draft_step.html",
        status=step.status,
        name=step.name,
        title=step.title,
        note=step.note,
        open=" open" if step.status in ("running", "failed") else "",
        lines="\n".join(lines),
        results=_results(step),
    )


def _results(step: Step) -> Markup:
    results = [CallResult.from_dict(data) for data in step.results]
    if step.name == "qa":
        return join(_script_result(result) for result in results)
    return join(
        element(
            "article",
            join([element("h4", f"Call {result.name}"), *replay_outcome(result, result.error)]),
            class_="replayed",
        )
        for result in results
    )


def _script_result(result: CallResult) -> Markup:
    verdict = "PASS" if result.passed else "FAIL"
    parts: list[object] = [
        element("h4", f"{verdict} {result.name}: {result.outcome} in {result.wall_s:.0f} s")
    ]
    failed = [(c.what, c.expected, c.got) for c in result.checks if not c.ok]
    if failed:
        parts.append(table(("check", "expected", "got"), failed, class_="diff"))
    if result.error:
        parts.append(element("p", result.error, class_="error"))
    return element("article", join(parts), class_="script-result " + verdict.lower())


def _publish(view: VersionsView, session: Session, publisher: bool) -> Markup:
    report = view.report
    if report is None:
        state = "The draft has no test report for its current content: test it first."
    elif report.get("passed"):
        state = "The draft's last test passed: it may be published."
    else:
        state = "The draft's last test failed: fix the draft and test it again."
    parts: list[object] = [element("p", state)]
    if not view.diffs:
        parts.append(
            element("p", "The draft changes nothing against its base version.", class_="note")
        )
    if publisher:
        override = render("override.html") if session.user.role == "admin" else Markup("")
        parts.append(
            render(
                "publish.html",
                token=hidden_token(session.csrf_token),
                max=str(MAX_MESSAGE),
                override=override,
            )
        )
    return join(parts)


def _versions(view: VersionsView, session: Session, publisher: bool) -> Markup:
    if not view.versions:
        return element("p", "No versions yet: the bot runs the project's own files.")
    published = view.published.version if view.published is not None else None
    rows = []
    for version in reversed(view.versions):
        is_published = version.number == published
        action: object = ""
        if is_published:
            action = element("strong", "published")
        elif publisher:
            action = _rollback_form(session, version.number, published)
        rows.append(
            (
                version.number,
                when(version.created_at),
                version.author,
                version.message,
                _tests(version),
                action,
            )
        )
    return table(
        ("version", "created (UTC)", "by", "message", "tests", ""), rows, class_="versions"
    )


def _tests(version: Version) -> str:
    if version.override:
        return f"override by {version.override}"
    if not version.tests:
        return "none recorded"
    return "passed" if version.tests.get("passed") else "failed"


def _history(view: VersionsView) -> Markup:
    if not view.history:
        return element("p", "Nothing published yet.")
    rows = [
        (
            when(entry.at),
            entry.version,
            entry.action,
            entry.by,
            "" if entry.previous is None else entry.previous,
        )
        for entry in view.history
    ]
    return table(("when (UTC)", "version", "action", "by", "before it"), rows)


def _rollback_form(session: Session, number: int, published: int | None) -> Markup:
    label = (
        f"Roll back to version {number}"
        if published is None or number < published
        else f"Publish version {number} again"
    )
    return _form(session, f"{VERSIONS}/rollback", label, "rollback", hidden("version", number))


def _button_form(session: Session, action: str, label: str, note: str, class_: str) -> Markup:
    return join([_form(session, action, label, class_), element("p", note, class_="note")])


def _form(session: Session, action: str, label: str, class_: str, fields: object = "") -> Markup:
    """A form of one button (and its ``fields``) that posts to ``action``."""
    return render(
        "version_button.html",
        class_name=class_,
        action=action,
        token=hidden_token(session.csrf_token),
        fields=fields,
        label=label,
    )
