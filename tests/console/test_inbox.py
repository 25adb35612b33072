"""The NLU inbox over real HTTP on 127.0.0.1: calls written by the real record store, a copy of
the assistant's project (never the repository's own ``data/nlu``), a sealed recording made by
the real recorder for the snippets. Which turns each reason selects, the period, "new since
the model" and paging; labelling (one line in the right file, the rest byte for byte), entity
marks, masked digits, duplicates, near-duplicates and conflicts, dismissing; roles, CSRF and
the audit rows; and the snippet's samples."""

from __future__ import annotations

import difflib
import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml
from aiohttp.test_utils import TestClient

from ivr.console.nlu_project import NluProject
from ivr.console.recordings import RecordingShelf
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.recording_keys import Keyring, create_key_file
from ivr.versions.workspace import Workspace
from ivr.vocabulary import example_lines
from storage.db import Database
from tests.console.conftest import (
    START,
    TRAINED_AT,
    ConsoleFactory,
    add_users,
    log_in,
    post_form,
)
from tests.console.inbox_calls import (
    CALLS,
    HOUR,
    Call,
    expected,
    nlu_files,
    speech,
    write_call,
    write_calls,
)
from tests.console.test_recordings import RATE, audit_rows, record, tone

INBOX = "/console/inbox"
ITEM = re.compile(r'id="item-([A-Za-z0-9_]+)-(\d+)"')


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return create_key_file(tmp_path / "recording.keys")


@pytest.fixture
async def client_as(
    make_client: ConsoleFactory,
    users: UserStore,
    project: NluProject,
    workspace: Workspace,
    keyring: Keyring,
    tmp_path: Path,
    records_url: str,
):
    """A logged-in client for a role, over the fixture calls and the copied project."""
    await write_calls(records_url)
    add_users(users, "designer", "qa", "supervisor", "admin")
    tools = CallTools(
        recordings=RecordingShelf(tmp_path / "recordings", keyring),
        nlu=project,
        workspace=workspace,
    )

    async def make(role: str) -> TestClient:
        client = await make_client(tools=tools)
        assert (await log_in(client, role)).status == 303
        return client

    return make


def items_in(page: str) -> list[tuple[str, int]]:
    return [(call_id, int(turn)) for call_id, turn in ITEM.findall(page)]


def section_of(page: str, call_id: str, turn: int) -> str:
    """One item's section of the page."""
    start = page.index(f'id="item-{call_id}-{turn}"')
    return page[start : page.index("</section>", start)]


async def inbox_items(client: TestClient, **query: str) -> list[tuple[str, int]]:
    answer = await client.get(INBOX, params=query)
    assert answer.status == 200
    return items_in(await answer.text())


def label_rows(records_url: str) -> list[tuple[str, int, str, str, str, str]]:
    db = Database(records_url)
    with db.transaction() as tx:
        rows = tx.all(
            "SELECT call_id, turn, decision, intent, example, data_file"
            " FROM console_inbox_labels ORDER BY decided_at"
        )
    db.close()
    return [tuple(row.values()) for row in rows]  # type: ignore[misc]


def one_line_added(before: bytes, after: bytes) -> str:
    """The single line ``after`` has more than ``before`` (asserting nothing else changed)."""
    old, new = before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True)
    added = [line for line in difflib.ndiff(old, new) if line.startswith(("+ ", "- "))]
    assert len(added) == 1 and added[0].startswith("+ "), added
    index = new.index(added[0][2:])
    assert new[:index] + new[index + 1 :] == old
    return added[0][2:]


async def label(client: TestClient, item: tuple[str, int], **fields: str):
    action = f"{INBOX}/{item[0]}/{item[1]}/label"
    return await post_form(client, INBOX, action, back=INBOX, **fields)


# ---- which turns are in the inbox -------------------------------------------------------------


