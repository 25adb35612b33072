"""The hotline's vocabulary, read from the assistant's own Rasa project, to bias speech recognition.

Designers edit the NLU examples, synonyms, lookups and slot values; this module turns them into a
ranked list of distinctive words and phrases, a short whisper prompt, and a phrase list (a vosk
grammar), so recognition follows their edits with no hand-typed word list. A project without data
gives an empty vocabulary.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.logs import get_logger
from logfields import fields
from speech.asr.base import Vocabulary

log = get_logger(__name__)

PROMPT_LEAD = "Bank hotline call about"
MAX_TERMS = 80
"""Ranked terms kept."""
MAX_PROMPT_CHARS = 200
"""About 40 tokens: whisper's window is ~224 tokens shared with hotwords, and long term lists
make tiny.en end utterances early (measured on the test corpus)."""
GENERATED_NLU_DIR = "nlu/asr"
"""Under the data folder: examples generated from recognised speech (``ivr nlu variants``).
Left out of the vocabulary: their words are the recogniser's errors, not the hotline's."""
VALUE_WEIGHT = 2
"""Entity values, synonyms, lookups and slot values are domain words by declaration: count twice."""

_STOP_TEXT = """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further get got had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
    i'm i've if in into is isn't it it's its itself just let's me more most mustn't my myself no
    nor not now of off on once only or other ought our ours ourselves out over own same shan't she
    she'd she'll she's should shouldn't so some such than that that's the their theirs them
    themselves then there there's these they they'd they'll they're they've this those through to
    too under until up very was wasn't we we'd we'll we're we've were weren't what what's when
    when's where where's which while who who's whom why why's will with won't would wouldn't you
    you'd you'll you're you've your yours yourself yourselves
    also already yet still ever really much many lot lots thing things something anything
    please thanks thank hi hello hey bye goodbye okay ok yes yeah yep no nope sure well oh um uh
    want wanna need like would could tell know let make go going see look give take get
    one two three four five six seven eight nine ten zero hundred thousand million
    eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty
    forty fifty sixty seventy eighty ninety good great fine
    first second third last next new today tomorrow yesterday now right just
    show find list left someone call help put say said talk
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Function words and conversational filler: frequent in any call, useless as recognition bias.
Greetings and goodbyes among them: "bye" in the prompt made tiny.en hear "really good, five"
as "really good, bye" at the survey question."""

ANNOTATION_PAREN = re.compile(r"\[([^\]]+)\]\(([^)]*)\)")
ANNOTATION_JSON = re.compile(r"\[([^\]]+)\](\{[^}]*\})")
_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")


@dataclass
class RasaLanguage:
    """The caller-side language found in a Rasa project."""

    examples: list[str] = field(default_factory=list)
    """NLU example utterances with entity annotations removed."""
    values: list[str] = field(default_factory=list)
    """Entity values, synonyms, lookup entries and categorical slot values."""
    sources: list[Path] = field(default_factory=list)
    """Files that contributed."""


def strip_annotations(text: str, values: list[str] | None = None) -> str:
    """``[savings](account_type)`` and ``[text]{"entity": ..}`` -> the plain text.

    Annotated text and any explicit ``value`` (``entity:value`` or a JSON ``"value"``) are
    appended to ``values`` when given.
    """

    def _json(match: re.Match[str]) -> str:
        if values is not None:
            values.append(match.group(1))
            try:
                spec = json.loads(match.group(2))
            except json.JSONDecodeError:
                spec = {}
            if isinstance(spec, dict) and isinstance(spec.get("value"), str):
                values.append(spec["value"])
        return match.group(1)

    def _paren(match: re.Match[str]) -> str:
        if values is not None:
            values.append(match.group(1))
            _entity, sep, value = match.group(2).partition(":")
            if sep and value.strip():
                values.append(value.strip())
        return match.group(1)

    return ANNOTATION_PAREN.sub(_paren, ANNOTATION_JSON.sub(_json, text))


def example_lines(examples: Any) -> Iterator[str]:
    """Rasa ``examples``: a ``|`` block of ``- text`` lines, or a list of strings / {text: ..}."""
    if isinstance(examples, str):
        for line in examples.splitlines():
            line = line.strip()
            if line.startswith("- "):
                line = line[2:].strip()
            elif line == "-":
                continue
            if line:
                yield line
    elif isinstance(examples, list):
        for item in examples:
            if isinstance(item, str) and item.strip():
                yield item.strip()
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                yield item["text"].strip()


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("vocabulary.unreadable", extra=fields(file=str(path), error=str(exc)))
        return None


def read_nlu_file(path: Path, language: RasaLanguage) -> bool:
    """Add one YAML file's ``nlu:`` items to ``language``; False when it has no ``nlu:`` key."""
    data = _load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("nlu"), list):
        return False
    for item in data["nlu"]:
        if not isinstance(item, dict):
            continue
        lines = list(example_lines(item.get("examples")))
        if "intent" in item:
            for line in lines:
                language.examples.append(strip_annotations(line, language.values))
        elif "synonym" in item:
            language.values.append(str(item["synonym"]))
            language.values.extend(strip_annotations(line) for line in lines)
        elif "lookup" in item:
            language.values.extend(strip_annotations(line) for line in lines)
        # regex patterns are not words a caller says
    return True


