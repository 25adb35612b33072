"""The spoken-understanding benchmark: its phrasing set stays held out, and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dialogue.actions.common import NLU_CONFIRM
from ivr.bench.understanding import PHRASINGS, PhrasingSet
from ivr.cli import main
from ivr.vocabulary import read_rasa_project
from speech.asr.scoring import normalise_text

ROOT = Path(__file__).resolve().parents[2]


def test_no_benchmark_phrasing_is_in_the_training_data() -> None:
    """A phrasing the NLU was trained on would measure memory, not understanding. Digit strings
    are not checked: they are read by recognition and digit extraction, not by the NLU model."""
    trained = {normalise_text(text) for text in read_rasa_project(ROOT).examples}
    phrasings = PhrasingSet.load(ROOT / PHRASINGS).intents
    assert len(trained) > 1000 and len(phrasings) >= 60
    leaked = [text for _, text in phrasings if normalise_text(text) in trained]
    assert leaked == []


def test_every_phrasing_names_an_intent_of_the_assistant_and_every_intent_is_asked() -> None:
    domain = yaml.safe_load((ROOT / "dialogue" / "domain.yml").read_text())
    # no_input and dtmf come from the call layer, nlu_confirm from the NLU's confidence bands
    spoken = set(domain["intents"]) - {"no_input", "dtmf", NLU_CONFIRM}
    phrasings = PhrasingSet.load(ROOT / PHRASINGS)
    assert {intent for intent, _ in phrasings.intents} == spoken
    assert len(phrasings.account_numbers) >= 20


@pytest.mark.slow
def test_a_tiny_run_scores_real_recognition_per_voice_family(tmp_path: Path) -> None:
    argv = ["bench", "understanding", "--voices", "piper@0.9", "--limit", "4"]
    argv += ["--digit-limit", "1", "--condition", "noise", "--quiet", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "understanding.json").read_text())

    [family] = results["families"]
    assert (family["family"], family["condition"]) == ("piper", "noise")
    assert (family["phrasings"], family["account_numbers"]) == (4, 1)
    for figure in ("wer", "intent_accuracy", "digit_accuracy"):
        assert 0.0 <= family[figure] <= 1.0
    trials = results["trials"]
    assert len(trials) == 5
    phrasings = [t for t in trials if t["kind"] == "intent"]
    # Figures come from what the recogniser wrote: most of the words said are heard.
    heard = " ".join(normalise_text(t["heard"]) for t in phrasings).split()
    said = " ".join(normalise_text(t["said"]) for t in phrasings).split()
    assert len(set(heard) & set(said)) >= len(set(said)) // 2
    assert family["intent_accuracy"] == sum(t["got"] == t["expected"] for t in phrasings) / 4
    [number] = [t for t in trials if t["kind"] == "digits"]
    assert family["digit_accuracy"] == (number["got"] == number["expected"])
    assert number["heard"].isdigit() or number["heard"] == ""
    assert "piper" in result.output and "intent accuracy" in result.output