@pytest.mark.parametrize("reason", ["low_confidence", "fallback", "corrected", "handoff"])
async def test_each_reason_selects_its_turns_and_no_others(client_as, reason: str) -> None:
    client = await client_as("admin")
    wanted = [item for item, reasons in expected().items() if reason in reasons]
    assert wanted  # the fixture has turns for every reason
    assert sorted(await inbox_items(client, reason=reason)) == sorted(wanted)


async def test_all_reasons_newest_call_first_with_why_each_is_there(client_as) -> None:
    client = await client_as("designer")
    page = await (await client.get(INBOX)).text()
    everything = expected()
    assert items_in(page) == sorted(everything, key=lambda item: (item[0], item[1]), reverse=True)
    assert f"{len(everything)} in this period" in page
    inbox02 = section_of(page, "inbox02", 1)
    assert "not understood (fallback) or asked to confirm" in inbox02
    assert "the caller corrected the bot next" in inbox02
    assert "nlu_fallback (0.55)" in inbox02
    assert 'href="/console/calls/inbox02"' in inbox02


async def test_the_period_and_what_is_new_since_the_model(client_as) -> None:
    client = await client_as("qa")
    assert ("inbox08", 1) not in await inbox_items(client)
    ten_days_ago = "2025-11-26"
    older = await inbox_items(client, **{"from": ten_days_ago, "to": ten_days_ago})
    assert older == [("inbox08", 1)]
    new = await inbox_items(client, new="yes")
    after_model = [item for item in expected() if _said_at(item) > TRAINED_AT]
    assert sorted(new) == sorted(after_model) and 0 < len(new) < len(expected())
    page = await (await client.get(INBOX)).text()
    assert f"({len(after_model)} new since the model)" in page
    assert page.count("new since the model</span>") == len(after_model)
    assert (
        await client.get(INBOX, params={"from": "2025-01-01", "to": "2025-12-06"})
    ).status == 400
    assert (await client.get(INBOX, params={"reason": "bored"})).status == 400


def _said_at(item: tuple[str, int]) -> float:
    call = next(call for call in CALLS if call.call_id == item[0])
    return call.at + item[1] * 5.0


async def test_pages_follow_on_without_gaps_or_repeats(client_as) -> None:
    client = await client_as("designer")
    seen: list[tuple[str, int]] = []
    path = f"{INBOX}?limit=2"
    for _ in range(10):
        page = await (await client.get(path)).text()
        found = items_in(page)
        assert len(found) <= 2
        seen += found
        more = re.search(r'<a href="(/console/inbox\?[^"]+)">Older items</a>', page)
        if more is None:
            break
        path = more.group(1).replace("&amp;", "&")
    assert seen == items_in(await (await client.get(INBOX)).text())
    assert (await client.get(INBOX, params={"before": "1.0~x~y"})).status == 400


# ---- labelling --------------------------------------------------------------------------------


async def test_labelling_writes_one_line_after_the_intents_last_example(
    client_as, project: NluProject, records_url: str
) -> None:
    before = nlu_files(project)
    client = await client_as("designer")
    item = ("inbox01", 2)
    answer = await label(client, item, text="uh the thing with my card", intent="report_lost_card")
    assert answer.status == 303 and answer.headers["Location"] == INBOX
    after = nlu_files(project)
    assert {name for name in after if after[name] != before[name]} == {"cards.yml"}
    assert set(after) == set(before)
    line = one_line_added(before["cards.yml"], after["cards.yml"])
    assert line == "      - uh the thing with my card\n"
    items = yaml.safe_load(after["cards.yml"])["nlu"]
    lost = next(entry for entry in items if entry["intent"] == "report_lost_card")
    assert list(example_lines(lost["examples"]))[-1] == "uh the thing with my card"
    assert item not in await inbox_items(client)
    assert label_rows(records_url) == [
        ("inbox01", 2, "labelled", "report_lost_card", "uh the thing with my card", "cards.yml")
    ]
    assert ("designer", "inbox.label", "inbox01", "turn 2: report_lost_card in cards.yml") in (
        audit_rows(records_url)
    )
    page = await (await client.get(INBOX)).text()
    assert "1 example(s) labelled since the current model" in page and "ivr train" in page
    again = await label(client, item, text="uh the thing with my card", intent="report_lost_card")
    assert again.status == 404 or again.status == 409
    assert nlu_files(project) == after


