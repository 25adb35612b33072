"""The analytics dashboard over calls counted by hand (``analytics_calls``): every figure of the
report, the page and its CSV downloads, refused periods, the default period, CSV injection,
and the funnel table against the domain's responses."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient

from ivr.console.analytics import LOW_CONFIDENCE, AnalyticsQueries, Report, StageLatency
from ivr.console.audit import AuditLog
from ivr.console.dashboard import PART_KEYS
from ivr.console.funnels import FUNNELS
from ivr.console.schema import open_console_db
from ivr.console.users import UserStore
from storage.db import Database
from tests.console.analytics_calls import INJECTION, PERIOD, write_calls
from tests.console.conftest import Clock, add_users, log_in

ROOT = Path(__file__).resolve().parents[2]
DAYS = {"from": "2026-03-02", "to": "2026-03-04"}


@pytest.fixture
async def with_calls(records_url: str) -> str:
    await write_calls(records_url)
    return records_url


@pytest.fixture
async def supervisor(client: TestClient, users: UserStore, with_calls: str) -> TestClient:
    add_users(users, "supervisor")
    assert (await log_in(client, "supervisor")).status == 303
    return client


def report_of(url: str) -> Report:
    db = Database(url)
    try:
        return AnalyticsQueries(db).report(PERIOD)
    finally:
        db.close()


async def test_the_report_has_the_hand_counted_figures(with_calls: str) -> None:
    report = report_of(with_calls)
    assert report.calls_per_day == [
        (date(2026, 3, 2), 3),
        (date(2026, 3, 3), 2),
        (date(2026, 3, 4), 3),
    ]
    by_hour = {hour: n for hour, n in enumerate(report.calls_per_hour) if n}
    assert by_hour == {0: 1, 9: 2, 14: 2, 20: 2, 21: 1}
    assert report.outcomes == {
        "self_served": 3,
        "handed_off": 2,
        "abandoned": 1,
        "failed": 1,
        "in_progress": 1,
    }
    assert report.finished == 7
    assert report.rate("self_served") == pytest.approx(3 / 7)
    assert report.rate("handed_off") == pytest.approx(2 / 7)
    assert report.rate("abandoned") == pytest.approx(1 / 7)
    assert [(r.outcome, r.reason, r.calls) for r in report.reasons] == [
        ("self_served", "survey_done", 3),
        ("handed_off", "caller_request", 1),
        ("handed_off", "repeated_fallback", 1),
        ("abandoned", "caller hung up (bye)", 1),
        ("failed", "transport failure: media timeout", 1),
    ]
    assert report.first_intents == [
        ("check_balance", 2),
        ("transfer_money", 2),
        ("branch_hours", 1),
        ("greet", 1),
        ("nlu_fallback", 1),
        ("out_of_scope", 1),
    ]
    assert report.turn_intents == [
        ("inform", 8),
        ("deny", 4),
        ("dtmf", 4),
        ("affirm", 2),
        ("check_balance", 2),
        ("nlu_fallback", 2),
        ("talk_to_agent", 2),
        ("transfer_money", 2),
        ("branch_hours", 1),
        ("greet", 1),
        ("out_of_scope", 1),
        ("rate_service", 1),
        ("report_lost_card", 1),
    ]
    assert {counts.funnel.name: counts.calls for counts in report.funnels} == {
        "Balance": [2, 1, 1],
        "Recent transactions": [0, 0, 0],
        "Transfer": [2, 2, 2, 1, 1],
        "Lost card": [1, 1, 1],
        "Survey": [3, 3],
    }
    assert [(d.day.day, d.answers, d.average) for d in report.survey_days] == [
        (2, 1, 5.0),
        (3, 1, 4.0),
        (4, 1, 2.0),
    ]
    assert report.survey_scores == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert report.latency == [
        StageLatency("endpoint", 0, None, None),
        StageLatency("asr", 27, 200, 200),
        StageLatency("dialogue", 42, 100, 100),
        StageLatency("tts first audio", 0, None, None),
        StageLatency("response", 10, 1100, 5000),
    ]
    assert [(t.example, t.turns, t.variants) for t in report.hot_topics] == [
        ("my card got eaten by the machine", 2, ["uh my card got eaten by the machine"]),
        (INJECTION, 1, []),
    ]


async def test_the_page_shows_the_figures_with_charts(supervisor: TestClient) -> None:
    answer = await supervisor.get("/console/analytics", params=DAYS)
    assert answer.status == 200
    page = await answer.text()
    headline = re.search(r'<div class="headline">(.*?)</div>', page, re.S)
    assert headline is not None
    for figure in (
        "<dd>8</dd>",
        "<dd>7</dd>",
        "<dd>42.9 %</dd>",
        "<dd>28.6 %</dd>",
        "<dd>14.3 %</dd>",
    ):
        assert figure in headline.group(1), figure
    assert "<td>2026-03-02</td>\n<td>3</td>" in page
    assert "<td>Transfer</td>\n<td>4</td>\n<td>confirmed</td>\n<td>1</td>\n<td>50.0</td>" in page
    assert "<td>response</td>\n<td>10</td>\n<td>1100</td>\n<td>5000</td>" in page
    assert "<td>2026-03-03</td>\n<td>1</td>\n<td>4.00</td>" in page
    assert 'role="img" aria-label="Calls per day"' in page
    assert "<title>03-02: 3</title>" in page
    assert "<title>Transfer: calls reaching each step</title>" in page
    assert page.count('<section id="') == len(PART_KEYS)
    assert "&lt;" not in INJECTION and "=HYPERLINK(&quot;http://evil.example&quot;" in page
    assert "0003" not in page, "no caller id is shown"


async def test_each_csv_holds_its_table_and_is_safe_for_spreadsheets(
    supervisor: TestClient, with_calls: str, clock: Clock
) -> None:
    def rows(text: str) -> list[list[str]]:
        return list(csv.reader(io.StringIO(text)))

    tables = {}
    for key in PART_KEYS:
        answer = await supervisor.get("/console/analytics.csv", params={"section": key, **DAYS})
        assert answer.status == 200, key
        assert answer.content_type == "text/csv" and answer.charset == "utf-8"
        assert answer.headers["Content-Disposition"] == (
            f'attachment; filename="analytics-{key}-2026-03-02-2026-03-04.csv"'
        )
        tables[key] = rows(await answer.text())
    assert tables["calls_per_day"] == [
        ["day (UTC)", "calls"],
        ["2026-03-02", "3"],
        ["2026-03-03", "2"],
        ["2026-03-04", "3"],
    ]
    assert tables["outcomes"][1:3] == [
        ["in_progress", "", "1", ""],
        ["self_served", "containment", "3", "42.9"],
    ]
    assert tables["funnels"][2][:6] == ["Balance", "2", "verified", "1", "50.0", "50.0"]
    assert tables["hot_topics"][2][:3] == ["2", "'" + INJECTION, "1"]
    assert tables["survey_scores"][1:] == [
        ["1", "0", "0.0"],
        ["2", "1", "33.3"],
        ["3", "0", "0.0"],
        ["4", "1", "33.3"],
        ["5", "1", "33.3"],
    ]
    db = open_console_db(with_calls)
    exports = [e for e in AuditLog(db, clock).page(None, 50).rows if e.action == "analytics.export"]
    db.close()
    assert {(e.actor, e.target, e.detail) for e in exports} == {
        ("supervisor", key, "2026-03-02..2026-03-04") for key in PART_KEYS
    }


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"from": "2026-02-30", "to": "2026-03-04"}, "from is a date, YYYY-MM-DD"),
        ({"from": "2026-03-04", "to": "yesterday"}, "to is a date, YYYY-MM-DD"),
        ({"from": "2026-03-05", "to": "2026-03-04"}, "from must not be after to"),
        ({"from": "2026-01-01", "to": "2026-04-03"}, "the period is at most 92 days"),
        ({"from": "2026-03-0\x01"}, "from holds control characters"),
    ],
)
async def test_a_bad_period_gets_a_400_page_that_says_why(
    supervisor: TestClient, query: dict[str, str], says: str
) -> None:
    for path in ("/console/analytics", "/console/analytics.csv"):
        answer = await supervisor.get(path, params={"section": "outcomes", **query})
        assert answer.status == 400, (path, query)
        assert f'<p class="message">{says}</p>' in await answer.text()


async def test_a_csv_needs_a_known_section_given_once(supervisor: TestClient) -> None:
    for query in ({}, {"section": "everything"}, {"section": ["outcomes", "survey"]}):
        answer = await supervisor.get("/console/analytics.csv", params={**DAYS, **query})
        assert answer.status == 400
        assert "section is" in await answer.text()


async def test_the_default_period_is_the_week_ending_today(
    client: TestClient, users: UserStore
) -> None:
    add_users(users, "designer")
    await log_in(client, "designer")
    page = await (await client.get("/console/analytics")).text()  # the clock: 2025-12-06
    assert 'name="from" value="2025-11-30"' in page and 'name="to" value="2025-12-06"' in page
    page = await (await client.get("/console/analytics", params={"from": "2026-03-02"})).text()
    assert 'name="to" value="2026-03-08"' in page
    quarter = await client.get(
        "/console/analytics", params={"from": "2026-01-01", "to": "2026-04-02"}
    )
    assert quarter.status == 200, "92 days is a period one page covers"


def test_every_funnel_step_is_recognised_by_words_of_the_responses_it_names() -> None:
    domain = yaml.safe_load((ROOT / "dialogue/domain.yml").read_text(encoding="utf-8"))
    responses = {
        name: [variant["text"] for variant in variants]
        for name, variants in domain["responses"].items()
    }
    for funnel in FUNNELS:
        for step in funnel.steps:
            named = re.findall(r"utter_\w+", step.meaning)
            assert named or not step.replies, step.name
            texts = [text for name in named for text in responses[name]]
            for words in step.replies:
                assert any(words in text for text in texts), (step.name, words)


def test_low_confidence_is_the_nlu_fallback_threshold() -> None:
    config = yaml.safe_load((ROOT / "dialogue/config.yml").read_text(encoding="utf-8"))
    band = next(c for c in config["pipeline"] if c["name"].endswith("ConfidenceBandClassifier"))
    assert band["threshold"] == LOW_CONFIDENCE
