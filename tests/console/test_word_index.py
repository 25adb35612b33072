"""The word index behind the calls list's search: built from the turns already recorded, kept in
step as the record store adds turns and retention deletes calls, and searched by words (next to
each other, the last one a beginning unless the search ends after it)."""

from __future__ import annotations

import time
from unittest.mock import ANY

import pytest

from ivr.console.queries import CallFilter, CallQueries
from ivr.console.schema import open_console_db
from ivr.console.word_index import calls_saying
from ivr.records import CallRecordStore, TurnRecord
from storage.db import Database, Dialect

SAID = {
    "call-old": "I think my card was stolen yesterday",
    "call-ten": "this is call 10 about a Café",
    "call-one": "this is call 1.",
}


async def record(url: str, call_id: str, said: str, started_at: float | None = None) -> None:
    store = CallRecordStore(url)
    await store.start_call(call_id, "sip", "+15550001111")
    await store.add_turn(TurnRecord(call_id, 0, 0.0, "speech", transcript=said, bot_text="Okay."))
    await store.end_call(call_id, "self_served")
    if started_at is not None:
        with store.db.transaction() as tx:
            tx.execute("UPDATE calls SET started_at = ? WHERE call_id = ?", (started_at, call_id))
    store.close()


def found(db: Database, text: str) -> list[str]:
    page = CallQueries(db).calls(CallFilter(text=text), None, 50)
    return sorted(call.call_id for call in page.rows)


def assert_consistent(db: Database) -> None:
    """FTS5's own check that the index matches ``turns`` row for row (raises if not)."""
    with db.transaction() as tx:
        tx.execute("INSERT INTO turns_words (turns_words, rank) VALUES ('integrity-check', 1)")


@pytest.mark.asyncio(loop_scope="session")
async def test_turns_recorded_before_and_after_the_index_are_found_by_their_words(
    records_url: str,
) -> None:
    await record(records_url, "call-old", SAID["call-old"], started_at=time.time() - 400 * 86400)
    db = open_console_db(records_url)  # built now, from the turn already there
    await record(records_url, "call-ten", SAID["call-ten"])
    await record(records_url, "call-one", SAID["call-one"])
    assert_consistent(db)
    assert found(db, "STOLEN") == ["call-old"]
    assert found(db, "card was stol") == ["call-old"], "the last word is a beginning"
    assert found(db, "was card") == [], "the words must be next to each other, in order"
    assert found(db, "call 1") == ["call-one", "call-ten"]
    assert found(db, "call 1.") == ["call-one"], "a search that ends after its word is whole"
    assert found(db, "cafe") == ["call-ten"], "accents aside"
    assert found(db, "okay") == ["call-old", "call-one", "call-ten"], "the bot's words too"
    assert found(db, "%") == [], "punctuation alone is looked for as written"

    store = CallRecordStore(records_url)
    assert store.delete_calls_before(time.time() - 365 * 86400) == 1
    store.close()
    assert_consistent(db)
    assert found(db, "stolen") == []
    db.close()


@pytest.mark.parametrize(
    ("dialect", "searched"), [("sqlite", '"card bal" *'), ("postgresql", "card <-> bal:*")]
)
def test_only_a_search_with_words_has_a_word_condition(dialect: Dialect, searched: str) -> None:
    assert calls_saying("Card bal", dialect) == (ANY, searched)
    assert calls_saying("%-.", dialect) is None, "looked for as written instead"


def test_opening_the_console_again_keeps_one_index(records_url: str) -> None:
    for _ in range(2):
        open_console_db(records_url).close()
    db = Database(records_url)
    with db.reading(1.0) as tx:
        rows = tx.all(
            "SELECT name FROM sqlite_master WHERE name LIKE 'turns_words%' AND type IN"
            " ('table', 'trigger') ORDER BY name"
        )
    names = [row["name"] for row in rows]
    assert {"turns_words", "turns_words_insert", "turns_words_delete"} <= set(names)
    assert len(names) == len(set(names))
