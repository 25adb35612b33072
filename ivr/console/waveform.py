"""A call's waveform as inline SVG: both channels (caller above, bot below), each turn's start
marked, drawn from at most ``POINTS`` min/max pairs per channel however long the call.

The envelope is computed in one pass over the recording, a chunk at a time (blocking:
decryption and numpy; the page runs it in a thread). The SVG is plain markup with classes
(coloured by the stylesheet: the console's Content-Security-Policy allows no inline style).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ivr.console.html import Markup, element, join
from ivr.sealed import SAMPLE_BYTES, SealedReader

POINTS = 600
"""Buckets per channel: about one per pixel of a wide page."""
WIDTH = 1000
LANE = 60
"""Height of one channel's lane in SVG units."""
FULL_SCALE = 32768.0
CHANNEL_NAMES = ("caller", "bot")


@dataclass(frozen=True)
class Envelope:
    """Lowest and highest sample per bucket and channel, shape (channels, buckets)."""

    low: np.ndarray
    high: np.ndarray
    seconds: float


def envelope(reader: SealedReader, points: int = POINTS) -> Envelope:
    """The recording's min/max envelope in ``points`` buckets (fewer for a very short call)."""
    channels, frames = reader.channels, reader.frames
    buckets = max(1, min(points, frames))
    low = np.zeros((channels, buckets), dtype=np.int32)
    high = np.zeros((channels, buckets), dtype=np.int32)
    done = 0
    carry = b""
    frame_bytes = SAMPLE_BYTES * channels
    for piece in reader.pieces():
        data = carry + piece
        whole = len(data) - len(data) % frame_bytes
        carry = data[whole:]
        samples = np.frombuffer(data[:whole], "<i2").reshape(-1, channels)
        if not len(samples):
            continue
        which = (np.arange(done, done + len(samples)) * buckets) // max(frames, 1)
        starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
        targets = which[starts]
        for channel in range(channels):
            column = samples[:, channel]
            low[channel, targets] = np.minimum(
                low[channel, targets], np.minimum.reduceat(column, starts)
            )
            high[channel, targets] = np.maximum(
                high[channel, targets], np.maximum.reduceat(column, starts)
            )
        done += len(samples)
    return Envelope(low, high, frames / reader.rate if reader.rate else 0.0)


def waveform_svg(shape: Envelope, marks: Sequence[tuple[float, str]]) -> Markup:
    """The envelope as SVG, with a labelled line at each ``(seconds, label)`` mark."""
    lanes = [
        element("path", d=_lane_path(shape, channel), class_=f"wave {name}")
        for channel, name in enumerate(CHANNEL_NAMES[: shape.low.shape[0]])
    ]
    height = LANE * len(lanes)
    marked = [
        join(
            [
                element("line", x1=x, x2=x, y1=0, y2=height, class_="turn-mark"),
                element("text", label, x=x + 3, y=11, class_="turn-label"),
            ],
            "",
        )
        for seconds, label in marks
        if shape.seconds > 0 and 0 <= seconds <= shape.seconds
        for x in [round(seconds / shape.seconds * WIDTH, 1)]
    ]
    return element(
        "svg",
        join([*lanes, *marked]),
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {WIDTH} {height}",
        preserveAspectRatio="none",
        role="img",
        class_="waveform",
        aria_label="Waveform: caller above, bot below; lines mark where each turn starts",
    )


def _lane_path(shape: Envelope, channel: int) -> str:
    """One vertical stroke per bucket from its lowest to its highest sample."""
    middle = LANE * channel + LANE / 2
    scale = (LANE / 2 - 1) / FULL_SCALE
    step = WIDTH / shape.low.shape[1]
    return " ".join(
        f"M{(index + 0.5) * step:.1f} {middle - high * scale:.1f}V{middle - low * scale:.1f}"
        for index, (low, high) in enumerate(
            zip(shape.low[channel].tolist(), shape.high[channel].tolist(), strict=True)
        )
    )
