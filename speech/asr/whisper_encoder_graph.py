"""The fitted encoder's utterance pass as an ONNX graph, run by onnxruntime.

In numpy the pass cost whisper tiny.en about 34 ms a layer on one core (README, Performance):
every operation makes a new array, scipy's ``erf`` (the GELU) runs float32 through its double
loop, and the softmax and layer norms take several passes each. onnxruntime (already here for
piper) runs the same computation as one graph, with fused kernels and no interpreter between the
operations; its matrix products then take most of the time.

The graph is built once per process from the :class:`FittedEncoder`'s float32 weights and its
padding's keys and values, which the graph takes as inputs, fed from the encoder's own arrays
at each run (as constants copied into the graph they held 185 MB more). The numpy encoder still
encodes the all-padding window at load (once); the graph computes what its numpy pass (``_run``)
computes for an utterance: its positions' states, attending to their own keys and values and to
the padding's from position ``count`` on. Its input is the first ``2 * count`` feature frames,
and ``count`` is read from their length.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

OPSET = 17
"""ONNX operator set: the first with ``LayerNormalization``."""
IR_VERSION = 8
"""The model format onnxruntime 1.23 and onnx 1.17 both read."""
FEATURES, STATES = "features", "states"


class _Graph:
    """The graph under construction: its nodes, each output named in turn, its constants, and
    the encoder's arrays it takes as inputs."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.constants: list[Any] = []
        self.weights: dict[str, np.ndarray] = {}
        """The encoder's arrays, fed to every run as inputs rather than copied into the graph."""

    def constant(self, value: Any, dtype: Any = np.float32) -> str:
        name = f"c{len(self.constants)}"
        array = np.asarray(value, dtype=dtype)
        self.constants.append(self._numpy_helper.from_array(array, name))
        return name

    def weight(self, value: np.ndarray) -> str:
        name = f"w{len(self.weights)}"
        self.weights[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        name = f"n{len(self.nodes)}"
        self.nodes.append(self._helper.make_node(kind, list(inputs), [name], **attributes))
        return name

    def gelu(self, x: str) -> str:
        """Whisper's exact (erf) GELU: onnxruntime fuses this pattern into one kernel."""
        scaled = self.op("Mul", x, self.constant(1.0 / math.sqrt(2.0)))
        erf = self.op("Add", self.op("Erf", scaled), self.constant(1.0))
        return self.op("Mul", self.op("Mul", x, self.constant(0.5)), erf)

    def linear(self, x: str, weight_bias: tuple[np.ndarray, np.ndarray]) -> str:
        weight, bias = weight_bias
        return self.op("Add", self.op("MatMul", x, self.weight(weight)), self.weight(bias))

    def norm(self, x: str, gamma_beta: tuple[np.ndarray, np.ndarray], epsilon: float) -> str:
        gamma, beta = gamma_beta
        return self.op(
            "LayerNormalization",
            x,
            self.weight(gamma),
            self.weight(beta),
            axis=-1,
            epsilon=epsilon,
        )


def encoder_graph(encoder: Any) -> tuple[bytes, dict[str, np.ndarray]]:
    """The serialised ONNX model of ``encoder``'s utterance pass (features (mels, 2 * count) in,
    states (count, width) out, layer-normed as the decoder reads them), and the encoder's arrays
    it takes as further inputs by name. ``encoder``: a
    :class:`speech.asr.whisper_encoder.FittedEncoder` (not imported here: it imports this)."""
    import onnx
    from onnx import TensorProto, helper

    epsilon = encoder.layer_norm_eps
    g = _Graph()
    heads, size, width = encoder.heads, encoder.width // encoder.heads, encoder.width
    first = g.constant([0], np.int64)
    hidden = g.op("Unsqueeze", FEATURES, first)  # a batch of one
    for (weight, bias), stride in ((encoder.conv1, 1), (encoder.conv2, 2)):
        kernel = weight.reshape(width, -1, 3)  # (out channels, in channels, kernel 3)
        conv = g.op(
            "Conv",
            hidden,
            g.weight(kernel),
            g.weight(bias.reshape(-1)),
            kernel_shape=[3],
            pads=[1, 1],
            strides=[stride],
        )
        hidden = g.gelu(conv)
    states = g.op("Transpose", g.op("Squeeze", hidden, first), perm=[1, 0])  # (count, width)
    count = g.op("Unsqueeze", g.op("Gather", g.op("Shape", states), g.constant(0, np.int64)), first)
    positions = g.op(
        "Slice", g.weight(encoder.positions_embedding), g.constant([0], np.int64), count, first
    )
    states = g.op("Add", states, positions)
    window_end = g.constant([encoder.positions], np.int64)
    position_axis = g.constant([1], np.int64)
    split_shape = g.op("Concat", count, g.constant([3, heads, size], np.int64), axis=0)
    joined_shape = g.op("Concat", count, g.constant([width], np.int64), axis=0)
    scale = g.constant(1.0 / math.sqrt(size))
    for index, layer in enumerate(encoder.layers):
        hidden = g.norm(states, layer.attention_norm, epsilon)
        qkv = g.op("Reshape", g.linear(hidden, layer.qkv), split_shape)
        qkv = g.op("Transpose", qkv, perm=[1, 2, 0, 3])  # (3, heads, count, size)
        queries, keys, values = (
            g.op("Gather", qkv, g.constant(part, np.int64), axis=0) for part in range(3)
        )
        padding_keys, padding_values = (
            g.op("Slice", g.weight(cached[index]), count, window_end, position_axis)
            for cached in (encoder.padding.keys, encoder.padding.values)
        )
        keys = g.op("Concat", keys, padding_keys, axis=1)
        values = g.op("Concat", values, padding_values, axis=1)
        scores = g.op("MatMul", queries, g.op("Transpose", keys, perm=[0, 2, 1]))
        attention = g.op("Softmax", g.op("Mul", scores, scale), axis=-1)
        attended = g.op("Transpose", g.op("MatMul", attention, values), perm=[1, 0, 2])
        states = g.op("Add", states, g.linear(g.op("Reshape", attended, joined_shape), layer.out))
        hidden = g.gelu(g.linear(g.norm(states, layer.mlp_norm, epsilon), layer.mlp_in))
        states = g.op("Add", states, g.linear(hidden, layer.mlp_out))
    g.nodes.append(
        helper.make_node("Identity", [g.norm(states, encoder.final_norm, epsilon)], [STATES])
    )
    graph = helper.make_graph(
        g.nodes,
        "whisper_fitted_encoder",
        [
            helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, [encoder.mels, "frames"]),
            *(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, list(array.shape))
                for name, array in g.weights.items()
            ),
        ],
        [helper.make_tensor_value_info(STATES, TensorProto.FLOAT, ["count", width])],
        g.constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString(), g.weights


class GraphEncoder:
    """An onnxruntime session of :func:`encoder_graph` on ``threads`` threads."""

    def __init__(self, encoder: Any, threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep: their spinning took cores from other calls (speech/blas.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Every utterance has its own length: a memory plan kept per length held 45 MB more
        # after a few lengths, for no measurable speed.
        options.enable_mem_pattern = False
        model, self._weights = encoder_graph(encoder)
        self._session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )

    def states(self, features: np.ndarray, count: int) -> np.ndarray:
        """The layer-normed states (count, width) of positions ``0..count-1`` of a window of
        features (mels, frames), zero frames past its end as the numpy pass reads them."""
        frames = 2 * count
        window = np.zeros((features.shape[0], frames), np.float32)
        available = min(frames, features.shape[1])
        window[:, :available] = features[:, :available]
        (states,) = self._session.run([STATES], {FEATURES: window, **self._weights})
        return np.asarray(states)
