"""An index of the words said in every turn, so the calls list finds words without reading them all.

A word search over 100,000 calls used to read every turn's transcript and reply (``LIKE
'%...%'`` uses no ordinary index): 374-610 ms when no call holds the words, over the console's
300 ms. Now each database keeps a full-text index of ``turns``: SQLite an FTS5 table (the
``unicode61`` tokenizer; external content, so the text is not stored twice) kept in step by
triggers on ``turns``, PostgreSQL a GIN index over the ``simple`` text-search vector of the
same two columns. Both find the searched words next to each other, case and accents aside,
the last one as a word beginning unless the search ends after it: "card bal" finds "your
card balance is", "stole" finds "stolen", "call 17." finds call 17 but not 170. Created with
the console's tables; on a records database that already holds calls the SQLite index is
built then, once (2 s for 570,000 turns). Text with no word in it (only punctuation) is
looked for as it is written, by ``LIKE``.
"""

from __future__ import annotations

import re

from ivr.logs import get_logger
from logfields import fields
from storage.db import Database, Dialect, Tx

log = get_logger(__name__)

TABLE = "turns_words"
_WORD = re.compile(r"\w+")
_ENDS_IN_WORD = re.compile(r"\w$")
_COLUMNS = "transcript, bot_text"
_REMOVE = (
    f"INSERT INTO {TABLE} ({TABLE}, rowid, {_COLUMNS})"
    " VALUES ('delete', old.rowid, old.transcript, old.bot_text);"
)
_ADD = f"INSERT INTO {TABLE} (rowid, {_COLUMNS}) VALUES (new.rowid, new.transcript, new.bot_text);"
SQLITE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}"
    f" USING fts5({_COLUMNS}, content='turns', tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_insert AFTER INSERT ON turns BEGIN {_ADD} END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_delete AFTER DELETE ON turns BEGIN {_REMOVE} END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_update AFTER UPDATE ON turns BEGIN {_REMOVE} {_ADD} END",
)
"""One statement each: the triggers' bodies hold semicolons, so no ``;``-split script."""
PG_VECTOR = "to_tsvector('simple', transcript || ' ' || bot_text)"
POSTGRESQL = f"CREATE INDEX IF NOT EXISTS {TABLE} ON turns USING gin ({PG_VECTOR})"


def create_word_index(db: Database, tx: Tx) -> None:
    """The index for ``db``'s dialect, built from the turns already there when it is new."""
    if db.dialect == "postgresql":
        tx.execute(POSTGRESQL)
        return
    new = tx.one("SELECT 1 AS found FROM sqlite_master WHERE name = ?", (TABLE,)) is None
    for statement in SQLITE:
        tx.execute(statement)
    if new:
        tx.execute(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('rebuild')")
        count = tx.one("SELECT COUNT(*) AS turns FROM turns")
        log.info("console.word_index_built", extra=fields(turns=count["turns"] if count else 0))


def words_in(text: str) -> list[str]:
    """The words of a search, lower case (none: it is punctuation only)."""
    return _WORD.findall(text.lower())


def calls_saying(text: str, dialect: Dialect) -> tuple[str, str] | None:
    """A condition on ``calls c`` that one of its turns holds the words of ``text`` next to each
    other, and its one parameter; None when ``text`` has no word, so the caller looks for it as
    written. The last word is a beginning ("card bal") unless the text ends after it ("of call
    17." is call 17, not 170)."""
    words = words_in(text)
    if not words:
        return None
    prefix = _ENDS_IN_WORD.search(text) is not None
    if dialect == "postgresql":
        query = " <-> ".join([*words[:-1], words[-1] + (":*" if prefix else "")])
        turns = f"SELECT call_id FROM turns WHERE {PG_VECTOR} @@ to_tsquery('simple', ?)"
        return f"c.call_id IN ({turns})", query
    # The unary + keeps SQLite from driving the query from the matching turns (then sorting
    # every call they name): it reads the calls newest first by their index as always and
    # looks each one up in the matches, which it gathers once.
    matches = f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ?"
    turns = f"SELECT t.call_id FROM turns t WHERE t.rowid IN ({matches})"
    return f"+c.call_id IN ({turns})", '"' + " ".join(words) + '"' + (" *" if prefix else "")
