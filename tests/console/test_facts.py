"""The FAQ facts page on a real draft (made from the repository's files): forms that show the
knowledge files, saves that change only the values edited, validation next to the fields,
conflicts between two designers, who may edit, and the audit rows."""

from __future__ import annotations

import re
from html import unescape

import pytest
import yaml
from aiohttp.test_utils import TestClient

from dialogue.knowledge import load_knowledge
from ivr.console import facts_speech as speech
from ivr.console.facts_edit import check_loads
from ivr.console.facts_groups import KNOWLEDGE
from ivr.console.facts_speech import FactValueError
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.versions.draft import Draft, DraftError
from ivr.versions.workspace import Workspace
from speech.tts.normalize import normalize_text
from tests.console.conftest import ConsoleFactory, add_users, log_in
from tests.console.forms import form_values
from tests.console.test_recordings import audit_rows
from tests.versions import conftest as versions

HOURS = "data/knowledge/hours.yml"
BRANCHES = "data/knowledge/branches.yml"
PAGE = "/console/facts"
draft, project, store = versions.draft, versions.project, versions.store
"""The versions tests' fixtures: a draft made from the repository's files."""


@pytest.fixture
async def facts_client(make_client: ConsoleFactory, users: UserStore, draft: Draft) -> TestClient:
    add_users(users, "designer", "admin", "qa", "supervisor")
    return await make_client(tools=CallTools(workspace=Workspace(draft.store, draft)))


async def shown(client: TestClient, group: str) -> dict[str, str]:
    page = await client.get(f"{PAGE}/{group}")
    assert page.status == 200
    return form_values(await page.text(), "facts")


async def post(client: TestClient, group: str, fields: dict[str, str], action: str = "save"):
    return await client.post(
        f"{PAGE}/{group}", data={**fields, "action": action}, allow_redirects=False
    )


def edits(records_url: str) -> list[tuple[str, str, str, str]]:
    """The audit rows of design edits (the test clock stands still: in no particular order)."""
    return [row for row in audit_rows(records_url) if row[1] == "design.edit"]


def row_of(fields: dict[str, str], key: str) -> str:
    """The input prefix of the row shown for ``key`` (``r3.``)."""
    found = [
        name[: -len("was")]
        for name, value in fields.items()
        if name.endswith(".was") and value == key
    ]
    assert len(found) == 1, (key, found)
    return found[0]


async def test_a_designer_changes_the_weekday_hours_and_only_that_line_changes(
    facts_client: TestClient,
    draft: Draft,
    records_url: str,
) -> None:
    before = draft.read(HOURS)
    assert (await log_in(facts_client, "designer")).status == 303
    page = await (await facts_client.get(f"{PAGE}/hours")).text()
    assert "The bot says now: “Monday to Friday from 9 AM to 5 PM, and on Saturday" in page
    fields = form_values(page, "facts")
    assert (fields["p0.first"], fields["p0.last"]) == ("Monday", "Friday")
    assert (fields["p0.opens"], fields["p0.closes"]) == ("09:00", "17:00")
    assert (fields["p1.first"], fields["p1.opens"], fields["p1.closes"]) == (
        "Saturday",
        "09:00",
        "13:00",
    )
    assert fields["closed"] == "Sundays and public holidays"

    answer = await post(
        facts_client, "hours", {**fields, "p0.opens": "8:30 am", "p0.closes": "18:00"}
    )
    assert answer.status == 303, await answer.text()
    assert answer.headers["Location"] == f"{PAGE}/hours?saved=1"

    after = draft.read(HOURS)
    changed = [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
        if old != new
    ]
    assert len(before.splitlines()) == len(after.splitlines())
    assert changed == [
        (
            'branches: "Monday to Friday from 9 AM to 5 PM, and on Saturday from 9 AM to 1 PM"',
            'branches: "Monday to Friday from 8:30 AM to 6 PM, and on Saturday from 9 AM to 1 PM"',
        )
    ]
    assert load_knowledge(draft.root / "data/knowledge").branch_hours.startswith(
        "Monday to Friday from 8:30 AM to 6 PM"
    )
    assert not draft.needs_training()  # facts are not training data
    assert [c.path for c in draft.changes()] == [HOURS]
    assert edits(records_url) == [
        (
            "designer",
            "design.edit",
            HOURS,
            "facts hours: branches",
        )
    ]
    again = await facts_client.get(f"{PAGE}/hours?saved=1")
    assert "Saved to the draft" in await again.text()
    assert form_values(await again.text(), "facts")["p0.opens"] == "08:30"


