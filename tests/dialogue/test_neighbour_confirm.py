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
from dialogue.protocol import ASR_CONFIDENCE_KEY
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
    "out_of_scope": ["what's the weather like", "tell me a joke", "book a hotel for me"],
}
CONFIG = {
    **NeighbourConfirmClassifier.get_default_config(),
    "confirm_intents": ["check_balance"],
    "off_topic_intent": "out_of_scope",
}
CLEAR = 0.9
"""A recogniser's confidence well above ``clear_speech``."""
OFF_TOPIC = "what's the recipe for pancakes"


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


def _fallback(
    text: str, storage: LocalModelStorage, asr_confidence: float | None = None
) -> Message:
    """A message as the confidence bands leave it when DIET was unsure; with
    ``asr_confidence``, as a call sends it (the recogniser's confidence in its metadata)."""
    metadata = {} if asr_confidence is None else {ASR_CONFIDENCE_KEY: asr_confidence}
    message = Message(data={TEXT: text, "metadata": metadata})
    _featurize([message], storage)
    fallback = {"name": NLU_FALLBACK, "confidence": 0.55}
    message.set(INTENT, fallback)
    message.set(INTENT_RANKING_KEY, [fallback, {"name": "greet", "confidence": 0.4}])
    return message


def _guessed(text: str, storage: LocalModelStorage, intent: str, confirm: bool) -> Message:
    """A clearly heard message the classifier put on ``intent``, to act on or to confirm."""
    message = _fallback(text, storage, CLEAR)
    guess = {"name": intent, "confidence": 0.7 if confirm else 0.9}
    first = {"name": NLU_CONFIRM, "confidence": 0.7} if confirm else guess
    message.set(INTENT, first)
    ranking = [first, guess] if confirm else [guess]
    message.set(INTENT_RANKING_KEY, [*ranking, {"name": "greet", "confidence": 0.05}])
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


def test_a_clearly_heard_request_far_from_every_example_is_named_off_topic(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage
) -> None:
    message = _fallback(OFF_TOPIC, storage, CLEAR)
    nearest = classifier.nearest_known(_vector_of(message))
    assert nearest is not None and nearest < CONFIG["off_topic_below"]
    classifier.process([message])
    assert message.get(INTENT) == {"name": "out_of_scope", "confidence": round(1 - nearest, 4)}
    names = [item["name"] for item in message.get(INTENT_RANKING_KEY)]
    assert names == ["out_of_scope", "greet"]


@pytest.mark.parametrize("asr_confidence", [None, 0.4])
def test_off_topic_words_typed_or_heard_unsure_stay_a_fallback(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage, asr_confidence
) -> None:
    """A mumble the recogniser wrote as words is a misunderstanding, not a request."""
    message = _fallback(OFF_TOPIC, storage, asr_confidence)
    classifier.process([message])
    assert message.get(INTENT)["name"] == NLU_FALLBACK


@pytest.mark.parametrize("confirm", [False, True])
def test_a_task_guessed_from_nothing_like_it_is_named_off_topic(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage, confirm: bool
) -> None:
    message = _guessed(OFF_TOPIC, storage, "check_balance", confirm)
    classifier.process([message])
    assert message.get(INTENT)["name"] == "out_of_scope"
    names = [item["name"] for item in message.get(INTENT_RANKING_KEY)]
    assert names == ["out_of_scope", "check_balance", "greet"]


@pytest.mark.parametrize("confirm", [False, True])
def test_a_task_guessed_near_its_examples_is_left_alone(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage, confirm: bool
) -> None:
    message = _guessed("how much cash is left in my savings", storage, "check_balance", confirm)
    before = message.get(INTENT)
    classifier.process([message])
    assert message.get(INTENT) == before


def test_a_clear_fallback_near_a_task_it_may_not_confirm_stays_a_fallback(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage
) -> None:
    """Near the lost-card examples: not off topic, though lost cards are not confirmed here."""
    message = _fallback("somebody stole my bank card", storage, CLEAR)
    classifier.process([message])
    assert message.get(INTENT)["name"] == NLU_FALLBACK


def test_other_intents_are_never_named_off_topic(
    classifier: NeighbourConfirmClassifier, storage: LocalModelStorage
) -> None:
    """A greeting, a yes or a form's answer is the classifier's to read, however it is put."""
    message = _guessed(OFF_TOPIC, storage, "greet", confirm=False)
    classifier.process([message])
    assert message.get(INTENT)["name"] == "greet"


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
