"""`ivr nlu variants`: training phrasings as the recogniser writes them, reproducible and safe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ivr.asr_variants import (
    Example,
    carry_entities,
    generate,
    normalise,
    parse_example,
    read_examples,
    speakable,
)
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


def test_variants_that_flip_collide_or_wander_are_dropped() -> None:
    """What the recogniser wrote is a table here: the filtering is what is checked."""
    examples = [
        Example("affirm", "that's correct", (), "conversation.yml"),
        Example("affirm", "yes go ahead", (), "conversation.yml"),
        Example("deny", "no thanks", (), "conversation.yml"),
        Example("help", "menu please", (), "conversation.yml"),
        Example("repeat", "again please", (), "conversation.yml"),
        Example("help", "read me the menu", (), "conversation.yml"),
    ]
    heard = {
        "that's correct": "Not correct.",
        "yes go ahead": "Yes, go ahead!",
        "no thanks": "No thanks, yes go ahead.",
        "menu please": "Many, please.",
        "again please": "Many please.",
        "read me the menu": "Read me the many.",
    }
    variants = generate(
        examples,
        set(),
        lambda voice, text, seed: heard[text],
        seed=1,
        per_intent=5,
        voices_per_example=1,
        cap=5,
    )
    assert variants.files == {"conversation.yml": {"help": ["read me the many"]}}
    assert (variants.spoken, variants.differed) == (6, 5)


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
