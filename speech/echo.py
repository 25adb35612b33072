"""Line echo suppression: remove the bot's own voice coming back on the caller channel.

A telephone hybrid or a speakerphone returns part of what the bot says, delayed and attenuated.
Fed to the endpointer as it is, that echo would look like the caller talking and trigger a false
barge-in. This canceller models the echo path as one delay and one gain (a single-tap echo
path, estimated by FFT cross-correlation of the caller channel against the audio the bot sent),
subtracts the predicted echo, silences frames where only leftover echo remains (the non-linear
processor of ITU-T G.168), and hands the result to the endpointer. Caller speech is not
correlated with the bot's audio, so it survives in the residual and a real barge-in still fires.

The estimate is refreshed whenever the bot has been talking for a while, and is only trusted when
the correlation is strong, so a wrong estimate never removes real speech.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.signal import correlate

MAX_DELAY_MS = 400
"""Longest echo path delay searched (network plus the far end's hybrid)."""
ESTIMATE_WINDOW_MS = 1000
"""Caller audio correlated against the reference for one estimate."""
FIRST_ESTIMATE_MS = 300
"""The first estimate is made on a shorter window, so the first prompt is covered early."""
MIN_CORRELATION = 0.5
"""Normalised cross-correlation needed before an echo path is believed."""
REESTIMATE_EVERY_MS = 500
SEARCH_EVERY_MS = FIRST_ESTIMATE_MS // 3
"""Until an echo path is found it is searched for this often, twice as far apart after each
search that finds none, up to ``REESTIMATE_EVERY_MS``: most lines return no echo, and each search
correlates a second of audio (about 0.6 ms of CPU, ten times a second on every call the bot
talks on)."""
NLP_DB = 6.0
"""Non-linear processor (ITU-T G.168): after cancellation, a frame whose residual is this much
below the echo predicted for it is only leftover echo, and is silenced."""
MIN_ERL_DB = 6.0
"""Echo return loss a line is assumed to have at least (ITU-T G.168 assumes 6 dB): until an echo
path is estimated, caller audio this much quieter than the bot's recent output counts as echo."""

Signal = npt.NDArray[np.float64]


class _History:
    """The newest samples of one direction, by absolute sample index since the call began."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.samples: Signal = np.zeros(0)
        self.total = 0
        """Absolute index one past the newest sample."""

    def append(self, samples: Signal) -> None:
        self.samples = np.concatenate([self.samples, samples])
        self.total += len(samples)
        if len(self.samples) > 2 * self.keep:
            self.samples = self.samples[-self.keep :]

    def segment(self, start: int, length: int) -> Signal:
        """Samples [start, start + length) by absolute index; zeros where none were kept."""
        out = np.zeros(length)
        first = self.total - len(self.samples)
        lo, hi = max(start, first), min(start + length, self.total)
        if hi > lo:
            out[lo - start : hi - start] = self.samples[lo - first : hi - first]
        return out


class EchoCanceller:
    """Feed every frame the bot sends (``far``) and every frame heard from the caller (``near``).

    Both directions are indexed by samples since the call began: caller sample ``j`` is assumed
    to carry the echo of bot sample ``j - delay``.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._max_delay = rate * MAX_DELAY_MS // 1000
        self._window = rate * ESTIMATE_WINDOW_MS // 1000
        self._far = _History(self._window + self._max_delay + rate // 5)
        self._near = _History(self._window)
        self._since_estimate = 0
        self._search_every_ms = SEARCH_EVERY_MS
        self.delay: int | None = None
        """Estimated echo delay in samples (None: no echo path found yet)."""
        self.gain = 0.0
        self.correlation = 0.0

    def far(self, pcm: bytes) -> None:
        """Record a frame the bot sent to the caller (silence included, to keep the clock)."""
        self._far.append(np.frombuffer(pcm, dtype="<i2").astype(np.float64))

    def near(self, pcm: bytes) -> bytes:
        """Return the caller frame with the predicted echo removed."""
        near = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        start = self._near.total
        self._near.append(near)
        self._since_estimate += len(near)
        every = REESTIMATE_EVERY_MS if self.delay is not None else self._search_every_ms
        if self._since_estimate >= self.rate * every // 1000:
            self._since_estimate = 0
            self._estimate()
        if self.delay is None:
            return self._gate(near, start, pcm)
        echo = self.gain * self._far.segment(start - self.delay, len(near))
        residual = near - echo
        if float(np.mean(residual * residual)) < float(np.mean(echo * echo)) * 10 ** (-NLP_DB / 10):
            return bytes(len(pcm))
        return np.clip(np.round(residual), -32768, 32767).astype("<i2").tobytes()

    def _gate(self, near: Signal, start: int, pcm: bytes) -> bytes:
        """Before an echo path is known: silence caller audio that is no louder than echo."""
        recent = self._far.segment(start - self._max_delay, self._max_delay + len(near))
        far_power = float(np.max(_frame_powers(recent, self.rate // 50)))
        near_power = float(np.mean(near * near))
        if far_power > 0 and near_power < far_power * 10 ** (-MIN_ERL_DB / 10):
            return bytes(len(pcm))
        return pcm

    def _estimate(self) -> None:
        window = min(self._window, self._near.total)
        max_delay = self._max_delay
        if window < self.rate * FIRST_ESTIMATE_MS // 1000:
            return
        start = self._near.total - window
        near = self._near.segment(start, window)
        far = self._far.segment(start - max_delay, window + max_delay)
        near_energy = float(np.dot(near, near))
        if near_energy <= 1e-6 or float(np.dot(far, far)) <= 1e-6:
            return
        # scores[k] = dot(near, far[k:k + window]), the echo hypothesis delay = max_delay - k.
        scores = correlate(far, near, mode="valid", method="fft")
        best = int(np.argmax(np.abs(scores)))
        reference = far[best : best + window]
        ref_energy = float(np.dot(reference, reference))
        if ref_energy <= 1e-6:
            return
        correlation = float(scores[best]) / np.sqrt(ref_energy * near_energy)
        if abs(correlation) >= MIN_CORRELATION:
            self.delay = max_delay - best
            self.gain = float(scores[best]) / ref_energy
            self.correlation = correlation
        elif self.delay is None:
            self._search_every_ms = min(REESTIMATE_EVERY_MS, 2 * self._search_every_ms)


def _frame_powers(signal: Signal, frame: int) -> Signal:
    usable = len(signal) // frame * frame
    if not usable:
        return np.zeros(1)
    blocks = signal[:usable].reshape(-1, frame)
    return np.asarray(np.mean(blocks * blocks, axis=1))
