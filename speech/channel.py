"""A simulated telephone line: band-limit to 8 kHz, G.711 round trip, optional noise and gain.

Used to make test and simulation audio sound like a real call instead of studio speech.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.signal import lfilter

from speech import g711
from speech.audio import Audio, float_to_samples
from speech.resample import resample

TELEPHONE_RATE = 8000
Codec = Literal["ulaw", "alaw", "none"]


def telephone_channel(
    audio: Audio,
    codec: Codec = "ulaw",
    snr_db: float | None = None,
    gain_db: float = 0.0,
    seed: int = 0,
) -> Audio:
    """Return ``audio`` as heard at the far end of an 8 kHz G.711 call.

    ``snr_db`` adds white-ish background noise at that signal-to-noise ratio, measured against
    the speech's active level; ``gain_db`` scales the line level first (negative: a quiet caller).
    """
    narrow = resample(audio.samples, audio.rate, TELEPHONE_RATE).astype(np.float64)
    narrow *= 10 ** (gain_db / 20)
    if snr_db is not None:
        narrow = _add_noise(narrow, snr_db, np.random.default_rng(seed))
    pcm = float_to_samples(narrow / 32768.0).astype("<i2").tobytes()
    if codec == "ulaw":
        pcm = g711.ulaw_decode(g711.ulaw_encode(pcm))
    elif codec == "alaw":
        pcm = g711.alaw_decode(g711.alaw_encode(pcm))
    return Audio.from_pcm(pcm, TELEPHONE_RATE)


def _add_noise(signal: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    active = signal[np.abs(signal) > 0.05 * (np.abs(signal).max() or 1.0)]
    speech_power = float(np.mean(active**2)) if len(active) else 1.0
    noise = rng.standard_normal(len(signal))
    # Pink-ish tint: one-pole low-pass, closer to line and room noise than pure white noise.
    tinted = lfilter([1.0], [1.0, -0.7], noise)
    tinted *= np.sqrt(speech_power / (10 ** (snr_db / 10)) / float(np.mean(tinted**2)))
    return np.asarray(signal + tinted)
