"""NLU pipeline component: a message the classifier could not place is read by its meaning.

DIET falls back below its confidence threshold, and a caller on a bad line often lands there
with a request that is plain to a person: "I need to know what's left and my savings", "is
there a charge for going overgrown?". Their pretrained sentence vectors (the MiniLM features of
``dialogue/sentence_features.py``) still lie close to the training examples of what they mean.
So after the confidence bands, an ``nlu_fallback`` whose nearest training examples (cosine
similarity of sentence vectors, ``neighbours`` of them) mostly share one of ``confirm_intents``,
the nearest at ``min_similarity`` or closer, becomes ``nlu_confirm`` for that intent: the bot
asks "You'd like your balance, is that right?" instead of "Sorry, I didn't get that". A wrong
guess costs the caller a "no", as any confirmation does; nothing is acted on unconfirmed.

Off-topic requests ("what's the recipe for pancakes") have no close example of a task. When
the recogniser was sure of the words (``clear_speech`` or more in the message's
``asr_confidence`` metadata) and no example of anything the bot knows is within
``off_topic_below``, the message is ``off_topic_intent``: the bot says what it can help with.
That holds for a fallback and for a task (one of ``confirm_intents``, acted on or to be
confirmed) the classifier guessed from nothing like it ("what's a good recipe for lasagne"
read as recent transactions). Words the recogniser was unsure of, and typed text (no
confidence), stay as they were: a mumble is a misunderstanding, and two in a row still lead
to the keypad menu.

Another reading of a transcript not understood (``dialogue.other_readings``) is understood
only as a task these neighbours confirm, and anything else it says is a fallback: DIET is as
sure of garbled words as of clear ones.

The thresholds were chosen on phrasings kept apart from the understanding benchmark
(dialogue/README.md, Understanding; tests/dialogue/fallback_phrasings.yml).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from dialogue.actions.common import NLU_CONFIRM
from dialogue.actions.confirmation import guessed_intent
from dialogue.protocol import ASR_CONFIDENCE_KEY, OTHER_READING_KEY
from dialogue.sentence_features import SentenceEncoderFeaturizer

NLU_FALLBACK = "nlu_fallback"
VECTORS_FILE = "vectors.npy"
LABELS_FILE = "labels.json"


@dataclass(frozen=True)
class Neighbours:
    """What the nearest training examples say about a message."""

    intent: str
    share: float
    """The intent's part of the neighbours' summed similarity."""
    nearest: float
    """Similarity of the nearest example of that intent."""


def sentence_vector(message: Message) -> np.ndarray | None:
    """The message's dense sentence features, unit length (None without any)."""
    _, sentence = message.get_dense_features(TEXT)
    if sentence is None:
        return None
    vector = np.asarray(sentence.features, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NeighbourConfirmClassifier(GraphComponent):
    """Turns a fallback into a confirmation when the closest examples agree on a task, and a
    clearly heard message far from every example into the off-topic intent."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [SentenceEncoderFeaturizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "neighbours": 5,
            "min_similarity": 0.62,
            "min_share": 0.5,
            "confirm_intents": [],
            "off_topic_intent": None,
            "off_topic_below": 0.45,
            "clear_speech": 0.75,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vectors: np.ndarray | None = None,
        labels: list[str] | None = None,
    ) -> None:
        self.config = config
        self._model_storage = model_storage
        self._resource = resource
        self._vectors = vectors if vectors is not None else np.zeros((0, 0), dtype=np.float32)
        self._labels = labels or []
        self._known: np.ndarray | None = None
        """Which examples are of something the bot knows (not off topic): made at first use."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NeighbourConfirmClassifier:
        if config["neighbours"] < 1 or not 0.0 < config["min_share"] <= 1.0:
            raise ValueError("NeighbourConfirmClassifier: neighbours >= 1, 0 < min_share <= 1")
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Keep the sentence vector and intent of every intent example."""
        vectors: list[np.ndarray] = []
        labels: list[str] = []
        for example in training_data.intent_examples:
            vector = sentence_vector(example)
            intent = example.get(INTENT)
            if vector is not None and intent:
                vectors.append(vector)
                labels.append(str(intent))
        self._vectors = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        self._labels = labels
        self._known = None
        with self._model_storage.write_to(self._resource) as directory:
            np.save(directory / VECTORS_FILE, self._vectors)
            (directory / LABELS_FILE).write_text(json.dumps(labels), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NeighbourConfirmClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                vectors = np.load(directory / VECTORS_FILE)
                labels = json.loads((directory / LABELS_FILE).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            # Trained without intent examples: nothing to compare with, every fallback stays.
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, vectors, labels)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if _another_reading(message):
                self._read_again(message)
                continue
            name = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            task = name == NLU_CONFIRM or name in self.config["confirm_intents"]
            vector = sentence_vector(message) if name == NLU_FALLBACK or task else None
            if vector is None:
                continue
            found = self.neighbours(vector) if name == NLU_FALLBACK else None
            if found is not None and self._confirmable(found):
                self._confirm(message, found)
            elif self._clearly_heard(message):
                nearest = self.nearest_known(vector)
                if nearest is not None and nearest < self.config["off_topic_below"]:
                    self._name_off_topic(message, nearest)
        return messages

    def nearest_known(self, vector: np.ndarray) -> float | None:
        """Similarity of the nearest example of anything but the off-topic intent (None
        without such examples or without an off-topic intent)."""
        off_topic = self.config["off_topic_intent"]
        if not off_topic or vector.shape[0] != self._vectors.shape[1]:
            return None
        if self._known is None:
            self._known = np.array([label != off_topic for label in self._labels], dtype=bool)
        if not self._known.any():
            return None
        return float(np.max((self._vectors @ vector)[self._known]))

    def _read_again(self, message: Message) -> None:
        """Another reading of a transcript the classifier could not understand
        (``dialogue.other_readings``) is understood only as a task its meaning confirms: its
        nearest examples agree on one of ``confirm_intents`` (as for a fallback), the one the
        classifier read if it read any; the bot then confirms it before acting. Anything else
        is a fallback: the classifier is as sure of a garbled reading ("Lock, lock, lock, lock,
        lock up.", a lost card at 0.99) as of a clear one."""
        vector = sentence_vector(message)
        found = self.neighbours(vector) if vector is not None else None
        if found is not None and self._confirmable(found) and _read_as(message, found.intent):
            self._confirm(message, found)
        else:
            _fall_back(message)

    def _clearly_heard(self, message: Message) -> bool:
        metadata = message.get("metadata") or {}
        confidence = metadata.get(ASR_CONFIDENCE_KEY) if isinstance(metadata, dict) else None
        return isinstance(confidence, (int, float)) and confidence >= self.config["clear_speech"]

    def neighbours(self, vector: np.ndarray) -> Neighbours | None:
        """The intent the nearest examples share most (None without examples)."""
        if not self._labels or vector.shape[0] != self._vectors.shape[1]:
            return None
        similarity = self._vectors @ vector
        count = min(self.config["neighbours"], len(self._labels))
        nearest = np.argsort(-similarity)[:count]
        votes: dict[str, float] = {}
        closest: dict[str, float] = {}
        for index in nearest:
            label = self._labels[index]
            score = max(float(similarity[index]), 0.0)
            votes[label] = votes.get(label, 0.0) + score
            closest.setdefault(label, float(similarity[index]))
        total = sum(votes.values())
        intent = max(votes, key=lambda label: votes[label])
        return Neighbours(intent, votes[intent] / total if total else 0.0, closest[intent])

    def _confirmable(self, found: Neighbours) -> bool:
        return (
            found.intent in self.config["confirm_intents"]
            and found.nearest >= self.config["min_similarity"]
            and found.share >= self.config["min_share"]
        )

    @staticmethod
    def _confirm(message: Message, found: Neighbours) -> None:
        """``nlu_confirm`` first in the ranking, the neighbours' intent next (where the
        confirmation actions read the guess), the classifier's other intents after it."""
        ranking = [
            dict(item)
            for item in message.get(INTENT_RANKING_KEY) or []
            if item.get(INTENT_NAME_KEY) not in (NLU_FALLBACK, found.intent)
        ]
        confirm = {INTENT_NAME_KEY: NLU_CONFIRM, PREDICTED_CONFIDENCE_KEY: round(found.nearest, 4)}
        guess = {INTENT_NAME_KEY: found.intent, PREDICTED_CONFIDENCE_KEY: round(found.share, 4)}
        message.set(INTENT, dict(confirm), add_to_output=True)
        message.set(INTENT_RANKING_KEY, [confirm, guess, *ranking], add_to_output=True)

    def _name_off_topic(self, message: Message, nearest: float) -> None:
        """The off-topic intent first, its confidence how far the message is from everything
        the bot knows; the classifier's intents after it, the fallback left out."""
        off_topic = self.config["off_topic_intent"]
        ranking = [
            dict(item)
            for item in message.get(INTENT_RANKING_KEY) or []
            if item.get(INTENT_NAME_KEY) not in (NLU_FALLBACK, NLU_CONFIRM, off_topic)
        ]
        named = {INTENT_NAME_KEY: off_topic, PREDICTED_CONFIDENCE_KEY: round(1.0 - nearest, 4)}
        message.set(INTENT, dict(named), add_to_output=True)
        message.set(INTENT_RANKING_KEY, [named, *ranking], add_to_output=True)


def _another_reading(message: Message) -> bool:
    metadata = message.get("metadata") or {}
    return isinstance(metadata, dict) and OTHER_READING_KEY in metadata


def _read_as(message: Message, intent: str) -> bool:
    """Whether the classifier read ``message`` as ``intent`` (acted on or to be confirmed),
    or could not read it at all."""
    name = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
    if name == NLU_CONFIRM:
        name = guessed_intent(message.data)
    return name in (NLU_FALLBACK, intent)


def _fall_back(message: Message) -> None:
    """``nlu_fallback`` first in the ranking, the classifier's intents after it."""
    ranking = [
        dict(item)
        for item in message.get(INTENT_RANKING_KEY) or []
        if item.get(INTENT_NAME_KEY) not in (NLU_FALLBACK, NLU_CONFIRM)
    ]
    fallback = {INTENT_NAME_KEY: NLU_FALLBACK, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, dict(fallback), add_to_output=True)
    message.set(INTENT_RANKING_KEY, [fallback, *ranking], add_to_output=True)
