"""``ivr bench understanding``: how well callers are understood, from their voice to the intent.

A phrasing set written for the benchmark (``bench/understanding/phrasings.yml``, never in the
training data) is spoken by several voice families the assistant was not tuned on (piper at two
speaking rates, espeak-ng variants, Festival voices), clean and with line noise, through G.711.
Each phrasing is heard in the context of the bot message it answers, as in a call: a caller
never speaks out of the blue but answers a question, and that domain response's ``hints`` bias
the recogniser (as hotwords, beside the hotline vocabulary) and go to the NLU as the expected
answers, so "really good, five" is heard after the survey question and "nah, not today" after
"anything else?". Each clip is recognised as a call would recognise it and scored: word error
rate and intent accuracy (the intent the trained assistant would act on: below its fallback
threshold ``nlu_fallback`` counts as wrong) on the phrasings, and 8-digit account numbers
(said after the account number prompt, in digit mode) right first time. Figures per voice
family and condition are printed and written to ``bench/results/understanding.json`` with every
transcript, the context it was heard in, and a few misrecognised examples per family.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from tqdm import tqdm

from dialogue import other_readings, quiet_rasa_environment, rasa_speedups
from dialogue.actions.common import NLU_CONFIRM
from dialogue.protocol import ASR_ALTERNATIVES_KEY, ASR_CONFIDENCE_KEY
from dialogue.reply import BotMessage
from dialogue.short_answers import EXPECTED_KEY
from dialogue.training import Project
from ivr.config import Config
from ivr.digits import spoken_digits
from ivr.qa.voice import FESTIVAL_VOICES, CallerVoice, over_the_line, render
from ivr.vocabulary import load_vocabulary
from speech.asr import AsrEngine, create_asr_engine
from speech.asr.scoring import word_error_rate
from speech.asr.whisper import seed_sampling
from speech.blas import limit_blas_threads
from speech.digits import DigitExpectation, read_digits
from speech.tts.piper import seed_noise

PHRASINGS = Path("bench/understanding/phrasings.yml")
"""The held-out phrasing set, relative to the project directory."""
ACCOUNT_DIGITS = 8
FIRST_QUESTION = "utter_greet"
"""What a phrasing answers when its intent is not in the set's ``asked`` map: the greeting's
"How can I help you today?", the first thing every caller answers."""
ACCOUNT_NUMBER_QUESTION = "utter_ask_account_number"
"""What the account numbers answer."""
NOISE_SNR_DB = 20.0
DEFAULT_SEED = 21
CONDITIONS: dict[str, float | None] = {"clean": None, "noise": NOISE_SNR_DB}
"""Line conditions: a clean G.711 line, and one with background noise at 20 dB SNR."""
VOICES: tuple[CallerVoice, ...] = (
    CallerVoice(engine="piper", rate=0.9, varied=True),
    CallerVoice(engine="piper", rate=1.15, varied=True),
    CallerVoice(engine="espeak", voice="en-us"),
    CallerVoice(engine="espeak", voice="en-gb+f2"),
    CallerVoice(engine="espeak", voice="en-us+m3"),
    *(CallerVoice(engine="festival", voice=name) for name in FESTIVAL_VOICES),
)
"""The benchmark's callers: piper at a slower and a faster pace, three espeak-ng variants,
every Festival voice."""
EXAMPLES_PER_GROUP = 6
"""Misrecognised examples kept per voice family and condition."""


@dataclass(frozen=True)
class Phrasing:
    """What a caller says, the intent the assistant should act on, and what it answers."""

    intent: str
    said: str
    after: str
    """The domain response the caller is answering (its name)."""


@dataclass(frozen=True)
class PhrasingSet:
    """What the benchmark's callers say."""

    intents: tuple[Phrasing, ...]
    account_numbers: tuple[tuple[str, str], ...]
    """(the 8 digits, how the caller says them after :data:`ACCOUNT_NUMBER_QUESTION`)."""

    @classmethod
    def load(cls, path: Path) -> PhrasingSet:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        said = data.get("intents") or {}
        asked = {str(intent): str(name) for intent, name in (data.get("asked") or {}).items()}
        unknown = sorted(set(asked) - {str(intent) for intent in said})
        if unknown:
            raise ValueError(f"{path}: asked names intents without phrasings: {unknown}")
        intents = tuple(
            _phrasing(path, str(intent), entry, asked.get(str(intent), FIRST_QUESTION))
            for intent, entries in said.items()
            for entry in entries
        )
        numbers = tuple(
            (str(item["digits"]), str(item["said"])) for item in data.get("account_numbers") or ()
        )
        for digits, said in numbers:
            if len(digits) != ACCOUNT_DIGITS or not digits.isdigit():
                raise ValueError(f"{path}: {digits!r} ({said!r}) is not {ACCOUNT_DIGITS} digits")
        return cls(intents, numbers)

    def subset(self, limit: int | None, digit_limit: int | None) -> PhrasingSet:
        """At most ``limit`` phrasings, spread over the intents, and ``digit_limit`` numbers."""
        return PhrasingSet(_spread(self.intents, limit), _spread(self.account_numbers, digit_limit))

    def answered(self) -> tuple[str, ...]:
        """The domain responses the callers answer, phrasings' and account numbers' alike."""
        names = [p.after for p in self.intents]
        if self.account_numbers:
            names.append(ACCOUNT_NUMBER_QUESTION)
        return tuple(dict.fromkeys(names))


