"""Whisper's encoder over the utterance alone, attending to a cached encoding of the padding.

Whisper always encodes a 30 s window: faster-whisper pads a 2 s utterance's features with 28 s of
zeros, and CTranslate2 spends most of the encoder's time on that padding, whose encoding hardly
depends on the speech. Simply cutting the window is cheaper
but not the same model: the speech's self-attention loses the padding's keys, and tiny.en then
mishears ("branch hours" -> "brand towers") or repeats itself.

This encoder computes only the utterance's positions (plus a margin of padding), letting them
attend to their own keys and values and to those of the padding positions taken from one
encoding of an all-padding window, made once per model. Positions past the margin are returned
from that same cached encoding. The decoder (CTranslate2, unchanged) then reads a full window.
The transformer is whisper's (Radford et al. 2022, section 2.2): two GELU convolutions, the
sinusoidal position embedding, pre-norm self-attention and MLP blocks, a final layer norm. The
weights come from the CTranslate2 ``model.bin`` the decoder loads. An utterance's pass runs as an
onnxruntime graph of the same computation (``speech.asr.whisper_encoder_graph``); the numpy pass
here encodes the padding at load, and utterances too where that graph cannot be built.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

from logfields import fields
from speech.asr.base import AsrError
from speech.asr.whisper_encoder_graph import GraphEncoder

log = logging.getLogger(__name__)

CT2_BINARY_VERSIONS = (5, 6)
"""CTranslate2 ``model.bin`` layouts read here (``models/model.cc``: version, spec name and
revision, then each variable as name, rank, dims, type id, byte count, data)."""
CT2_FLOAT32, CT2_INT8, CT2_INT16, CT2_INT32, CT2_FLOAT16, CT2_BFLOAT16 = range(6)
"""CTranslate2's ``DataType`` ids as stored in ``model.bin``."""
MARGIN_POSITIONS = 100
"""Padding positions (20 ms each) encoded with the utterance: 2 s. The speech attends to the
padding's keys near it; with this margin the WER matches the full encoder's, with a shorter one
it does not (README, Performance)."""
MAX_FITTED_SHARE = 0.5
"""Above this share of the window, CTranslate2's own full encoder is cheaper than this one."""
LAYER_NORM_EPS = 1e-5


def read_ctranslate2_variables(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """The float32 values of the variables named ``prefix...`` in a CTranslate2 ``model.bin``.

    Quantised weights are scaled back (``weight`` / ``weight_scale`` per output row).
    """
    data = path.read_bytes()
    offset = 0

    def take(fmt: str) -> tuple[int, ...]:
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values

    def text() -> str:
        nonlocal offset
        (length,) = take("<H")
        value = data[offset : offset + length].rstrip(b"\0").decode()
        offset += length
        return value

    try:
        (version,) = take("<I")
        if version not in CT2_BINARY_VERSIONS:
            raise AsrError(f"{path}: CTranslate2 binary version {version} is not supported")
        text()  # the spec's name
        take("<I")  # its revision
        (count,) = take("<I")
        raw: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = text()
            (rank,) = take("<B")
            dims = take(f"<{rank}I") if rank else ()
            type_id, size = take("<BI")
            if name.startswith(prefix):
                raw[name] = _decode(data[offset : offset + size], type_id, dims, name)
            offset += size
    except struct.error as exc:
        raise AsrError(f"{path}: truncated CTranslate2 model ({exc})") from exc
    return {
        name: value / raw[f"{name}_scale"].reshape(-1, *([1] * (value.ndim - 1)))
        if f"{name}_scale" in raw
        else value
        for name, value in raw.items()
        if not name.endswith("_scale")
    }


def _decode(buffer: bytes, type_id: int, dims: tuple[int, ...], name: str) -> np.ndarray:
    if type_id == CT2_BFLOAT16:
        wide = np.frombuffer(buffer, "<u2").astype(np.uint32) << 16
        return wide.view(np.float32).reshape(dims)
    types = {
        CT2_FLOAT32: "<f4",
        CT2_INT8: "i1",
        CT2_INT16: "<i2",
        CT2_INT32: "<i4",
        CT2_FLOAT16: "<f2",
    }
    if type_id not in types:
        raise AsrError(f"variable {name}: unknown CTranslate2 type id {type_id}")
    return np.frombuffer(buffer, types[type_id]).astype(np.float32).reshape(dims)


_INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))


