"""The spoken-understanding benchmark: its phrasing set stays held out, every phrasing answers a
message of the domain and is heard in its context, and a tiny real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dialogue.actions.common import NLU_CONFIRM
from dialogue.training import Project
from ivr.bench.understanding import (
    ACCOUNT_NUMBER_QUESTION,
    FIRST_QUESTION,
    PHRASINGS,
    IntentReader,
    Phrasing,
    PhrasingSet,
    contexts,
)
from ivr.cli import main
from ivr.vocabulary import read_rasa_project
from speech.asr.scoring import normalise_text
from speech.digits import read_digits

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "dialogue" / "domain.yml").read_text())


def test_no_benchmark_phrasing_is_in_the_training_data() -> None:
    """A phrasing the NLU was trained on would measure memory, not understanding. Digit strings
    are not checked: they are read by recognition and digit extraction, not by the NLU model."""
    trained = {normalise_text(text) for text in read_rasa_project(ROOT).examples}
    phrasings = PhrasingSet.load(ROOT / PHRASINGS).intents
    assert len(trained) > 1000 and len(phrasings) >= 60
    leaked = [p.said for p in phrasings if normalise_text(p.said) in trained]
    assert leaked == []


def test_every_phrasing_names_an_intent_of_the_assistant_and_every_intent_is_asked() -> None:
    # no_input and dtmf come from the call layer, nlu_confirm from the NLU's confidence bands
    spoken = set(DOMAIN["intents"]) - {"no_input", "dtmf", NLU_CONFIRM}
    phrasings = PhrasingSet.load(ROOT / PHRASINGS)
    assert {p.intent for p in phrasings.intents} == spoken
    assert len(phrasings.account_numbers) >= 20


def test_every_phrasing_answers_a_response_of_the_domain() -> None:
    """Each `asked:` and `after:` names a bot message a caller can answer; account numbers
    answer the account number prompt, which asks for 8 digits and gives no hints."""
    phrasings = PhrasingSet.load(ROOT / PHRASINGS)
    answered = phrasings.answered()
    assert set(answered) <= set(DOMAIN["responses"])
    heard = contexts(DOMAIN["responses"], answered)
    assert set(heard) == set(answered)
    assert heard[ACCOUNT_NUMBER_QUESTION].hints == ()
    assert heard[ACCOUNT_NUMBER_QUESTION].digits is not None
    assert heard[ACCOUNT_NUMBER_QUESTION].digits.count == 8
    # a caller answers more than the greeting: short answers are heard after their question
    assert len({p.after for p in phrasings.intents}) > 1
    with pytest.raises(ValueError, match="utter_no_such_question"):
        contexts(DOMAIN["responses"], ["utter_no_such_question"])


def test_a_phrasing_answers_its_intents_message_unless_it_says_after_which(tmp_path: Path) -> None:
    path = tmp_path / "phrasings.yml"
    path.write_text(
        "asked: {inform: utter_ask_transfer_to}\n"
        "intents:\n"
        "  inform:\n"
        "    - the checking one please\n"
        "    - {said: forty bucks, after: utter_ask_transfer_amount}\n"
        "  greet: [hi there]\n"
    )
    assert PhrasingSet.load(path).intents == (
        Phrasing("inform", "the checking one please", "utter_ask_transfer_to"),
        Phrasing("inform", "forty bucks", "utter_ask_transfer_amount"),
        Phrasing("greet", "hi there", FIRST_QUESTION),
    )
    path.write_text("asked: {deny: utter_anything_else}\nintents: {greet: [hi there]}\n")
    with pytest.raises(ValueError, match="deny"):
        PhrasingSet.load(path)


@pytest.mark.slow
def test_the_assistant_reads_a_short_answer_in_the_light_of_the_question() -> None:
    """The hints reach the NLU as in a call: "Know that drum." (how the recogniser hears "no
    that's wrong") means nothing out of context but "no" after a yes/no question."""
    reader = IntentReader(Project(root=ROOT, model_dir=ROOT / "models").model_path)
    reader.load()
    try:
        question = contexts(reader.responses, ["utter_anything_else"])["utter_anything_else"]
        assert reader.intent("Know that drum.", question.hints) == ("deny", False)
        assert reader.intent("Know that drum.")[0] != "deny"
    finally:
        reader.close()


@pytest.mark.slow
def test_a_tiny_run_scores_real_recognition_per_voice_family(tmp_path: Path) -> None:
    # five phrasings spread over the set reach the survey's (said after the survey question)
    argv = ["bench", "understanding", "--voices", "piper@0.9", "--limit", "5"]
    argv += ["--digit-limit", "1", "--condition", "noise", "--quiet", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "understanding.json").read_text())

    [family] = results["families"]
    assert (family["family"], family["condition"]) == ("piper", "noise")
    assert (family["phrasings"], family["account_numbers"]) == (5, 1)
    for figure in ("wer", "intent_accuracy", "digit_accuracy"):
        assert 0.0 <= family[figure] <= 1.0
    trials = results["trials"]
    assert len(trials) == 6
    phrasings = [t for t in trials if t["kind"] == "intent"]
    # Each phrasing is heard after the message it answers, with that message's hints.
    asked = PhrasingSet.load(ROOT / PHRASINGS).subset(5, 1).intents
    assert {t["said"]: t["context"] for t in phrasings} == {p.said: p.after for p in asked}
    assert "utter_ask_survey_score" in {t["context"] for t in phrasings}
    survey = DOMAIN["responses"]["utter_ask_survey_score"][0]["custom"]["hints"]
    assert results["contexts"]["utter_ask_survey_score"] == survey
    assert (
        results["contexts"][FIRST_QUESTION]
        == DOMAIN["responses"][FIRST_QUESTION][0]["custom"]["hints"]
    )
    # Figures come from what the recogniser wrote: most of the words said are heard.
    heard = " ".join(normalise_text(t["heard"]) for t in phrasings).split()
    said = " ".join(normalise_text(t["said"]) for t in phrasings).split()
    assert len(set(heard) & set(said)) >= len(set(said)) // 2
    assert family["intent_accuracy"] == sum(t["got"] == t["expected"] for t in phrasings) / 5
    [number] = [t for t in trials if t["kind"] == "digits"]
    assert number["context"] == ACCOUNT_NUMBER_QUESTION
    assert results["contexts"][ACCOUNT_NUMBER_QUESTION] == []
    assert family["digit_accuracy"] == (number["got"] == number["expected"])
    # the transcript is kept; the digits scored are the ones a digit answer reads from it
    assert number["got"] == read_digits(number["heard"], digit_answer=True)
    assert number["got"].isdigit() or number["got"] == ""
    assert "piper" in result.output and "intent accuracy" in result.output


@pytest.mark.slow
@pytest.mark.long
def test_two_runs_with_one_seed_hear_the_same_words(tmp_path: Path) -> None:
    """piper samples its noise and whisper its fallback at random: seeded, two separate runs
    (each seeds its own process before the first rendering) hear the same audio and write the
    same transcripts, so a change is measured against the last run and not against chance."""
    ivr = str(Path(sys.executable).with_name("ivr"))
    heard = []
    for run in ("first", "second"):
        argv = [ivr, "bench", "understanding", "--voices", "piper@1.15", "--limit", "4"]
        argv += ["--digit-limit", "1", "--condition", "noise", "--quiet", "--seed", "5"]
        done = subprocess.run(
            [*argv, "--out", str(tmp_path / run)], cwd=ROOT, capture_output=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results = json.loads((tmp_path / run / "understanding.json").read_text())
        assert results["settings"]["seed"] == 5
        heard.append([(t["said"], t["audio"], t["heard"]) for t in results["trials"]])
    assert len(heard[0]) == 5 and heard[0] == heard[1]
