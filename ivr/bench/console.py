"""``ivr bench console`` (``make bench-console``): the console's page times over many calls.

A records database of generated calls (:mod:`ivr.bench.generated_calls`, 100,000 by default)
is served by the real console (``Console`` on a listener of its own, 127.0.0.1, a free port);
an admin made through the console's user store logs in over HTTP like a browser (the log-in
form, its CSRF cookie and field), then every page is requested for real: home, the calls list
(first page, a deep page reached by following the "Older calls" links, each filter alone), a
call, the analytics dashboard (its default week, 30 days, a CSV), the NLU inbox (its default
week, and its items said before a handoff) over the assistant's project, the talk page, the
audit log, the users page and the JSON variants. After a warm-up each page is timed several
times, interleaved, request sent to body read; p50, p95 and max per page, flagged
when p95 is over the 300 ms the console is held to. Timings vary on a shared machine: this
prints figures, it asserts none.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import json
import os
import re
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import ClientSession, CookieJar
from tqdm import tqdm

from ivr.bench.generated_calls import Generated, generate
from ivr.bench.report import machine, percentiles
from ivr.config import ConsoleConfig
from ivr.console.app import Console
from ivr.console.browser import log_in
from ivr.console.params import DEFAULT_LIMIT
from ivr.console.schema import open_console_db
from ivr.console.state import CallTools
from ivr.console.users import UserStore

TARGET_MS = 300.0
"""The console's promise: every page's p95 under this, over 100,000 calls."""
HOST = "127.0.0.1"
ADMIN = "bench-admin"
WARM_UPS = 1
"""Untimed requests per page before the timed ones (first-use costs: templates, caches)."""
DEEP_HOPS = 20
"""How many "Older calls" links are followed from the first page to reach the deep page."""
FILTERS = (
    ("outcome", "failed"),
    ("transport", "audiosocket"),
    ("intent", "report_fraud"),
    ("intent", "rate_service"),
    ("handed_off", "yes"),
    ("q", "stolen"),
    ("q", "zebra crossing"),
)
"""Filters timed alone besides the date range and the caller (taken from the data): a rare
outcome, a rare transport, a rare intent (2 calls in 100) and one no call has (every call is
looked at), the handed-off calls, words said in a few calls in 100, and words said in none
(every turn is read: the worst case)."""
OLDER = re.compile(r'<a href="(/console/calls\?[^"]+)">Older calls</a>')
CALL_LINK = re.compile(r'href="/console/calls/([A-Za-z0-9_-]+)"')
TITLE = re.compile(r"<title>(.*?) · IVR console</title>")


@dataclass
class ConsoleBenchPlan:
    calls: int = 100_000
    repetitions: int = 20
    """Timed requests per page."""
    seed: int = 17
    db: Path | None = None
    """Build the database here and keep it (it must not exist yet); None: a temporary folder."""
    out: Path = Path("bench/results/console.json")
    progress: bool = True


@dataclass(frozen=True)
class Target:
    """One page to time: its name in the table, its path and query."""

    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.path}?{urlencode(self.params)}" if self.params else self.path


@dataclass
class Timed:
    """A page's timed requests: milliseconds, statuses, and the last answer's body."""

    ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    body: bytes = b""


async def run_console_bench(
    config: ConsoleConfig,
    plan: ConsoleBenchPlan,
    tools: CallTools,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate the calls, serve them with ``tools`` (the inbox's project), time every page;
    the figures (also written to ``plan.out``)."""
    load_at_start = os.getloadavg()
    with _database(plan.db) as path:
        url = f"sqlite:///{path}"
        echo(f"generating {plan.calls:,} calls in {path} ...")
        made = await asyncio.to_thread(generate, url, plan.calls, plan.seed, plan.progress)
        echo(f"{made.calls:,} calls and {made.turns:,} turns written in {made.seconds:.1f} s")
        password = await asyncio.to_thread(_add_admin, url)
        console = Console(dataclasses.replace(config, host=HOST, port=0), url, tools=tools)
        await console.start()
        try:
            pages = await _measure(console.port, password, made, plan, echo)
        finally:
            await console.stop()
        size_mb = path.stat().st_size / 1e6
    results = _results(plan, made, size_mb, pages, load_at_start)
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    plan.out.write_text(json.dumps(results, indent=2))
    return results


@contextlib.contextmanager
def _database(path: Path | None) -> Iterator[Path]:
    """Where the generated database goes: ``path`` (never an existing file: generated calls
    must not join real ones), else a temporary folder removed afterwards."""
    if path is not None:
        if path.exists():
            raise FileExistsError(f"{path} exists: the benchmark builds a new database")
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="ivr-bench-console-") as folder:
        yield Path(folder) / "calls.db"


