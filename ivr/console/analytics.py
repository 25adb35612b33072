"""The dashboard's figures over a period: SQL over ``calls`` and ``turns``, SQLite or PostgreSQL.

A call belongs to the period when it started in it (UTC days); its turns go with it, so every
query starts from the ``calls_started_id`` index and reaches turns by their key. The database
counts and groups; Python only adds up what comes back, and every result is bounded whatever
the number of calls: hours of the period (at most ``MAX_PERIOD_DAYS`` of them), whole
milliseconds of latency (up to ``LATENCY_CAP_MS``), and the ``LIMIT`` of the open-ended
groupings (reasons, intents, survey answers, misunderstood utterances). Percentiles are read
off the per-millisecond counts (nearest rank). Each query reads the period a calendar week at
a time, each week a read-only transaction within the console's read budget, so none holds a
call's record write up for long, and the weeks' counts are added up (a call's week is the one
it started in, so no call counts twice); a whole week long past is read once and kept
(``ivr.console.analytics_cache``). What is shown is what the records hold: transcripts and
reasons masked as written, no PIN.
Blocking (database): call it off the event loop.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from typing import Any, TypeVar

from dialogue.spoken import parse_score
from ivr.console.analytics_cache import Lookup, WeekCache, calls_state, settled
from ivr.console.funnels import FUNNELS, SURVEY_THANKS, Funnel, Step
from ivr.console.schema import READ_BUDGET_S
from ivr.console.topics import Topic, cluster
from storage.db import Database, Row

DAY_S = 86_400
HOUR_S = 3_600
MAX_PERIOD_DAYS = 92
"""The longest period one page covers (a quarter): bounds the rows and the page's time."""
MONDAY = 0
"""Each query reads the period a calendar week (Monday to Monday, UTC) at a time, each week in
a read of its own within the console's read budget: a long period takes longer, but never
holds a writer up longer, and a whole week long past is read once (``analytics_cache``)."""
RATED_OUTCOMES = ("self_served", "handed_off", "abandoned")
"""Containment, handoff and abandonment: the shares of finished calls the dashboard heads."""
REASONED_OUTCOMES = (*RATED_OUTCOMES, "failed")
TOP_REASONS = 5
TOP_INTENTS = 15
TOP_TOPICS = 10
MAX_GROUPS = 1_000
"""The most rows one open-ended grouping brings back, most frequent first."""
MAX_UTTERANCES = 300
"""Distinct misunderstood utterances clustered, most frequent first."""
LOW_CONFIDENCE = 0.55
"""Below this the NLU's confidence band makes a message ``nlu_fallback`` (``threshold`` of
``ConfidenceBandClassifier`` in ``dialogue/config.yml``)."""
FALLBACK_INTENT = "nlu_fallback"
CALLER_INPUTS = ("speech", "dtmf")
"""The caller's own turns (PIN entry, silence and the greeting are not)."""
STAGES = (
    ("endpoint", "endpoint_ms"),
    ("asr", "asr_ms"),
    ("dialogue", "dialogue_ms"),
    ("tts first audio", "tts_first_ms"),
    ("response", "response_ms"),
)
"""The per-stage timings of ``ivr.records.TurnRecord`` (the column names are SQL)."""
LATENCY_CAP_MS = 60_000
"""Latencies are counted per whole millisecond; longer ones count as this."""
NO_INTENT = "(none)"
K = TypeVar("K")
Params = Callable[[float, float], tuple[Any, ...]]
"""A query's parameters for the start and end (epoch seconds) of the stretch it reads."""
IN_PERIOD = "c.started_at >= ? AND c.started_at < ?"
CALLER_TURNS = (
    f"FROM calls c JOIN turns t ON t.call_id = c.call_id WHERE {IN_PERIOD}"
    f" AND t.input_kind IN ({', '.join('?' * len(CALLER_INPUTS))})"
)
"""The caller's turns of the calls in the period (parameters: start, end, CALLER_INPUTS)."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> float:
        return _midnight(self.first)

    @property
    def end(self) -> float:
        """Epoch seconds, exclusive: midnight after ``last``."""
        return _midnight(self.last + timedelta(days=1))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def weeks(self) -> list[tuple[float, float]]:
        """(start, end) epoch seconds of each calendar week of the period, in order; the first
        and last may be part weeks."""
        starts = [day for day in self.days if day == self.first or day.weekday() == MONDAY]
        ends = [*starts[1:], self.last + timedelta(days=1)]
        return [(_midnight(start), _midnight(end)) for start, end in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class Week:
    """A calendar week of a report's period, with the state of its calls when it is settled
    (``analytics_cache``); None when it may still change and is read live."""

    start: float
    end: float
    calls_state: str | None


@dataclass(frozen=True)
class ReasonCount:
    outcome: str
    reason: str
    calls: int


@dataclass(frozen=True)
class FunnelCounts:
    """How many calls reached each step of a funnel (never more than the step before)."""

    funnel: Funnel
    calls: list[int]


@dataclass(frozen=True)
class SurveyDay:
    day: date
    answers: int
    average: float | None


@dataclass(frozen=True)
class StageLatency:
    stage: str
    turns: int
    p50_ms: int | None
    p95_ms: int | None


@dataclass(frozen=True)
class Report:
    """Every figure of the dashboard for one period."""

    period: Period
    calls_per_day: list[tuple[date, int]]
    calls_per_hour: list[int]
    """Calls started in each hour of the day (0-23 UTC) over the period."""
    outcomes: dict[str, int]
    reasons: list[ReasonCount]
    first_intents: list[tuple[str, int]]
    turn_intents: list[tuple[str, int]]
    funnels: list[FunnelCounts]
    survey_days: list[SurveyDay]
    survey_scores: dict[int, int]
    """Answers per score, 1 to 5."""
    latency: list[StageLatency]
    hot_topics: list[Topic]

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())

    @property
    def finished(self) -> int:
        """Calls that have ended: the denominator of the rates."""
        return self.calls - self.outcomes.get("in_progress", 0)

    def rate(self, outcome: str) -> float | None:
        """The share of finished calls with this outcome (None without finished calls)."""
        return self.outcomes.get(outcome, 0) / self.finished if self.finished else None


class AnalyticsQueries:
    """The dashboard's reads of ``calls`` and ``turns``."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._whole = _whole_number(db.dialect)
        self._weeks = WeekCache(db, clock)

    def report(self, period: Period) -> Report:
        weeks = self._weeks_of(period)
        per_hour = self._calls_per_hour(weeks)
        survey_days, survey_scores = self._survey(period, weeks)
        return Report(
            period=period,
            calls_per_day=_per_day(period, per_hour),
            calls_per_hour=_per_hour_of_day(per_hour),
            outcomes=_outcomes(per_hour),
            reasons=self._reasons(weeks),
            first_intents=self._first_intents(weeks),
            turn_intents=self._turn_intents(weeks),
            funnels=self._funnels(weeks),
            survey_days=survey_days,
            survey_scores=survey_scores,
            latency=self._latency(weeks),
            hot_topics=self._hot_topics(weeks),
        )

    def _weeks_of(self, period: Period) -> list[Week]:
        """The period's calendar weeks, the state of each settled one read once for all the
        report's queries (about ten a week), in a read of its own. Rows read after their week
        changed are kept under the earlier state: the next report finds another, reads again."""
        now = self.clock()
        weeks: list[Week] = []
        for start, end in period.weeks():
            state = None
            if settled(start, end, now):
                with self.db.reading(READ_BUDGET_S) as tx:
                    state = calls_state(tx, start, end)
            weeks.append(Week(start, end, state))
        return weeks

    def _rows(self, weeks: list[Week], sql: str, params: Params) -> list[Row]:
        """The rows of ``sql`` for each week in turn, each week a read of its own; ``params``
        gives the query's parameters for a week's start and end."""
        rows: list[Row] = []
        for week in weeks:
            looked: Lookup | None = None
            with self.db.reading(READ_BUDGET_S) as tx:
                if week.calls_state is not None:
                    looked = self._weeks.lookup(
                        tx, sql, params(week.start, week.end), week.calls_state
                    )
                read = looked.rows if looked and looked.rows is not None else None
                if read is None:
                    read = tx.all(sql, params(week.start, week.end))
            if looked is not None and looked.rows is None:
                self._weeks.keep(looked, read)
            rows.extend(read)
        return rows

    def _calls_per_hour(self, weeks: list[Week]) -> list[Row]:
        hour = self._whole(f"c.started_at / {HOUR_S}")
        return self._rows(
            weeks,
            f"SELECT {hour} AS hour, c.outcome, COUNT(*) AS calls FROM calls c"
            f" WHERE {IN_PERIOD} GROUP BY {hour}, c.outcome",
            lambda start, end: (start, end),
        )

    def _reasons(self, weeks: list[Week]) -> list[ReasonCount]:
        rows = self._rows(
            weeks,
            "SELECT c.outcome, c.reason, COUNT(*) AS calls FROM calls c"
            f" WHERE {IN_PERIOD} AND c.outcome IN ({_marks(len(REASONED_OUTCOMES))})"
            " GROUP BY c.outcome, c.reason ORDER BY calls DESC, c.reason LIMIT ?",
            lambda start, end: (start, end, *REASONED_OUTCOMES, MAX_GROUPS),
        )
        counted = _added(((row["outcome"], row["reason"]), row["calls"]) for row in rows)
        top: list[ReasonCount] = []
        for outcome in REASONED_OUTCOMES:
            reasons = [(reason, n) for (of, reason), n in counted if of == outcome]
            top += [ReasonCount(outcome, reason, n) for reason, n in reasons[:TOP_REASONS]]
        return top

    def _turn_intents(self, weeks: list[Week]) -> list[tuple[str, int]]:
        return self._intent_counts(weeks, f"SELECT t.intent, COUNT(*) AS times {CALLER_TURNS}", ())

    def _first_intents(self, weeks: list[Week]) -> list[tuple[str, int]]:
        first_turn = (
            "SELECT MIN(f.turn) FROM turns f WHERE f.call_id = c.call_id"
            f" AND f.input_kind IN ({_marks(len(CALLER_INPUTS))})"
        )
        return self._intent_counts(
            weeks,
            f"SELECT t.intent, COUNT(*) AS times {CALLER_TURNS} AND t.turn = ({first_turn})",
            CALLER_INPUTS,
        )

    def _intent_counts(
        self, weeks: list[Week], select: str, more: tuple[str, ...]
    ) -> list[tuple[str, int]]:
        rows = self._rows(
            weeks,
            f"{select} GROUP BY t.intent ORDER BY times DESC LIMIT ?",
            lambda start, end: (start, end, *CALLER_INPUTS, *more, MAX_GROUPS),
        )
        counted = _added((row["intent"] or NO_INTENT, row["times"]) for row in rows)
        return counted[:TOP_INTENTS]

    def _funnels(self, weeks: list[Week]) -> list[FunnelCounts]:
        flags: list[str] = []
        reached: list[str] = []
        values: list[Any] = []
        for f, funnel in enumerate(FUNNELS):
            for s, step in enumerate(funnel.steps):
                condition, step_values = _step_condition(step)
                flags.append(f"MAX(CASE WHEN {condition} THEN 1 ELSE 0 END) AS f{f}s{s}")
                values.extend(step_values)
                so_far = " * ".join(f"f{f}s{earlier}" for earlier in range(s + 1))
                reached.append(f"COALESCE(SUM({so_far}), 0) AS r{f}s{s}")
        rows = self._rows(
            weeks,
            f"SELECT {', '.join(reached)} FROM (SELECT {', '.join(flags)}"
            f" FROM calls c JOIN turns t ON t.call_id = c.call_id WHERE {IN_PERIOD}"
            " GROUP BY t.call_id) per_call",
            lambda start, end: (*values, start, end),
        )
        return [
            FunnelCounts(
                funnel,
                [sum(int(row[f"r{f}s{s}"]) for row in rows) for s in range(len(funnel.steps))],
            )
            for f, funnel in enumerate(FUNNELS)
        ]

    def _survey(self, period: Period, weeks: list[Week]) -> tuple[list[SurveyDay], dict[int, int]]:
        """Scores from the turns the bot thanked for (the caller's answer), read with the bot's
        own parser: keyed digits and spoken scores ("four", "excellent") alike."""
        day = self._whole(f"c.started_at / {DAY_S}")
        rows = self._rows(
            weeks,
            f"SELECT {day} AS day, t.intent, t.transcript, COUNT(*) AS answers"
            f" FROM calls c JOIN turns t ON t.call_id = c.call_id WHERE {IN_PERIOD}"
            f" AND t.bot_text LIKE ? GROUP BY {day}, t.intent, t.transcript"
            " ORDER BY answers DESC LIMIT ?",
            lambda start, end: (start, end, f"%{SURVEY_THANKS}%", MAX_GROUPS),
        )
        sums: Counter[int] = Counter()
        answers: Counter[int] = Counter()
        scores: Counter[int] = Counter()
        for row in rows:
            score = parse_score(row["transcript"], answering=row["intent"] != "rate_service")
            if score is None:
                continue
            number = int(row["day"])
            sums[number] += score * row["answers"]
            answers[number] += row["answers"]
            scores[score] += row["answers"]
        days = [
            SurveyDay(day, answers[n], sums[n] / answers[n] if answers[n] else None)
            for day in period.days
            for n in [_day_number(day)]
        ]
        return days, {score: scores[score] for score in range(1, 6)}

    def _latency(self, weeks: list[Week]) -> list[StageLatency]:
        selects = []
        for _, column in STAGES:
            bucket = (
                f"CASE WHEN t.{column} >= {LATENCY_CAP_MS} THEN {LATENCY_CAP_MS}"
                f" ELSE {self._whole(f't.{column}')} END"
            )
            selects.append(
                f"SELECT '{column}' AS stage, {bucket} AS ms, COUNT(*) AS turns"
                f" FROM calls c JOIN turns t ON t.call_id = c.call_id"
                f" WHERE {IN_PERIOD} AND t.{column} IS NOT NULL GROUP BY {bucket}"
            )
        rows = self._rows(
            weeks, " UNION ALL ".join(selects), lambda start, end: (start, end) * len(STAGES)
        )
        histograms: dict[str, Counter[int]] = {column: Counter() for _, column in STAGES}
        for row in rows:
            histograms[row["stage"]][int(row["ms"])] += int(row["turns"])
        return [
            StageLatency(
                stage,
                histograms[column].total(),
                percentile(histograms[column], 50),
                percentile(histograms[column], 95),
            )
            for stage, column in STAGES
        ]

    def _hot_topics(self, weeks: list[Week]) -> list[Topic]:
        rows = self._rows(
            weeks,
            "SELECT t.transcript, COUNT(*) AS turns FROM calls c"
            f" JOIN turns t ON t.call_id = c.call_id WHERE {IN_PERIOD}"
            " AND t.input_kind = 'speech' AND t.transcript <> ''"
            " AND (t.intent = ? OR t.intent_confidence < ?)"
            " GROUP BY t.transcript ORDER BY turns DESC, t.transcript LIMIT ?",
            lambda start, end: (start, end, FALLBACK_INTENT, LOW_CONFIDENCE, MAX_UTTERANCES),
        )
        said = _added((row["transcript"], row["turns"]) for row in rows)
        return cluster(said[:MAX_UTTERANCES])[:TOP_TOPICS]