async def test_a_marked_entity_is_annotated_and_rasa_reads_it(
    client_as, project: NluProject
) -> None:
    before = nlu_files(project)
    client = await client_as("admin")
    answer = await label(
        client,
        ("inbox04", 1),
        text="Balance on my Savings?",
        intent="check_balance",
        entity_1="account_type",
        span_1="savings",
    )
    assert answer.status == 303
    after = nlu_files(project)
    line = one_line_added(before["accounts.yml"], after["accounts.yml"])
    assert line == "      - balance on my [savings](account_type)\n"
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(project.nlu_folder / "accounts.yml")
    said = next(m for m in data.intent_examples if m.get("text") == "balance on my savings")
    assert said.get("intent") == "check_balance"
    assert [(e["entity"], e["value"]) for e in said.get("entities")] == [
        ("account_type", "savings")
    ]


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"entity_1": "account_type", "span_1": "checking"}, "is not words of the text"),
        ({"entity_1": "pin", "span_1": "savings"}, "not an entity an example may mark"),
        ({"entity_1": "bogus", "span_1": "savings"}, "not an entity an example may mark"),
        ({"entity_1": "account_type"}, "needs both an entity and its words"),
        (
            {"entity_1": "account_type", "span_1": "my savings", "entity_2": "city",
             "span_2": "savings"},
            "overlaps another marked entity",
        ),
        ({"intent": "nlu_fallback"}, "intent is one of the domain's intents"),
        ({"text": "?!"}, "no words to learn"),
    ],
)  # fmt: skip
async def test_a_bad_label_is_refused_on_the_server_and_writes_nothing(
    client_as, project: NluProject, records_url: str, fields: dict[str, str], refusal: str
) -> None:
    before = nlu_files(project)
    client = await client_as("designer")
    answer = await label(
        client,
        ("inbox04", 1),
        **{"text": "balance on my savings", "intent": "check_balance", **fields},
    )
    assert answer.status == 400
    assert refusal in (await answer.text()).replace("&#x27;", "'")
    assert nlu_files(project) == before and label_rows(records_url) == []


async def test_masked_digits_are_refused_until_the_designer_edits_them(
    client_as, project: NluProject, records_url: str
) -> None:
    client = await client_as("designer")
    page = await (await client.get(INBOX)).text()
    assert 'value="my account number is ****5678"' in page  # as stored: masked, never the number
    before = nlu_files(project)
    refused = await label(
        client, ("inbox07", 1), text="my account number is ****5678", intent="inform"
    )
    assert refused.status == 400 and "masked digits" in await refused.text()
    assert nlu_files(project) == before and ("inbox07", 1) in await inbox_items(client)
    edited = await label(
        client,
        ("inbox07", 1),
        text="my account number is one two three four five six seven eight",
        intent="inform",
        entity_1="account_number",
        span_1="one two three four five six seven eight",
    )
    assert edited.status == 303
    line = one_line_added(before["inform.yml"], nlu_files(project)["inform.yml"])
    assert line.strip() == (
        "- my account number is [one two three four five six seven eight](account_number)"
    )


async def test_duplicates_near_duplicates_and_conflicts_are_flagged(
    client_as, project: NluProject
) -> None:
    client = await client_as("designer")
    page = await (await client.get(INBOX)).text()
    lost = section_of(page, "inbox05", 1)
    assert 'class="conflict"' in lost  # understood as out_of_scope, an example of another intent
    assert "already an example of another intent than understood, report_lost_card" in lost
    savings = section_of(page, "inbox04", 1)
    assert 'class="near"' in savings and "what is the balance on my savings" in savings
    assert 'class="conflict"' not in savings and 'class="duplicate"' not in savings
    before = nlu_files(project)
    duplicate = await label(
        client, ("inbox05", 1), text="I lost my card", intent="report_lost_card"
    )
    assert duplicate.status == 409 and "nothing to add" in await duplicate.text()
    conflict = await label(client, ("inbox05", 1), text="i lost my card", intent="out_of_scope")
    assert conflict.status == 409 and "contradiction" in await conflict.text()
    assert nlu_files(project) == before
    near = await label(client, ("inbox04", 1), text="balance on my savings", intent="check_balance")
    assert near.status == 303  # a near-duplicate is shown, not refused