def _add_admin(url: str) -> str:
    """An admin through the console's user store (as ``ivr users add``); its password."""
    password = secrets.token_urlsafe(24)
    db = open_console_db(url)
    try:
        UserStore(db, time.time).add(ADMIN, "admin", password, "cli:bench")
    finally:
        db.close()
    return password


async def _measure(
    port: int,
    password: str,
    made: Generated,
    plan: ConsoleBenchPlan,
    echo: Callable[[str], None],
) -> list[dict[str, Any]]:
    jar = CookieJar(unsafe=True)  # the console is on an IP address, not a host name
    async with ClientSession(base_url=f"http://{HOST}:{port}", cookie_jar=jar) as browser:
        answer = await log_in(browser, ADMIN, password)
        if answer.status != 303:
            raise RuntimeError(f"log-in as {ADMIN} answered {answer.status}, not 303")
        targets = await _targets(browser, made)
        echo(f"timing {len(targets)} pages, {plan.repetitions} requests each ...")
        timed = {target.name: Timed() for target in targets}
        for target in targets * WARM_UPS:
            await _fetch(browser, target, Timed())
        for _ in tqdm(range(plan.repetitions), unit="round", disable=not plan.progress):
            for target in targets:
                await _fetch(browser, target, timed[target.name])
    return [_figures(target, timed[target.name]) for target in targets]


async def _targets(browser: ClientSession, made: Generated) -> list[Target]:
    """Every page to time; the deep page, a call and a caller are found as a user would."""
    deep_page, deep = await _follow_older(browser, DEEP_HOPS)
    handed_off = await _json(browser, "/console/calls.json", {"handed_off": "yes"})
    newest = await _json(browser, "/console/calls.json", {})
    call_id = (handed_off["calls"] or newest["calls"])[0]["call_id"]
    calls = [
        Target("calls", "/console/calls"),
        Target(f"calls, page {deep_page}", deep.path, deep.params),
        Target("calls: a week", "/console/calls", _week_in_the_middle(made)),
        *(
            Target(f"calls: {name}={value}", "/console/calls", {name: value})
            for name, value in FILTERS
        ),
        Target("calls: caller", "/console/calls", {"caller": _caller_part(newest["calls"])}),
    ]
    return [
        Target("home", "/console/"),
        *calls,
        Target("call", f"/console/calls/{call_id}"),
        Target("analytics", "/console/analytics"),
        Target("analytics: 30 days", "/console/analytics", _last_days(made, 30)),
        Target("analytics.csv", "/console/analytics.csv", {"section": "funnels"}),
        Target("NLU inbox", "/console/inbox"),
        Target("NLU inbox: handoff", "/console/inbox", {"reason": "handoff"}),
        Target("talk", "/console/talk"),
        Target("audit log", "/console/audit"),
        Target("users", "/console/users"),
        Target("calls.json", "/console/calls.json"),
        Target(f"calls.json, page {deep_page}", "/console/calls.json", deep.params),
        Target("call.json", f"/console/calls/{call_id}.json"),
    ]


async def _follow_older(browser: ClientSession, hops: int) -> tuple[int, Target]:
    """The calls page reached by following "Older calls" up to ``hops`` times (fewer when the
    calls run out), as a person paging back would; its number and where it is."""
    page = Target("calls", "/console/calls")
    number = 1
    for _ in range(hops):
        async with browser.get(page.path, params=page.params) as answer:
            found = OLDER.search(await answer.text())
        if found is None:
            break
        href = urlsplit(html.unescape(found.group(1)))
        page, number = Target("deep", href.path, dict(parse_qsl(href.query))), number + 1
    return number, page


async def _json(browser: ClientSession, path: str, query: dict[str, str]) -> dict[str, Any]:
    async with browser.get(path, params=query) as answer:
        answer.raise_for_status()
        data: dict[str, Any] = await answer.json()
    return data


def _week_in_the_middle(made: Generated) -> dict[str, str]:
    """A week of UTC days halfway through the calls, as the date fields take it."""
    middle = datetime.fromtimestamp((made.first_start + made.last_start) / 2, timezone.utc)
    return {"from": f"{middle.date()}", "to": f"{middle.date() + timedelta(days=6)}"}


def _last_days(made: Generated, days: int) -> dict[str, str]:
    """The ``days`` UTC days ending with the newest call, as the dashboard's form takes them."""
    last = datetime.fromtimestamp(made.last_start, timezone.utc).date()
    return {"from": f"{last - timedelta(days=days - 1)}", "to": f"{last}"}


