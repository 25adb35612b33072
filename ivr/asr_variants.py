"""Training examples as the recogniser writes them: the NLU learns the errors a phone line makes.

The assistant's own phrasings (``data/nlu/*.yml``) are spoken by several caller voices (piper at
two paces, espeak-ng variants; never Festival, which the understanding benchmark keeps as an
unseen family), sent through the G.711 line (some with noise) and transcribed by the configured
recogniser with the bot's own vocabulary prompt. Transcripts that differ from the original, still
say what it says and are not read as another intent by the model trained on the written examples
become extra examples of the same intent, in their own files under ``data/nlu/asr/``: a variant
that contradicts its phrasing teaches the NLU a mistake, and lowers its cross-validation.

The output depends only on the input files, the seed, the recogniser and that model: examples and
voices are chosen by hashes of the seed; line noise, piper's noise and whisper's sampling are
seeded; the variants are deduplicated, capped per intent (so a few intents cannot dominate) and
spread over its phrasings, and sorted.
One source of jitter is left: pyttsx3's espeak-ng renderings can differ by a sample between
runs, which rarely changes a transcript.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.qa.voice import CallerVoice
from ivr.vocabulary import ANNOTATION_JSON, ANNOTATION_PAREN, example_lines
from speech.asr.scoring import word_error_rate

VOICES: tuple[CallerVoice, ...] = (
    CallerVoice(engine="piper", rate=0.9, varied=True),
    CallerVoice(engine="piper", rate=1.15, snr_db=20.0, varied=True),
    CallerVoice(engine="espeak", voice="en-us", rate=1.0, snr_db=20.0),
    CallerVoice(engine="espeak", voice="en-gb-x-rp", rate=0.9),
    CallerVoice(engine="espeak", voice="en-us-nyc", rate=1.1, snr_db=20.0),
)
"""Caller voices the phrasings are spoken with: no Festival (held out for the benchmark)."""
MAX_WER = 0.34
"""A transcript further than this from its phrasing (word error rate: more than one word in
three wrong) is noise, not a way the phrasing is written: at 0.5 half of a phrasing could change
and say something else, and such variants lowered the cross-validation."""
SHORT_PHRASING_WORDS = 3
"""A phrasing of at most this many words is a short answer, where one wrong word can flip the
meaning ("uh huh" heard as "uh uh"): its variants must keep every content word of it."""
FILLER_WORDS = frozenset({
    "uh", "um", "er", "erm", "ah", "hmm", "mm", "please", "the", "a", "an", "just", "well", "so",
})  # fmt: skip
"""Words a short answer may gain or lose without changing what it says; the other words of a
short phrasing are its content words (a phrasing of fillers only keeps all its words)."""
AMBIGUOUS_CONFIDENCE = 0.8
"""A variant that the model trained on the written examples already puts on another intent with
at least this confidence reads as that intent: teaching it as its phrasing's intent would teach
a contradiction, so it is dropped."""
NEGATIONS = frozenset({
    "no", "not", "nope", "nah", "never", "nothing", "none", "don't", "doesn't", "didn't",
    "can't", "cannot", "won't", "isn't", "wasn't",
})  # fmt: skip
"""A variant that gains or loses all of these ("that's correct" heard as "not correct") may say
the opposite of its phrasing: it is dropped rather than taught as the same intent."""
SKIPPED_ENTITIES = frozenset({"pin"})
"""Entities whose examples are never spoken: a PIN is only ever an opaque vault token."""
_NUMBER_PUNCTUATION = re.compile(r"(?<=\d)[.,](?=\d)")
_NOT_KEPT = re.compile(r"[^a-z0-9'$%\s\x00\x01]")


@dataclass(frozen=True)
class Entity:
    """One annotated entity of a training example."""

    text: str
    entity: str
    value: str | None = None
    """An explicit value (a synonym's target), None when the text is the value."""

    def annotate(self, text: str) -> str:
        if self.value is None:
            return f"[{text}]({self.entity})"
        spec = json.dumps({"entity": self.entity, "value": self.value})
        return f"[{text}]{spec}"


@dataclass(frozen=True)
class Example:
    """A training phrasing: its plain text and entities, and where it comes from."""

    intent: str
    text: str
    entities: tuple[Entity, ...]
    source: str
    """The data file's name (``conversation.yml``): variants go to a file of the same name."""


@dataclass
class Variants:
    """What a run produced: per source file, per intent, the sorted new examples."""

    files: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    spoken: int = 0
    differed: int = 0
    ambiguous: int = 0
    """Variants dropped as read confidently as another intent (``AMBIGUOUS_CONFIDENCE``)."""

    def count(self) -> int:
        return sum(len(v) for intents in self.files.values() for v in intents.values())


def normalise(text: str) -> str:
    """Text as the NLU examples are written: lower case, no punctuation, single spaces
    (digits, ``$``, ``%`` and apostrophes kept; "1,000" and "75.50" stay whole)."""
    text = text.lower().replace("\u2019", "'")
    text = _NUMBER_PUNCTUATION.sub(lambda m: "\x00" if m.group() == "," else "\x01", text)
    text = _NOT_KEPT.sub(" ", text).replace("\x00", ",").replace("\x01", ".")
    return " ".join(w.strip("'") for w in text.split() if w.strip("'"))


def parse_example(line: str) -> tuple[str, tuple[Entity, ...]]:
    """``from [savings](account_type)`` -> ("from savings", (Entity("savings", ...),))."""
    entities: list[Entity] = []

    def _json(match: re.Match[str]) -> str:
        try:
            spec = json.loads(match.group(2))
        except json.JSONDecodeError:
            spec = {}
        value = spec.get("value") if isinstance(spec, dict) else None
        name = spec.get("entity") if isinstance(spec, dict) else None
        entities.append(Entity(match.group(1), str(name or ""), value))
        return match.group(1)

    def _paren(match: re.Match[str]) -> str:
        name, sep, value = match.group(2).partition(":")
        entities.append(Entity(match.group(1), name.strip(), value.strip() if sep else None))
        return match.group(1)

    text = ANNOTATION_PAREN.sub(_paren, ANNOTATION_JSON.sub(_json, line))
    return text, tuple(entities)


def read_examples(nlu_dir: Path) -> tuple[list[Example], set[str]]:
    """The intent examples of ``nlu_dir/*.yml`` (not the generated folder) and the names of
    entities that have a regex (their examples are skipped: a pattern, not words to say)."""
    examples: list[Example] = []
    regexes: set[str] = set()
    for path in sorted(nlu_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu") or ():
            if not isinstance(item, dict):
                continue
            if "regex" in item:
                regexes.add(str(item["regex"]))
            if "intent" not in item:
                continue
            for line in example_lines(item.get("examples")):
                text, entities = parse_example(line)
                examples.append(Example(str(item["intent"]), text, entities, path.name))
    return examples, regexes


def speakable(example: Example, regex_entities: set[str]) -> bool:
    """False for an example a variant of which could carry a secret or a pattern-only entity."""
    if "secret:" in example.text.lower():
        return False
    return not any(
        e.entity in SKIPPED_ENTITIES or e.entity in regex_entities for e in example.entities
    )


def negated(text: str) -> bool:
    """True when normalised ``text`` has a negation word."""
    return not NEGATIONS.isdisjoint(text.split())


def faithful(phrasing: str, heard: str) -> bool:
    """True when normalised ``heard`` still says what ``phrasing`` says: within ``MAX_WER`` of
    it, with a negation only if the phrasing has one (``NEGATIONS``), and for a short phrasing
    (``SHORT_PHRASING_WORDS``) with every one of its content words (``FILLER_WORDS``)."""
    written = normalise(phrasing)
    if word_error_rate([written], [heard]).wer > MAX_WER or negated(heard) != negated(written):
        return False
    words = written.split()
    if len(words) > SHORT_PHRASING_WORDS:
        return True
    return (set(words) - FILLER_WORDS or set(words)) <= set(heard.split())


def ambiguous(intent: str, ranking: Mapping[str, float], intents: Collection[str]) -> bool:
    """True when ``ranking`` (intent -> confidence, from the model trained on the written
    examples) puts a variant of ``intent`` on another of ``intents`` with at least
    ``AMBIGUOUS_CONFIDENCE``; the model's fallback intents are not among ``intents``."""
    return any(
        name != intent and name in intents and confidence >= AMBIGUOUS_CONFIDENCE
        for name, confidence in ranking.items()
    )


def spread(by_phrasing: Mapping[str, Iterable[str]], cap: int, seed: int) -> list[str]:
    """At most ``cap`` variants, taken in turn from each phrasing's (phrasings and variants in an
    order picked by ``seed``): a phrasing the recogniser mangles in many ways cannot fill the
    cap. Sorted."""
    queues = [
        sorted(variants, key=lambda v: _rank(seed, phrasing, v))
        for phrasing, variants in sorted(by_phrasing.items(), key=lambda i: _rank(seed, i[0]))
    ]
    kept: list[str] = []
    for turn in range(max((len(q) for q in queues), default=0)):
        kept += [queue[turn] for queue in queues if turn < len(queue)]
    return sorted(kept[:cap])


def carry_entities(transcript: str, example: Example) -> str | None:
    """The normalised transcript with the example's entities annotated again, or None when the
    recogniser changed an entity's words (the variant would teach a wrong span)."""
    text = transcript
    for entity in example.entities:
        surface = normalise(entity.text)
        pattern = re.compile(rf"(?<![\w$]){re.escape(surface)}(?![\w])")
        match = pattern.search(text) if surface else None
        if match is None:
            return None
        text = text[: match.start()] + entity.annotate(surface) + text[match.end() :]
    return text


def _rank(seed: int, *parts: object) -> str:
    """A stable pseudo-random order key (Python's hash() changes between processes)."""
    return hashlib.sha256(repr((seed, *parts)).encode()).hexdigest()


def choose(
    examples: list[Example],
    seed: int,
    per_intent: int,
    voices_per_example: int,
    voices: tuple[CallerVoice, ...] = VOICES,
) -> list[tuple[Example, CallerVoice, int]]:
    """Up to ``per_intent`` examples of each intent, each with ``voices_per_example`` voices
    and a noise seed, all picked by ``seed``."""
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    chosen: list[tuple[Example, CallerVoice, int]] = []
    for intent in sorted(by_intent):
        picked = sorted(by_intent[intent], key=lambda e: _rank(seed, e.intent, e.text))
        for example in picked[:per_intent]:
            ranked = sorted(voices, key=lambda v: _rank(seed, example.text, v))
            for voice in ranked[:voices_per_example]:
                noise_seed = int(_rank(seed, example.text, voice, "noise")[:8], 16)
                chosen.append((example, voice, noise_seed))
    return chosen


def generate(
    examples: list[Example],
    regex_entities: set[str],
    transcribe: Callable[[CallerVoice, str, int], str],
    *,
    seed: int,
    per_intent: int,
    voices_per_example: int,
    cap: int,
    rank_intents: Callable[[str], Mapping[str, float]] | None = None,
    voices: tuple[CallerVoice, ...] = VOICES,
    progress: Callable[[Iterable[Any]], Iterator[Any]] = iter,
) -> Variants:
    """Speak, recognise and keep the transcripts that differ (see the module docstring).

    ``transcribe(voice, text, noise_seed)`` is the phone line and the recogniser;
    ``rank_intents(text)`` the intent confidences of the model trained on the written examples
    (None: not consulted). A variant equal to an example of another intent, or produced for two
    intents, is dropped, and so is one that does not say what its phrasing says (``faithful``),
    whose entity words the recogniser changed, or that the model reads as another intent
    (``ambiguous``). Each intent keeps at most ``cap``, spread over its phrasings (``spread``).
    """
    usable = [e for e in examples if speakable(e, regex_entities)]
    owners: dict[str, set[str]] = defaultdict(set)
    for example in examples:
        owners[normalise(example.text)].add(example.intent)
    found: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    """normalised variant -> {intent: (phrasing, annotated text)}"""
    sources: dict[str, str] = {}
    result = Variants()
    for example, voice, noise_seed in progress(
        choose(usable, seed, per_intent, voices_per_example, voices)
    ):
        heard = normalise(transcribe(voice, example.text, noise_seed))
        result.spoken += 1
        if not heard or heard == normalise(example.text):
            continue
        result.differed += 1
        if not faithful(example.text, heard):
            continue
        annotated = carry_entities(heard, example)
        if annotated is None or heard in owners:
            continue
        found[heard].setdefault(example.intent, (example.text, annotated))
        sources[example.intent] = example.source
    intent_names = {example.intent for example in examples}
    by_intent: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    """intent -> phrasing -> annotated variants"""
    for heard, intents in sorted(found.items()):
        if len(intents) != 1:
            continue
        ((intent, (phrasing, annotated)),) = intents.items()
        if rank_intents is not None and ambiguous(intent, rank_intents(heard), intent_names):
            result.ambiguous += 1
            continue
        by_intent[intent][phrasing].append(annotated)
    for intent, by_phrasing in sorted(by_intent.items()):
        result.files.setdefault(sources[intent], {})[intent] = spread(by_phrasing, cap, seed)
    return result


def render(intents: dict[str, list[str]], header: str) -> str:
    """One generated YAML file: the header comment, then each intent's variants."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += ['version: "3.1"', "nlu:"]
    for intent in sorted(intents):
        lines += [f"  - intent: {intent}", "    examples: |"]
        lines += [f"      - {variant}" for variant in intents[intent]]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write(variants: Variants, out_dir: Path, header: str) -> list[Path]:
    """Replace the generated files in ``out_dir`` with ``variants`` (one file per source)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.yml"):
        old.unlink()
    written = []
    for source, intents in sorted(variants.files.items()):
        path = out_dir / source
        path.write_text(render(intents, header), encoding="utf-8")
        written.append(path)
    return written
