"""Short answers in context: after a yes/no question a short transcript that sounds like yes, no
or "pardon" is that answer; without such a question the same words keep their own meaning.

The matcher is checked on the transcripts the issue reports; the whole path (caller voice, G.711,
whisper prompted with the turn's hints, the trained assistant) on piper and espeak-ng audio."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from dialogue import short_answers
from dialogue.expected_answers import ExpectedAnswerClassifier
from dialogue.short_answers import match_answer, sound_key
from ivr.qa.voice import CallerVoice, speak
from ivr.vocabulary import load_vocabulary
from speech.asr import create_asr_engine
from speech.asr.whisper import WhisperEngine
from speech.settings import AsrConfig

ROOT = Path(__file__).resolve().parents[2]
YES_NO = ["yes", "no", "balance", "transfer", "agent"]
"""The hints of "Is there anything else I can help with?"."""
MENU = ["balance", "transactions", "transfer", "lost card", "agent"]
"""The greeting's hints: a menu, no yes/no question."""


@pytest.mark.parametrize(
    ("heard", "intent"),
    [
        ("Now.", "deny"),
        ("Know that drum.", "deny"),
        ("And no.", "deny"),
        ("Yup.", "affirm"),
        ("Yeah, sure.", "affirm"),
        ("Power done.", "repeat"),
        ("Come again?", "repeat"),
    ],
)
def test_a_mangled_short_answer_to_a_yes_no_question_is_that_answer(
    heard: str, intent: str
) -> None:
    answer = match_answer(heard, YES_NO)
    assert answer is not None and answer.intent == intent


def test_the_assistant_learns_the_answer_forms_when_it_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mangled answer then costs espeak-ng one run (its own words), not one per form."""
    sound_key.cache_clear()
    ExpectedAnswerClassifier.create({}, None, None, None)  # type: ignore[arg-type]
    said: list[str] = []
    run = subprocess.run

    def counted(command: list[str], **options: Any) -> Any:
        said.append(command[-1])
        return run(command, **options)

    monkeypatch.setattr(short_answers.subprocess, "run", counted)
    answer = match_answer("Know that drum.", YES_NO)
    assert answer is not None and answer.intent == "deny"
    assert said == ["know that drum"]


@pytest.mark.parametrize("heard", ["Now.", "Know that drum.", "Power done.", "Yup."])
def test_without_a_yes_no_question_nothing_is_read_as_an_answer(heard: str) -> None:
    assert match_answer(heard, MENU) is None
    assert match_answer(heard, []) is None


@pytest.mark.parametrize(
    "heard",
    ["Thanks.", "Transfer.", "Help.", "Goodbye.", "I want to check my balance please.", "Agent."],
)
def test_other_answers_to_a_yes_no_question_keep_their_own_meaning(heard: str) -> None:
    assert match_answer(heard, YES_NO) is None


SCORE = ["one", "two", "three", "four", "five"]
"""The hints of the survey question."""


@pytest.mark.parametrize(
    ("heard", "form", "confidence"),
    [("Free, it was okay.", "3", 0.9), ("For.", "4", 0.9), ("Really good, five.", "5", 1.0)],
)
def test_a_short_answer_naming_a_score_answers_the_survey_question(
    heard: str, form: str, confidence: float
) -> None:
    answer = match_answer(heard, SCORE)
    assert answer is not None
    assert (answer.intent, answer.form, answer.confidence) == ("rate_service", form, confidence)


@pytest.mark.parametrize("heard", ["Really good, bye.", "No thanks.", "Eight.", "Stop."])
def test_an_answer_to_the_survey_question_without_a_score_is_left_to_the_nlu(heard: str) -> None:
    assert match_answer(heard, SCORE) is None


def test_a_score_sound_alike_means_nothing_after_another_question() -> None:
    assert match_answer("Free.", YES_NO) is None
    assert match_answer("For.", MENU) is None


SAID = [
    ("nah", "deny"),
    ("nope", "deny"),
    ("no that's wrong", "deny"),
    ("yep", "affirm"),
    ("yeah sure", "affirm"),
    ("pardon?", "repeat"),
    ("come again", "repeat"),
]
VOICES = [
    CallerVoice(engine="piper", rate=1.0, snr_db=20.0),
    CallerVoice(engine="espeak", voice="en-us", rate=0.9),
]


@pytest.fixture(scope="module")
def recogniser() -> WhisperEngine:
    """The bot's recogniser: whisper with the project's vocabulary."""
    engine = create_asr_engine(AsrConfig(engine="whisper"), load_vocabulary(ROOT))
    assert isinstance(engine, WhisperEngine)
    engine.load()
    return engine


async def _after_anything_else(client: Any, conversation: str) -> None:
    await client.begin(conversation)
    reply = await client.send(conversation, "what are your branch hours")
    assert {"yes", "no"} <= set(reply.hints)


@pytest.mark.asyncio(loop_scope="session")
async def test_spoken_short_answers_after_a_yes_no_question_reach_their_intent(
    client: Any, recogniser: WhisperEngine
) -> None:
    right: list[str] = []
    wrong: list[str] = []
    for voice in VOICES:
        for index, (text, intent) in enumerate(SAID):
            heard = recogniser.transcribe(speak(voice, text, index), YES_NO).text
            conversation = f"short-{voice.engine}-{index}"
            await _after_anything_else(client, conversation)
            reply = await client.send(conversation, heard)
            note = f"{text!r} ({voice.describe()}) heard {heard!r}: {reply.intent}"
            (right if reply.intent == intent else wrong).append(note)
    assert len(right) >= len(SAID) * len(VOICES) - 2, wrong


@pytest.mark.asyncio(loop_scope="session")
async def test_the_same_sound_alikes_outside_a_yes_no_question_are_not_forced_into_one(
    client: Any, conversation: str
) -> None:
    for heard, answer in [("Know that drum.", "deny"), ("Power done.", "repeat")]:
        inside, outside = f"{conversation}-in-{answer}", f"{conversation}-out-{answer}"
        await _after_anything_else(client, inside)
        assert (await client.send(inside, heard)).intent == answer
        greeting = await client.begin(outside)
        assert not {"yes", "no"} & set(greeting.hints)
        reply = await client.send(outside, heard)
        assert reply.intent != answer, (heard, reply.intent)