def percentile(histogram: dict[int, int], wanted: float) -> int | None:
    """The nearest-rank percentile of values given as value -> how many times."""
    values = sorted(histogram)
    ranks = list(accumulate(histogram[value] for value in values))
    if not ranks or not ranks[-1]:
        return None
    wanted_rank = max(1, math.ceil(wanted / 100 * ranks[-1]))
    return values[bisect_left(ranks, wanted_rank)]


def _whole_number(dialect: str) -> Callable[[str], str]:
    """SQL for the whole part of a non-negative number: SQLite's CAST truncates, PostgreSQL's
    rounds, so there it is FLOOR (which SQLite has only when built with math functions)."""
    if dialect == "postgresql":
        return lambda expression: f"FLOOR({expression})"
    return lambda expression: f"CAST({expression} AS INTEGER)"


def _added(counts: Iterable[tuple[K, int]]) -> list[tuple[K, int]]:
    """Counts of the same key (from different weeks) added up; most first, then by key."""
    total: Counter[K] = Counter()
    for key, n in counts:
        total[key] += int(n)
    return sorted(total.items(), key=lambda item: (-item[1], str(item[0])))


def _marks(count: int) -> str:
    """``count`` placeholders for an IN list."""
    return ", ".join("?" * count)


def _step_condition(step: Step) -> tuple[str, list[str]]:
    """SQL true for a turn that matches ``step``, and its parameters."""
    parts: list[str] = []
    values: list[str] = []
    if step.intents:
        parts.append(f"t.intent IN ({_marks(len(step.intents))})")
        values.extend(step.intents)
    for words in step.replies:
        parts.append("t.bot_text LIKE ?")
        values.append(f"%{words}%")
    return " OR ".join(parts), values


def _per_day(period: Period, per_hour: list[Row]) -> list[tuple[date, int]]:
    calls: Counter[int] = Counter()
    for row in per_hour:
        calls[int(row["hour"]) // 24] += int(row["calls"])
    return [(day, calls[_day_number(day)]) for day in period.days]


def _per_hour_of_day(per_hour: list[Row]) -> list[int]:
    calls = [0] * 24
    for row in per_hour:
        calls[int(row["hour"]) % 24] += int(row["calls"])
    return calls


def _outcomes(per_hour: list[Row]) -> dict[str, int]:
    calls: Counter[str] = Counter()
    for row in per_hour:
        calls[row["outcome"]] += int(row["calls"])
    return dict(calls)


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


def _day_number(day: date) -> int:
    """Days since 1970-01-01 (the epoch day the queries group by)."""
    return int(_midnight(day)) // DAY_S
