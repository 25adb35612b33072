"""``ivr bench console`` over 2,000 generated calls: every page requested and answered with real
content, the figures written and printed, the database what the bot would store. Behaviour
only: timings are the benchmark's to print, never a test's to assert."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from ivr.bench.console import FILTERS
from ivr.cli import main

CALLS = 2_000
NOTHING = {"calls: intent=rate_service", "calls: q=zebra crossing"}
"""The filters that find no call."""
DEEP = "page 21"
"""Twenty "Older calls" links from the first page."""


def test_the_bench_times_every_page_of_a_generated_database_and_writes_the_figures(
    tmp_path: Path,
) -> None:
    db, out = tmp_path / "calls.db", tmp_path / "console.json"
    argv = ["bench", "console", "--calls", str(CALLS), "--repetitions", "2", "--quiet"]
    done = CliRunner().invoke(main, [*argv, "--db", str(db), "--out", str(out)])
    assert done.exit_code == 0, done.output
    results = json.loads(out.read_text())
    pages = {page["page"]: page for page in results["pages"]}
    filtered = {f"calls: {name}={value}" for name, value in FILTERS}
    assert set(pages) == {
        "home",
        "calls",
        f"calls, {DEEP}",
        "calls: a week",
        "calls: caller",
        *filtered,
        "call",
        "analytics",
        "analytics: 30 days",
        "analytics.csv",
        "NLU inbox",
        "NLU inbox: handoff",
        "talk",
        "audit log",
        "users",
        "calls.json",
        f"calls.json, {DEEP}",
        "call.json",
    }
    for name, page in pages.items():
        assert page["statuses"] == {"200": 2} and page["ms"]["n"] == 2, name
        assert name in done.output
    assert results["not_ok"] == []

    shows = {name: page["shows"] for name, page in pages.items()}
    assert shows["home"]["title"] == "Console"
    assert shows["calls"]["title"] == "Calls" and shows["calls"]["calls"] == 50
    first, deep = shows["calls"]["first_call"], shows[f"calls, {DEEP}"]["first_call"]
    assert shows[f"calls, {DEEP}"]["calls"] == 50 and deep < first  # older calls
    assert shows["calls.json"]["first_call"] == first
    assert shows[f"calls.json, {DEEP}"]["first_call"] == deep
    for name in {"calls: a week", "calls: caller"} | filtered:
        assert (shows[name]["calls"] == 0) == (name in NOTHING), name
    call = shows["call.json"]
    assert shows["call"]["title"] == f"Call {pages['call']['url'].rsplit('/', 1)[1]}"
    assert call["turns"] > 0 and shows["call"]["turns"] == call["turns"]
    assert shows["audit log"]["calls"] > 0, "the call views are audited"
    assert shows["users"]["title"] == "Users"
    assert shows["analytics"]["title"] == shows["analytics: 30 days"]["title"] == "Analytics"
    inbox, handoff = shows["NLU inbox"], shows["NLU inbox: handoff"]
    assert inbox["title"] == handoff["title"] == "NLU inbox"
    assert 0 < handoff["calls"] < inbox["calls"], "items link their calls; handoffs are some"
    assert shows["talk"]["title"] == "Talk to the bot"

    settings = results["settings"]
    assert settings["calls"] == CALLS and settings["repetitions"] == 2
    assert settings["database"] == "sqlite" and results["machine"]["cpus"] >= 1
    _looks_like_the_bots_records(db, settings["turns"])


def _looks_like_the_bots_records(db: Path, turns: int) -> None:
    """The real tables and indexes, callers masked, no PIN and no whole number in a transcript."""
    connection = sqlite3.connect(db)
    count = connection.execute("SELECT COUNT(*), SUM(turns) FROM calls").fetchone()
    assert count == (CALLS, turns)
    assert connection.execute("SELECT COUNT(*) FROM turns").fetchone() == (turns,)
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"calls_started_id", "calls_peer"} <= indexes
    callers = {row[0] for row in connection.execute("SELECT DISTINCT caller FROM calls")}
    assert all(re.search(r"\*{4,}\d{4}", c) or "anonymous" in c for c in callers)
    said = [row[0] for row in connection.execute("SELECT transcript FROM turns")]
    assert not any(re.search(r"\d{8}", text) for text in said)
    secure = connection.execute(
        "SELECT DISTINCT transcript, entities FROM turns WHERE input_kind LIKE 'secure%'"
    ).fetchall()
    assert secure == [("", "[]")]
    connection.close()
