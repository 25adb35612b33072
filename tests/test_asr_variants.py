"""`ivr nlu variants`: training phrasings as the recogniser writes them, reproducible and safe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dialogue.training import Project
from ivr.asr_variants import (
    Example,
    ambiguous,
    carry_entities,
    faithful,
    generate,
    normalise,
    parse_example,
    read_examples,
    speakable,
    spread,
)
from ivr.bench.understanding import IntentReader
from ivr.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parents[1]
NLU = ROOT / "data" / "nlu"


def test_transcripts_are_normalised_as_the_examples_are_written() -> None:
    assert normalise("Yes, please.") == "yes please"
    assert normalise("I'd like $1,500.50 moved, OK?") == "i'd like $1,500.50 moved ok"
    assert normalise("  What's my balance?! ") == "what's my balance"


def test_entities_are_carried_over_or_the_variant_is_dropped() -> None:
    text, entities = parse_example(
        'move it from [savings](account_type) to my [credit card]{"entity": "account_type", '
        '"value": "credit"}'
    )
    example = Example("transfer_money", text, entities, "accounts.yml")
    assert carry_entities("move it from savings to the credit card", example) == (
        'move it from [savings](account_type) to the [credit card]{"entity": "account_type", '
        '"value": "credit"}'
    )
    assert carry_entities("move it from saving to the credit card", example) is None


def test_pin_and_pattern_examples_are_never_spoken() -> None:
    examples, regexes = read_examples(NLU)
    assert "pin" in regexes
    unspoken = [e for e in examples if not speakable(e, regexes)]
    assert unspoken and all("secret:" in e.text for e in unspoken)


def test_a_variant_must_say_what_its_phrasing_says() -> None:
    # within one word in three, no negation gained or lost
    assert faithful("i lost my card today", "i lost my cart today")
    assert not faithful("i lost my card today", "i lost my card no")
    assert not faithful("block my card right now please", "lock my cart right now")
    # a short answer keeps its content words; fillers may come and go
    assert faithful("yes go ahead", "yes go ahead please")
    assert faithful("uh yes please", "um yes please")
    assert not faithful("uh huh", "uh uh")
    assert not faithful("uh huh please", "uh uh please")
    assert not faithful("yes go ahead", "yes go head")
    assert not faithful("that's correct", "not correct")


def test_a_variant_the_model_reads_as_another_intent_is_ambiguous() -> None:
    intents = {"affirm", "deny"}
    assert ambiguous("affirm", {"deny": 0.85, "affirm": 0.1}, intents)
    assert not ambiguous("affirm", {"deny": 0.79, "affirm": 0.2}, intents)
    assert not ambiguous("affirm", {"affirm": 0.95, "deny": 0.05}, intents)
    # the model's fallback is not an intent a variant could be taught as
    assert not ambiguous("affirm", {"nlu_fallback": 0.9, "affirm": 0.1}, intents)


def test_the_cap_is_spread_over_the_phrasings() -> None:
    by_phrasing = {"a": ["a1", "a2", "a3", "a4", "a5"], "b": ["b1"], "c": ["c1", "c2"]}
    kept = spread(by_phrasing, 4, seed=7)
    assert kept == sorted(kept) == spread(by_phrasing, 4, seed=7)
    assert len(kept) == 4
    assert "b1" in kept
    assert sum(v.startswith("a") for v in kept) <= 2
    assert sum(v.startswith("c") for v in kept) >= 1
    assert spread(by_phrasing, 20, seed=7) == sorted(v for vs in by_phrasing.values() for v in vs)


def test_variants_that_flip_collide_wander_or_read_as_another_intent_are_dropped() -> None:
    """What the recogniser wrote and what the model read are tables here: the filtering is
    what is checked."""
    examples = [
        Example("affirm", "yes that's correct thank you", (), "conversation.yml"),
        Example("affirm", "yes go ahead", (), "conversation.yml"),
        Example("affirm", "uh huh", (), "conversation.yml"),
        Example("deny", "no thanks", (), "conversation.yml"),
        Example("help", "go to the menu now", (), "conversation.yml"),
        Example("repeat", "go to the money now", (), "conversation.yml"),
        Example("help", "read me the menu", (), "conversation.yml"),
        Example("help", "what can you do for me", (), "conversation.yml"),
    ]
    heard = {
        "yes that's correct thank you": "Not that's correct, thank you.",
        "yes go ahead": "Yes, go ahead!",
        "uh huh": "Uh, uh.",
        "no thanks": "No thanks, yes go ahead.",
        "go to the menu now": "Go to the many now.",
        "go to the money now": "Go to the many now.",
        "read me the menu": "Read me the many.",
        "what can you do for me": "What can you do for my?",
    }
    model_reads = {
        "read me the many": {"help": 0.6, "deny": 0.3, "nlu_fallback": 0.9},
        "what can you do for my": {"affirm": 0.85, "help": 0.1},
    }
    variants = generate(
        examples,
        set(),
        lambda voice, text, seed: heard[text],
        seed=1,
        per_intent=8,
        voices_per_example=1,
        cap=5,
        rank_intents=model_reads.__getitem__,
    )
    assert variants.files == {"conversation.yml": {"help": ["read me the many"]}}
    assert (variants.spoken, variants.differed, variants.ambiguous) == (8, 7, 1)


def test_generated_variants_stay_out_of_the_recognition_vocabulary(tmp_path: Path) -> None:
    (tmp_path / "data" / "nlu" / "asr").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "bank.yml").write_text(
        "nlu:\n- intent: check_balance\n  examples: |\n    - overdraft balance\n"
    )
    before = load_vocabulary(tmp_path)
    (tmp_path / "data" / "nlu" / "asr" / "bank.yml").write_text(
        "nlu:\n- intent: check_balance\n  examples: |\n    - overdrafts ballon\n"
    )
    assert load_vocabulary(tmp_path) == before


RUN = """
import json, sys
from ivr.asr_variants import VOICES, Example, generate
from ivr.config import Config
from ivr.qa.voice import speak
from ivr.vocabulary import load_vocabulary
from speech.asr import create_asr_engine
from speech.asr.whisper import seed_sampling
from speech.tts.piper import seed_noise

