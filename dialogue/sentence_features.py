"""NLU pipeline component: pretrained MiniLM features next to the count features.

Each whitespace token gets the mean of the contextual vectors of its word pieces (a
sequence feature, as Rasa's LanguageModelFeaturizer aligns them), and the message gets the
normalised mean of all its pieces (the sentence feature sentence-transformers uses for
similarity). DIET then learns intents from meaning as well as from the words it was shown.
Nothing is learned here: the same text always gets the same features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from dialogue.sentence_encoder import Encoded, SentenceEncoder, shared_encoder


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense MiniLM features for the caller's text (``dialogue/sentence_encoder.py``)."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEncoderFeaturizer:
        return cls(config, execution_context.node_name, shared_encoder())

    def __init__(self, config: dict[str, Any], name: str, encoder: SentenceEncoder) -> None:
        super().__init__(name, config)
        self._encoder = encoder

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to configure: the model is fixed (its weights are checked on load)."""

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        # Every message with tokens gets features, an empty transcript too (Rasa gives it one
        # empty token): DIET refuses a message whose feature set differs from training.
        todo = [m for m in messages if m.get(TOKENS_NAMES[TEXT])]
        encoded = self._encoder.encode([m.get(TEXT) or "" for m in todo])
        for message, vectors in zip(todo, encoded, strict=True):
            self._add(message, vectors)
        return messages

    def _add(self, message: Message, encoded: Encoded) -> None:
        tokens: list[Token] = message.get(TOKENS_NAMES[TEXT])
        sequence = np.stack([self._token_vector(token, encoded) for token in tokens])
        alias = self._config[FEATURIZER_CLASS_ALIAS]
        message.add_features(Features(sequence, FEATURE_TYPE_SEQUENCE, TEXT, alias))
        message.add_features(
            Features(encoded.sentence[np.newaxis, :], FEATURE_TYPE_SENTENCE, TEXT, alias)
        )

    def _token_vector(self, token: Token, encoded: Encoded) -> np.ndarray:
        """Mean of the word pieces inside the token's characters; zeros if none are."""
        inside = [
            row
            for row, (start, end) in enumerate(encoded.offsets)
            if start < token.end and end > token.start
        ]
        if not inside:
            return np.zeros(self._encoder.dimension, dtype=np.float32)
        return encoded.pieces[inside].mean(axis=0)
