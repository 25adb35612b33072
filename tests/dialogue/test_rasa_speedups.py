"""Rasa with our fixes: an action server's answer checked with its schema compiled once (the
same answers pass and fail, with the same error, as under ``jsonschema.validate``, what Rasa
calls), and models loaded to predict without a traced training step (the same decisions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from dialogue import rasa_speedups

ROOT = Path(__file__).resolve().parents[2]

ANSWERS: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "pin", "value": None}], "responses": [{"text": "Hi"}]},
    {"events": [{"event": "followup", "name": "action_listen"}]},
    {"events": [{"event": "slot", "name": 5}]},
    {"events": [{"event": "no_such_event"}]},
    {"responses": "not a list"},
    {"events": {"event": "slot"}},
]


def rasa_judges(answer: dict[str, Any]) -> str:
    try:
        jsonschema.validate(answer, RemoteAction.action_response_format_spec())
    except jsonschema.ValidationError as error:
        return error.message
    return "valid"


def compiled_judges(answer: dict[str, Any]) -> str:
    try:
        assert rasa_speedups._validate_action_result(RemoteAction("action_x", None), answer)
    except jsonschema.ValidationError as error:
        assert "Failed to validate Action server response" in error.message
        return error.message.split(". Failed to validate")[0]
    return "valid"


@pytest.mark.parametrize("answer", ANSWERS)
def test_answers_are_judged_as_rasa_judges_them(answer: dict[str, Any]) -> None:
    assert compiled_judges(answer) == rasa_judges(answer)


def test_installed_the_schema_is_checked_once_however_many_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[object] = []
    validator_class = type(rasa_speedups._answer_validator())
    monkeypatch.setattr(
        validator_class, "check_schema", classmethod(lambda cls, schema: checked.append(schema))
    )
    monkeypatch.setattr(
        RemoteAction, "_validate_action_result", RemoteAction._validate_action_result
    )
    rasa_speedups._answer_validator.cache_clear()
    rasa_speedups.check_action_answers_once_compiled()
    for answer in ANSWERS[:3] * 10:
        assert RemoteAction("action_x", None)._validate_action_result(answer)
    assert len(checked) == 1
    rasa_speedups._answer_validator.cache_clear()  # not left compiled with the stub


CONVERSATIONS = (
    ("hello", "what's my balance", "nah", "goodbye"),
    ("I lost my card", "yes", "thanks"),
    ("when are you open", "what about fees", "bye"),
    ("blah blah", "pardon", "uh", "erm what"),
)


async def what_the_assistant_decides(agent: Any, messages: list[str]) -> list[Any]:
    """Each held-out phrasing's intent ranking and entities, and per conversation every action
    with the policy that chose it and its confidence (custom actions fail alike: no server)."""
    from rasa.core.channels.channel import CollectingOutputChannel

    decided: list[Any] = []
    for text in messages:
        parsed = await agent.parse_message(text)
        decided.append(
            (
                [(i["name"], round(i["confidence"], 5)) for i in parsed["intent_ranking"]],
                [(e["entity"], e["value"]) for e in parsed["entities"]],
            )
        )
    for number, conversation in enumerate(CONVERSATIONS):
        for text in conversation:
            await agent.handle_text(
                text, sender_id=f"c{number}", output_channel=CollectingOutputChannel()
            )
        tracker = await agent.tracker_store.retrieve(f"c{number}")
        decided.append(
            [
                (e.action_name, e.policy, round(e.confidence or 0.0, 5))
                for e in tracker.events
                if e.type_name == "action"
            ]
        )
    return decided


@pytest.mark.slow
async def test_models_loaded_to_predict_decide_as_rasas_own_load(
    trained_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DIET and TED loaded without the traced training step: the same intent rankings, entities
    and actions, with the same confidences, as loaded by Rasa, on phrasings never trained on."""
    from rasa.core.agent import Agent
    from rasa.utils.tensorflow.models import RasaModel

    from ivr.bench.understanding import PHRASINGS, PhrasingSet

    messages = [p.said for p in PhrasingSet.load(ROOT / PHRASINGS).subset(40, 0).intents]
    rasa_speedups.load_models_to_predict()
    ours = await what_the_assistant_decides(Agent.load(str(trained_model)), messages)
    monkeypatch.setattr(RasaModel, "load", classmethod(rasa_speedups._rasa_load))
    rasas = await what_the_assistant_decides(Agent.load(str(trained_model)), messages)
    assert ours == rasas
    assert any(
        policy == "TEDPolicy" for actions in ours[len(messages) :] for _, policy, _ in actions
    )