async def test_cities_are_added_removed_and_edited_in_place(
    facts_client: TestClient,
    draft: Draft,
    records_url: str,
) -> None:
    before = draft.read(BRANCHES)
    assert (await log_in(facts_client, "admin")).status == 303
    fields = await shown(facts_client, "branches")
    blank = int(fields["rows"]) - 1
    assert fields[f"r{blank}.was"] == "" and fields[f"r{blank}.name"] == ""
    more = await post(facts_client, "branches", fields, action="add")  # one more empty row
    assert more.status == 200
    fields = form_values(await more.text(), "facts")
    assert int(fields["rows"]) == blank + 2
    chicago, boston = row_of(fields, "Chicago"), row_of(fields, "Boston")
    fields[f"{chicago}branches"] += "\nWicker Park, at 1500 North Milwaukee Avenue"
    fields[f"{boston}remove"] = "yes"
    fields.update(
        {
            f"r{blank}.name": "Denver",
            f"r{blank}.aliases": "mile high city",
            f"r{blank}.branches": "Union Station, at 1701 Wynkoop Street",
        }
    )
    answer = await post(facts_client, "branches", fields)
    assert answer.status == 303, unescape(await answer.text())

    after = draft.read(BRANCHES)
    assert after.startswith(
        before.split("  Boston:")[0].replace(
            '      - say: "Lincoln Park, at 2200 North Clark Street"\n',
            '      - say: "Lincoln Park, at 2200 North Clark Street"\n'
            '      - say: "Wicker Park, at 1500 North Milwaukee Avenue"\n',
        )
    )
    assert after.endswith(
        "  Denver:\n    aliases: [mile high city]\n    branches:\n"
        '      - say: "Union Station, at 1701 Wynkoop Street"\n'
    )
    knowledge = load_knowledge(draft.root / "data/knowledge")
    assert knowledge.city("mile high city").branches == ("Union Station, at 1701 Wynkoop Street",)
    assert knowledge.city("Boston") is None
    assert len(knowledge.city("Chicago").branches) == 3
    assert edits(records_url)[-1][3] == (
        "facts branches: Chicago.branches, removed Boston, added Denver"
    )


