"""Turn-by-turn comparison of an original call record with its replay through the current bot.

Compared per turn: the kind of input, the transcript (after WER normalisation), the intent, the
entities and the bot's words; then the number of turns and the outcome. Bot words are compared
by response, not letter by letter: a text that is one of a response's variations in the current
domain (placeholders such as amounts, dates and reference numbers match anything) stands for that
response, so a random choice between variations or a new balance is not a change, while an edited
response text is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ivr.logs import mask_digits
from ivr.qa.results import Diff
from speech.asr.scoring import normalise_text

MIN_LITERAL_CHARS = 12
"""Variations with less fixed text than this (e.g. "{rates}") are compared literally."""
_SPECIAL = re.compile(r"[.^$*+?{}\[\]\\|()]")
_KINDS = {
    "start": "start",
    "speech": "speech",
    "dtmf": "keys",
    "secure_dtmf": "secure entry",
    "secure_speech": "secure entry",
    "no_input": "no input",
}


class ResponseCatalog:
    """The domain's response variations as patterns that recognise them in spoken bot text."""

    def __init__(self, responses: Mapping[str, Sequence[str]]) -> None:
        patterns = []
        self._fixed: dict[str, set[str]] = {}
        """Per response, the longest fixed text of each variation (what every rendering says)."""
        for name, texts in responses.items():
            for text in texts:
                literals = re.split(r"\{[^}]*\}", text)
                if sum(len(part.strip()) for part in literals) >= MIN_LITERAL_CHARS:
                    regex = "(.+?)".join(re.escape(part) for part in literals)
                    patterns.append((len(text), name, re.compile(regex)))
                    self._fixed.setdefault(name, set()).add(max(literals, key=len).strip())
        self._patterns = [(name, regex) for _, name, regex in sorted(patterns, reverse=True)]

    @classmethod
    def from_domain(cls, path: Path) -> ResponseCatalog:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        responses: dict[str, list[str]] = {}
        for name, variations in (data.get("responses") or {}).items():
            responses[name] = [v["text"] for v in variations or [] if v.get("text")]
        return cls(responses)

    def expectation(self, text: str) -> str | None:
        """A regular expression any variation of the first response in ``text`` matches (its
        fixed words, whatever fills its placeholders); None when no response is recognised."""
        found = [(m.start(), name) for name, regex in self._patterns if (m := regex.search(text))]
        if not found:
            return None
        fixed = sorted(self._fixed[min(found)[1]])
        return "|".join(literal_pattern(part) for part in fixed)

    def canonical(self, text: str) -> str:
        """``text`` with every recognised response replaced by its name."""
        for name, regex in self._patterns:
            text = regex.sub(f"<{name}>", text)
        return " ".join(text.split())


def literal_pattern(text: str) -> str:
    """``text`` as a regular expression that matches it literally, still readable in a script
    (only the characters with a meaning in a pattern are escaped)."""
    return _SPECIAL.sub(r"\\\g<0>", text)


def compare_turns(
    original: Sequence[Mapping[str, Any]],
    replay: Sequence[Mapping[str, Any]],
    catalog: ResponseCatalog,
) -> list[Diff]:
    """Differences turn by turn, then in the number of turns."""
    diffs: list[Diff] = []
    for index, (old, new) in enumerate(zip(original, replay, strict=False)):
        diffs.extend(_turn_diffs(index, old, new, catalog))
    if len(original) != len(replay):
        longer = original if len(original) > len(replay) else replay
        extra = "; ".join(
            f"#{i} {mask_digits(str(t['bot_text']))}"
            for i, t in enumerate(longer)
            if i >= min(len(original), len(replay))
        )
        diffs.append(
            Diff(
                "turns",
                f"{len(original)} turns" + (f" ({extra})" if longer is original else ""),
                f"{len(replay)} turns" + (f" ({extra})" if longer is replay else ""),
            )
        )
    return diffs


def _turn_diffs(
    index: int, old: Mapping[str, Any], new: Mapping[str, Any], catalog: ResponseCatalog
) -> list[Diff]:
    diffs = []
    old_kind, new_kind = _KINDS[old["input_kind"]], _KINDS[new["input_kind"]]
    if old_kind != new_kind:
        diffs.append(Diff("input", old_kind, new_kind, index))
    if old_kind == new_kind == "speech":
        before, after = str(old["transcript"] or ""), str(new["transcript"] or "")
        if normalise_text(before) != normalise_text(after):
            diffs.append(Diff("transcript", before, after, index))
    if (old["intent"] or None) != (new["intent"] or None):
        diffs.append(Diff("intent", str(old["intent"]), str(new["intent"]), index))
    if _entities(old["entities"]) != _entities(new["entities"]):
        diffs.append(
            Diff("entities", _entities(old["entities"]), _entities(new["entities"]), index)
        )
    said_before = mask_digits(str(old["bot_text"] or ""))
    said_after = mask_digits(str(new["bot_text"] or ""))
    if catalog.canonical(said_before) != catalog.canonical(said_after):
        diffs.append(Diff("bot", said_before, said_after, index))
    return diffs


def _entities(value: Any) -> str:
    """Entities as a stable, masked text: a record holds JSON text, a replay a list."""
    items = json.loads(value) if isinstance(value, str) else value or []
    pairs = sorted(
        f"{e.get('entity')}={mask_digits(str(e.get('value')))}"
        for e in items
        if isinstance(e, dict)
    )
    return ", ".join(pairs)
