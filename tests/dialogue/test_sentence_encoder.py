"""The NLU's pretrained sentence encoder: the published model, computed as published.

The similarities below are the ones sentence-transformers' own README prints for
all-MiniLM-L6-v2, so the numpy forward pass is checked against the reference implementation,
not against itself. Then the pipeline component, through Rasa's own tokenizer.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from dialogue.sentence_encoder import EncoderUnavailable, SentenceEncoder, shared_encoder
from dialogue.sentence_features import SentenceEncoderFeaturizer

README_SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
]
README_SIMILARITIES = np.array(
    [[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]]
)


def test_the_encoder_reproduces_the_published_similarities() -> None:
    vectors = np.array([e.sentence for e in shared_encoder().encode(README_SENTENCES)])
    assert np.allclose(vectors @ vectors.T, README_SIMILARITIES, atol=5e-4)


def test_a_sentence_encodes_the_same_alone_and_padded_in_a_batch() -> None:
    encoder = shared_encoder()
    short = "my card is gone"
    alone = encoder.encode([short])[0]
    batched = encoder.encode([short, "I would like to move two hundred dollars from savings"])[0]
    assert np.allclose(alone.sentence, batched.sentence, atol=1e-5)
    assert np.allclose(alone.pieces, batched.pieces, atol=1e-5)


def test_a_paraphrase_is_nearer_than_another_request_with_no_word_in_common() -> None:
    balance, paraphrase, card = (
        e.sentence
        for e in shared_encoder().encode(
            ["what's my balance", "how much money have I got", "my card was stolen"]
        )
    )
    assert balance @ paraphrase > balance @ card + 0.2


def test_weights_that_are_not_the_published_ones_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model.safetensors", b"not the model")
        zf.writestr("tokenizer.json", "{}")
    with pytest.raises(EncoderUnavailable, match="not the published"):
        SentenceEncoder.from_archive(archive)


def test_the_featurizer_gives_each_word_and_the_sentence_a_vector(tmp_path: Path) -> None:
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    context = ExecutionContext(graph_schema=None, node_name="encoder")  # type: ignore[arg-type]
    featurizer = SentenceEncoderFeaturizer.create(
        {**SentenceEncoderFeaturizer.get_default_config(), "alias": "minilm"},
        LocalModelStorage(tmp_path),
        Resource("encoder"),
        context,
    )
    said = Message(data={TEXT: "what's my account sitting at, right now?"})
    # What the recogniser returns for a cough or a click: Rasa gives it one token, and DIET
    # fails on a message without the features it was trained with.
    empty, dots = Message(data={TEXT: ""}), Message(data={TEXT: "..."})
    no_text = Message(data={"intent": "greet"})
    tokenizer.process([said, empty, dots])
    featurizer.process([said, empty, dots, no_text])

    sequence, sentence = said.get_dense_features(TEXT)
    assert sequence is not None and sentence is not None
    assert sequence.features.shape == (len(said.get("text_tokens")), 384)
    assert sentence.features.shape == (1, 384)
    assert np.isclose(np.linalg.norm(sentence.features), 1.0)
    assert not np.allclose(sequence.features[0], sequence.features[1])
    for unclear in (empty, dots):
        sequence, sentence = unclear.get_dense_features(TEXT)
        assert sequence is not None and sentence is not None
        assert sequence.features.shape == (len(unclear.get("text_tokens")), 384)
        assert sentence.features.shape == (1, 384)
    assert no_text.get_dense_features(TEXT) == (None, None)