async def test_the_generated_asr_examples_are_never_written(client_as, project: NluProject) -> None:
    generated = project.nlu_folder / "asr" / "accounts.yml"  # sorts before every other file
    generated.parent.mkdir()
    generated.write_text(
        'version: "3.1"\nnlu:\n  - intent: out_of_scope\n    examples: |\n      - i lost my cart\n'
    )
    before = nlu_files(project)
    client = await client_as("designer")
    answer = await label(client, ("inbox06", 2), text="a fee on my account", intent="out_of_scope")
    assert answer.status == 303
    after = nlu_files(project)
    assert after["asr/accounts.yml"] == before["asr/accounts.yml"]
    assert one_line_added(before["conversation.yml"], after["conversation.yml"]).strip() == (
        "- a fee on my account"
    )


async def test_dismissing_takes_the_item_out_and_writes_no_example(
    client_as, project: NluProject, records_url: str
) -> None:
    before = nlu_files(project)
    client = await client_as("designer")
    action = f"{INBOX}/inbox06/2/dismiss"
    answer = await post_form(client, INBOX, action, back=f"{INBOX}?reason=handoff")
    assert answer.status == 303 and answer.headers["Location"] == f"{INBOX}?reason=handoff"
    assert ("inbox06", 2) not in await inbox_items(client)
    assert nlu_files(project) == before
    assert label_rows(records_url) == [("inbox06", 2, "dismissed", "", "", "")]
    assert ("designer", "inbox.dismiss", "inbox06", "turn 2") in audit_rows(records_url)
    assert (await post_form(client, INBOX, action)).status == 409
    assert (await post_form(client, INBOX, f"{INBOX}/inbox06/1/dismiss")).status == 404


# ---- who may do what --------------------------------------------------------------------------


async def test_roles_see_label_and_are_refused_as_their_role_says(
    client_as, project: NluProject, records_url: str
) -> None:
    before = nlu_files(project)
    for role, reads, labels in (
        ("designer", True, True),
        ("admin", True, True),
        ("qa", True, False),
        ("supervisor", False, False),
    ):
        client = await client_as(role)
        answer = await client.get(INBOX)
        assert answer.status == (200 if reads else 403), role
        home = await (await client.get("/console/")).text()
        assert (">NLU inbox</a>" in home) == reads, role
        if reads:
            assert ('class="label"' in await answer.text()) == labels, role
        if not labels:
            # the page's token is the session's: take it from the home page's log-out form
            refused = await post_form(
                client, "/console/", f"{INBOX}/inbox01/2/label", text="x y", intent="greet"
            )
            assert refused.status == 403, role
            dismissed = await post_form(client, "/console/", f"{INBOX}/inbox01/2/dismiss")
            assert dismissed.status == 403, role
    assert nlu_files(project) == before and label_rows(records_url) == []


async def test_without_a_session_the_inbox_asks_to_log_in(make_client: ConsoleFactory) -> None:
    client = await make_client()
    answer = await client.get(INBOX, allow_redirects=False)
    assert answer.status == 303 and answer.headers["Location"].startswith("/console/login")
    snippet = await client.get(
        f"{INBOX}/inbox01/2/snippet.wav", headers={"Accept": "application/json"}
    )
    assert snippet.status == 401


