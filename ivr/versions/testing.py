"""A test of the designers' draft, as it runs and as its report keeps it: four steps, each with
its status, a note, the last lines of its output and its per-call results.

The pipeline (``ivr.qa.draft_testing``) fills it in; the console's Versions page shows it while it
runs and afterwards, ``ivr versions test`` prints its lines, and :meth:`DraftTest.report` is what
:meth:`ivr.versions.draft.Draft.save_report` keeps. Everything in it is bounded: a step keeps its
last ``MAX_LINES`` lines of at most ``MAX_LINE`` characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

Status = Literal["waiting", "running", "passed", "failed", "skipped", "differs"]
"""``differs``: replayed calls went differently on the draft; shown, but not a failure (a draft
that changes what the bot says is meant to differ: the publisher judges each difference)."""
STEPS = (
    ("validate", "Validate the data (rasa data validate)"),
    ("train", "Train the model"),
    ("qa", "Run the QA scripts"),
    ("replays", "Replay recent calls"),
)
MAX_LINES = 150
MAX_LINE = 400
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

Echo = Callable[[str], None]


@dataclass
class Step:
    """One step of the test."""

    name: str
    title: str
    status: Status = "waiting"
    note: str = ""
    lines: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    """Per QA script or replayed call: ``ivr.qa.results.CallResult.as_dict()``."""
    echo: Echo | None = field(default=None, repr=False, compare=False)
    _partial: str = field(default="", repr=False, compare=False)

    def say(self, line: str) -> None:
        """Add one line of output (ANSI colours removed, cut to ``MAX_LINE``)."""
        text = ANSI.sub("", line).rstrip()[:MAX_LINE]
        if not text:
            return
        self.lines.append(text)
        del self.lines[:-MAX_LINES]
        if self.echo is not None:
            self.echo(f"[{self.name}] {text}")

    def feed(self, chunk: str) -> None:
        """Add a program's output as it comes: whole lines are said; a progress bar that
        rewrites its line with carriage returns is said once it ends its line."""
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        for line in complete:
            self.say(line.rstrip("\r").rsplit("\r", 1)[-1])
        self._partial = self._partial[-4 * MAX_LINE :]

    def flush(self) -> None:
        if self._partial:
            self.say(self._partial.rstrip("\r").rsplit("\r", 1)[-1])
            self._partial = ""

    def end(self, status: Status, note: str = "") -> None:
        self.flush()
        self.status = status
        self.note = note
        if self.echo is not None:
            self.echo(f"[{self.name}] {status}" + (f": {note}" if note else ""))

    @property
    def live_line(self) -> str:
        """The line a progress bar is rewriting now (shown while the step runs)."""
        return ANSI.sub("", self._partial.rstrip("\r").rsplit("\r", 1)[-1]).strip()[:MAX_LINE]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "note": self.note,
            "lines": list(self.lines),
            "results": list(self.results),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(
            name=str(data.get("name", "")),
            title=str(data.get("title", "")),
            status=data.get("status", "waiting"),
            note=str(data.get("note", "")),
            lines=[str(line) for line in data.get("lines", [])][-MAX_LINES:],
            results=list(data.get("results", [])),
        )


@dataclass
class DraftTest:
    """One test of the draft: who started it, on which content, its steps and its verdict."""

    by: str
    started_at: float
    fingerprint: str = ""
    """The draft's content fingerprint when the test began: the report vouches for that."""
    steps: list[Step] = field(default_factory=list)
    finished_at: float | None = None
    passed: bool | None = None
    summary: str = ""
    error: str = ""
    kept: bool = False
    """Whether the report was kept as the draft's (the draft did not change meanwhile)."""

    @classmethod
    def start(cls, by: str, at: float, echo: Echo | None = None) -> DraftTest:
        """A test about to run, its steps waiting (``echo``: told every line, for a shell)."""
        return cls(
            by=by, started_at=at, steps=[Step(name, title, echo=echo) for name, title in STEPS]
        )

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def report(self) -> dict[str, Any]:
        """What the draft keeps (``Draft.save_report``): its fingerprint decides validity."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["steps"] = [step.as_dict() for step in self.steps]
        return data

    @classmethod
    def from_report(cls, data: dict[str, Any]) -> DraftTest:
        return cls(
            by=str(data.get("by", "")),
            started_at=float(data.get("started_at") or 0.0),
            fingerprint=str(data.get("fingerprint", "")),
            steps=[Step.from_dict(step) for step in data.get("steps", [])],
            finished_at=data.get("finished_at"),
            passed=data.get("passed"),
            summary=str(data.get("summary", "")),
            error=str(data.get("error", "")),
            kept=bool(data.get("kept")),
        )
