"""The Caller wording page over real HTTP on 127.0.0.1, writing into the designers' draft made
from a copy of the design (never the repository's own ``data/nlu``, nor the copy the draft was
made from, nor its version): adding, editing, moving and deleting examples change one line of
one draft file; entity marks survive and read well; two designers on the same example conflict,
on different examples both land; thin intents and words under two intents are warned about;
the generated ASR variants are only shown; QA reads and may not post; an inbox label lands in
the draft and is marked on the page; and Rasa's own reader loads the result."""

from __future__ import annotations

import difflib
import html
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from ivr.console.nlu_files import examples_of, with_example
from ivr.console.nlu_project import NluProject
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.versions.draft import Draft
from ivr.versions.workspace import Workspace
from tests.console.conftest import (
    PASSWORD,
    ConsoleFactory,
    add_users,
    draft_nlu,
    log_in,
    post_form,
)
from tests.console.inbox_calls import REPOSITORY, write_calls
from tests.console.test_recordings import audit_rows
from tests.versions.conftest import passing_report

WORDING = "/console/wording"
NLU = "data/nlu"
IN_DRAFT = f"design/draft/{NLU}"
"""The draft's NLU folder, relative to the workspace's folder (which holds the project copy the
draft was made from, the versions and the draft)."""


@pytest.fixture
async def client_as(
    make_client: ConsoleFactory,
    users: UserStore,
    project: NluProject,
    workspace: Workspace,
    records_url: str,
):
    """A logged-in client for a role, on the draft."""
    await write_calls(records_url)
    add_users(users, "designer", "qa", "admin")
    users.add("dana", "designer", PASSWORD, "cli:test")
    tools = CallTools(nlu=project, workspace=workspace)

    async def make(role: str) -> TestClient:
        client = await make_client(tools=tools)
        assert (await log_in(client, role)).status == 303
        return client

    return make


def everything(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but the draft's bookkeeping, by relative path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in ("draft.json", "test-report.json", ".lock")
    }


