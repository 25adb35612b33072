"""A fallback confirmed by its nearest training examples, through Rasa's own tokenizer, the
real sentence encoder and a model storage on disk: trained, saved, loaded, then asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from dialogue.actions.common import NLU_CONFIRM
from dialogue.actions.confirmation import guessed_intent
from dialogue.neighbour_confirm import NLU_FALLBACK, NeighbourConfirmClassifier, sentence_vector
from dialogue.sentence_features import SentenceEncoderFeaturizer

EXAMPLES = {
    "check_balance": [
        "what's my balance",
        "how much money is in my savings account",
        "tell me my checking balance",
        "how much have I got in my account",
        "what's left in my current account",
    ],
    "greet": ["hello", "hi there", "good morning"],
    "report_lost_card": ["I lost my card", "my card was stolen", "I can't find my debit card"],
}
CONFIG = {**NeighbourConfirmClassifier.get_default_config(), "confirm_intents": ["check_balance"]}


def _featurize(messages: list[Message], storage: LocalModelStorage) -> list[Message]:
    context = ExecutionContext(graph_schema=None, node_name="encoder")  # type: ignore[arg-type]
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    featurizer = SentenceEncoderFeaturizer.create(
        {**SentenceEncoderFeaturizer.get_default_config(), "alias": "minilm"},
        storage,
        Resource("encoder"),
        context,
    )
    tokenizer.process(messages)
    return featurizer.process(messages)


def _fallback(text: str, storage: LocalModelStorage) -> Message:
    """A message as the confidence bands leave it when DIET was unsure."""
    message = Message(data={TEXT: text})
    _featurize([message], storage)
    fallback = {"name": NLU_FALLBACK, "confidence": 0.55}
    message.set(INTENT, fallback)
    message.set(INTENT_RANKING_KEY, [fallback, {"name": "greet", "confidence": 0.4}])
    return message


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> NeighbourConfirmClassifier:
    """Trained on EXAMPLES, saved, and loaded back from its storage."""
    storage = LocalModelStorage(tmp_path_factory.mktemp("model"))
    resource = Resource("neighbours")
    context = ExecutionContext(graph_schema=None, node_name="neighbours")  # type: ignore[arg-type]
    examples = [
        Message(data={TEXT: text, INTENT: intent})
        for intent, texts in EXAMPLES.items()
        for text in texts
    ]
    _featurize(examples, storage)
    trainer = NeighbourConfirmClassifier.create(CONFIG, storage, resource, context)
    trainer.train(TrainingData(examples))
    return NeighbourConfirmClassifier.load(CONFIG, storage, resource, context)


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def test_a_fallback_near_the_examples_of_a_task_is_confirmed(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage
) -> None:
    message = _fallback("how much cash is left in my savings", storage)
    classifier.process([message])
    assert message.get(INTENT)["name"] == NLU_CONFIRM
    assert guessed_intent(message.as_dict()) == "check_balance"
    names = [item["name"] for item in message.get(INTENT_RANKING_KEY)]
    assert NLU_FALLBACK not in names and names.count("check_balance") == 1


def test_an_off_topic_fallback_stays_a_fallback(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage
) -> None:
    message = _fallback("what's the recipe for pancakes", storage)
    classifier.process([message])
    assert message.get(INTENT)["name"] == NLU_FALLBACK


def test_only_the_configured_intents_are_confirmed(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage
) -> None:
    """Near the lost-card examples, but lost cards are not among this config's intents."""
    message = _fallback("somebody stole my bank card", storage)
    found = classifier.neighbours(_vector_of(message))
    assert found is not None and found.intent == "report_lost_card"
    classifier.process([message])
    assert message.get(INTENT)["name"] == NLU_FALLBACK


def test_a_message_the_classifier_placed_is_left_alone(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage
) -> None:
    message = _fallback("how much cash is left in my savings", storage)
    greet = {"name": "greet", "confidence": 0.9}
    message.set(INTENT, greet)
    classifier.process([message])
    assert message.get(INTENT) == greet


def _vector_of(message: Message) -> np.ndarray:
    vector = sentence_vector(message)
    assert vector is not None
    return vector