async def test_values_a_bank_would_not_say_are_refused_next_to_their_field(
    facts_client: TestClient,
    draft: Draft,
    records_url: str,
) -> None:
    assert (await log_in(facts_client, "designer")).status == 303
    files = {
        name: draft.read(f"data/knowledge/{name}.yml")
        for name in ("hours", "rates", "fees", "branches")
    }
    audited = len(audit_rows(records_url))

    async def refused(group: str, changes: dict[str, str]) -> dict[str, str]:
        fields = await shown(facts_client, group)
        answer = await post(facts_client, group, {**fields, **changes})
        assert answer.status == 400
        page = unescape(await answer.text())
        assert "Nothing was saved: correct the fields marked." in page
        return dict(re.findall(r'<span class="error" id="error-([^"]+)">([^<]+)</span>', page))

    errors = await refused("hours", {"p0.opens": "25:00", "p1.closes": "08:00"})
    assert errors["p0.opens"] == "Write a time such as 9 AM, 5:30 PM or 17:30."
    assert "not after it opens" in errors["periods"]
    errors = await refused("hours", {"p1.first": "Friday", "closed": ""})
    assert errors["periods"] == "Friday is in two periods."
    assert errors["closed"] == "Write what the bot should say here."
    errors = await refused(
        "hours", {"p2.first": "Sunday", "p2.opens": "10:00", "p2.closes": "14:00"}
    )
    assert errors["closed"] == "Sunday is in the opening hours above."

    fields = await shown(facts_client, "rates")
    savings = row_of(fields, "savings")
    assert (fields[f"{savings}rate"], fields[f"{savings}sentence"]) == (
        "3.1",
        "Savings accounts earn {rate} a year.",
    )
    for rate, error in (
        ("100.5", "between 0 and 100"),
        ("3.1234", "At most 3 decimals"),
        ("-1", "between 0 and 100"),
        ("lots", "A percentage such as 3.1"),
    ):
        errors = await refused("rates", {f"{savings}rate": rate})
        assert error in errors[f"{savings}rate"]
    errors = await refused("rates", {f"{savings}sentence": "Savings earn a lot."})
    assert errors[f"{savings}sentence"] == "Put {rate} once where the bot says the rate."

    fields = await shown(facts_client, "fees")
    overdraft = row_of(fields, "overdraft")
    for say, error in (
        ("The fee is $-25.", "cannot be negative"),
        ("The fee is $2.505.", "two digits"),
        ("The fee is 150 cents.", "cents are 0 to 99"),
        ("The fee is quite high.", "Say what it costs"),
        ("The fee is {amount}.", "The voice cannot read '{'"),
    ):
        errors = await refused("fees", {f"{overdraft}say": say})
        assert error in errors[f"{overdraft}say"], errors
    errors = await refused("fees", {f"{overdraft}topic": "", f"{overdraft}keywords": ""})
    assert errors[f"{overdraft}topic"] == "A name is needed."
    assert errors[f"{overdraft}keywords"] == "At least one is needed."

    fields = await shown(facts_client, "branches")
    austin = row_of(fields, "Austin")
    errors = await refused("branches", {f"{austin}name": "Chicago", f"{austin}aliases": "sf"})
    assert errors[f"{austin}name"] == "'Chicago' is given twice."
    assert errors[f"{austin}aliases"] == "'sf' already names another city."

    fields = await shown(facts_client, "complaints")
    other = row_of(fields, "other")
    assert f"{other}remove" not in await (await facts_client.get(f"{PAGE}/complaints")).text()
    errors = await refused("complaints", {f"{other}remove": "yes"})
    assert errors[f"{other}remove"] == "other cannot be removed."
    errors = await refused("complaints", {f"{other}key": "misc"})
    assert errors[f"{other}key"] == "other keeps its name."

    for name, text in files.items():
        assert draft.read(f"data/knowledge/{name}.yml") == text
    assert len(audit_rows(records_url)) == audited


async def test_a_fee_written_as_money_is_saved_as_the_voice_reads_it(
    facts_client: TestClient,
    draft: Draft,
) -> None:
    assert (await log_in(facts_client, "designer")).status == 303
    before = draft.read("data/knowledge/fees.yml")
    fields = await shown(facts_client, "fees")
    atm = row_of(fields, "atm")
    fields[f"{atm}say"] = "Other banks' ATMs cost $2.50, ours $0."
    assert (await post(facts_client, "fees", fields)).status == 303
    changed = [
        new
        for old, new in zip(
            before.splitlines(), draft.read("data/knowledge/fees.yml").splitlines(), strict=True
        )
        if old != new
    ]
    assert changed == ['    say: "Other banks\' ATMs cost 2 dollars and 50 cents, ours 0 dollars."']
    fees = {fee.topic: fee.say for fee in load_knowledge(draft.root / "data/knowledge").fees}
    assert fees["atm"] == "Other banks' ATMs cost 2 dollars and 50 cents, ours 0 dollars."
    assert '    say: "Other banks\' ATMs cost 2 dollars and 50 cents, ours 0 dollars."' in (
        draft.read("data/knowledge/fees.yml").splitlines()
    )


async def test_at_most_200_cities(facts_client: TestClient, draft: Draft) -> None:
    assert (await log_in(facts_client, "designer")).status == 303
    fields = await shown(facts_client, "branches")
    first_new = int(fields["rows"]) - 1
    for index in range(first_new, 201):
        fields.update(
            {
                f"r{index}.was": "",
                f"r{index}.shown": "{}",
                f"r{index}.name": f"Town {chr(65 + index % 26)}{'x' * (index // 26)}",
                f"r{index}.branches": "Main Street, at 1 Main Street",
            }
        )
    fields["rows"] = "201"
    answer = await post(facts_client, "branches", fields)
    assert answer.status == 400
    assert "At most 200 citys" not in (text := unescape(await answer.text()))
    assert "At most 200 cities (this has 201)." in text


