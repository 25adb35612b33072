"""The analytics dashboard (``/console/analytics``) and its CSV export (``analytics.csv``).

The page is a list of parts; each part's table is what the page shows under its chart and what
its CSV holds (``?section=KEY``), so a download always says what the page said. Downloads are
written to the audit log: they leave the console with what callers said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from ivr.console import audit, charts, params
from ivr.console.analytics import (
    LOW_CONFIDENCE,
    MAX_PERIOD_DAYS,
    RATED_OUTCOMES,
    Report,
)
from ivr.console.csv_export import csv_response
from ivr.console.html import Markup, element, fields, join, link, render, table
from ivr.console.layout import page
from ivr.console.queries import OUTCOMES
from ivr.console.state import session_of, state_of

PATH = "/console/analytics"
RATE_NAMES = {"self_served": "containment", "handed_off": "handoff", "abandoned": "abandonment"}
FINISHED = tuple(outcome for outcome in OUTCOMES if outcome != "in_progress")
SHOWN_VARIANTS = 3
"""Other wordings of a hot topic listed beside its example."""


@dataclass(frozen=True)
class Table:
    headings: tuple[str, ...]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Part:
    """One section of the dashboard: what it means, its table (also its CSV), its chart."""

    key: str
    title: str
    explains: str
    table: Callable[[Report], Table]
    chart: Callable[[Report], Markup] | None = None


def percent(part: float, whole: float) -> str:
    """``part`` of ``whole`` in percent, one decimal; empty when ``whole`` is 0."""
    return f"{100 * part / whole:.1f}" if whole else ""


def _calls_per_day(report: Report) -> Table:
    return Table(("day (UTC)", "calls"), [(str(day), n) for day, n in report.calls_per_day])


def _calls_per_hour(report: Report) -> Table:
    return Table(
        ("hour (UTC)", "calls"), [(f"{h:02d}:00", n) for h, n in enumerate(report.calls_per_hour)]
    )


def _outcomes(report: Report) -> Table:
    rows = [
        (
            outcome,
            RATE_NAMES.get(outcome, ""),
            calls,
            percent(calls, report.finished) if outcome in FINISHED else "",
        )
        for outcome in OUTCOMES
        for calls in [report.outcomes.get(outcome, 0)]
    ]
    return Table(("outcome", "rate", "calls", "% of finished calls"), rows)


def _reasons(report: Report) -> Table:
    rows = [
        (
            r.outcome,
            r.reason or "(none given)",
            r.calls,
            percent(r.calls, report.outcomes[r.outcome]),
        )
        for r in report.reasons
    ]
    return Table(("outcome", "reason", "calls", "% of the outcome's calls"), rows)


def _first_intents(report: Report) -> Table:
    total = sum(n for _, n in report.first_intents)
    rows = [(intent, n, percent(n, total)) for intent, n in report.first_intents]
    return Table(("intent", "calls", "% of these calls"), rows)


def _turn_intents(report: Report) -> Table:
    return Table(("intent", "turns"), list(report.turn_intents))


def _funnels(report: Report) -> Table:
    rows: list[Sequence[object]] = []
    for counts in report.funnels:
        entered = counts.calls[0]
        for index, step in enumerate(counts.funnel.steps):
            before = counts.calls[index - 1] if index else entered
            reached = counts.calls[index]
            rows.append(
                (
                    counts.funnel.name,
                    index + 1,
                    step.name,
                    reached,
                    percent(reached, entered),
                    percent(reached, before),
                    step.meaning,
                )
            )
    headings = ("flow", "step", "name", "calls", "% of entered", "% of step before", "means")
    return Table(headings, rows)


def _survey(report: Report) -> Table:
    rows = [
        (str(day.day), day.answers, "" if day.average is None else f"{day.average:.2f}")
        for day in report.survey_days
    ]
    return Table(("day (UTC)", "answers", "average score (1-5)"), rows)


def _survey_scores(report: Report) -> Table:
    total = sum(report.survey_scores.values())
    rows = [(score, n, percent(n, total)) for score, n in report.survey_scores.items()]
    return Table(("score", "answers", "% of answers"), rows)


def _latency(report: Report) -> Table:
    rows = [(s.stage, s.turns, s.p50_ms, s.p95_ms) for s in report.latency]
    return Table(("stage", "turns", "p50 ms", "p95 ms"), rows)


def _hot_topics(report: Report) -> Table:
    rows = [
        (
            rank,
            topic.example,
            topic.turns,
            len(topic.variants),
            " | ".join(topic.variants[:SHOWN_VARIANTS]),
        )
        for rank, topic in enumerate(report.hot_topics, 1)
    ]
    return Table(("rank", "said", "turns", "other wordings", "some of them"), rows)


def _funnel_charts(report: Report) -> Markup:
    return join(
        join(
            [
                element("h3", counts.funnel.name),
                charts.bars(
                    f"{counts.funnel.name}: calls reaching each step",
                    [(s.name, n) for s, n in zip(counts.funnel.steps, counts.calls, strict=True)],
                    "calls",
                ),
            ]
        )
        for counts in report.funnels
    )


PARTS = (
    Part(
        "calls_per_day",
        "Calls per day",
        "Calls that started on each UTC day of the period.",
        _calls_per_day,
        lambda r: charts.columns(
            "Calls per day", [(str(d)[5:], n) for d, n in r.calls_per_day], "day (UTC)", "calls"
        ),
    ),
    Part(
        "calls_per_hour",
        "Calls per hour of the day",
        "Calls of the whole period by the hour (UTC) they started in.",
        _calls_per_hour,
        lambda r: charts.columns(
            "Calls per hour of the day",
            [(f"{h:02d}", n) for h, n in enumerate(r.calls_per_hour)],
            "hour of the day (UTC)",
            "calls",
        ),
    ),
    Part(
        "outcomes",
        "Outcomes",
        "How calls ended. Containment: the bot served the caller to the end (self_served); "
        "handoff: passed to an agent (handed_off); abandonment: the caller hung up first "
        "(abandoned). Shares are of finished calls (all but in_progress).",
        _outcomes,
        lambda r: charts.bars(
            "Share of finished calls by outcome",
            [(o, float(percent(r.outcomes.get(o, 0), r.finished) or 0)) for o in FINISHED],
            "% of finished calls",
        ),
    ),
    Part(
        "reasons",
        "Reasons",
        "The most frequent reasons recorded for each outcome (calls.reason: the handoff reason, "
        "why the bot hung up, what the transport said when the caller left).",
        _reasons,
    ),
    Part(
        "first_intents",
        "Intent mix: first request",
        "The intent of each call's first caller turn (speech or keypad), as the NLU understood it.",
        _first_intents,
        lambda r: charts.bars("First request of each call", r.first_intents, "calls"),
    ),
    Part(
        "turn_intents",
        "Intent mix: all caller turns",
        "The intent of every caller turn (speech or keypad; PIN entry and silence left out).",
        _turn_intents,
    ),
    Part(
        "funnels",
        "Task completion",
        "Each flow from request to task done. A call reaches a step when it reached the step "
        "before and any of its turns shows this one (the intent understood, or the bot's reply).",
        _funnels,
        _funnel_charts,
    ),
    Part(
        "survey",
        "Caller satisfaction",
        "The end-of-call survey (1 to 5): answers the bot thanked for, keyed or spoken, by the "
        "day the call started; average score per day.",
        _survey,
        lambda r: charts.columns(
            "Average survey score per day",
            [(str(d.day)[5:], d.average or 0.0) for d in r.survey_days],
            "day (UTC)",
            "average score",
        ),
    ),
    Part("survey_scores", "Survey scores", "Answers per score.", _survey_scores),
    Part(
        "latency",
        "Turn latency by stage",
        "Per turn, in whole milliseconds (nearest rank): endpoint (end of speech to the "
        "utterance closing), asr (to the transcript), dialogue (the assistant's reply), tts "
        "first audio (reply to first bot audio), response (end of speech to first bot audio: "
        "what the caller waits).",
        _latency,
        lambda r: charts.bars(
            "Turn latency p95 by stage", [(s.stage, s.p95_ms or 0) for s in r.latency], "p95 ms"
        ),
    ),
    Part(
        "hot_topics",
        "Hot topics",
        f"What callers said that was not understood (nlu_fallback, or intent confidence under "
        f"{LOW_CONFIDENCE:g}), near-duplicates grouped (half their words shared), most turns "
        "first; transcripts as stored (masked).",
        _hot_topics,
    ),
)
PART_KEYS = tuple(part.key for part in PARTS)


async def analytics(request: web.Request) -> web.StreamResponse:
    console = state_of(request)
    period = params.period(request.query, console.today())
    report = await asyncio.to_thread(console.analytics.report, period)
    form = render(
        "analytics.html",
        first=str(period.first),
        last=str(period.last),
        days=len(period.days),
        max_days=MAX_PERIOD_DAYS,
        headline=_headline(report),
        parts=join(_part(part, report) for part in PARTS),
    )
    return page(request, "Analytics", form)


async def analytics_csv(request: web.Request) -> web.StreamResponse:
    console = state_of(request)
    key = params.choice(request.query, "section", PART_KEYS)
    period = params.period(request.query, console.today())
    report = await asyncio.to_thread(console.analytics.report, period)
    user = session_of(request).user
    days = f"{period.first}..{period.last}"
    await asyncio.to_thread(console.audit.record, user.name, audit.ANALYTICS_EXPORT, key, days)
    found = next(part for part in PARTS if part.key == key).table(report)
    name = f"analytics-{key}-{period.first}-{period.last}.csv"
    return csv_response(name, found.headings, found.rows)


def _headline(report: Report) -> Markup:
    figures: dict[str, object] = {"calls": report.calls, "finished": report.finished}
    for outcome in RATED_OUTCOMES:
        share = percent(report.outcomes.get(outcome, 0), report.finished)
        figures[f"{RATE_NAMES[outcome]} ({outcome})"] = f"{share} %" if share else "no calls"
    return element("div", fields(figures), class_="headline")


def _part(part: Part, report: Report) -> Markup:
    found = part.table(report)
    period = report.period
    days = {"from": str(period.first), "to": str(period.last)}
    download = link(f"{PATH}.csv", f"{part.title} as CSV", section=part.key, **days)
    return element(
        "section",
        join(
            [
                element("h2", part.title),
                element("p", part.explains, class_="note"),
                part.chart(report) if part.chart is not None else "",
                table(found.headings, found.rows, class_="figures"),
                element("p", download, class_="more"),
            ]
        ),
        id=part.key,
        class_="analytics",
    )