def changed(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def diff(before: bytes, after: bytes) -> tuple[list[str], list[str]]:
    """The lines taken out and put in."""
    out, into = [], []
    for line in difflib.ndiff(before.decode().splitlines(), after.decode().splitlines()):
        if line.startswith("- "):
            out.append(line[2:])
        elif line.startswith("+ "):
            into.append(line[2:])
    return out, into


def draft_examples(workspace: Workspace, name: str, intent: str) -> list[str]:
    return examples_of(workspace.draft.read(f"{NLU}/{name}"), intent)


def with_passing_report(
    workspace: Workspace, root: Path
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Give the draft a passing test report; the repository's NLU files and every file under
    ``root`` as they are now."""
    workspace.draft.save_report(passing_report(workspace.draft))
    return repository_nlu(), everything(root)


def add_open_account(draft: Draft) -> None:
    """A new intent in the draft's domain, as a designer adds one by hand."""
    draft.edit(
        "dialogue/domain.yml",
        lambda text: text.replace("  - out_of_scope\n", "  - out_of_scope\n  - open_account\n", 1),
        author="dana",
    )


def repository_nlu() -> dict[str, bytes]:
    return everything(REPOSITORY / NLU)


async def change(client: TestClient, intent: str, action: str, **fields: str) -> ClientResponse:
    page = f"{WORDING}/{intent}"
    return await post_form(client, page, f"{page}/{action}", **fields)


async def text_of(answer: ClientResponse) -> str:
    return html.unescape(await answer.text())


def rasa_examples(workspace: Workspace) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """The draft's NLU as Rasa's own loader reads it: text -> (intent, [(entity, value)])."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(workspace.draft.root / NLU))
    return {
        message.get("text"): (
            message.get("intent"),
            [(entity["entity"], entity["value"]) for entity in message.get("entities") or []],
        )
        for message in data.intent_examples
    }


# ---- adding -----------------------------------------------------------------------------------


async def test_added_examples_land_in_the_draft_file_of_the_intent_and_nowhere_else(
    client_as, workspace: Workspace, records_url: str, tmp_path: Path
) -> None:
    repository, before = with_passing_report(workspace, tmp_path / "design")
    client = await client_as("designer")
    answer = await change(
        client,
        "transfer_money",
        "add",
        lines="Move $40 to my [Savings](account_type), please!\n\n  send money to my mum  \n",
    )
    assert answer.status == 303
    assert answer.headers["Location"] == f"{WORDING}/transfer_money?done=added"
    after = everything(tmp_path / "design")
    assert changed(before, after) == {f"{IN_DRAFT}/accounts.yml"}
    out, into = diff(before[f"{IN_DRAFT}/accounts.yml"], after[f"{IN_DRAFT}/accounts.yml"])
    assert out == [] and into == [
        "      - move $40 to my [savings](account_type) please",
        "      - send money to my mum",
    ]
    assert draft_examples(workspace, "accounts.yml", "transfer_money")[-2:] == [
        "move $40 to my [savings](account_type) please",
        "send money to my mum",
    ]
    assert repository_nlu() == repository
    assert workspace.draft.report() is None  # the edit dropped the stale test report
    page = await text_of(await client.get(answer.headers["Location"]))
    assert "Added to the draft." in page
    assert '<mark class="entity">savings<small>account_type</small></mark>' in page
    assert (
        "designer",
        "design.edit",
        "transfer_money",
        "add to accounts.yml: move $40 to my [savings](account_type) please; send money to my mum",
    ) in audit_rows(records_url)
    said = rasa_examples(workspace)
    assert said["move $40 to my savings please"] == (
        "transfer_money",
        [("account_type", "savings")],
    )
    assert said["send money to my mum"] == ("transfer_money", [])


async def test_words_already_there_are_a_note_and_words_of_another_intent_are_refused(
    client_as, workspace: Workspace, records_url: str, tmp_path: Path
) -> None:
    before = everything(tmp_path / "design")
    client = await client_as("designer")
    again = await change(client, "report_lost_card", "add", lines="I lost my card.")
    assert again.status == 200
    assert "'i lost my card' is already an example of report_lost_card: not added." in (
        await text_of(again)
    )
    elsewhere = await change(
        client, "complaint", "add", lines="this service is awful\ni lost my card"
    )
    assert elsewhere.status == 400
    said = await text_of(elsewhere)
    assert "'i lost my card' is already an example of report_lost_card" in said
    assert "contradiction" in said and "this service is awful\ni lost my card</textarea>" in said
    assert everything(tmp_path / "design") == before  # not even the first line was added
    assert [row for row in audit_rows(records_url) if row[1] == "design.edit"] == []


async def test_lines_saying_the_same_words_are_added_once(client_as, workspace: Workspace) -> None:
    client = await client_as("designer")
    answer = await change(
        client,
        "complaint",
        "add",
        lines="You lost my cheque!\nyou lost my cheque\nbad service today",
    )
    assert answer.status == 200
    said = await text_of(answer)
    assert "Added to the draft." in said
    assert "'you lost my cheque' is already an example of complaint: not added." in said
    assert draft_examples(workspace, "service.yml", "complaint")[-2:] == [
        "you lost my cheque",
        "bad service today",
    ]


@pytest.mark.parametrize(
    ("lines", "refusal"),
    [
        ("   ", "Write at least one example."),
        ("x" * 201, "at most 200 characters"),
        ("from my [savings(account_type)", "brackets that mark no entity"),
        ("from my savings](account_type)", "brackets that mark no entity"),
        ("from my [savings](account_kind)", "account_kind is not an entity of the domain"),
        ("from my [savings]()", "names no entity"),
        ("my pin is [1234](pin)", "never PIN digits"),
        ("?!", "no words to learn"),
        ("\n".join(f"way {n}" for n in range(21)), "at most 20 examples"),
    ],
)
async def test_a_bad_example_is_refused_with_a_sentence_and_writes_nothing(
    client_as, tmp_path: Path, lines: str, refusal: str
) -> None:
    before = everything(tmp_path / "design")
    client = await client_as("admin")
    answer = await change(client, "transfer_money", "add", lines=lines)
    assert answer.status == 400
    assert refusal in await text_of(answer)
    assert everything(tmp_path / "design") == before


# ---- editing, moving, deleting ----------------------------------------------------------------


async def test_an_edit_keeps_the_entity_marks_and_changes_one_line(
    client_as, workspace: Workspace, records_url: str, tmp_path: Path
) -> None:
    old = 'from the [savings account]{"entity": "account_type", "value": "savings"}'
    client = await client_as("designer")
    page = await (await client.get(f"{WORDING}/inform")).text()
    assert 'name="example" value="from the [savings account]{&quot;entity&quot;' in page
    shown = html.unescape(page)
    assert '<mark class="entity">savings account<small>account_type = savings</small></mark>' in (
        shown
    )
    before = everything(tmp_path / "design")
    new = 'money from the [savings account]{"entity": "account_type", "value": "savings"}'
    answer = await change(client, "inform", "edit", file="inform.yml", example=old, text=new)
    assert answer.status == 303
    after = everything(tmp_path / "design")
    assert changed(before, after) == {f"{IN_DRAFT}/inform.yml"}
    assert diff(before[f"{IN_DRAFT}/inform.yml"], after[f"{IN_DRAFT}/inform.yml"]) == (
        [f"      - {old}"],
        [f"      - {new}"],
    )
    said = rasa_examples(workspace)
    assert said["money from the savings account"] == ("inform", [("account_type", "savings")])
    assert said["my pin is secret:3f1a9c0b7d2e4f6a8b1c3d5e7f9a0b2c"][1] == [
        ("pin", "secret:3f1a9c0b7d2e4f6a8b1c3d5e7f9a0b2c")
    ]
    assert ("designer", "design.edit", "inform", f"edit in inform.yml: '{old}' -> '{new}'") in (
        audit_rows(records_url)
    )


async def test_moving_an_example_to_an_intent_of_another_file_and_of_the_same_file(
    client_as, workspace: Workspace, records_url: str, tmp_path: Path
) -> None:
    client = await client_as("designer")
    before = everything(tmp_path / "design")
    answer = await change(
        client,
        "out_of_scope",
        "move",
        file="conversation.yml",
        example=draft_examples(workspace, "conversation.yml", "out_of_scope")[0],
        target="complaint",
    )
    assert answer.status == 303
    moved = examples_of(before[f"{IN_DRAFT}/conversation.yml"].decode(), "out_of_scope")[0]
    after = everything(tmp_path / "design")
    assert changed(before, after) == {f"{IN_DRAFT}/conversation.yml", f"{IN_DRAFT}/service.yml"}
    assert moved not in draft_examples(workspace, "conversation.yml", "out_of_scope")
    assert draft_examples(workspace, "service.yml", "complaint")[-1] == moved
    assert diff(before[f"{IN_DRAFT}/service.yml"], after[f"{IN_DRAFT}/service.yml"])[0] == []
    within = await change(
        client, "greet", "move", file="conversation.yml", example="hi", target="goodbye"
    )
    assert within.status == 303
    assert "hi" not in draft_examples(workspace, "conversation.yml", "greet")
    assert draft_examples(workspace, "conversation.yml", "goodbye")[-1] == "hi"
    assert rasa_examples(workspace)["hi"] == ("goodbye", [])
    rows = {row for row in audit_rows(records_url) if row[1] == "design.edit"}
    assert rows == {
        (
            "designer",
            "design.edit",
            "out_of_scope",
            f"move from conversation.yml to complaint: '{moved}'",
        ),
        ("designer", "design.edit", "greet", "move from conversation.yml to goodbye: 'hi'"),
    }


async def test_a_move_the_target_file_refuses_puts_the_example_back(
    client_as, workspace: Workspace, records_url: str
) -> None:
    draft = workspace.draft
    add_open_account(draft)
    listed = "\n  - intent: open_account\n    examples:\n      - open an account\n"
    draft.edit(f"{NLU}/service.yml", lambda text: text + listed, author="dana")
    client = await client_as("designer")
    answer = await change(
        client, "fees", "move", file="faq.yml", example="atm fees", target="open_account"
    )
    assert answer.status == 400
    assert "Not moved: Nothing was written: the intent's examples are not a '|' block" in (
        await text_of(answer)
    )
    fees = draft_examples(workspace, "faq.yml", "fees")
    assert fees.count("atm fees") == 1 and fees[-1] == "atm fees"  # back, as the last one
    assert draft_examples(workspace, "service.yml", "open_account") == ["open an account"]
    assert [row for row in audit_rows(records_url) if row[1] == "design.edit"] == []


async def test_deleting_an_example_takes_out_its_one_line(
    client_as, workspace: Workspace, records_url: str, tmp_path: Path
) -> None:
    client = await client_as("admin")
    before = everything(tmp_path / "design")
    answer = await change(client, "fees", "delete", file="faq.yml", example="atm fees")
    assert answer.status == 303
    after = everything(tmp_path / "design")
    assert changed(before, after) == {f"{IN_DRAFT}/faq.yml"}
    assert diff(before[f"{IN_DRAFT}/faq.yml"], after[f"{IN_DRAFT}/faq.yml"]) == (
        ["      - atm fees"],
        [],
    )
    assert ("admin", "design.edit", "fees", "delete from faq.yml: 'atm fees'") in audit_rows(
        records_url
    )
    again = await change(client, "fees", "delete", file="faq.yml", example="atm fees")
    assert again.status == 409 and "'atm fees' is no longer an example of fees" in (
        await text_of(again)
    )


async def test_forms_naming_a_generated_file_or_an_unknown_intent_are_refused(
    client_as, workspace: Workspace, tmp_path: Path
) -> None:
    generated = 'version: "3.1"\nnlu:\n  - intent: fees\n    examples: |\n      - a tm fees\n'
    workspace.draft.edit(f"{NLU}/asr/faq.yml", lambda _: generated, author="ivr nlu variants")
    before = everything(tmp_path / "design")
    client = await client_as("designer")
    page = await text_of(await client.get(f"{WORDING}/fees"))
    assert "ASR variants (1)" in page and "a tm fees" in page
    assert 'value="a tm fees"' not in page  # shown, never in a form
    for action, fields in (
        ("delete", {"file": "asr/faq.yml", "example": "a tm fees"}),
        ("edit", {"file": "../faq.yml", "example": "atm fees", "text": "fees"}),
        ("move", {"file": "faq.yml", "example": "atm fees", "target": "nlu_fallback"}),
    ):
        answer = await change(client, "fees", action, **fields)
        assert answer.status == 400, action
    unknown = await change(client, "no_such_intent", "add", lines="hello")
    assert unknown.status == 404 and "no_such_intent is not an intent" in await unknown.text()
    assert (await client.get(f"{WORDING}/no_such_intent")).status == 404
    assert everything(tmp_path / "design") == before


# ---- two designers ----------------------------------------------------------------------------


async def test_two_designers_on_the_same_example_conflict_and_on_different_ones_both_land(
    client_as, workspace: Workspace, tmp_path: Path
) -> None:
    first = await client_as("designer")
    second = await client_as("dana")
    seen_by_second = await (await second.get(f"{WORDING}/repeat")).text()
    assert 'name="example" value="say that again"' in seen_by_second
    assert 'name="example" value="pardon"' in seen_by_second
    answer = await change(
        first,
        "repeat",
        "edit",
        file="conversation.yml",
        example="say that again",
        text="say that again please",
    )
    assert answer.status == 303
    # The second designer's page still shows "say that again": their edit of it conflicts.
    stale = await change(
        second,
        "repeat",
        "edit",
        file="conversation.yml",
        example="say that again",
        text="say it again slowly",
    )
    assert stale.status == 409
    said = await text_of(stale)
    assert "changed by someone else since you opened it" in said
    assert "'say that again' is no longer an example of repeat" in said
    assert 'value="say that again please"' in said  # the page as the draft holds it now
    examples = draft_examples(workspace, "conversation.yml", "repeat")
    assert "say that again please" in examples and "say it again slowly" not in examples
    moved = await change(
        second, "repeat", "move", file="conversation.yml", example="say that again", target="help"
    )
    assert moved.status == 409
    # Another example of the same file, from the same stale page: it lands.
    other = await change(
        second,
        "repeat",
        "edit",
        file="conversation.yml",
        example="pardon",
        text="pardon what was that",
    )
    assert other.status == 303
    examples = draft_examples(workspace, "conversation.yml", "repeat")
    assert "say that again please" in examples and "pardon what was that" in examples
    assert "pardon" not in examples
    edits = workspace.draft.state()["edits"]
    assert edits[f"{NLU}/conversation.yml"]["by"] == "dana"


# ---- warnings, paging, roles ------------------------------------------------------------------


async def test_thin_intents_and_words_under_two_intents_are_warned_about(
    client_as, workspace: Workspace
) -> None:
    draft = workspace.draft
    add_open_account(draft)
    thin = "\n  - intent: open_account\n    examples: |\n      - open an account\n"
    draft.edit(f"{NLU}/service.yml", lambda text: text + thin, author="dana")
    draft.edit(
        f"{NLU}/service.yml",
        lambda text: with_example(text, "complaint", "I Lost my card!"),
        author="dana",
    )
    client = await client_as("qa")
    page = await text_of(await client.get(WORDING))
    assert "Fewer than 25 written examples" in page and "open_account (1)" in page
    assert "1 wording(s) written under two or more intents" in page
    assert "report_lost_card: 'i lost my card' (cards.yml); complaint: 'I Lost my card!'" in page
    assert "shares words with report_lost_card" in page
    assert 'href="/console/wording/open_account"' in page
    intent = await text_of(await client.get(f"{WORDING}/open_account"))
    assert "1 written examples in service.yml" in intent and "add more ways of saying it" in intent


async def test_a_long_intent_is_paged(client_as, workspace: Workspace) -> None:
    client = await client_as("designer")
    lines = "\n".join(f"put in my details number {n}" for n in range(5))
    assert (await change(client, "inform", "add", lines=lines)).status == 303
    total = len(draft_examples(workspace, "inform.yml", "inform"))
    assert total > 100
    first = await text_of(await client.get(f"{WORDING}/inform"))
    assert f"Examples 1-100 of {total}" in first and "put in my details number 4" not in first
    second = await text_of(await client.get(f"{WORDING}/inform", params={"start": "100"}))
    assert f"Examples 101-{total} of {total}" in second
    assert 'value="put in my details number 4"' in second
    assert (await client.get(f"{WORDING}/inform", params={"start": "x"})).status == 400


async def test_qa_reads_the_page_without_forms_and_may_not_post(
    client_as, workspace: Workspace, tmp_path: Path
) -> None:
    before = everything(tmp_path / "design")
    qa = await client_as("qa")
    listing = await qa.get(WORDING)
    assert listing.status == 200 and 'href="/console/wording"' in await listing.text()
    page = await qa.get(f"{WORDING}/greet")
    text = await page.text()
    assert page.status == 200 and "Written examples (49)" in text
    assert "wording-add" not in text and "wording-edit" not in text
    for action, fields in (
        ("add", {"lines": "howdy partner"}),
        ("edit", {"file": "conversation.yml", "example": "hi", "text": "hiya"}),
        ("move", {"file": "conversation.yml", "example": "hi", "target": "goodbye"}),
        ("delete", {"file": "conversation.yml", "example": "hi"}),
    ):
        answer = await post_form(qa, "/console/", f"{WORDING}/greet/{action}", **fields)
        assert answer.status == 403, action
    assert everything(tmp_path / "design") == before


# ---- the inbox --------------------------------------------------------------------------------


async def test_an_inbox_label_lands_in_the_draft_and_is_marked_on_the_wording_page(
    client_as, workspace: Workspace, records_url: str, tmp_path: Path
) -> None:
    repository, before = with_passing_report(workspace, tmp_path / "design")
    client = await client_as("designer")
    answer = await post_form(
        client,
        "/console/inbox",
        "/console/inbox/inbox04/1/label",
        back="/console/inbox",
        text="Balance on my Savings?",
        intent="check_balance",
        entity_1="account_type",
        span_1="savings",
    )
    assert answer.status == 303
    after = everything(tmp_path / "design")
    assert changed(before, after) == {f"{IN_DRAFT}/accounts.yml"}
    assert diff(before[f"{IN_DRAFT}/accounts.yml"], after[f"{IN_DRAFT}/accounts.yml"]) == (
        [],
        ["      - balance on my [savings](account_type)"],
    )
    assert repository_nlu() == repository and workspace.draft.report() is None
    assert (
        "designer",
        "design.edit",
        "check_balance",
        "add from the inbox (inbox04 turn 1) to accounts.yml:"
        " balance on my [savings](account_type)",
    ) in audit_rows(records_url)
    page = await text_of(await client.get(f"{WORDING}/check_balance"))
    item = page[page.index("<li>balance on my <mark") :]
    item = item[: item.index("</li>")]
    assert "from the inbox" in item
    assert "labelled by designer 2025-12-06 05:46:40 UTC from" in item
    assert 'href="/console/calls/inbox04">inbox04 turn 1</a>' in item
    assert page.count("from the inbox</span>") == 1  # the shipped examples are not marked
    assert rasa_examples(workspace)["balance on my savings"] == (
        "check_balance",
        [("account_type", "savings")],
    )


async def test_without_a_draft_nothing_is_labelled_or_changed(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace, records_url: str
) -> None:
    await write_calls(records_url)
    add_users(users, "designer")
    project = draft_nlu(workspace)
    client = await make_client(tools=CallTools(nlu=project))
    assert (await log_in(client, "designer")).status == 303
    before = everything(workspace.draft.root)
    page = await text_of(await client.get(f"{WORDING}/greet"))
    assert "wording-add" not in page
    label = await post_form(
        client,
        "/console/inbox",
        "/console/inbox/inbox04/1/label",
        text="balance on my savings",
        intent="check_balance",
    )
    assert label.status == 409 and "nothing was labelled" in await label.text()
    add = await change(client, "greet", "add", lines="howdy partner")
    assert add.status == 409 and "read-only" in await add.text()
    assert everything(workspace.draft.root) == before
