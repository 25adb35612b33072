"""Sample-rate conversion with soxr, whole clips or streaming frame by frame."""

from __future__ import annotations

import numpy as np
import soxr

from speech.audio import Samples, pcm_to_samples

QUALITY = "HQ"
"""soxr 'high quality': transparent for speech and cheap enough per 20 ms frame."""


def resample(samples: Samples, in_rate: int, out_rate: int) -> Samples:
    """Resample a whole int16 clip."""
    if in_rate == out_rate or not len(samples):
        return samples
    out = soxr.resample(samples, in_rate, out_rate, quality=QUALITY)
    return np.asarray(out, dtype=np.int16)


class StreamResampler:
    """Resamples a stream of PCM chunks, carrying filter state across chunk boundaries.

    The filter runs in float and rounds without dither, so digital silence stays silent.
    ``quality`` is soxr's: "HQ" for whole utterances; live 20 ms frames want "QQ" (no delay,
    one output chunk per input chunk) when upsampling, or "LQ" (an anti-alias filter that
    delays up to 60 ms) when downsampling.
    """

    def __init__(self, in_rate: int, out_rate: int, quality: str = QUALITY) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=quality)
        )

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Feed a PCM chunk; returns whatever output is ready (soxr delays a few ms)."""
        if self._stream is None:
            return pcm
        samples = pcm_to_samples(pcm).astype(np.float32)
        out = self._stream.resample_chunk(samples, last=last)
        return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()

    def flush(self) -> bytes:
        """Drain the filter's tail at the end of a stream."""
        return self.process(b"", last=True)
