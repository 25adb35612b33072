"""The domain's responses grouped by flow, as the Flows page groups rules and stories.

A response belongs to the first flow that says it or whose form asks with it
(``utter_ask_<slot>``, ``utter_ask_<form>_<slot>``); the rest are said by custom actions only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ivr.console.flows import Flow, FlowModel

ACTIONS_ONLY = "said by actions"


@dataclass(frozen=True)
class PromptGroup:
    title: str
    responses: tuple[str, ...]


def prompt_groups(model: FlowModel) -> list[PromptGroup]:
    responses: dict[str, Any] = dict(model.domain.get("responses") or {})
    placed: set[str] = set()
    groups = []
    for flow in model.flows:
        mine = [name for name in _said_in(flow) if name in responses and name not in placed]
        placed.update(mine)
        if mine:
            groups.append(PromptGroup(flow.key, tuple(mine)))
    rest = tuple(name for name in responses if name not in placed)
    if rest:
        groups.append(PromptGroup(ACTIONS_ONLY, rest))
    return groups


def _said_in(flow: Flow) -> Iterable[str]:
    for form in flow.forms:
        for slot in form.required_slots:
            yield f"utter_ask_{slot}"
            yield f"utter_ask_{form.name}_{slot}"
    yield from flow.responses()