async def test_two_designers_conflict_only_on_the_same_fact(
    facts_client: TestClient,
    make_client: ConsoleFactory,
    draft: Draft,
    records_url: str,
) -> None:
    other = await make_client(tools=CallTools(workspace=Workspace(draft.store, draft)))
    assert (await log_in(facts_client, "designer")).status == 303
    assert (await log_in(other, "admin")).status == 303
    mine, theirs = await shown(facts_client, "hours"), await shown(other, "hours")

    assert (await post(other, "hours", {**theirs, "p0.closes": "18:00"})).status == 303
    answer = await post(facts_client, "hours", {**mine, "p0.closes": "19:00"})
    assert answer.status == 409
    page = unescape(await answer.text())
    assert "Someone else changed these facts since you opened the page. Nothing was saved." in page
    assert re.search(
        r"<td>branches</td>\s*<td>Monday to Friday from 9 AM to 6 PM, and on Saturday from 9 AM"
        r" to 1 PM</td>\s*<td>Monday to Friday from 9 AM to 7 PM, and on Saturday",
        page,
    )
    assert form_values(page, "facts")["p0.closes"] == "18:00"  # the form shows the file now
    assert "6 PM" in draft.read(HOURS)
    # A different fact of the same file, from the same stale form: both edits stay.
    assert (
        await post(facts_client, "hours", {**mine, "phone_banking": "around the clock"})
    ).status == 303
    hours = yaml.safe_load(draft.read(HOURS))
    assert hours["phone_banking"] == "around the clock" and "to 6 PM" in hours["branches"]

    mine, theirs = await shown(facts_client, "branches"), await shown(other, "branches")
    seattle, austin = row_of(mine, "Seattle"), row_of(mine, "Austin")
    assert (
        await post(other, "branches", {**theirs, f"{seattle}aliases": "emerald city"})
    ).status == 303
    assert (await post(facts_client, "branches", {**mine, f"{austin}aliases": "atx"})).status == 303
    cities = yaml.safe_load(draft.read(BRANCHES))["cities"]
    assert cities["Seattle"]["aliases"] == ["emerald city"] and cities["Austin"]["aliases"] == [
        "atx"
    ]
    answer = await post(facts_client, "branches", {**mine, f"{seattle}remove": "yes"})
    assert answer.status == 409
    assert re.search(
        r"<td>Seattle</td>\s*<td>changed it</td>\s*<td>\(removed\)</td>",
        unescape(await answer.text()),
    )
    assert "Seattle" in yaml.safe_load(draft.read(BRANCHES))["cities"]
    assert sorted(row[0] for row in edits(records_url)) == [
        "admin",
        "admin",
        "designer",
        "designer",
    ]


async def test_a_save_the_bot_could_not_load_is_refused_with_the_loaders_words(
    facts_client: TestClient,
    draft: Draft,
) -> None:
    complaints = "data/knowledge/complaints.yml"
    broken = draft.read(complaints).replace("  other:", "  misc:")
    draft.write(complaints, broken, revision=draft.revision(complaints), author="cli")
    assert (await log_in(facts_client, "designer")).status == 303
    fields = await shown(facts_client, "hours")
    before = draft.read(HOURS)
    answer = await post(facts_client, "hours", {**fields, "p0.closes": "18:00"})
    assert answer.status == 400
    assert (
        "Nothing was saved: the bot could not read the facts: complaints.yml: categories"
        " must include &#x27;other&#x27;"
    ) in await answer.text()
    assert draft.read(HOURS) == before


