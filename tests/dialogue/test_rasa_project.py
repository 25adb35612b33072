"""The Rasa project as designers and CI see it: `rasa data validate` and `rasa test`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dialogue.actions.confirmation import confirmation_response
from dialogue.training import TRAINING_DIRS
from tests.dialogue.conftest import ROOT

pytestmark = pytest.mark.slow
RASA = str(Path(sys.executable).with_name("rasa"))
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}

# Warnings `rasa data validate` gives by design, and why:
# - intents injected by the call layer (`/dtmf{...}`, `/no_input`) or set by the confidence
#   band classifier (`nlu_confirm`) have no NLU examples;
# - responses sent by custom actions or asked by forms never appear in stories or rules.
INJECTED_INTENTS = {"dtmf", "no_input", "nlu_confirm"}


def _responses_used_outside_stories() -> set[str]:
    domain = yaml.safe_load((ROOT / "dialogue/domain.yml").read_text())
    sources = "\n".join(p.read_text() for p in (ROOT / "dialogue/actions").glob("*.py"))
    dispatched = set(re.findall(r'"(utter_[a-z_]+)"', sources))
    asked = {
        f"utter_ask_{slot}" for form in domain["forms"].values() for slot in form["required_slots"]
    }
    confirmed = {confirmation_response(intent) for intent in confirm_intents()}
    return (dispatched | asked | confirmed) & set(domain["responses"])


def confirm_intents() -> list[str]:
    """The intents dialogue/config.yml confirms before acting on a middling guess."""
    config = yaml.safe_load((ROOT / "dialogue/config.yml").read_text())
    (bands,) = [c for c in config["pipeline"] if c["name"].endswith("ConfidenceBandClassifier")]
    return list(bands["confirm_intents"])


def test_every_confirmed_intent_has_its_question_in_the_domain() -> None:
    domain = yaml.safe_load((ROOT / "dialogue/domain.yml").read_text())
    intents = confirm_intents()
    assert intents and set(intents) <= set(domain["intents"])
    missing = [i for i in intents if confirmation_response(i) not in domain["responses"]]
    assert not missing, missing


def test_rasa_data_validate_is_clean() -> None:
    result = subprocess.run(
        [
            RASA,
            "data",
            "validate",
            "--domain",
            "dialogue/domain.yml",
            "--config",
            "dialogue/config.yml",
            "--data",
            *TRAINING_DIRS,
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No story structure conflicts found" in output
    warnings = re.findall(r"UserWarning: (.+)", output)
    allowed = _responses_used_outside_stories()
    unexpected = []
    for warning in warnings:
        unused = re.match(r"The utterance '(\w+)' is not used in any story or rule\.", warning)
        missing = re.match(
            r"The intent '(\w+)' is listed in the domain file, but is not found", warning
        )
        if unused and unused.group(1) in allowed:
            continue
        if missing and missing.group(1) in INJECTED_INTENTS:
            continue
        unexpected.append(warning)
    assert not unexpected, "\n".join(unexpected)


def test_rasa_test_passes_every_end_to_end_story(trained_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [
            RASA,
            "test",
            "core",
            "--e2e",
            "--model",
            str(trained_model),
            "--stories",
            "tests/stories",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "story_report.json").read_text())
    conversations = report["conversation_accuracy"]
    assert conversations["total"] >= 40
    failed = (out / "failed_test_stories.yml").read_text()
    assert conversations["correct"] == conversations["total"], failed
    assert report["accuracy"] == 1.0