def _phrasing(path: Path, intent: str, entry: Any, asked: str) -> Phrasing:
    """One entry of an intent's list: what is said, or ``{said: ..., after: utter_x}``."""
    if not isinstance(entry, dict):
        return Phrasing(intent, str(entry), asked)
    if set(entry) - {"said", "after"} or not entry.get("said"):
        raise ValueError(f"{path}: {intent} entry {entry!r} needs 'said' and may have 'after'")
    return Phrasing(intent, str(entry["said"]), str(entry.get("after") or asked))


_Item = TypeVar("_Item")


def _spread(items: tuple[_Item, ...], limit: int | None) -> tuple[_Item, ...]:
    if limit is None or limit >= len(items):
        return items
    step = len(items) / max(limit, 1)
    return tuple(items[int(i * step)] for i in range(limit))


def voice_key(voice: CallerVoice) -> str:
    """A voice's short name: ``piper@0.9``, ``espeak:en-gb+f2``, ``festival:kal_diphone``."""
    return f"piper@{voice.rate:g}" if voice.engine == "piper" else f"{voice.engine}:{voice.voice}"


def select_voices(names: Iterable[str]) -> tuple[CallerVoice, ...]:
    """The benchmark voices named by family (``festival``) or key (``espeak:en-us``)."""
    wanted = {name.strip() for name in names if name.strip()}
    if not wanted:
        return VOICES
    chosen = tuple(v for v in VOICES if v.engine in wanted or voice_key(v) in wanted)
    known = {v.engine for v in VOICES} | {voice_key(v) for v in VOICES}
    unknown = wanted - known
    if unknown:
        raise ValueError(f"unknown voices {sorted(unknown)}; choose from {sorted(known)}")
    return chosen


@dataclass(frozen=True)
class Context:
    """The bot message a caller answers, as a call sets up the caller's next turn for it
    (``CallSession._prepare_for``): its hints for the recogniser and the NLU, and digit mode when
    it asks for two or more keypad digits."""

    response: str
    hints: tuple[str, ...]
    digits: DigitExpectation | None