def test_an_edit_is_checked_as_the_bot_would_load_it_before_it_is_written(draft: Draft) -> None:
    knowledge = draft.root / KNOWLEDGE
    hours = draft.read(HOURS)
    check_loads(knowledge, "hours.yml", hours.replace("Monday", "Tuesday"))
    with pytest.raises(DraftError) as refused:
        check_loads(knowledge, "hours.yml", "- a list\n")
    assert str(refused.value) == (
        f"the bot could not read the facts: {KNOWLEDGE}/hours.yml: the top level must be a mapping"
    )
    assert draft.read(HOURS) == hours


async def test_qa_reads_the_facts_designers_and_admins_edit_supervisors_do_not_see_them(
    facts_client: TestClient,
) -> None:
    assert (await log_in(facts_client, "qa")).status == 303
    home = await (await facts_client.get("/console/")).text()
    assert 'href="/console/facts"' in home
    index = await (await facts_client.get(PAGE)).text()
    for group in ("hours", "branches", "rates", "fees", "complaints", "handoff"):
        assert f'href="{PAGE}/{group}"' in index
        page = await (await facts_client.get(f"{PAGE}/{group}")).text()
        assert "Read-only: designers and admins edit the facts." in page
        assert 'value="save"' not in page and "disabled" in page
    fields = form_values(await (await facts_client.get(f"{PAGE}/hours")).text(), "facts")
    assert (await post(facts_client, "hours", {**fields, "p0.closes": "18:00"})).status == 403
    assert (await facts_client.get(f"{PAGE}/nothing")).status == 404

    await facts_client.post("/console/logout", data={"csrf_token": fields["csrf_token"]})
    assert (await log_in(facts_client, "supervisor")).status == 303
    assert 'href="/console/facts"' not in await (await facts_client.get("/console/")).text()
    assert (await facts_client.get(PAGE)).status == 403


async def test_a_forged_form_is_a_bad_request(facts_client: TestClient) -> None:
    assert (await log_in(facts_client, "designer")).status == 303
    fields = await shown(facts_client, "branches")
    for forged in (
        {"rows": "9999"},
        {"r0.shown": "not json"},
        {"r0.shown": '{"name": "x"}'},
        {"action": "delete"},
    ):
        answer = await facts_client.post(
            f"{PAGE}/branches", data={"action": "save", **fields, **forged}
        )
        assert answer.status == 400, forged


def test_times_money_and_percentages_are_made_speakable() -> None:
    assert [speech.time_of_day(t) for t in ("9 AM", "5:30 pm", "17:30", "noon", "12 am")] == [
        540,
        1050,
        1050,
        720,
        0,
    ]
    assert [speech.spoken_time(m) for m in (540, 1050, 720, 13 * 60 + 5)] == [
        "9 AM",
        "5:30 PM",
        "noon",
        "1:05 PM",
    ]
    periods = speech.parse_hours(
        "Monday to Friday from 9 AM to 5 PM, and on Saturday from 9 AM to 1 PM"
    )
    assert periods is not None
    assert speech.spoken_hours(periods) == (
        "Monday to Friday from 9 AM to 5 PM, and on Saturday from 9 AM to 1 PM"
    )
    assert speech.parse_hours("whenever we feel like it") is None
    assert speech.spoken_money("costs $1,250.05 or $1 or $0.99 or 3.50 dollars") == (
        "costs 1,250 dollars and 5 cents or 1 dollar or 99 cents or 3 dollars and 50 cents"
    )
    # Written as the bot says amounts everywhere (``dialogue.spoken.say_money``): with thousands
    # separators, so the voice reads a five-digit amount as a number, not digit by digit.
    assert normalize_text(speech.spoken_text("The fee is $12,500.", 100)) == (
        "The fee is twelve thousand five hundred dollars."
    )
    assert speech.spoken_money("a 5 dollar monthly fee") == "a 5 dollar monthly fee"
    assert [speech.percentage(p) for p in ("3.10", "0.125", "100", "7%")] == [
        "3.1",
        "0.125",
        "100",
        "7",
    ]
    assert speech.spoken_text("earn 4.25% a year", 100) == "earn 4.25 percent a year"
    for bad in ("$2,000,000", "-$5", "$", "101%"):
        with pytest.raises(FactValueError):
            speech.spoken_text(f"costs {bad}", 100)
