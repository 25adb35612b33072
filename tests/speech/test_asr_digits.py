"""Whisper in digit mode on digit strings spoken by Festival voices over a noisy G.711 line.

Festival's voices are not the piper and espeak-ng voices the rest of the speech tests use: they
stand for callers the recogniser has not been tried on. Each string is random (seeded), so the
test measures a rate over strings rather than one fixture.
"""

from __future__ import annotations

import random
import time

import pytest

from ivr.qa.voice import CallerVoice, speak
from speech.asr import whisper
from speech.asr.whisper import WhisperEngine
from speech.audio import Audio
from speech.digits import DigitExpectation, read_digits

pytestmark = pytest.mark.slow

VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
STRINGS_PER_VOICE = 5
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def spoken(digits: str) -> str:
    return " ".join(WORDS[int(d)] for d in digits)


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    engine = WhisperEngine(cpu_threads=1)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def account_numbers() -> list[tuple[str, str, Audio]]:
    """8-digit strings read out by each Festival voice, with 20 dB line noise, through G.711."""
    rng = random.Random(2021)
    clips = []
    for index, name in enumerate(v for v in VOICES for _ in range(STRINGS_PER_VOICE)):
        digits = "".join(rng.choice("0123456789") for _ in range(8))
        voice = CallerVoice(engine="festival", voice=name, snr_db=20.0, codec="ulaw")
        clips.append((name, digits, speak(voice, spoken(digits), seed=index)))
    return clips


def test_digit_mode_gets_digit_strings_right_where_plain_mode_does_not(
    engine: WhisperEngine,
    account_numbers: list[tuple[str, str, Audio]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = DigitExpectation(count=8, max=8)
    right = {"plain": 0, "digits": 0}
    spent = {"plain": 0.0, "digits": 0.0}
    misses = []
    for voice, digits, audio in account_numbers:
        for mode, expectation in (("plain", None), ("digits", expected)):
            started = time.perf_counter()
            heard = engine.transcribe(audio, digits=expectation).text
            spent[mode] += time.perf_counter() - started
            if read_digits(heard, digit_answer=True) == digits:
                right[mode] += 1
            else:
                misses.append(f"{mode} {voice} {digits} -> {heard!r}")
    total = len(account_numbers)
    with capsys.disabled():
        print(
            f"\n[asr-digits] right: plain {right['plain']}/{total}, digits {right['digits']}/"
            f"{total}; ms per utterance: plain {spent['plain'] / total * 1000:.0f}, digits "
            f"{spent['digits'] / total * 1000:.0f}"
        )
        for miss in misses:
            print("    " + miss)
    assert right["digits"] >= total - 1
    assert right["digits"] > right["plain"]


def test_digit_mode_still_hears_a_caller_who_asks_for_an_agent(engine: WhisperEngine) -> None:
    voice = CallerVoice(engine="festival", voice="cmu_us_slt_arctic_hts", snr_db=20.0)
    audio = speak(voice, "I don't have it, can I talk to an agent?", seed=7)
    heard = engine.transcribe(audio, digits=DigitExpectation(count=8, max=8)).text
    assert "agent" in heard.lower()


def test_digit_mode_keeps_a_part_of_a_number_a_part(engine: WhisperEngine) -> None:
    """A caller who gives only the first six digits of an 8-digit number is heard with six (the
    bot keeps them and asks for the rest): no decode may make up the missing two."""
    rng = random.Random(6)
    expected = DigitExpectation(count=8, max=8)
    heard = []
    for index, name in enumerate(VOICES):
        digits = "".join(rng.choice("0123456789") for _ in range(6))
        voice = CallerVoice(engine="festival", voice=name, snr_db=20.0, codec="ulaw")
        text = engine.transcribe(speak(voice, spoken(digits), seed=index), digits=expected).text
        heard.append((digits, read_digits(text, digit_answer=True)))
    assert all(len(got) < 8 for _, got in heard), heard
    assert sum(got == digits for digits, got in heard) >= len(heard) - 1, heard


def test_a_digit_answer_may_be_written_only_in_digit_words_numerals_and_marks(
    engine: WhisperEngine,
) -> None:
    """The last decode of a digit answer may write digits and the words callers wrap them in,
    nothing else: no word a caller's "oh" or "double" can be mistaken for, and no "thousand"
    to add zeros to a number."""
    tokenizer = engine.tokenizer()
    suppressed = set(engine.non_digit_tokens)

    def allowed(text: str) -> bool:
        return all(token not in suppressed for token in tokenizer.encode(text))

    for text in (
        " double oh",
        " triple five",
        " 5550",
        ", seven.",
        " ninety nine",
        " my account number is",
    ):
        assert allowed(text), text
    for text in (" low", " below", " here", " agent", " Hello", " hundred", " thousand", " of"):
        assert not allowed(text), text
    assert tokenizer.eot not in suppressed


def said_as_callers_do(digits: str, rng: random.Random) -> str:
    """A number as callers read it: in groups or not, zero as "oh" or "zero", a repeat often
    as "double five" or "triple oh"."""
    sizes = rng.choice(((8,), (4, 4), (3, 3, 2), (2, 2, 2, 2)))
    groups = []
    for size in sizes:
        group, digits = digits[:size], digits[size:]
        words = []
        while group:
            run = len(group) - len(group.lstrip(group[0]))
            name = WORDS[int(group[0])] if group[0] != "0" or rng.random() < 0.5 else "oh"
            said = min(run, 3) if run > 1 and rng.random() < 0.6 else 1
            words.append({1: name, 2: f"double {name}", 3: f"triple {name}"}[said])
            group = group[said:]
        groups.append(" ".join(words))
    return ", ".join(groups)


def test_a_number_misheard_as_other_words_is_read_in_digit_words_only(
    engine: WhisperEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Numbers with repeats and "oh"s, which whisper tends to hear as other words ("double
    low", "now below", "trickle eight"): when neither prompt's beam has 8 digits, a decode in
    digit words only gets more of them right than another decode free to write anything."""
    rng = random.Random(44)
    expected = DigitExpectation(count=8, max=8)
    clips = []
    for index, name in enumerate(v for v in VOICES for _ in range(8)):
        digits = rng.choice("0123456789")
        while len(digits) < 8:
            digits += digits[-1] if rng.random() < 0.3 else rng.choice("0123456789")
        voice = CallerVoice(engine="festival", voice=name, snr_db=20.0, codec="ulaw")
        clips.append((digits, speak(voice, said_as_callers_do(digits, rng), seed=index)))

    def right() -> int:
        return sum(
            read_digits(engine.transcribe(audio, digits=expected).text, digit_answer=True) == digits
            for digits, audio in clips
        )

    constrained = right()
    monkeypatch.setitem(whisper._non_digit, str(engine.model_dir), [])
    free = right()
    with capsys.disabled():
        print(f"\n[asr-digits] right: digit words only {constrained}/{len(clips)}, free {free}")
    assert constrained > free, (constrained, free)
