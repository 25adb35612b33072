"""G.711 mu-law and A-law companding (ITU-T Rec. G.711), table-driven over numpy arrays.

Encoding follows the segment/quantisation rules of G.711 (as in Sun's reference g711.c, which
Python's ``audioop`` also implements), so results are bit-exact with ``audioop.lin2ulaw``/``alaw``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_BIAS = 0x84
"""Mu-law bias (G.711 section 3.2); applied as BIAS >> 2 on the 14-bit magnitude when encoding."""
_ULAW_CLIP = 8159
"""Largest 14-bit magnitude mu-law represents."""
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, magnitude, side="left").astype(np.int64)
    code = np.where(seg >= 8, 0x7F ^ mask, ((seg << 4) | ((magnitude >> (seg + 1)) & 0xF)) ^ mask)
    return (code & 0xFF).astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEG_END, magnitude, side="left").astype(np.int64)
    mantissa = np.where(seg < 2, (magnitude >> 1) & 0xF, (magnitude >> seg) & 0xF)
    code = np.where(seg >= 8, 0x7F ^ mask, ((seg << 4) | mantissa) ^ mask)
    return (code & 0xFF).astype(np.uint8)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((code & 0x0F) << 3) + _BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _BIAS - t, t - _BIAS).astype("<i2")


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int64) ^ 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    t = np.where(seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << (seg - 1)))
    return np.where(code & 0x80, t, -t).astype("<i2")


_ULAW_ENCODE = _build_ulaw_encode()
_ALAW_ENCODE = _build_alaw_encode()
_ULAW_DECODE = _build_ulaw_decode()
_ALAW_DECODE = _build_alaw_decode()

ULAW_SILENCE = bytes([0xFF])
"""The mu-law code for zero; fill for silent payloads."""
ALAW_SILENCE = bytes([0xD5])
"""The A-law code for zero."""


def _as_index(pcm: bytes) -> npt.NDArray[np.uint16]:
    """Each sample's index in the encoding tables (sample + 32768): flipping the sign bit of its
    16 bits gives it without widening the array (every 20 ms of every call)."""
    if len(pcm) % 2:
        raise ValueError(f"PCM length {len(pcm)} is not a whole number of 16-bit samples")
    return np.frombuffer(pcm, dtype="<u2") ^ np.uint16(0x8000)


def ulaw_encode(pcm: bytes) -> bytes:
    """16-bit linear PCM to mu-law, one byte per sample."""
    return _ULAW_ENCODE[_as_index(pcm)].tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    """16-bit linear PCM to A-law, one byte per sample."""
    return _ALAW_ENCODE[_as_index(pcm)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """Mu-law bytes to 16-bit linear PCM."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes to 16-bit linear PCM."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()