async def test_a_form_without_the_csrf_token_is_refused(
    client_as, project: NluProject, records_url: str
) -> None:
    before = nlu_files(project)
    client = await client_as("designer")
    for action in ("label", "dismiss"):
        answer = await client.post(
            f"{INBOX}/inbox01/2/{action}",
            data={"text": "uh the thing with my card", "intent": "report_lost_card"},
            allow_redirects=False,
        )
        assert answer.status == 403
        forged = await client.post(
            f"{INBOX}/inbox01/2/{action}",
            data={"csrf_token": "x" * 43, "intent": "report_lost_card"},
            allow_redirects=False,
        )
        assert forged.status == 403
    assert nlu_files(project) == before and label_rows(records_url) == []
    assert ("inbox01", 2) in await inbox_items(client)


# ---- the snippet ------------------------------------------------------------------------------

RECORDED = Call(
    "inbox09",
    START - 30 * 60,
    "self_served",
    [
        speech("what's my balance", "check_balance", 0.95),
        speech("the thing about my card", "report_lost_card", 0.5, "low_confidence"),
        speech("my account is 12345678", "inform", 0.5, "low_confidence"),
    ],
)
"""Turn 2 is said in the recording's seconds 5 to 10, turn 3 in 10 to 15."""


@pytest.fixture
async def recorded(records_url: str, keyring: Keyring, tmp_path: Path) -> np.ndarray:
    """A 16 s call whose caller says a different tone each second; its caller channel."""
    caller = np.concatenate([tone(1, 300 + 40 * second, 6000) for second in range(16)])
    path = tmp_path / "recordings" / "inbox09.sealed"
    record(path, keyring, caller, tone(16, 220, 3000))
    await write_call(records_url, RECORDED, recording=str(path))
    return caller


def mono(body: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(body)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2")


async def test_the_snippet_is_the_turns_caller_audio_and_is_audited(
    client_as, recorded: np.ndarray, records_url: str
) -> None:
    for role in ("designer", "qa", "supervisor", "admin"):
        client = await client_as(role)
        answer = await client.get(f"{INBOX}/inbox09/2/snippet.wav")
        assert answer.status == 200, role
        assert answer.headers["Content-Type"] == "audio/wav"
        assert answer.headers["Cache-Control"] == "private, no-store"
        assert np.array_equal(mono(await answer.read()), recorded[5 * RATE : 10 * RATE]), role
    plays = [row for row in audit_rows(records_url) if row[1] == "inbox.snippet"]
    assert sorted(plays) == [  # the test clock stands still: audit rows share their time
        (role, "inbox.snippet", "inbox09", f"turn 2, {44 + 5 * RATE * 2} bytes")
        for role in ("admin", "designer", "qa", "supervisor")
    ]
    page = await (await client.get(INBOX)).text()
    assert '<audio controls="" preload="none" src="/console/inbox/inbox09/2/snippet.wav">' in page


async def test_designers_do_not_hear_a_turn_holding_a_number_nor_turns_outside_the_inbox(
    client_as, recorded: np.ndarray, records_url: str
) -> None:
    designer = await client_as("designer")
    assert (await designer.get(f"{INBOX}/inbox09/3/snippet.wav")).status == 403
    page = await (await designer.get(INBOX)).text()
    assert 'src="/console/inbox/inbox09/3/snippet.wav"' not in page
    assert "its audio is for QA" in page
    qa = await client_as("qa")
    heard = await qa.get(f"{INBOX}/inbox09/3/snippet.wav")
    assert heard.status == 200
    assert np.array_equal(mono(await heard.read()), recorded[10 * RATE : 15 * RATE])
    for client in (designer, qa):
        assert (await client.get(f"{INBOX}/inbox09/1/snippet.wav")).status == 404  # understood
    plays = [row for row in audit_rows(records_url) if row[1] == "inbox.snippet"]
    assert [(actor, detail.split(",")[0]) for actor, _, _, detail in plays] == [("qa", "turn 3")]


async def test_a_call_without_its_recording_gets_a_404_not_an_error(client_as) -> None:
    client = await client_as("qa")
    answer = await client.get(f"{INBOX}/inbox01/2/snippet.wav")
    assert answer.status == 404 and "not recorded" in await answer.text()
    assert START - HOUR > TRAINED_AT  # the fixture's clock: the recorded call is new