def _gelu(x: np.ndarray) -> np.ndarray:
    """Whisper's exact (erf) GELU, in place in one new array: the MLP's activations are the
    encoder's largest, and a temporary per operation halved its speed."""
    out = x * _INV_SQRT2
    erf(out, out=out)
    out += 1.0
    out *= x
    out *= 0.5
    return out


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(variance + LAYER_NORM_EPS) * gamma + beta


@dataclass(frozen=True)
class _Layer:
    """One pre-norm transformer block (CTranslate2 fuses the q, k, v projections)."""

    attention_norm: tuple[np.ndarray, np.ndarray]
    qkv: tuple[np.ndarray, np.ndarray]
    out: tuple[np.ndarray, np.ndarray]
    mlp_norm: tuple[np.ndarray, np.ndarray]
    mlp_in: tuple[np.ndarray, np.ndarray]
    mlp_out: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Padding:
    """The all-padding window's keys and values per layer (heads, positions, head size) and
    its encoder output: what the utterance attends to, and what fills the window after it."""

    keys: list[np.ndarray]
    values: list[np.ndarray]
    output: np.ndarray


class FittedEncoder:
    """Whisper's encoder on the utterance's positions, with the padding's encoding cached; an
    utterance's pass on ``threads`` onnxruntime threads."""

    layer_norm_eps = LAYER_NORM_EPS

    def __init__(self, variables: dict[str, np.ndarray], threads: int = 1) -> None:
        def get(name: str) -> np.ndarray:
            try:
                return np.ascontiguousarray(variables[f"encoder/{name}"], dtype=np.float32)
            except KeyError as exc:
                raise AsrError(f"not a whisper encoder: no variable encoder/{name}") from exc

        def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
            return np.ascontiguousarray(get(f"{name}/weight").T), get(f"{name}/bias")

        def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
            return get(f"{name}/gamma"), get(f"{name}/beta")

        conv1, conv2 = get("conv1/weight"), get("conv2/weight")
        self.width, self.mels, _ = conv1.shape
        self.conv1 = (conv1.reshape(self.width, -1), get("conv1/bias")[:, None])
        self.conv2 = (conv2.reshape(self.width, -1), get("conv2/bias")[:, None])
        self.positions_embedding = get("position_encodings/encodings")
        self.positions = len(self.positions_embedding)
        self.heads = int(get("num_heads"))
        self.layers: list[_Layer] = []
        while f"encoder/layer_{len(self.layers)}/ffn/linear_0/weight" in variables:
            prefix = f"layer_{len(self.layers)}"
            self.layers.append(
                _Layer(
                    attention_norm=norm(f"{prefix}/self_attention/layer_norm"),
                    qkv=linear(f"{prefix}/self_attention/linear_0"),
                    out=linear(f"{prefix}/self_attention/linear_1"),
                    mlp_norm=norm(f"{prefix}/ffn/layer_norm"),
                    mlp_in=linear(f"{prefix}/ffn/linear_0"),
                    mlp_out=linear(f"{prefix}/ffn/linear_1"),
                )
            )
        if not self.layers or self.width % self.heads:
            raise AsrError("not a whisper encoder: no layers, or heads that do not divide it")
        self.final_norm = norm("layer_norm")
        self.frames = 2 * self.positions
        """Feature frames in a window (10 ms each; the second convolution halves them)."""
        self.padding = self._encode_padding()
        self.graph = _graph_encoder(self, threads)

    @classmethod
    def load(cls, model_dir: str | Path, threads: int = 1) -> FittedEncoder:
        """The encoder of the CTranslate2 whisper model in ``model_dir``."""
        return cls(read_ctranslate2_variables(Path(model_dir) / "model.bin", "encoder/"), threads)

    def positions_for(self, content_frames: int) -> int:
        """Positions to compute for ``content_frames`` frames of features: the utterance's and
        the margin's (the rest of the window comes from the cache)."""
        return min(self.positions, (content_frames + 1) // 2 + MARGIN_POSITIONS)

    def worthwhile(self, content_frames: int) -> bool:
        """Whether fitting beats encoding the whole window for this much speech."""
        return self.positions_for(content_frames) <= MAX_FITTED_SHARE * self.positions

    def encode(self, features: np.ndarray, frames: int) -> np.ndarray:
        """Encoder output (positions, width) for one window of features (mels, frames) whose
        first ``frames`` are the utterance (``content_frames``): the utterance and the margin
        computed, the rest from the padding's encoding."""
        if features.ndim != 2 or features.shape[0] != self.mels:
            raise ValueError(f"features must be ({self.mels}, frames), got {features.shape}")
        count = self.positions_for(frames)
        if self.graph is not None:
            states = self.graph.states(features, count)
        else:
            states, _, _ = self._run(features, count, self.padding)
        return np.concatenate([states, self.padding.output[count:]])

    def _encode_padding(self) -> _Padding:
        zeros = np.zeros((self.mels, self.frames), np.float32)
        output, keys, values = self._run(zeros, self.positions, None)
        return _Padding(keys, values, output)

    def _front(self, features: np.ndarray, count: int) -> np.ndarray:
        """The two convolutions (kernel 3, padding 1; the second with stride 2) and the
        position embedding, for positions ``0..count-1``."""
        frames = 2 * count
        padded = np.zeros((self.mels, frames + 2), np.float32)
        available = min(frames, features.shape[1])
        padded[:, 1 : 1 + available] = features[:, :available]
        columns = np.stack([padded[:, k : k + frames] for k in range(3)], axis=1)
        weight, bias = self.conv1
        hidden = _gelu(weight @ columns.reshape(-1, frames) + bias)
        padded = np.zeros((self.width, frames + 2), np.float32)
        padded[:, 1 : 1 + frames] = hidden
        columns = np.stack([padded[:, k : k + frames : 2] for k in range(3)], axis=1)
        weight, bias = self.conv2
        states = _gelu(weight @ columns.reshape(-1, count) + bias)
        return np.ascontiguousarray(states.T) + self.positions_embedding[:count]

    def _run(
        self, features: np.ndarray, count: int, padding: _Padding | None
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Encode positions ``0..count-1``, whose attention also covers the cached positions
        ``count..`` of ``padding`` (None: the window has no others). Returns the states and each
        layer's keys and values of the positions computed."""
        states = self._front(features, count)
        heads, size = self.heads, self.width // self.heads
        own_keys: list[np.ndarray] = []
        own_values: list[np.ndarray] = []
        for index, layer in enumerate(self.layers):
            hidden = _layer_norm(states, *layer.attention_norm)
            weight, bias = layer.qkv
            qkv = (hidden @ weight + bias).reshape(count, 3, heads, size).transpose(1, 2, 0, 3)
            queries, keys, values = (
                qkv[0],
                np.ascontiguousarray(qkv[1]),
                np.ascontiguousarray(qkv[2]),
            )
            own_keys.append(keys)
            own_values.append(values)
            if padding is not None and count < self.positions:
                keys = np.concatenate([keys, padding.keys[index][:, count:]], axis=1)
                values = np.concatenate([values, padding.values[index][:, count:]], axis=1)
            scores = queries @ keys.transpose(0, 2, 1)
            scores *= 1.0 / math.sqrt(size)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ values).transpose(1, 0, 2).reshape(count, self.width)
            weight, bias = layer.out
            states = states + attended @ weight + bias
            hidden = _layer_norm(states, *layer.mlp_norm)
            weight, bias = layer.mlp_in
            hidden = _gelu(hidden @ weight + bias)
            weight, bias = layer.mlp_out
            states = states + hidden @ weight + bias
        return _layer_norm(states, *self.final_norm).astype(np.float32), own_keys, own_values


def _graph_encoder(encoder: FittedEncoder, threads: int) -> GraphEncoder | None:
    """onnxruntime's session of the utterance pass; None (with a warning) when onnx or
    onnxruntime cannot build or run it here, and the numpy pass serves."""
    try:
        return GraphEncoder(encoder, threads)
    except Exception as exc:  # the graph is a speed-up: any failure to build it costs only that
        log.warning("asr.whisper.no_encoder_graph", extra=fields(error=str(exc)))
        return None


def content_frames(features: np.ndarray) -> int:
    """Frames before faster-whisper's zero padding (a real log-mel frame is never all zero:
    whisper's normalisation maps even digital silence to a negative value)."""
    voiced = np.flatnonzero(np.any(features != 0.0, axis=0))
    return int(voiced[-1]) + 1 if len(voiced) else 0