def contexts(responses: Mapping[str, Any], names: Iterable[str]) -> dict[str, Context]:
    """The context of each named response of a domain's ``responses`` section. A response has
    variations; a call without the keypad way out hears the first one without a condition (the
    conditioned ones are keypad mode's). A response without hints gives none: a reply without
    hints clears the last one's in a call."""
    found: dict[str, Context] = {}
    for name in names:
        variations = responses.get(name)
        if not variations:
            raise ValueError(f"{PHRASINGS}: {name!r} is not a response of the trained domain")
        spoken = next((v for v in variations if not v.get("condition")), variations[0])
        message = BotMessage(spoken.get("text"), dict(spoken.get("custom") or {}))
        found[name] = Context(name, tuple(message.hints), spoken_digits(message.expect_digits))
    return found


class IntentReader:
    """The trained assistant's NLU in this process: the intent the bot would act on."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._agent: Any = None
        self._loop = asyncio.new_event_loop()

    def load(self) -> None:
        if not self.model_path.is_file():
            raise FileNotFoundError(f"no trained model at {self.model_path}; run `ivr train`")
        quiet_rasa_environment()
        rasa_speedups.install()
        other_readings.install()
        from rasa.core.agent import Agent

        self._agent = Agent.load(str(self.model_path))

    @property
    def responses(self) -> Mapping[str, Any]:
        """The trained domain's responses: the messages callers answer, with their hints."""
        return self._agent.domain.responses

    def intent(
        self,
        text: str,
        hints: Sequence[str] = (),
        asr_confidence: float | None = None,
        alternatives: Sequence[str] = (),
    ) -> tuple[str | None, bool]:
        """The intent the bot acts on for ``text`` said after a message with ``hints``
        (``nlu_fallback`` below the fallback threshold) and whether it asks the caller to
        confirm it first (the middle confidence band: the guessed intent, second in the
        ranking, is what a "yes" acts on). None for an empty transcript: nothing heard is never
        understood. The hints, the recogniser's confidence and its other readings reach the NLU
        as message metadata, as a call sends them."""
        if not text.strip():
            return None, False
        parsed = self._parse(text, hints, asr_confidence, alternatives)
        name = str((parsed.get("intent") or {}).get("name") or "") or None
        ranking = parsed.get("intent_ranking") or []
        if name == NLU_CONFIRM and len(ranking) > 1:
            return str(ranking[1].get("name") or "") or None, True
        return name, False

    def ranking(self, text: str) -> dict[str, float]:
        """The confidences of the intents the NLU ranks highest for ``text`` heard out of
        context (no hints), before the confidence bands act on the top one."""
        parsed = self._parse(text, (), None)
        return {
            str(item.get("name")): float(item.get("confidence") or 0.0)
            for item in parsed.get("intent_ranking") or ()
        }

    def _parse(
        self,
        text: str,
        hints: Sequence[str],
        asr_confidence: float | None,
        alternatives: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The NLU's parse of ``text`` with the metadata a call sends with it."""
        from rasa.core.channels.channel import UserMessage

        metadata: dict[str, Any] = {EXPECTED_KEY: list(hints)} if hints else {}
        if asr_confidence is not None:
            metadata[ASR_CONFIDENCE_KEY] = asr_confidence
        if alternatives:
            metadata[ASR_ALTERNATIVES_KEY] = list(alternatives)
        message = UserMessage(text, metadata=metadata or None)
        return self._loop.run_until_complete(self._agent.processor.parse_message(message))

    def close(self) -> None:
        self._loop.close()


@dataclass(frozen=True)
class Trial:
    """One clip: what was said, heard and understood."""

    voice: str
    family: str
    condition: str
    kind: str
    """``intent`` (a phrasing) or ``digits`` (an account number)."""
    context: str
    """The domain response the caller answered: its hints were the recogniser's and NLU's."""
    said: str
    expected: str
    heard: str
    """The transcript."""
    heard_confidence: float
    """The recogniser's confidence in the transcript (0..1), as a call sends it to the NLU."""
    got: str | None
    """The intent the assistant read, or the digits read from the transcript."""
    confirmed: bool = False
    """The assistant asked the caller to confirm ``got`` before acting on it."""
    heard_otherwise: tuple[str, ...] = ()
    """The recogniser's other readings, which the NLU reads when it cannot understand
    ``heard`` (``dialogue.other_readings``)."""
    audio: str = ""
    """SHA-1 of the audio as it reached the recogniser: which rendering this trial heard."""

    @property
    def right(self) -> bool:
        return self.got == self.expected


@dataclass
class BenchPlan:
    """What to run: the voices, the phrasings, the line conditions, where to write."""

    voices: tuple[CallerVoice, ...] = VOICES
    limit: int | None = None
    digit_limit: int | None = None
    conditions: tuple[str, ...] = tuple(CONDITIONS)
    out_dir: Path = Path("bench/results")
    progress: bool = True
    seed: int = DEFAULT_SEED
    """Seeds piper's sampling noise and whisper's temperature fallback: the same seed, code and
    models give the same transcripts, so two runs differ only by what changed between them."""


def run(config: Config, plan: BenchPlan, echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Speak, recognise and score every phrasing and number in every voice and condition."""
    limit_blas_threads()  # as the bot runs its engines
    root = Path(config.dialogue.project_dir)
    phrasings = PhrasingSet.load(root / PHRASINGS).subset(plan.limit, plan.digit_limit)
    seed_noise(plan.seed)  # before the first rendering, as the seeds take hold at first use
    seed_sampling(plan.seed)
    for voice in plan.voices:  # a voice that cannot speak fails now, not half an hour in
        render(voice, "hello", config.tts)
    vocabulary = load_vocabulary(root) if config.asr.use_vocabulary else None
    asr = create_asr_engine(config.asr, vocabulary)
    asr.load()
    reader = IntentReader(Project.from_config(config.dialogue).model_path)
    echo("loading the assistant ...")
    reader.load()
    started = time.perf_counter()
    trials: list[Trial] = []
    try:
        answered = contexts(reader.responses, phrasings.answered())
        for voice in plan.voices:
            trials += _voice_trials(config, asr, reader, voice, phrasings, answered, plan)
    finally:
        reader.close()
        asr.shutdown()
    results = summarise(trials)
    results["contexts"] = {name: list(context.hints) for name, context in answered.items()}
    results["settings"] = {
        "asr": asr.name,
        "vocabulary": vocabulary is not None,
        "noise_snr_db": NOISE_SNR_DB,
        "codec": "ulaw",
        "phrasings": len(phrasings.intents),
        "account_numbers": len(phrasings.account_numbers),
        "seconds": round(time.perf_counter() - started, 1),
        "seed": plan.seed,
    }
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    (plan.out_dir / "understanding.json").write_text(json.dumps(results, indent=2))
    return results


def _voice_trials(
    config: Config,
    asr: AsrEngine,
    reader: IntentReader,
    voice: CallerVoice,
    phrasings: PhrasingSet,
    answered: Mapping[str, Context],
    plan: BenchPlan,
) -> list[Trial]:
    """One voice's clips, each synthesised once and sent over every line condition, each heard
    in the context of the message it answers."""
    key = voice_key(voice)
    said = [("intent", p.intent, p.said, answered[p.after]) for p in phrasings.intents]
    said += [
        ("digits", digits, text, answered[ACCOUNT_NUMBER_QUESTION])
        for digits, text in phrasings.account_numbers
    ]
    trials = []
    for seed, (kind, expected, text, context) in enumerate(
        tqdm(said, desc=key, unit="clip", disable=not plan.progress)
    ):
        clean = render(voice, text, config.tts)
        for condition in plan.conditions:
            line = over_the_line(replace(voice, snr_db=CONDITIONS[condition]), clean, seed)
            # As a call hears it: the message's hints, and digit mode if it asks for digits.
            transcript = asr.transcribe(line, context.hints, context.digits)
            heard = transcript.text
            if kind == "digits":
                got: str | None = read_digits(heard, digit_answer=True)
                confirmed = False
            else:
                got, confirmed = reader.intent(
                    heard, context.hints, transcript.confidence, transcript.alternatives
                )
            trials.append(
                Trial(
                    voice=key,
                    family=voice.engine,
                    condition=condition,
                    kind=kind,
                    context=context.response,
                    said=text,
                    expected=expected,
                    heard=heard,
                    heard_confidence=transcript.confidence,
                    heard_otherwise=transcript.alternatives,
                    got=got,
                    confirmed=confirmed,
                    audio=hashlib.sha1(line.samples.tobytes()).hexdigest(),
                )
            )
    return trials


def _figures(trials: Sequence[Trial]) -> dict[str, Any]:
    phrasings = [t for t in trials if t.kind == "intent"]
    numbers = [t for t in trials if t.kind == "digits"]
    wer = word_error_rate([t.said for t in phrasings], [t.heard for t in phrasings])
    return {
        "wer": round(wer.wer, 4) if phrasings else None,
        "intent_accuracy": _share(phrasings),
        "confirmed": (
            round(sum(t.confirmed for t in phrasings) / len(phrasings), 4) if phrasings else None
        ),
        "digit_accuracy": _share(numbers),
        "phrasings": len(phrasings),
        "account_numbers": len(numbers),
    }


def _share(trials: Sequence[Trial]) -> float | None:
    return round(sum(t.right for t in trials) / len(trials), 4) if trials else None


def summarise(trials: Sequence[Trial]) -> dict[str, Any]:
    """Figures per voice family and condition (with misrecognised examples) and per voice."""
    families: list[dict[str, Any]] = []
    voices: list[dict[str, Any]] = []
    for family in dict.fromkeys(t.family for t in trials):
        for condition in dict.fromkeys(t.condition for t in trials):
            group = [t for t in trials if t.family == family and t.condition == condition]
            wrong = [t for t in group if not t.right]
            families.append(
                {
                    "family": family,
                    "condition": condition,
                    "voices": sorted({t.voice for t in group}),
                    **_figures(group),
                    "misrecognised": [asdict(t) for t in _examples(wrong)],
                }
            )
            for key in dict.fromkeys(t.voice for t in group):
                mine = [t for t in group if t.voice == key]
                voices.append({"voice": key, "condition": condition, **_figures(mine)})
    return {
        "families": families,
        "voices": voices,
        "trials": [asdict(t) for t in trials],
    }


def _examples(wrong: Sequence[Trial]) -> list[Trial]:
    """A few misrecognised clips, phrasings and numbers alike, from as many voices as possible."""
    by_voice: dict[str, list[Trial]] = {}
    for trial in wrong:
        by_voice.setdefault(trial.voice, []).append(trial)
    picked: list[Trial] = []
    while len(picked) < EXAMPLES_PER_GROUP and any(by_voice.values()):
        for queue in by_voice.values():
            if queue and len(picked) < EXAMPLES_PER_GROUP:
                picked.append(queue.pop(0))
    return picked


def format_table(results: dict[str, Any]) -> str:
    lines = [
        "family     condition  WER     intent accuracy   confirmed  8-digit accuracy   voices",
    ]
    for row in results["families"]:
        lines.append(
            f"{row['family']:<10} {row['condition']:<10} {_percent(row['wer']):<7} "
            f"{_ratio(row['intent_accuracy'], row['phrasings']):<17} "
            f"{_percent(row['confirmed']):<10} "
            f"{_ratio(row['digit_accuracy'], row['account_numbers']):<18} "
            f"{', '.join(row['voices'])}"
        )
    lines.append("per voice:")
    for row in results["voices"]:
        lines.append(
            f"  {row['voice']:<30} {row['condition']:<6} WER {_percent(row['wer']):<7} "
            f"intent {_ratio(row['intent_accuracy'], row['phrasings']):<14} "
            f"digits {_ratio(row['digit_accuracy'], row['account_numbers'])}"
        )
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _ratio(value: float | None, count: int) -> str:
    return "n/a" if value is None else f"{value:.3f} (n={count})"
