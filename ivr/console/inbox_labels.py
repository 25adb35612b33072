"""What designers decided about inbox items: labelled (an example written) or dismissed.

A decision is a row of ``console_inbox_labels`` (one per turn: the turn leaves the inbox), added
in the same transaction as its audit row and, for a label, around the write of the example: the
row goes in first (a second decision on the same turn finds it and is refused), then the example
is written into the designers' draft, then the audit rows (the label, and the draft edit it
made); a failed write rolls the row back. Labels made after the current model was trained are
the ones ``ivr train`` has yet to learn; the Caller wording page marks the examples that came
from a label.
Blocking (database, files): call it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from ivr.console import audit
from ivr.console.schema import READ_BUDGET_S
from storage.db import Database, Tx

MAX_PENDING_SHOWN = 100
MAX_LOOKED_UP = 200
"""Examples whose labels one lookup finds (a page of the wording page)."""


class AlreadyDecided(Exception):
    """Someone labelled or dismissed this turn already."""


@dataclass(frozen=True)
class Decision:
    """One decided turn."""

    call_id: str
    turn: int
    decision: str
    intent: str
    example: str
    data_file: str
    decided_by: str
    decided_at: float


class LabelStore:
    """The inbox's decisions (blocking)."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    def label(
        self,
        actor: str,
        call_id: str,
        turn: int,
        intent: str,
        example: str,
        write: Callable[[], str],
    ) -> str:
        """Record the label and run ``write`` (the example into its file; returns the file's
        name) in one transaction; the file's name. Raises AlreadyDecided."""
        with self.db.transaction() as tx:
            at = self._claim(tx, actor, call_id, turn, "labelled", intent, example)
            data_file = write()
            tx.execute(
                "UPDATE console_inbox_labels SET data_file = ? WHERE call_id = ? AND turn = ?",
                (data_file, call_id, turn),
            )
            audit.append(
                tx, at, actor, audit.INBOX_LABEL, call_id, f"turn {turn}: {intent} in {data_file}"
            )
            detail = f"add from the inbox ({call_id} turn {turn}) to {data_file}: {example}"
            audit.append(tx, at, actor, audit.DESIGN_EDIT, intent, detail)
        return data_file

    def dismiss(self, actor: str, call_id: str, turn: int) -> None:
        """Take the turn out of the inbox without an example. Raises AlreadyDecided."""
        with self.db.transaction() as tx:
            at = self._claim(tx, actor, call_id, turn, "dismissed", "", "")
            audit.append(tx, at, actor, audit.INBOX_DISMISS, call_id, f"turn {turn}")

    def labelled_since(self, since: float | None) -> tuple[list[Decision], int]:
        """Labels after ``since`` (None: all), newest first, at most ``MAX_PENDING_SHOWN``,
        and how many there are."""
        with self.db.reading(READ_BUDGET_S) as tx:
            condition = "decision = ? AND decided_at > ?"
            params = ("labelled", since or 0.0)
            rows = tx.all(
                f"SELECT * FROM console_inbox_labels WHERE {condition}"
                " ORDER BY decided_at DESC LIMIT ?",
                (*params, MAX_PENDING_SHOWN),
            )
            total = tx.one(
                f"SELECT COUNT(*) AS n FROM console_inbox_labels WHERE {condition}", params
            )
        return [Decision(**row) for row in rows], int((total or {}).get("n") or 0)

    def labels_of(self, examples: Collection[str]) -> dict[str, Decision]:
        """The newest label that wrote each of ``examples`` (lines as written), if any."""
        wanted = list(dict.fromkeys(examples))[:MAX_LOOKED_UP]
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        with self.db.reading(READ_BUDGET_S) as tx:
            rows = tx.all(
                "SELECT * FROM console_inbox_labels WHERE decision = ?"
                f" AND example IN ({marks}) ORDER BY decided_at",
                ("labelled", *wanted),
            )
        return {row["example"]: Decision(**row) for row in rows}

    def _claim(
        self, tx: Tx, actor: str, call_id: str, turn: int, decision: str, intent: str, example: str
    ) -> float:
        at = self.clock()
        added = tx.execute(
            "INSERT INTO console_inbox_labels (call_id, turn, decision, intent, example,"
            " decided_by, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (call_id, turn) DO NOTHING",
            (call_id, turn, decision, intent, example, actor, at),
        )
        if added != 1:
            raise AlreadyDecided(f"turn {turn} of {call_id} is decided already")
        return at