def read_domain(path: Path, language: RasaLanguage) -> bool:
    """Add a domain's categorical slot values to ``language``."""
    data = _load_yaml(path)
    if not isinstance(data, dict):
        return False
    slots = data.get("slots")
    found = False
    if isinstance(slots, dict):
        for spec in slots.values():
            if isinstance(spec, dict) and spec.get("type") == "categorical":
                for value in spec.get("values") or ():
                    if isinstance(value, str) and value != "__other__":
                        language.values.append(value.replace("_", " "))
                        found = True
    return found


def read_rasa_project(
    project_dir: str | Path = ".",
    data_dir: str = "data",
    domain: str = "dialogue/domain.yml",
) -> RasaLanguage:
    """Collect examples and values from ``data/**/*.yml`` (files with ``nlu:``) and the domain
    (a file, or a directory of domain files). Missing parts are skipped, not errors."""
    root = Path(project_dir)
    language = RasaLanguage()
    data_root = root / data_dir
    if data_root.is_dir():
        generated = data_root / GENERATED_NLU_DIR
        for path in sorted([*data_root.rglob("*.yml"), *data_root.rglob("*.yaml")]):
            if generated in path.parents:
                continue
            if path.is_file() and read_nlu_file(path, language):
                language.sources.append(path)
    domain_path = root / domain
    domain_files: Iterable[Path] = ()
    if domain_path.is_file():
        domain_files = [domain_path]
    elif domain_path.with_suffix("").is_dir():
        domain_files = sorted(domain_path.with_suffix("").rglob("*.yml"))
    for path in domain_files:
        if read_domain(path, language):
            language.sources.append(path)
    return language


def _tokens(text: str) -> list[str]:
    """Lower-case words; a chunk with digits or a colon (an amount, an opaque ``secret:..``
    token) becomes an empty placeholder so it neither counts nor joins a phrase."""
    tokens: list[str] = []
    for chunk in text.lower().replace("\u2019", "'").split():
        if ":" in chunk or any(c.isdigit() for c in chunk):
            tokens.append("")
            continue
        tokens.extend(w.strip("'-") for w in _WORD.findall(chunk))
    return tokens


def _content(word: str) -> bool:
    return len(word) > 1 and word not in STOP_WORDS and not any(c.isdigit() for c in word)


def score_terms(language: RasaLanguage) -> list[tuple[str, int]]:
    """Distinctive words and two-word phrases with their counts, most frequent first.

    A word counts once per text it appears in; declared values count ``VALUE_WEIGHT``. A phrase is
    two adjacent content words seen in at least two texts (or declared as a value). Ties are
    broken alphabetically so the order is stable.
    """
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    texts = [(t, 1) for t in language.examples] + [(v, VALUE_WEIGHT) for v in language.values]
    for text, weight in texts:
        tokens = _tokens(text)
        for word in {w for w in tokens if _content(w)}:
            words[word] += weight
        pairs = {f"{a} {b}" for a, b in itertools.pairwise(tokens) if _content(a) and _content(b)}
        for pair in pairs:
            phrases[pair] += weight
    scored = list(words.items()) + [(p, n) for p, n in phrases.items() if n >= 2]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored


def _surface(term: str, language: RasaLanguage) -> str:
    """The casing designers used most (keeps PIN, ATM, IBAN upper-case)."""
    forms: Counter[str] = Counter()
    pattern = re.compile(rf"\b{re.escape(term)}\b", re.IGNORECASE)
    for text in (*language.examples, *language.values):
        forms.update(pattern.findall(text))
    if not forms:
        return term
    form, _ = forms.most_common(1)[0]
    return form if form.isupper() and len(form) > 1 else term


def make_prompt(
    scored: list[tuple[str, int]], language: RasaLanguage, max_chars: int = MAX_PROMPT_CHARS
) -> str:
    """``Bank hotline call about checking, savings, balance, ...`` within ``max_chars``.

    A word that mostly occurs inside a listed phrase ("debit" in "debit card") is left out: the
    phrase already carries it, and the prompt's few tokens go further.
    """
    phrases = [(t, n) for t, n in scored if " " in t]
    chosen: list[str] = []
    length = len(PROMPT_LEAD) + 1
    for term, count in scored:
        if " " not in term and any(
            term in phrase.split() and 2 * n >= count for phrase, n in phrases
        ):
            continue
        surface = _surface(term, language)
        if length + len(surface) + 2 > max_chars:
            break
        chosen.append(surface)
        length += len(surface) + 2
    return f"{PROMPT_LEAD} {', '.join(chosen)}." if chosen else ""


def build_vocabulary(language: RasaLanguage, max_terms: int = MAX_TERMS) -> Vocabulary:
    """Terms, prompt and phrase list from collected Rasa language."""
    scored = score_terms(language)
    terms = [term for term, _ in scored[:max_terms]]
    phrases: dict[str, None] = {}
    for text in (*language.examples, *language.values):
        normalised = " ".join(_tokens(text))
        if normalised and "" not in _tokens(text):
            phrases.setdefault(normalised, None)
    return Vocabulary(
        prompt=make_prompt(scored[:max_terms], language),
        terms=tuple(terms),
        phrases=tuple(phrases),
    )


def load_vocabulary(project_dir: str | Path = ".") -> Vocabulary:
    """The hotline vocabulary of the Rasa project at ``project_dir`` (empty when it has no data)."""
    language = read_rasa_project(project_dir)
    vocabulary = build_vocabulary(language)
    log.debug(
        "vocabulary.loaded",
        extra=fields(
            files=len(language.sources),
            examples=len(language.examples),
            terms=len(vocabulary.terms),
        ),
    )
    return vocabulary