def _caller_part(calls: list[dict[str, Any]]) -> str:
    """The last four digits of the newest caller that shows some (what a person would type)."""
    for call in calls:
        digits = re.sub(r"\D", "", call["caller"])
        if len(digits) >= 4:
            return digits[-4:]
    raise RuntimeError("no caller id with digits on the first page")


async def _fetch(browser: ClientSession, target: Target, into: Timed) -> None:
    """One request, timed from sending it to having read the whole body."""
    started = time.perf_counter()
    async with browser.get(target.path, params=target.params, allow_redirects=False) as answer:
        body = await answer.read()
    into.ms.append((time.perf_counter() - started) * 1000)
    into.statuses[answer.status] += 1
    into.body = body


def _figures(target: Target, timed: Timed) -> dict[str, Any]:
    figures = percentiles(timed.ms)
    return {
        "page": target.name,
        "url": target.url,
        "statuses": {str(status): n for status, n in sorted(timed.statuses.items())},
        "bytes": len(timed.body),
        "ms": figures,
        "over_target": figures is not None and figures["p95"] > TARGET_MS,
        "shows": _shows(target, timed.body),
    }


def _shows(target: Target, body: bytes) -> dict[str, Any]:
    """What the last answer held, to tell a real page from an error or an empty one: its
    title, the calls it links or lists (count, first), the turns of a call."""
    text = body.decode("utf-8", "replace")
    if target.path.endswith(".json"):
        data = json.loads(text) if text else {}
        ids = [call.get("call_id") for call in data.get("calls", [])]
        title, turns = None, len(data.get("turns", []))
    else:
        found = TITLE.search(text)
        ids = CALL_LINK.findall(text)
        title, turns = (found.group(1) if found else None), text.count('<section class="turn">')
    return {
        "title": title,
        "calls": len(ids),
        "first_call": ids[0] if ids else None,
        "turns": turns,
    }


def _results(
    plan: ConsoleBenchPlan,
    made: Generated,
    size_mb: float,
    pages: list[dict[str, Any]],
    load_at_start: tuple[float, float, float],
) -> dict[str, Any]:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {
            "calls": made.calls,
            "turns": made.turns,
            "database": "sqlite",
            "database_mb": round(size_mb, 1),
            "repetitions": plan.repetitions,
            "warm_ups": WARM_UPS,
            "deep_hops": DEEP_HOPS,
            "page_size": DEFAULT_LIMIT,
            "target_p95_ms": TARGET_MS,
            "seed": plan.seed,
        },
        "generation": {"seconds": made.seconds, "conversations": made.conversations},
        "machine": machine(load_at_start),
        "pages": pages,
        "over_target": [page["page"] for page in pages if page["over_target"]],
        "not_ok": [page["page"] for page in pages if set(page["statuses"]) != {"200"}],
    }


def format_console(results: dict[str, Any]) -> str:
    """The printed table: one line per page, then what missed the target or failed."""
    settings, info = results["settings"], results["machine"]
    generated_s = results["generation"]["seconds"]
    lines = [
        f"{settings['calls']:,} calls, {settings['turns']:,} turns, SQLite "
        f"({settings['database_mb']:.0f} MB), generated in {generated_s:.1f} s;"
        f" {settings['repetitions']} timed requests per page after {settings['warm_ups']} warm-up;"
        f" {info['cpus']} CPUs ({info['cpu_model']}), load {info['load_avg_start']}",
        "",
        f"{'page':<34} {'status':>10} {'KB':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}",
    ]
    for page in results["pages"]:
        ms = page["ms"] or {"p50": 0.0, "p95": 0.0, "max": 0.0}
        statuses = ",".join(page["statuses"])
        flag = f"  over {TARGET_MS:.0f} ms" if page["over_target"] else ""
        lines.append(
            f"{page['page']:<34} {statuses:>10} {page['bytes'] / 1000:>6.1f} {ms['p50']:>7.1f}"
            f" {ms['p95']:>7.1f} {ms['max']:>7.1f}{flag}"
        )
    over, not_ok = results["over_target"], results["not_ok"]
    lines += [
        "",
        f"p95 over {TARGET_MS:.0f} ms: {', '.join(over)}"
        if over
        else f"every page's p95 is within {TARGET_MS:.0f} ms",
    ]
    if not_ok:
        lines.append(f"not answered 200 every time: {', '.join(not_ok)}")
    return "\n".join(lines)
