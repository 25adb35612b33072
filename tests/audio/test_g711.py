"""G.711 companding is bit-exact with the ITU reference algorithm as implemented by audioop."""

from __future__ import annotations

import audioop
import warnings

import numpy as np
import pytest

from speech import g711

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))

warnings.filterwarnings("ignore", category=DeprecationWarning)


def test_ulaw_encode_matches_reference_for_every_sample() -> None:
    assert g711.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)


def test_alaw_encode_matches_reference_for_every_sample() -> None:
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)


def test_ulaw_decode_matches_reference_for_every_code() -> None:
    assert g711.ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_matches_reference_for_every_code() -> None:
    assert g711.alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)],
    ids=["ulaw", "alaw"],
)
def test_round_trip_error_stays_within_one_quantisation_step(encode, decode) -> None:
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 12000).astype("<i2")
    back = np.frombuffer(decode(encode(tone.tobytes())), dtype="<i2").astype(int)
    # G.711 has 8 segments; the step in the loudest used segment is at most 1024.
    assert np.max(np.abs(back - tone)) <= 1024
    assert np.corrcoef(back, tone)[0, 1] > 0.999


def test_silence_codes_decode_to_zero() -> None:
    assert g711.ulaw_decode(g711.ULAW_SILENCE) in (b"\x00\x00",)
    assert abs(int.from_bytes(g711.alaw_decode(g711.ALAW_SILENCE), "little", signed=True)) <= 8


def test_odd_length_pcm_is_refused() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        g711.ulaw_encode(b"\x00\x01\x02")
