"""The Flows page against the repository's real project and a temporary copy of it, drawn by
the real Graphviz ``dot``: every form and every rule and story of the files is in a diagram, a
rule added to the copy appears on the next view, and a name full of DOT syntax stays a label."""

from __future__ import annotations

import re
import shutil
from html import unescape
from pathlib import Path

import yaml
from aiohttp.test_utils import TestClient

from ivr.console.flow_store import FlowStore
from ivr.console.flows import read_flows
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from tests.console.conftest import ConsoleFactory, add_users, log_in

REPOSITORY = Path(__file__).resolve().parents[2]


def copy_flow_files(root: Path) -> Path:
    """The domain, rules, stories and actions of the repository under ``root``."""
    for folder in ("data/rules", "data/stories", "dialogue/actions"):
        shutil.copytree(REPOSITORY / folder, root / folder)
    shutil.copy2(REPOSITORY / "dialogue" / "domain.yml", root / "dialogue" / "domain.yml")
    return root


async def designer_client(make_client: ConsoleFactory, users: UserStore, root: Path) -> TestClient:
    client = await make_client(tools=CallTools(flows=FlowStore(root)))
    add_users(users, "designer")
    assert (await log_in(client, "designer")).status == 303
    return client


async def all_diagrams(client: TestClient) -> str:
    """Every diagram the Flows page shows, as one text (its labels, unescaped)."""
    page = await client.get("/console/flows")
    assert page.status == 200
    svgs = []
    for src in re.findall(r'<img class="flow-diagram" src="([^"]+)"', await page.text()):
        answer = await client.get(src)
        assert answer.status == 200 and answer.content_type == "image/svg+xml"
        svgs.append(unescape(await answer.text()))
    return "\n".join(svgs)


def yaml_names(folder: Path, section: str, kind: str) -> list[str]:
    return [
        entry[kind]
        for file in sorted(folder.glob("*.yml"))
        for entry in yaml.safe_load(file.read_text())[section]
    ]


async def test_every_form_rule_and_story_of_the_repository_is_drawn(
    make_client: ConsoleFactory, users: UserStore
) -> None:
    client = await designer_client(make_client, users, REPOSITORY)
    drawn = await all_diagrams(client)
    domain = yaml.safe_load((REPOSITORY / "dialogue" / "domain.yml").read_text())
    for form, spec in domain["forms"].items():
        assert f"form {form}" in drawn
        assert f"checked by validate_{form}" in drawn
        for slot in spec["required_slots"]:
            assert f"asks {slot}" in drawn
    for name in yaml_names(REPOSITORY / "data" / "rules", "rules", "rule"):
        assert f"rule: {name} (" in drawn, name
    for name in yaml_names(REPOSITORY / "data" / "stories", "stories", "story"):
        assert f"story: {name} (" in drawn, name


async def test_a_rule_added_to_the_files_appears_on_the_next_view(
    make_client: ConsoleFactory, users: UserStore, tmp_path: Path
) -> None:
    root = copy_flow_files(tmp_path / "project")
    client = await designer_client(make_client, users, root)
    assert "Fees, said twice" not in await all_diagrams(client)
    rules = root / "data" / "rules" / "service.yml"
    data = yaml.safe_load(rules.read_text())
    data["rules"].append(
        {
            "rule": 'Fees, said twice "quoted" -> {x}',
            "steps": [
                {"intent": "fees"},
                {"action": "action_fees"},
                {"action": "utter_fees_again"},
            ],
        }
    )
    rules.write_text(yaml.safe_dump(data, sort_keys=False))
    drawn = await all_diagrams(client)
    assert 'rule: Fees, said twice "quoted" -> {x} (data/rules/service.yml)' in drawn
    assert "says utter_fees_again" in drawn


def test_paths_are_grouped_by_the_form_or_intent_they_start_from() -> None:
    model = read_flows(REPOSITORY)
    balance = model.flow("check_balance")
    auth = model.flow("auth_form")
    assert balance is not None and auth is not None
    assert "Balance asked, verify first" in [path.name for path in balance.paths]
    assert "Verified, now the balance" in [path.name for path in auth.paths]
    assert auth.forms[0].name == "auth_form"
