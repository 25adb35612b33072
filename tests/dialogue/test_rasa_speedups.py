"""Rasa's check of an action server's answer, with its schema compiled once: the same answers
pass and fail, with the same error, as under ``jsonschema.validate`` (what Rasa calls)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from dialogue import rasa_speedups

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
