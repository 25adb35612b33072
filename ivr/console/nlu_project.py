"""What the NLU inbox needs to know of the assistant's Rasa project (``dialogue.project_dir``):
the intents and entities a label may use, the confidence bands, the NLU folder it writes, and
when the current model was trained.

The bands are read from the ``ConfidenceBandClassifier`` entry of ``dialogue/config.yml``, the
one place their numbers live, so the inbox moves with them. The model's time is the
``trained_at`` ``ivr train`` writes in its fingerprint file, else the model file's time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dialogue.settings import DialogueConfig
from dialogue.training import Project
from ivr.console.flow_store import FlowStore
from ivr.console.nlu_examples import ExampleShelf

FALLBACK_INTENT = "nlu_fallback"
CONFIRM_INTENT = "nlu_confirm"
NOT_LEARNED_INTENTS = frozenset({FALLBACK_INTENT, CONFIRM_INTENT, "no_input", "dtmf"})
"""Intents the NLU's bands or the call layer set, never learned from examples."""
NOT_LEARNED_ENTITIES = frozenset({"pin"})
"""A PIN is only ever a vault token found by pattern: never an annotated example."""
BAND_CLASSIFIER = "ConfidenceBandClassifier"
DEFAULT_THRESHOLD = 0.55
"""Used when the config has no band classifier (as ``dialogue/config.yml`` ships it)."""


@dataclass(frozen=True)
class Bands:
    """Below ``threshold`` a message is ``nlu_fallback``; up to ``confirm_threshold`` a costly
    guess is confirmed first: both are low confidence for the inbox."""

    threshold: float
    confirm_threshold: float


@dataclass(frozen=True)
class NluProject:
    """The Rasa project the console labels examples for."""

    root: Path
    model: Project
    flows: FlowStore
    """The project's flows: its domain is read there (once per change of its files)."""

    @classmethod
    def of_config(cls, dialogue: DialogueConfig) -> NluProject:
        root = Path(dialogue.project_dir)
        return cls(root, Project.from_config(dialogue), FlowStore(root))

    @property
    def nlu_folder(self) -> Path:
        return self.root / "data" / "nlu"

    @functools.cached_property
    def examples(self) -> ExampleShelf:
        """The examples the NLU folder holds, kept indexed while the files stay the same."""
        return ExampleShelf(self.nlu_folder)

    def intents(self) -> list[str]:
        """The domain's intents a caller's words may be labelled with (blocking)."""
        return [
            name
            for name in _names(self._domain().get("intents"))
            if name not in NOT_LEARNED_INTENTS
        ]

    def entities(self) -> list[str]:
        """The domain's entities an example may mark (blocking)."""
        return [
            name
            for name in _names(self._domain().get("entities"))
            if name not in NOT_LEARNED_ENTITIES
        ]

    def domain_entities(self) -> list[str]:
        """Every entity of the domain: what a hand-written example's marks may name (a ``pin``
        mark only on a vault token, ``example_text.written_example`` checks), blocking."""
        return _names(self._domain().get("entities"))

    def bands(self) -> Bands:
        """The confidence bands of ``dialogue/config.yml`` (blocking)."""
        config = _yaml(self.model.config)
        for component in config.get("pipeline") or ():
            if isinstance(component, dict) and str(component.get("name", "")).endswith(
                BAND_CLASSIFIER
            ):
                threshold = float(component.get("threshold", DEFAULT_THRESHOLD))
                return Bands(threshold, float(component.get("confirm_threshold", threshold)))
        return Bands(DEFAULT_THRESHOLD, DEFAULT_THRESHOLD)

    def trained_at(self) -> float | None:
        """When the current model was trained (epoch seconds); None without a model (blocking)."""
        try:
            saved = json.loads(self.model.fingerprint_path.read_text("utf-8"))
            return float(saved["trained_at"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        try:
            return self.model.model_path.stat().st_mtime
        except OSError:
            return None

    def _domain(self) -> Mapping[str, Any]:
        return self.flows.model().domain


def _yaml(path: Path) -> dict[str, Any]:
    """A project file, read on every inbox request (designers edit them while it runs) with
    libyaml's safe loader."""
    try:
        data = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _names(entries: Any) -> list[str]:
    """Names of a domain list whose entries are names or ``{name: settings}``."""
    names: list[str] = []
    for entry in entries or ():
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):
            names.extend(str(name) for name in entry)
    return names