engine = create_asr_engine(Config().asr, load_vocabulary("."))
seed_noise(3)
seed_sampling(3)
heard = []
def transcribe(voice, text, noise_seed):
    said = engine.transcribe(speak(voice, text, noise_seed)).text
    heard.append(said)
    return said
examples = [Example(*row) for row in json.loads(sys.argv[1])]
# pyttsx3's espeak-ng renderings jitter by a sample between runs; piper's are seeded.
piper = tuple(v for v in VOICES if v.engine == "piper")
variants = generate(
    examples, set(), transcribe, seed=3, per_intent=1, voices_per_example=2, cap=5, voices=piper
)
print(json.dumps({"heard": heard, "files": variants.files}))
"""


def test_a_run_is_reproducible_and_keeps_only_differing_transcripts() -> None:
    examples = [
        ("check_balance", "what's the balance on my savings", [], "accounts.yml"),
        ("report_lost_card", "i think i lost my debit card", [], "cards.yml"),
        ("deny", "nah thanks", [], "conversation.yml"),
    ]

    def run() -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-c", RUN, json.dumps(examples)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    first, second = run(), run()
    assert len(first["heard"]) == 6
    assert first == second
    kept = [v for intents in first["files"].values() for texts in intents.values() for v in texts]
    assert all(v != normalise(text) for v in kept for _, text, _, _ in examples)


@pytest.mark.slow
@pytest.mark.long  # loads the assistant for one phrase: a minute and a half
def test_the_judging_model_ranks_every_intent_of_a_phrase() -> None:
    reader = IntentReader(Project(root=ROOT, model_dir=ROOT / "models").model_path)
    reader.load()
    try:
        ranking = reader.ranking("what's the balance on my savings account")
    finally:
        reader.close()
    assert max(ranking, key=ranking.__getitem__) == "check_balance"
    assert ranking["check_balance"] >= 0.8
    assert all(confidence < 0.2 for name, confidence in ranking.items() if name != "check_balance")
