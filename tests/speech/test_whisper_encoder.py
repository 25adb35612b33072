"""The CTranslate2 model.bin reader behind the fitted whisper encoder, on files the tests write."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from speech.asr.base import AsrError
from speech.asr.whisper_encoder import (
    CT2_BFLOAT16,
    CT2_FLOAT16,
    CT2_FLOAT32,
    CT2_INT8,
    CT2_INT16,
    FittedEncoder,
    content_frames,
    read_ctranslate2_variables,
)


def _text(value: str) -> bytes:
    raw = value.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _model_bin(variables: list[tuple[str, int, np.ndarray]], version: int = 6) -> bytes:
    """A model.bin as CTranslate2's converter writes it (no aliases: the reader stops before)."""
    out = struct.pack("<I", version) + _text("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, type_id, array in variables:
        data = array.tobytes()
        out += _text(name) + struct.pack("<B", array.ndim)
        out += struct.pack(f"<{array.ndim}I", *array.shape) if array.ndim else b""
        out += struct.pack("<BI", type_id, len(data)) + data
    return out + struct.pack("<I", 0)


def test_reader_decodes_each_type_and_scales_quantised_weights_back(tmp_path: Path) -> None:
    weight = np.array([[10, -20, 30], [40, 50, -60]], np.int8)
    scale = np.array([10.0, 20.0], np.float32)
    halves = np.array([1.5, -2.25], np.float16)
    brain = np.array([3.0, -0.5], np.float32)
    brain_bits = (brain.view(np.uint32) >> 16).astype(np.uint16)
    path = tmp_path / "model.bin"
    path.write_bytes(
        _model_bin(
            [
                ("encoder/linear/weight", CT2_INT8, weight),
                ("encoder/linear/weight_scale", CT2_FLOAT32, scale),
                ("encoder/halves", CT2_FLOAT16, halves),
                ("encoder/brain", CT2_BFLOAT16, brain_bits),
                ("encoder/num_heads", CT2_INT16, np.array(6, np.int16)),
                ("decoder/skipped", CT2_FLOAT32, np.ones(4, np.float32)),
            ]
        )
    )
    values = read_ctranslate2_variables(path, "encoder/")
    assert sorted(values) == [
        "encoder/brain",
        "encoder/halves",
        "encoder/linear/weight",
        "encoder/num_heads",
    ]
    np.testing.assert_allclose(values["encoder/linear/weight"], [[1, -2, 3], [2, 2.5, -3]])
    np.testing.assert_array_equal(values["encoder/halves"], [1.5, -2.25])
    np.testing.assert_array_equal(values["encoder/brain"], [3.0, -0.5])
    assert values["encoder/num_heads"] == 6
    assert all(v.dtype == np.float32 for v in values.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_model_bin([], version=2), "binary version 2 is not supported"),
        (_model_bin([("encoder/x", CT2_FLOAT32, np.ones(8, np.float32))])[:40], "truncated"),
        (_model_bin([("encoder/x", 9, np.ones(2, np.float32))]), "unknown CTranslate2 type id 9"),
    ],
)
def test_reader_refuses_what_it_cannot_read_with_the_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    with pytest.raises(AsrError, match=message):
        read_ctranslate2_variables(path)


def test_weights_of_another_model_are_not_taken_for_a_whisper_encoder() -> None:
    with pytest.raises(AsrError, match="no variable encoder/conv1/weight"):
        FittedEncoder({"encoder/embeddings/weight": np.ones((4, 4), np.float32)})


def test_content_frames_end_at_the_zero_padding() -> None:
    window = np.zeros((80, 3000), np.float32)
    assert content_frames(window) == 0
    window[:, :250] = -0.7  # whisper's normalised digital silence: still content
    window[3, 251] = 0.1
    assert content_frames(window) == 252
