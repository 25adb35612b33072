"""The hotline vocabulary is derived from the Rasa project and reaches the engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr.vocabulary import load_vocabulary, read_rasa_project, strip_annotations
from speech.asr import create_asr_engine, engine_name
from speech.asr.base import Vocabulary
from speech.asr.vosk import VoskEngine
from speech.asr.whisper import WhisperEngine
from speech.settings import AsrConfig
from tests.speech.corpus import Sample
from tests.speech.rasa_fixture import write_rasa_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_rasa_project(tmp_path / "bank-assistant")


def test_entity_annotations_are_stripped_and_their_values_collected() -> None:
    values: list[str] = []
    text = strip_annotations(
        "move [50](amount) from [current account](account_type:checking) to "
        '[savings]{"entity": "account_type", "value": "savings"}',
        values,
    )
    assert text == "move 50 from current account to savings"
    assert values == ["savings", "savings", "50", "current account", "checking"]


def test_reader_takes_nlu_files_and_domain_slot_values_only(project: Path) -> None:
    language = read_rasa_project(project)
    names = sorted(p.name for p in language.sources)
    assert names == ["banking.yml", "domain.yml"]  # stories and seed data are not NLU
    assert "how much is in my checking account" in language.examples
    assert "i lost my debit card" in language.examples
    assert not any("[" in e or "](" in e for e in language.examples)
    assert "prepaid card" in language.values  # lookup entry
    assert "current account" in language.values  # synonym example
    assert "money market" in language.values  # categorical slot value
    assert not any("\\d" in v for v in language.values)  # regexes are not words


def test_vocabulary_ranks_distinctive_domain_words_and_skips_filler_and_digits(
    project: Path,
) -> None:
    vocabulary = load_vocabulary(project)
    terms = list(vocabulary.terms)
    for expected in ("card", "checking", "savings", "balance", "transfer", "pin", "debit card"):
        assert expected in terms
    assert terms.index("card") < terms.index("dispute")  # frequent before rare
    for filler in ("i", "my", "please", "want", "the", "yes", "no", "100"):
        assert filler not in terms
    assert vocabulary.prompt.startswith("Bank hotline call about ")
    assert "savings" in vocabulary.prompt and "PIN" in vocabulary.prompt  # designers' casing
    assert "debit card" in vocabulary.prompt and "debit," not in vocabulary.prompt
    assert len(vocabulary.prompt) <= 200
    assert "how much is in my checking account" in vocabulary.phrases


def test_secrets_and_numbers_never_enter_the_vocabulary(project: Path) -> None:
    vocabulary = load_vocabulary(project)
    everything = " ".join((vocabulary.prompt, *vocabulary.terms, *vocabulary.phrases))
    assert not any(c.isdigit() for c in everything)
    assert "secret" not in everything
    assert "3f1a" not in everything
    assert all(len(t) > 1 for t in vocabulary.terms)


def test_vocabulary_follows_edits_to_the_training_data(project: Path) -> None:
    before = load_vocabulary(project)
    extra = project / "data" / "nlu" / "mortgage.yml"
    extra.write_text(
        'version: "3.1"\nnlu:\n- intent: mortgage\n  examples: |\n'
        + "".join(
            f"    - {t}\n"
            for t in (
                "what is my mortgage balance",
                "when is my mortgage payment due",
                "i want to overpay my mortgage",
                "mortgage interest rate",
                "pay off the mortgage early",
                "how much is left on my mortgage",
                "mortgage statement",
                "talk about my mortgage",
            )
        ),
        encoding="utf-8",
    )
    after = load_vocabulary(project)
    assert "mortgage" not in before.terms
    assert after.terms.index("mortgage") < after.terms.index("balance")  # 8 examples vs 4
    assert "mortgage" in after.prompt
    extra.unlink()
    assert load_vocabulary(project) == before


def test_a_project_without_data_gives_an_empty_vocabulary(tmp_path: Path) -> None:
    assert load_vocabulary(tmp_path) == Vocabulary()
    assert not load_vocabulary(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broken.yml").write_text("nlu: [unclosed\n", encoding="utf-8")
    (tmp_path / "data" / "notes.yml").write_text("just: a mapping\n", encoding="utf-8")
    assert load_vocabulary(tmp_path) == Vocabulary()


def test_rasa_rich_example_lists_are_read(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text(
        "nlu:\n- intent: overdraft\n  examples:\n"
        "  - text: is there an overdraft fee\n    metadata: {sentiment: neutral}\n"
        "  - text: overdraft limit\n",
        encoding="utf-8",
    )
    vocabulary = load_vocabulary(tmp_path)
    assert vocabulary.terms[0] == "overdraft"


def test_whisper_receives_the_vocabulary_prompt_and_turn_hints_as_hotwords(
    project: Path, piper_samples: list[Sample], monkeypatch: pytest.MonkeyPatch
) -> None:
    vocabulary = load_vocabulary(project)
    engine = create_asr_engine(AsrConfig(engine="whisper"), vocabulary)
    assert isinstance(engine, WhisperEngine)
    seen: list[dict[str, Any]] = []
    model = engine.model
    original = model.transcribe

    def spy(audio: Any, **options: Any) -> Any:
        seen.append(options)
        return original(audio, **options)

    monkeypatch.setattr(model, "transcribe", spy)
    sample = next(s for s in piper_samples if s.text == "what is my available credit")
    result = engine.transcribe(sample.audio, hints=("checking", "savings"))
    assert "credit" in result.text.lower()
    assert seen[-1]["initial_prompt"] == vocabulary.prompt
    assert seen[-1]["hotwords"] == "checking, savings"
    stream = engine.open_stream(8000, hints=("yes", "no"))
    stream.accept(sample.audio.pcm)
    stream.finish()
    assert seen[-1]["hotwords"] == "yes, no"
    stream.set_hints(())  # a reply without hints clears the last one's
    stream.accept(sample.audio.pcm)
    stream.finish()
    assert seen[-1]["hotwords"] is None and seen[-1]["initial_prompt"] == vocabulary.prompt


def test_use_vocabulary_off_leaves_the_engine_unbiased(project: Path) -> None:
    vocabulary = load_vocabulary(project)
    engine = create_asr_engine(AsrConfig(engine="whisper", use_vocabulary=False), vocabulary)
    assert isinstance(engine, WhisperEngine)
    assert engine.decode_options()["initial_prompt"] is None
    assert engine.decode_options().get("hotwords") is None


def test_auto_picks_vosk_when_a_model_directory_is_configured(vosk_ko_dir: Path) -> None:
    assert engine_name(AsrConfig()) == "whisper"
    assert engine_name(AsrConfig(vosk_model=str(vosk_ko_dir))) == "vosk"
    assert engine_name(AsrConfig(engine="whisper", vosk_model=str(vosk_ko_dir))) == "whisper"
    engine = create_asr_engine(AsrConfig(vosk_model=str(vosk_ko_dir), max_audio_s=42.0))
    assert isinstance(engine, VoskEngine) and engine.max_seconds == 42.0
    assert isinstance(create_asr_engine(AsrConfig()), WhisperEngine)


def test_vosk_domain_grammar_uses_the_vocabulary_phrases(vosk_ko_dir: Path) -> None:
    # Korean phrases stand in for a Korean assistant's training data.
    vocabulary = Vocabulary(terms=("잔액",), phrases=("계좌 이체", "카드 분실", "네"))
    engine = create_asr_engine(
        AsrConfig(vosk_model=str(vosk_ko_dir), vosk_domain_grammar=True), vocabulary
    )
    assert isinstance(engine, VoskEngine)
    assert engine.grammar() == ["계좌 이체", "카드 분실", "네", "잔액"]
    assert engine.grammar(("아니요",)) == ["아니요"]  # the turn's hints win
    open_engine = create_asr_engine(AsrConfig(vosk_model=str(vosk_ko_dir)), vocabulary)
    assert isinstance(open_engine, VoskEngine)
    assert open_engine.grammar() is None
